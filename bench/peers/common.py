"""What the peers (HF Trainer + PEFT, Unsloth) share, so both run exactly what loraprof's engine ran.

A peer reads the RunSpec the engine stored with a run (RUN_DIR/spec.json) and takes from it the model
folder, LoRA, optimizer, precision and steps, and trains on the engine's own micro-batches
(`loraprof_engine.data.micro_batches`: the same records in the same seeded order, padded or packed the
same way) with a plain HF Trainer over a sequential sampler, so each step sees what the engine's did.
Timing follows the engine's rules: warmup steps excluded, the device synchronized at both ends of the
measured window; real (non-padding) and processed tokens are the engine's counts of each micro-batch.
Device memory: NVML device-used bytes sampled every 50 ms by the engine's own NvmlWatch (the figure
the engine reports as peakDeviceBytes), plus the caching allocator's peaks. The engine's --vram-budget
is applied the same way (the allocator capped at the budget).

Nothing here imports transformers or peft at module level: Unsloth must be imported before them.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch

OPTIM_NAMES = {
    "adamw_torch": "adamw_torch",
    "adamw_torch_fused": "adamw_torch_fused",
    "adamw_8bit": "adamw_bnb_8bit",
    "paged_adamw_8bit": "paged_adamw_8bit",
    "paged_adamw_32bit": "paged_adamw_32bit",
}
DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}


class UsageError(Exception):
    """Bad input: printed as one line naming the field and the fix, exit code 2."""


def parse_args(description: str, extra: Callable[[argparse.ArgumentParser], None] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--spec", required=True, help="a loraprof run's spec.json (RUN_DIR/spec.json)")
    ap.add_argument("--out", help="also write the result JSON here")
    ap.add_argument(
        "--padding",
        choices=["longest", "max_length", "packed"],
        help="batch the records this way instead of the RunSpec's data.padding (e.g. a peer unpacked beside "
        "a packed loraprof run); the same records in the same order, grouped differently",
    )
    if extra is not None:
        extra(ap)
    return ap.parse_args()


def read_spec(path: str, padding: str | None = None) -> dict[str, Any]:
    """The RunSpec at `path`, with data.padding replaced by `padding` when given (the stored one is kept
    as data.specPadding)."""
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"--spec: no file at {path}; pass RUN_DIR/spec.json of a stored loraprof run")
    try:
        spec: dict[str, Any] = json.loads(p.read_text())
    except json.JSONDecodeError as exc:
        raise UsageError(f"--spec: {path} is not JSON ({exc}); pass a loraprof run's spec.json") from exc
    for key in ("model", "data", "train", "lora", "optimizer", "device"):
        if key not in spec:
            raise UsageError(f"--spec: {path} has no '{key}'; pass a loraprof run's spec.json")
    spec["data"]["specPadding"] = spec["data"]["padding"]
    if padding is not None:
        spec["data"]["padding"] = padding
    if spec["optimizer"]["name"] not in OPTIM_NAMES:
        raise UsageError(
            f"optimizer.name: {spec['optimizer']['name']!r} has no HF Trainer equivalent here; "
            f"use one of {', '.join(OPTIM_NAMES)}"
        )
    return spec


def run_main(main: Callable[[], None]) -> None:
    """Bad input exits 2 with one line, never a stack trace."""
    try:
        main()
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


def device_of(spec: dict[str, Any]) -> torch.device:
    device = torch.device(spec["device"])
    if device.type == "cuda":
        torch.cuda.set_device(device)
    return device


class MicroBatches(torch.utils.data.Dataset[dict[str, Any]]):
    """One item per micro-batch, already collated: the Trainer runs with batch size 1 and a collator that
    unwraps, so that packed and padded micro-batches go through the same loader."""

    def __init__(self, batches: list[dict[str, Any]]) -> None:
        self.batches = batches

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.batches[i]


def unwrap(items: list[dict[str, Any]]) -> dict[str, Any]:
    (batch,) = items
    return dict(batch)  # a copy: Measure.count takes keys off it


def micro_batches(spec: dict[str, Any], flat: bool) -> list[dict[str, Any]]:
    """Every micro-batch of the run: the engine's own (loraprof_engine.data.micro_batches: the records in
    its seeded order, padded or packed as data.padding says), as model inputs. Keys starting with '_' are
    the engine's token counts, taken off before the model sees the batch.

    Packed micro-batches (data.padding "packed": rows of whole records, positions restarting per record,
    each record's first label ignored, a row's end padding a segment of its own) go without an attention
    mask: transformers then keeps attention inside each segment from the position ids. `flat` lays the
    rows end to end in one row [1, rows × width] with `packed_seq_lengths` (the segment lengths), the
    padding-free layout Unsloth's packed path reads (what its TRL collator builds)."""
    from loraprof_engine.data import micro_batches as engine_micro_batches
    from loraprof_engine.data import open_shard
    from loraprof_engine.spec import DataSpec

    d = spec["data"]
    data = DataSpec(
        shard_dir=d["shardDir"],
        pad_token_id=d["padTokenId"],
        batch_size=d["batchSize"],
        seq_len=d["seqLen"],
        grad_accum=d["gradAccum"],
        padding=d["padding"],
        seed=d["seed"],
    )
    source = engine_micro_batches(open_shard(data.shard_dir, data.seq_len), data)
    out: list[dict[str, Any]] = []
    for _ in range(spec["train"]["steps"] * data.grad_accum):
        mb = next(source)
        batch: dict[str, Any] = {
            "input_ids": torch.from_numpy(mb.input_ids),
            "labels": torch.from_numpy(mb.labels),
            "_real": mb.real_tokens,
            "_processed": mb.processed_tokens,
        }
        if mb.position_ids is None:
            batch["attention_mask"] = torch.from_numpy(mb.attention_mask)
        else:
            batch["position_ids"] = torch.from_numpy(mb.position_ids)
            batch["use_cache"] = False  # a cache would turn transformers' packed-sequence detection off
            if flat:
                for key in ("input_ids", "labels", "position_ids"):
                    batch[key] = batch[key].reshape(1, -1)
                assert mb.cu_seqlens is not None
                batch["packed_seq_lengths"] = torch.from_numpy(np.diff(mb.cu_seqlens).astype(np.int32))
        out.append(batch)
    return out


def training_args(spec: dict[str, Any], output_dir: str, **overrides: Any) -> Any:
    from transformers import TrainingArguments

    data, opt, train = spec["data"], spec["optimizer"], spec["train"]
    precision = train["precision"]
    kwargs: dict[str, Any] = {
        "output_dir": output_dir,
        "per_device_train_batch_size": 1,  # one collated micro-batch per item (MicroBatches)
        "gradient_accumulation_steps": data["gradAccum"],
        "max_steps": train["steps"],
        "learning_rate": opt["lr"],
        "weight_decay": opt["weightDecay"],
        "adam_beta1": opt["beta1"],
        "adam_beta2": opt["beta2"],
        "adam_epsilon": opt["eps"],
        "max_grad_norm": opt["maxGradNorm"] or 0.0,
        "lr_scheduler_type": opt.get("schedule", "constant"),
        "optim": OPTIM_NAMES[opt["name"]],
        "fp16": precision == "fp16",
        "bf16": precision == "bf16",
        "gradient_checkpointing": train["gradCheckpointing"],
        "gradient_checkpointing_kwargs": {"use_reentrant": False},
        "logging_steps": 10,
        "save_strategy": "no",
        "report_to": [],
        "seed": data["seed"],
        "dataloader_num_workers": 0,
        "remove_unused_columns": False,
        "disable_tqdm": True,
        "use_cpu": spec["device"] == "cpu",
    }
    kwargs.update(overrides)
    return TrainingArguments(**kwargs)


class Measure:
    """The measured window (opened at the first step after warmup, closed at the end of training, the
    device synchronized at both), the window's tokens, and memory: NVML device peak over the whole
    process (the engine's NvmlWatch, the same figure and sampling as its peakDeviceBytes) and the
    allocator's peaks."""

    def __init__(self, spec: dict[str, Any], device: torch.device) -> None:
        from loraprof_engine.device import NvmlWatch, apply_budget, open_nvml

        self.device = device
        self.warmup = spec["train"]["warmupSteps"]
        self.real = 0
        self.processed = 0
        self.t0: float | None = None
        self.t1: float | None = None
        apply_budget(device, spec.get("vramBudgetBytes"))
        self.nvml = open_nvml(device)
        self.watch = NvmlWatch(nvml=self.nvml, budget_bytes=spec.get("vramBudgetBytes"))
        self.watch.start()
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def count(self, step: int, batch: dict[str, Any]) -> None:
        """Takes the engine's token counts off the batch; adds them when the step is measured."""
        real, processed = batch.pop("_real"), batch.pop("_processed")
        if step >= self.warmup:
            self.real += real
            self.processed += processed

    def open(self, step: int) -> None:
        if step == self.warmup and self.t0 is None:
            self.sync()
            self.t0 = time.perf_counter()

    def close(self) -> None:
        self.sync()
        self.t1 = time.perf_counter()
        self.watch.stop()

    def figures(self, spec: dict[str, Any]) -> dict[str, Any]:
        if self.t0 is None or self.t1 is None:
            raise RuntimeError("the measured window never opened: train.steps must exceed train.warmupSteps")
        seconds = self.t1 - self.t0
        cuda = self.device.type == "cuda"
        _, device_peak = self.watch.peaks()
        return {
            "runSpec": spec["runId"],
            "measuredSteps": spec["train"]["steps"] - self.warmup,
            "measuredSeconds": seconds,
            "realTokens": self.real,
            "processedTokens": self.processed,
            "realTokensPerSecond": self.real / seconds,
            "processedTokensPerSecond": self.processed / seconds,
            "peakAllocatedBytes": torch.cuda.max_memory_allocated(self.device) if cuda else None,
            "peakReservedBytes": torch.cuda.max_memory_reserved(self.device) if cuda else None,
            "nvmlPeakDeviceBytes": device_peak["value"],
            "nvmlPeakDeviceReason": device_peak["reason"],
            "overBudget": self.watch.over_budget,
            # The engine's own settings, which a peer does not have: recorded so that a comparison says so.
            "engineOnlySettings": {
                k: spec["train"].get(k) for k in ("lossImplementation", "lossChunkTokens", "kernels", "recipe")
            },
            "gpu": torch.cuda.get_device_name(self.device) if cuda else None,
            "driver": self.nvml.driver_version(),
        }


def make_trainer(trainer_cls: type, measure: Measure, **kwargs: Any) -> Any:
    """`trainer_cls` (transformers' Trainer) over the micro-batches in order, counting tokens and opening
    the window at the first measured step."""
    from transformers import TrainerCallback

    class CountingTrainer(trainer_cls):  # type: ignore[misc]
        def _get_train_sampler(self, *args: Any, **kw: Any) -> Any:
            return torch.utils.data.SequentialSampler(self.train_dataset)  # the engine's order, prepared

        def training_step(self, model: Any, inputs: dict[str, Any], num_items_in_batch: Any = None) -> Any:
            measure.count(self.state.global_step, inputs)
            return super().training_step(model, inputs, num_items_in_batch)

    class Window(TrainerCallback):
        def on_step_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            measure.open(state.global_step)

        def on_train_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            measure.close()

    return CountingTrainer(callbacks=[Window()], data_collator=unwrap, **kwargs)


def versions(*names: str) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def emit(result: dict[str, Any], out: str | None) -> None:
    text = json.dumps(result)
    print(text)
    if out:
        Path(out).write_text(text + "\n")
