"""The engine's recipe, top to bottom: setup → load → train → summarize.

One process runs one RunSpec and reports on fd 3: hello, loaded, step…, window start/end, summary —
or an error event at whatever point it fails.

Timing rule: the device is synchronized only at event flushes (every train.logEverySteps steps, at the
end of warmup and at the end of the run) and at the two window boundaries. Between flushes the loss,
grad norm and CUDA step events stay on the device, so the GPU never waits for the host.
"""

from __future__ import annotations

import contextlib
import gc
import os
import platform
import statistics
import sys
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
import transformers
from torch.utils.checkpoint import checkpoint

from . import __version__
from .data import IGNORE_INDEX, MicroBatch, Shard, check_token_ids, micro_batches, open_shard
from .device import (
    Nvml,
    NvmlWatch,
    apply_budget,
    bf16_supported,
    describe_device,
    library_versions,
    memory_snapshot,
    open_nvml,
    unix_ms,
)
from .errors import EXIT_OK, BudgetExceeded, EngineError, classify, exit_code_for
from .events import EventStream, finite
from .model import LoadedModel, load_model
from .optim import build_optimizer, lr_at
from .spec import PROTOCOL_VERSION, RunSpec

LOSS_EDGE_STEPS = 5  # lossFirst / lossLast average this many steps at each end of the run


def log(message: str) -> None:
    print(f"loraprof engine: {message}", file=sys.stderr, flush=True)


@dataclass
class Progress:
    """Where the run is, for the error event."""

    stage: str = "setup"
    step: int | None = None
    device: torch.device | None = None
    nvml: Nvml = field(default_factory=Nvml)
    budget_bytes: int | None = None
    watch: NvmlWatch | None = None


def run(spec: RunSpec, events: EventStream, import_seconds: float = 0.0) -> int:
    """Run one RunSpec to its end; returns the process exit code (0, or that of the error event).

    import_seconds: how long importing this module (torch, transformers, PEFT) took, for `hello`.
    """
    progress = Progress(budget_bytes=spec.vram_budget_bytes)
    try:
        return _run(spec, events, progress, import_seconds)
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    except Exception as exc:
        return _report_failure(exc, events, progress)
    finally:
        if progress.watch is not None:
            progress.watch.stop()


def _run(spec: RunSpec, events: EventStream, progress: Progress, import_seconds: float) -> int:
    # -- setup ---------------------------------------------------------------------------------------
    transformers.utils.logging.disable_progress_bar()  # carriage-return bars garble the stderr log tail
    device_start = time.perf_counter()
    device = setup_device(spec)
    progress.device = device
    torch.manual_seed(spec.train.seed)  # LoRA's A init and dropout masks
    progress.nvml = open_nvml(device)
    apply_budget(device, spec.vram_budget_bytes)
    progress.watch = NvmlWatch(progress.nvml, spec.vram_budget_bytes)
    progress.watch.start()
    startup = {"imports": import_seconds, "device": time.perf_counter() - device_start}
    events.emit(hello_event(device, progress.nvml, startup))
    shard = open_shard(spec.data.shard_dir, spec.data.seq_len)
    log(
        f"run {spec.run_id}: {spec.model.id} ({spec.model.source}), {spec.train.method} {spec.train.precision}, "
        f"{shard.records} records, device {device}"
    )

    # -- load ----------------------------------------------------------------------------------------
    progress.stage = "load"
    load_start = time.perf_counter()
    loaded = load_model(spec, device)
    check_token_ids(shard, loaded.vocab_size, spec.data.pad_token_id)
    if spec.train.loss_implementation == "chunked":
        loaded.notes.append(
            f"loss: chunked LM head + cross-entropy, {spec.train.loss_chunk_tokens} target tokens per chunk, "
            "each chunk recomputed in backward (no [tokens × vocab] logits; padding and prompt rows skipped)"
        )
    params = [p for p in loaded.model.parameters() if p.requires_grad]
    optimizer = build_optimizer(params, spec.optimizer, device)
    synchronize(device)
    events.emit(
        {
            "type": "loaded",
            "loadSeconds": time.perf_counter() - load_start,
            "parameters": {"total": loaded.total_parameters, "trainable": loaded.trainable_parameters},
            "memory": memory_snapshot(device, progress.nvml, spec.vram_budget_bytes),
            "weightsDescription": loaded.weights_description,
            "notes": loaded.notes,
            "syntheticCheckpoint": loaded.synthetic_checkpoint,
        }
    )

    # -- train + summarize ---------------------------------------------------------------------------
    progress.stage = "train"
    summary = train(spec, loaded, optimizer, shard, device, events, progress)
    events.emit(summary)
    log(f"done: {summary['measuredSteps']} measured steps in {summary['measuredSeconds']:.3f} s")
    return EXIT_OK


def setup_device(spec: RunSpec) -> torch.device:
    """The run's device, refusing combinations that cannot run there."""
    precision, method = spec.train.precision, spec.train.method
    if spec.device == "cpu":
        if precision == "fp16":
            raise EngineError(
                "config",
                "train.precision fp16 is not supported on the CPU",
                "Use precision bf16 or fp32 on the CPU, or run on a GPU.",
            )
        if method == "qlora":
            raise EngineError(
                "config",
                "train.method qlora (bitsandbytes 4-bit) needs a CUDA device",
                "Use method lora on the CPU, or run on a GPU.",
            )
        return torch.device("cpu")
    if torch.version.cuda is None:
        raise EngineError(
            "dependency",
            f"device {spec.device} requested but this PyTorch build has no CUDA support (torch {torch.__version__})",
            "Install a CUDA build of PyTorch (`loraprof setup`), or run with --device cpu.",
        )
    if not torch.cuda.is_available():
        raise EngineError(
            "cuda",
            f"device {spec.device} requested but CUDA sees no GPU (driver not loaded, "
            "or CUDA_VISIBLE_DEVICES hides it)",
            "Check `nvidia-smi` and `loraprof doctor`.",
        )
    index = int(spec.device.split(":")[1])
    count = torch.cuda.device_count()
    if index >= count:
        raise EngineError(
            "config",
            f"device {spec.device} does not exist: {count} GPU(s) visible",
            f"Use a device between cuda:0 and cuda:{count - 1}.",
        )
    device = torch.device("cuda", index)
    torch.cuda.set_device(device)
    if precision == "bf16" and not bf16_supported(device):
        name = torch.cuda.get_device_name(device)
        raise EngineError(
            "config",
            f"train.precision bf16 is not supported natively by {name} "
            f"(compute capability {'.'.join(map(str, torch.cuda.get_device_capability(device)))})",
            "Use precision fp16 on this GPU (bf16 needs compute capability 8.0 or newer).",
        )
    return device


def hello_event(device: torch.device, nvml: Nvml, startup_seconds: dict[str, float]) -> dict[str, Any]:
    return {
        "type": "hello",
        "protocolVersion": PROTOCOL_VERSION,
        "engineVersion": __version__,
        "pid": os.getpid(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "libraries": library_versions(),
        "device": describe_device(device, nvml),
        "startupSeconds": startup_seconds,
    }


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@dataclass
class StepRecord:
    """One optimizer step; device-side values (loss, grad norm, CUDA events) are read at the flush."""

    step: int
    phase: str
    real_tokens: int
    processed_tokens: int
    label_tokens: int
    lr: float
    loss: torch.Tensor | None
    grad_norm: torch.Tensor | None
    allocated_bytes: int | None
    start_event: Any = None
    end_event: Any = None
    seconds: float | None = None  # CPU: wall clock, known at once
    loss_value: float | None = None
    unix_ms: float = 0.0  # when the host began issuing the step


def train(
    spec: RunSpec,
    loaded: LoadedModel,
    optimizer: torch.optim.Optimizer,
    shard: Shard,
    device: torch.device,
    events: EventStream,
    progress: Progress,
) -> dict[str, Any]:
    t = spec.train
    model = loaded.model
    cuda = device.type == "cuda"
    amp_dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(t.precision)
    # fp16 gradients underflow without loss scaling; bf16 has fp32's range and needs none.
    scaler = _grad_scaler() if t.precision == "fp16" else None
    params = [p for p in model.parameters() if p.requires_grad]
    batches = micro_batches(shard, spec.data)
    loss_chunk_tokens = t.loss_chunk_tokens if t.loss_implementation == "chunked" else None
    watch = progress.watch
    done: list[StepRecord] = []
    pending: list[StepRecord] = []
    window_start = 0.0
    energy_start: int | None = None
    energy_reason: str | None = None if spec.telemetry_energy else "disabled (telemetry.energy is false)"
    energy_end: int | None = None
    end_reason: str | None = None
    measured_seconds = 0.0

    def open_window(step: int) -> None:
        nonlocal window_start, energy_start, energy_reason
        synchronize(device)
        window_start = time.perf_counter()
        if spec.telemetry_energy:
            energy_start, energy_reason = progress.nvml.energy_millijoules()
        events.emit({"type": "window", "state": "start", "step": step, "unixMs": unix_ms()})

    if t.warmup_steps == 0:
        open_window(0)
    for step in range(1, t.steps + 1):
        progress.step = step
        if watch is not None and watch.over_budget:
            assert spec.vram_budget_bytes is not None
            raise BudgetExceeded(watch.over_budget_bytes, spec.vram_budget_bytes)
        micro = [next(batches) for _ in range(spec.data.grad_accum)]
        label_tokens = sum(b.label_tokens for b in micro)
        lr = lr_at(step, t.steps, t.warmup_steps, spec.optimizer.lr, spec.optimizer.schedule)
        for group in optimizer.param_groups:
            group["lr"] = lr

        # stepSeconds covers the step's device work; the host builds the micro-batches before the start
        # event, on a GPU while the previous step's kernels still run.
        record = StepRecord(
            step=step,
            phase="warmup" if step <= t.warmup_steps else "measure",
            real_tokens=sum(b.real_tokens for b in micro),
            processed_tokens=sum(b.processed_tokens for b in micro),
            label_tokens=label_tokens,
            lr=lr,
            loss=None,
            grad_norm=None,
            allocated_bytes=None,
            unix_ms=unix_ms(),
        )
        if cuda:
            record.start_event = torch.cuda.Event(enable_timing=True)
            record.end_event = torch.cuda.Event(enable_timing=True)
            record.start_event.record()
        started = time.perf_counter()
        record.loss, record.grad_norm = train_step(
            model,
            optimizer,
            scaler,
            micro,
            label_tokens,
            params,
            spec.optimizer.max_grad_norm,
            device,
            amp_dtype,
            loss_chunk_tokens,
        )
        if cuda:
            record.end_event.record()
            record.allocated_bytes = int(torch.cuda.memory_allocated(device))  # host-side counter, no sync
        else:
            record.seconds = time.perf_counter() - started  # CPU ops have finished when they return
        pending.append(record)

        last = step == t.steps
        if last:
            synchronize(device)
            measured_seconds = time.perf_counter() - window_start
            energy_end, end_reason = (
                progress.nvml.energy_millijoules() if spec.telemetry_energy else (None, energy_reason)
            )
            flush(pending, done, events, device)
            events.emit({"type": "window", "state": "end", "step": step, "unixMs": unix_ms()})
        elif step == t.warmup_steps:
            flush(pending, done, events, device)
            open_window(step)
        elif step % t.log_every_steps == 0:
            flush(pending, done, events, device)

    energy: dict[str, Any]
    if energy_start is not None and energy_end is not None:
        energy = {"value": max(0, energy_end - energy_start) / 1000.0, "reason": None}
    else:
        energy = {"value": None, "reason": energy_reason or end_reason or "energy counter not read"}
    return summarize(spec, done, measured_seconds, energy, device, progress)


def train_step(
    model: Any,
    optimizer: torch.optim.Optimizer,
    scaler: Any,
    micro: list[MicroBatch],
    label_tokens: int,
    params: list[torch.nn.Parameter],
    max_grad_norm: float | None,
    device: torch.device,
    amp_dtype: torch.dtype | None,
    loss_chunk_tokens: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One optimizer step over its micro-batches; returns (loss, grad norm) as device tensors, unread.

    loss_chunk_tokens None: the full loss (the model returns [batch, width, vocab] logits); a number: the
    chunked loss of `chunked_token_loss_sum`, equal in value and gradients.

    Host synchronizations left inside a step, outside the engine's control: with fp16 GradScaler.step reads
    the overflow flag on the host unless the optimizer takes it on the device (adamw_torch_fused does).
    (No attention mask is passed, see `to_device`, so transformers' `mask.all()` check never runs.)
    """
    step_loss = torch.zeros((), device=device)
    for batch in micro:
        inputs = to_device(batch, device, with_loss_rows=loss_chunk_tokens is not None)
        with torch.autocast(device_type=device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
            if loss_chunk_tokens is not None:
                loss_sum = chunked_token_loss_sum(model, inputs, loss_chunk_tokens)
            else:
                logits = model(input_ids=inputs.input_ids).logits
        if loss_chunk_tokens is None:
            loss_sum = token_loss_sum(logits, inputs.labels)
            del logits
        # Sum of token losses over the micro-batch ÷ label tokens of the whole step: every target
        # token weighs the same however the step's tokens fall into micro-batches.
        loss = loss_sum / max(1, label_tokens)
        if scaler is not None:
            scaler.scale(loss).backward()
        else:
            loss.backward()
        step_loss = step_loss + loss.detach()
    grad_norm = None
    if max_grad_norm is not None:
        if scaler is not None:
            scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
        grad_norm = torch.nn.utils.clip_grad_norm_(params, max_grad_norm).detach()
    if scaler is not None:
        scaler.step(optimizer)  # skipped when the scaled gradients overflowed
        scaler.update()
    else:
        optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return step_loss, grad_norm


def flush(pending: list[StepRecord], done: list[StepRecord], events: EventStream, device: torch.device) -> None:
    """Synchronize once, read every buffered device value in one transfer each, emit the step events."""
    if not pending:
        return
    synchronize(device)
    losses = torch.stack([r.loss for r in pending if r.loss is not None]).float().cpu().tolist()
    norms = [r.grad_norm for r in pending]
    norm_values: list[float | None] = [None] * len(pending)
    if any(n is not None for n in norms):
        values = torch.stack([n.float() for n in norms if n is not None]).cpu().tolist()
        it = iter(values)
        norm_values = [next(it) if n is not None else None for n in norms]
    for record, loss, norm in zip(pending, losses, norm_values, strict=True):
        if record.start_event is not None:
            record.seconds = record.start_event.elapsed_time(record.end_event) / 1000.0
        record.loss_value = finite(loss) if record.label_tokens > 0 else None
        events.emit(
            {
                "type": "step",
                "step": record.step,
                "phase": record.phase,
                "realTokens": record.real_tokens,
                "processedTokens": record.processed_tokens,
                "labelTokens": record.label_tokens,
                "loss": record.loss_value,
                "stepSeconds": finite(record.seconds),
                "lr": record.lr,
                "gradNorm": finite(norm),
                "allocatedBytes": record.allocated_bytes,
                "unixMs": record.unix_ms,
            }
        )
        record.loss = None  # drop the references to the step's device scalars
        record.grad_norm = None
        done.append(record)
    pending.clear()


def summarize(
    spec: RunSpec,
    done: list[StepRecord],
    measured_seconds: float,
    energy: dict[str, Any],
    device: torch.device,
    progress: Progress,
) -> dict[str, Any]:
    measured = [r for r in done if r.phase == "measure"]
    seconds = [r.seconds for r in measured if r.seconds is not None]
    # lossFirst / lossLast: mean loss of the first and of the last min(5, n) steps of the whole run
    # (warmup included: the loss is about learning, not about the measured window).
    losses = [r.loss_value for r in done if r.loss_value is not None]
    edge = min(LOSS_EDGE_STEPS, len(losses))
    if progress.watch is not None:
        progress.watch.stop()  # takes a last sample
        nvml_process, nvml_device = progress.watch.peaks()
    else:
        nvml_process = {"value": None, "reason": progress.nvml.reason}
        nvml_device = dict(nvml_process)
    return {
        "type": "summary",
        "warmupSteps": spec.train.warmup_steps,
        "measuredSteps": len(measured),
        "measuredSeconds": measured_seconds,
        "realTokens": sum(r.real_tokens for r in measured),
        "processedTokens": sum(r.processed_tokens for r in measured),
        "labelTokens": sum(r.label_tokens for r in measured),
        "stepSecondsMedian": statistics.median(seconds) if seconds else None,
        "lossFirst": statistics.fmean(losses[:edge]) if edge else None,
        "lossLast": statistics.fmean(losses[-edge:]) if edge else None,
        # Allocator peaks are since the process began (load included), not reset at the window: the
        # whole run has to fit on the card, so that is the figure that matters.
        "memory": memory_snapshot(device, progress.nvml, spec.vram_budget_bytes),
        "nvmlPeakProcessBytes": nvml_process,
        "nvmlPeakDeviceBytes": nvml_device,
        "energyJoules": energy,
    }


def token_loss_sum(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Sum of next-token cross-entropies over the target positions, computed in fp32.

    The labels are shifted (not the logits) so no shifted copy of the [batch, width, vocab] logits is made.
    """
    shifted = F.pad(labels, (0, 1), value=IGNORE_INDEX)[:, 1:]
    return F.cross_entropy(
        logits.float().reshape(-1, logits.shape[-1]),
        shifted.reshape(-1),
        ignore_index=IGNORE_INDEX,
        reduction="sum",
    )


def chunked_token_loss_sum(model: Any, batch: DeviceBatch, chunk_tokens: int) -> torch.Tensor:
    """`token_loss_sum` without ever holding the [batch, width, vocab] logits. Call under the step's autocast.

    The decoder body runs once; its final hidden states at the positions whose next token is a target
    (`batch.loss_rows`, found on the host) go through the LM head and an fp32 cross-entropy `chunk_tokens`
    rows at a time. Each chunk runs under non-reentrant checkpointing, so backward keeps only its
    [chunk, hidden] input and recomputes the chunk's logits (in the autocast dtype the forward used) when
    it reaches it: one chunk's logits and their fp32 copies are alive at a time instead of every token's.
    What it costs: the LM head runs twice on each target row (forward, recompute); padding and masked
    prompt rows, which carry no loss, never reach it.

    The model is a PEFT model or a transformers causal LM; LoRA layers are injected in place, so the
    decoder body runs them. The LM head is the model's output embedding module, tied to the input
    embedding or not, called as the full forward calls it.
    """
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    head = base.get_output_embeddings()
    hidden: torch.Tensor = base.get_decoder()(input_ids=batch.input_ids).last_hidden_state
    flat = hidden.reshape(-1, hidden.shape[-1])
    rows, targets = batch.loss_rows, batch.loss_targets
    assert rows is not None and targets is not None, "to_device(..., with_loss_rows=True) builds them"
    if rows.numel() == 0:
        # No target in this micro-batch: a zero that still reaches the decoder, as the full loss's would.
        return flat[:, :0].float().sum()
    picked = flat.index_select(0, rows)  # [targets, hidden]: a gather by host-built indices, no sync
    total: torch.Tensor | None = None
    for h, t in zip(picked.split(chunk_tokens), targets.split(chunk_tokens), strict=True):
        part = checkpoint(_head_cross_entropy_sum, head, h, t, use_reentrant=False)
        total = part if total is None else total + part
    assert total is not None
    return total


def _head_cross_entropy_sum(head: Any, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """One chunk: logits in the compute dtype (autocast), cross-entropy in fp32 as `token_loss_sum` does."""
    return F.cross_entropy(head(hidden).float(), targets, reduction="sum")


@dataclass(frozen=True)
class DeviceBatch:
    input_ids: torch.Tensor
    labels: torch.Tensor
    # The chunked loss's rows: flat [batch × width] indices of the positions whose next token is a
    # target, and those target ids. None unless asked for.
    loss_rows: torch.Tensor | None = None
    loss_targets: torch.Tensor | None = None


def loss_rows(labels: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Flat indices of the positions whose next token is a target, and those targets: the causal shift of
    `token_loss_sum`, done on the host. On the device, selecting them (a boolean index, nonzero) would
    make the host wait for the GPU to learn how many there are; the host built the labels and knows."""
    shifted = np.full_like(labels, IGNORE_INDEX)
    shifted[:, :-1] = labels[:, 1:]
    flat = shifted.reshape(-1)
    rows = np.flatnonzero(flat != IGNORE_INDEX).astype(np.int64)
    return rows, flat[rows]


def to_device(batch: MicroBatch, device: torch.device, with_loss_rows: bool = False) -> DeviceBatch:
    """Host arrays → device tensors; on CUDA through pinned memory so the copy is asynchronous.

    No attention mask, padded or not. Records are right-padded (`collate`), so under causal attention a
    real token only ever attends to earlier positions, all real: the padding changes neither its output
    nor, since padding positions carry no label, the loss or any gradient (position ids count from 0
    either way). Without a mask, SDPA takes its `is_causal` kernels (flash attention on CUDA) instead of
    the masked path, no [batch, 1, width, width] mask is built, and transformers' host-side
    `mask.all()` check (a device synchronization per forward) never runs. The padding is still computed:
    processed tokens are what they were. (engine/tests/test_training.py checks loss and gradients.)
    """
    arrays = [batch.input_ids, batch.labels]
    if with_loss_rows:
        arrays += loss_rows(batch.labels)
    tensors = [torch.from_numpy(a) for a in arrays]
    if device.type == "cuda":
        tensors = [x.pin_memory().to(device, non_blocking=True) for x in tensors]
    return DeviceBatch(
        input_ids=tensors[0],
        labels=tensors[1],
        loss_rows=tensors[2] if with_loss_rows else None,
        loss_targets=tensors[3] if with_loss_rows else None,
    )


def _grad_scaler() -> Any:
    amp = getattr(torch, "amp", None)
    if amp is not None and hasattr(amp, "GradScaler"):
        return amp.GradScaler("cuda")
    return torch.cuda.amp.GradScaler()  # torch < 2.3


def _report_failure(exc: BaseException, events: EventStream, progress: Progress) -> int:
    classified = classify(exc)
    memory = None
    if progress.device is not None:
        try:
            memory = memory_snapshot(progress.device, progress.nvml, progress.budget_bytes)
        except Exception:  # a broken CUDA context can refuse even this
            memory = None
    details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    if classified.kind in ("internal", "cuda", "oom") or not isinstance(exc, EngineError):
        sys.stderr.write(details)
    log(f"{classified.kind} error during {progress.stage}: {classified.message}")
    events.emit(
        {
            "type": "error",
            "kind": classified.kind,
            "message": classified.message,
            "hint": classified.hint,
            "stage": progress.stage,
            "step": progress.step,
            "memory": memory,
            "traceback": details if classified.kind == "internal" else None,
        }
    )
    # Free what the failed step held (the traceback pins its frames) before the process exits.
    exc.__traceback__ = None
    gc.collect()
    if progress.device is not None and progress.device.type == "cuda":
        with contextlib.suppress(Exception):
            torch.cuda.empty_cache()
    return exit_code_for(classified.kind)
