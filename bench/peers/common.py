"""What the peers (HF Trainer + PEFT, Unsloth) share, so both run exactly what loraprof's engine ran.

A peer reads the RunSpec the engine stored with a run (RUN_DIR/spec.json) and takes from it the model
folder, the token shard, the records in the engine's order (`loraprof_engine.data.record_order`, seeded
by data.seed), batch size, gradient accumulation, padding, optimizer, precision and steps. It trains with
a plain HF Trainer over a sequential sampler, so both peers see the same micro-batches step for step.
Timing follows the engine's rules: warmup steps excluded, the device synchronized at both ends of the
measured window; real (non-padding) and processed tokens counted per micro-batch in the window.
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
from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch

Record = tuple[np.ndarray, np.ndarray]  # token ids (int64), loss mask (uint8: 1 = in the loss)

OPTIM_NAMES = {
    "adamw_torch": "adamw_torch",
    "adamw_torch_fused": "adamw_torch_fused",
    "adamw_8bit": "adamw_bnb_8bit",
    "paged_adamw_8bit": "paged_adamw_8bit",
    "paged_adamw_32bit": "paged_adamw_32bit",
}
DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}
IGNORE_INDEX = -100


class UsageError(Exception):
    """Bad input: printed as one line naming the field and the fix, exit code 2."""


def parse_args(description: str, extra: Callable[[argparse.ArgumentParser], None] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--spec", required=True, help="a loraprof run's spec.json (RUN_DIR/spec.json)")
    ap.add_argument("--out", help="also write the result JSON here")
    ap.add_argument(
        "--packing",
        action="store_true",
        help="pack records (engine order) into rows of up to data.seqLen tokens, data.batchSize rows per "
        "micro-batch, flattened padding-free with positions restarting per record",
    )
    if extra is not None:
        extra(ap)
    return ap.parse_args()


def read_spec(path: str) -> dict[str, Any]:
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


def load_shard(shard_dir: str) -> list[Record]:
    d = Path(shard_dir)
    tokens = np.fromfile(d / "tokens.bin", dtype="<u4")
    labels = np.fromfile(d / "labels.bin", dtype=np.uint8)
    offsets = np.fromfile(d / "offsets.bin", dtype="<u8")
    return [
        (tokens[offsets[i] : offsets[i + 1]].astype(np.int64), labels[offsets[i] : offsets[i + 1]])
        for i in range(len(offsets) - 1)
    ]


def engine_order(records: list[Record], seed: int) -> Iterator[Record]:
    from loraprof_engine.data import record_order

    for i in record_order(len(records), seed):
        yield records[i]


class MicroBatches(torch.utils.data.Dataset[dict[str, torch.Tensor]]):
    """One item per micro-batch, already collated: the Trainer runs with batch size 1 and a collator that
    unwraps, so that packed and padded micro-batches go through the same loader."""

    def __init__(self, batches: list[dict[str, torch.Tensor]]) -> None:
        self.batches = batches

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return self.batches[i]


def unwrap(items: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    (batch,) = items
    return batch


def collate_padded(records: list[Record], pad_id: int, seq_len: int, padding: str) -> dict[str, torch.Tensor]:
    """The engine's collate (loraprof_engine.data.collate): right-pad to the longest record or seqLen."""
    width = seq_len if padding == "max_length" else max(len(ids) for ids, _ in records)
    n = len(records)
    input_ids = torch.full((n, width), pad_id, dtype=torch.long)
    attention = torch.zeros((n, width), dtype=torch.long)
    labels = torch.full((n, width), IGNORE_INDEX, dtype=torch.long)
    for r, (ids_np, mask) in enumerate(records):
        k = len(ids_np)
        ids = torch.from_numpy(ids_np)
        input_ids[r, :k] = ids
        attention[r, :k] = 1
        labels[r, :k] = torch.where(torch.from_numpy(mask.astype(bool)), ids, IGNORE_INDEX)
    return {"input_ids": input_ids, "attention_mask": attention, "labels": labels}


def packed_records(order: Iterator[Record], seq_len: int, rows: int) -> Iterator[list[Record]]:
    """Each micro-batch's records: `rows` rows filled in order, a record joining the current row when it
    fits in seq_len tokens, else opening the next row (records are at most seq_len long: the shard
    truncates); the record that does not fit the last row opens the next micro-batch."""
    held: Record | None = None
    while True:
        taken: list[Record] = []
        used, row = 0, 1
        while True:
            rec = held if held is not None else next(order)
            held = None
            if used + len(rec[0]) > seq_len:
                if row == rows:
                    held = rec
                    break
                row, used = row + 1, 0
            taken.append(rec)
            used += len(rec[0])
        yield taken


def collate_packed(records: list[Record]) -> dict[str, torch.Tensor]:
    """One padding-free row [1, Σ lengths]: position ids restart at 0 per record (transformers and Unsloth
    both keep attention inside each record from them), each record's first label is ignored so no token
    predicts the next record's first one, and `packed_seq_lengths` gives the record lengths (Unsloth's
    packed-batch key; the Trainer peer drops it)."""
    ids = torch.from_numpy(np.concatenate([r[0] for r in records]))
    mask = torch.from_numpy(np.concatenate([r[1] for r in records]).astype(bool))
    labels = torch.where(mask, ids, IGNORE_INDEX)
    lengths = [len(r[0]) for r in records]
    starts = np.cumsum([0, *lengths[:-1]])
    labels[torch.from_numpy(starts)] = IGNORE_INDEX
    positions = torch.from_numpy(np.concatenate([np.arange(k) for k in lengths]))
    return {
        "input_ids": ids.unsqueeze(0),
        "position_ids": positions.unsqueeze(0),
        "labels": labels.unsqueeze(0),
        "packed_seq_lengths": torch.tensor(lengths, dtype=torch.int32),
    }


def micro_batches(spec: dict[str, Any], packing: bool) -> list[dict[str, torch.Tensor]]:
    """Every micro-batch of the run, in the engine's record order."""
    data, train = spec["data"], spec["train"]
    order = engine_order(load_shard(data["shardDir"]), data["seed"])
    count = train["steps"] * data["gradAccum"]
    if not packing:
        return [
            collate_padded(
                [next(order) for _ in range(data["batchSize"])], data["padTokenId"], data["seqLen"], data["padding"]
            )
            for _ in range(count)
        ]

    packs = packed_records(order, data["seqLen"], data["batchSize"])
    return [collate_packed(next(packs)) for _ in range(count)]


def batch_tokens(batch: dict[str, torch.Tensor]) -> tuple[int, int]:
    """(real, processed) tokens of a micro-batch, as the engine counts them: real = non-padding tokens,
    processed = every position the model runs (rows × width)."""
    if "attention_mask" in batch:
        return int(batch["attention_mask"].sum()), int(batch["attention_mask"].numel())
    n = int(batch["input_ids"].numel())
    return n, n


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

    def count(self, step: int, batch: dict[str, torch.Tensor]) -> None:
        if step >= self.warmup:
            real, processed = batch_tokens(batch)
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
            "gpu": torch.cuda.get_device_name(self.device) if cuda else None,
            "driver": self.nvml.driver_version(),
        }


def make_trainer(
    trainer_cls: type,
    measure: Measure,
    drop_keys: tuple[str, ...],
    **kwargs: Any,
) -> Any:
    """`trainer_cls` (transformers' Trainer) over the micro-batches in order, counting tokens and opening
    the window at the first measured step."""
    from transformers import TrainerCallback

    class CountingTrainer(trainer_cls):  # type: ignore[misc,valid-type]
        def _get_train_sampler(self, *args: Any, **kw: Any) -> Any:
            return torch.utils.data.SequentialSampler(self.train_dataset)  # the engine's order, prepared

        def training_step(self, model: Any, inputs: dict[str, Any], num_items_in_batch: Any = None) -> Any:
            measure.count(self.state.global_step, inputs)
            for key in drop_keys:
                inputs.pop(key, None)
            return super().training_step(model, inputs, num_items_in_batch)

    class Window(TrainerCallback):  # type: ignore[misc]
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
