"""The engine's recipe, top to bottom: setup → load → train → summarize.

One process runs one RunSpec and reports on fd 3: hello, loaded, step…, window start/end, summary —
or an error event at whatever point it fails.

Timing rule: the device is synchronized only at event flushes (every train.logEverySteps steps, at the
end of warmup and at the end of the run) and at the two window boundaries. Between flushes the loss,
grad norm and CUDA step events stay on the device, so the GPU never waits for the host.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import os
import platform
import statistics
import sys
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import torch
import transformers

from . import __version__, graphs
from . import distributed as ddp
from .data import Shard, check_token_ids, micro_batches, open_shard
from .device import (
    Nvml,
    NvmlWatch,
    apply_budget,
    bf16_supported,
    configure_allocator,
    describe_device,
    host_op_seconds,
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
from .step import (  # noqa: F401  (re-exported: tests and benchmarks import them from the recipe)
    StepLoss,
    StepSettings,
    chunked_token_loss_sum,
    grad_scaler,
    loss_rows,
    to_device,
    token_loss_sum,
    train_step,
)

LOSS_EDGE_STEPS = 5  # lossFirst / lossLast average up to this many steps at each end (loss_edges)


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
    world: ddp.World = field(default_factory=ddp.World)


def run(spec: RunSpec, events: EventStream, import_seconds: float = 0.0) -> int:
    """Run one RunSpec to its end; returns the process exit code (0, or that of the error event).

    import_seconds: how long importing this module (torch, transformers, PEFT) took, for `hello`.
    """
    progress = Progress(budget_bytes=spec.vram_budget_bytes, world=ddp.world_from_env())
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
        ddp.finish(progress.world)


def _run(spec: RunSpec, events: EventStream, progress: Progress, import_seconds: float) -> int:
    # -- setup ---------------------------------------------------------------------------------------
    transformers.utils.logging.disable_progress_bar()  # carriage-return bars garble the stderr log tail
    device_start = time.perf_counter()
    world = progress.world
    # Before setup_device: the allocator's settings must be in place before the first CUDA allocation.
    allocator = configure_allocator(spec.cuda_allocator, "cpu" if spec.device == "cpu" else "cuda")
    device = setup_device(spec, world)
    progress.device = device
    ddp.init_process_group(world, device.type)
    torch.manual_seed(spec.train.seed)  # LoRA's A init and dropout masks
    progress.nvml = open_nvml(device)
    apply_budget(device, spec.vram_budget_bytes)
    progress.watch = NvmlWatch(progress.nvml, spec.vram_budget_bytes)
    progress.watch.start()
    startup = {"imports": import_seconds, "device": time.perf_counter() - device_start}
    events.emit(hello_event(device, progress.nvml, startup, allocator))
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
    params = [p for p in loaded.model.parameters() if p.requires_grad]
    optimizer = build_optimizer(params, spec.optimizer, device)
    graphs.prepare(spec, loaded, shard, device, world.size)
    graphs.compile_layers(spec, loaded, device)
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


def setup_device(spec: RunSpec, world: ddp.World | None = None) -> torch.device:
    """The run's device, refusing combinations that cannot run there. A data-parallel rank on GPUs
    takes the GPU of its local rank (torchrun's LOCAL_RANK), whatever index the RunSpec names."""
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
    index = world.local_rank if world is not None and world.distributed else int(spec.device.split(":")[1])
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


def hello_event(
    device: torch.device,
    nvml: Nvml,
    startup_seconds: dict[str, float],
    allocator: dict[str, Any] | None = None,
) -> dict[str, Any]:
    event = {
        "type": "hello",
        "protocolVersion": PROTOCOL_VERSION,
        "engineVersion": __version__,
        "pid": os.getpid(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "libraries": library_versions(),
        "device": describe_device(device, nvml),
        "startupSeconds": startup_seconds,
        "hostOpSeconds": host_op_seconds(),
    }
    if allocator is not None:
        event["allocator"] = allocator
    return event


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
    loss: torch.Tensor | None = None
    grad_norm: torch.Tensor | None = None
    allocated_bytes: int | None = None
    start_event: Any = None
    end_event: Any = None
    seconds: float | None = None  # CPU: wall clock, known at once
    loss_value: float | None = None
    unix_ms: float = 0.0  # when the host began issuing the step
    span_sq: int = 0  # Σ len² and Σ len of the step's sequences (the attention span, see MicroBatch)
    span_tokens: int = 0


class MeasurementWindow:
    """The measured window: opened and closed at step boundaries with the device synchronized, it gives
    its wall-clock seconds and the NVML energy counter's delta — or the reason there is no energy figure."""

    def __init__(self, device: torch.device, nvml: Nvml, energy: bool, events: EventStream) -> None:
        self.device, self.nvml, self.events = device, nvml, events
        self.energy_enabled = energy
        self.started = 0.0
        self.seconds = 0.0
        self._energy: list[int | None] = [None, None]
        self._reason: str | None = None if energy else "disabled (telemetry.energy is false)"

    def open(self, step: int) -> None:
        synchronize(self.device)
        self.started = time.perf_counter()
        if self.energy_enabled:
            self._energy[0], self._reason = self.nvml.energy_millijoules()
        self.events.emit({"type": "window", "state": "start", "step": step, "unixMs": unix_ms()})

    def close(self) -> None:
        """Stop the clock (the caller emits the window's end event after the last flush)."""
        synchronize(self.device)
        self.seconds = time.perf_counter() - self.started
        if self.energy_enabled:
            self._energy[1], end_reason = self.nvml.energy_millijoules()
            self._reason = self._reason or end_reason

    def energy(self) -> dict[str, Any]:
        first, last = self._energy
        if first is not None and last is not None:
            return {"value": max(0, last - first) / 1000.0, "reason": None}
        return {"value": None, "reason": self._reason or "energy counter not read"}


def step_settings(
    spec: RunSpec, loaded: LoadedModel, device: torch.device, world: ddp.World | None = None
) -> StepSettings:
    """The run's fixed step settings; data-parallel, with the model and its loss under DDP (`settings.ddp`)."""
    t = spec.train
    world = world or ddp.World()
    settings = StepSettings(
        device=device,
        params=[p for p in loaded.model.parameters() if p.requires_grad],
        amp_dtype={"fp16": torch.float16, "bf16": torch.bfloat16}.get(t.precision),
        # fp16 gradients underflow without loss scaling; bf16 has fp32's range and needs none.
        scaler=grad_scaler() if t.precision == "fp16" else None,
        max_grad_norm=spec.optimizer.max_grad_norm,
        loss=loaded.loss_implementation,
        loss_chunk_tokens=t.loss_chunk_tokens,
        varlen=loaded.varlen,
        world_size=world.size,
        graphed=loaded.graphed,
    )
    if not world.distributed:
        return settings
    return dataclasses.replace(settings, ddp=ddp.wrap(StepLoss(loaded.model, settings), world, device))


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
    settings = step_settings(spec, loaded, device, progress.world)
    world = progress.world
    batches = micro_batches(shard, spec.data, loaded.static_shape)
    window = MeasurementWindow(device, progress.nvml, spec.telemetry_energy, events)
    done: list[StepRecord] = []
    pending: list[StepRecord] = []

    if t.warmup_steps == 0:
        window.open(0)
    for step in range(1, t.steps + 1):
        progress.step = step
        check_budget(progress, spec.vram_budget_bytes)
        # Every rank draws the whole step (world × gradAccum micro-batches, same seeded order) and trains on
        # its every world-th one: the step's tokens are counted over all of them, with no communication.
        drawn = [next(batches) for _ in range(spec.data.grad_accum * world.size)]
        micro = drawn[world.rank :: world.size]
        lr = lr_at(step, t.steps, t.warmup_steps, spec.optimizer.lr, spec.optimizer.schedule)
        for group in optimizer.param_groups:
            group["lr"] = lr
        # stepSeconds covers the step's device work; the host builds the micro-batches before the start
        # event, on a GPU while the previous step's kernels still run.
        record = StepRecord(
            step=step,
            phase="warmup" if step <= t.warmup_steps else "measure",
            real_tokens=sum(b.real_tokens for b in drawn),
            processed_tokens=sum(b.processed_tokens for b in drawn),
            label_tokens=sum(b.label_tokens for b in drawn),
            lr=lr,
            unix_ms=unix_ms(),
            span_sq=sum(b.span_sq for b in drawn),
            span_tokens=sum(b.span_tokens for b in drawn),
        )
        timer = StepTimer(device)
        loss, record.grad_norm = train_step(loaded.model, optimizer, micro, settings, record.label_tokens)
        record.loss = ddp.mean_over_ranks(loss, world)
        record.seconds, record.start_event, record.end_event = timer.stop()
        if device.type == "cuda":
            record.allocated_bytes = int(torch.cuda.memory_allocated(device))  # host-side counter, no sync
        pending.append(record)

        if step == t.steps:
            window.close()
            flush(pending, done, events, device)
            events.emit({"type": "window", "state": "end", "step": step, "unixMs": unix_ms()})
        elif step == t.warmup_steps:
            flush(pending, done, events, device)
            window.open(step)
        elif step % t.log_every_steps == 0:
            flush(pending, done, events, device)
    return summarize(spec, done, window.seconds, window.energy(), device, progress)


class StepTimer:
    """CUDA events around a step on a GPU (read at the flush, no sync), wall clock on the CPU (whose ops
    have finished when they return)."""

    def __init__(self, device: torch.device) -> None:
        self.events: tuple[Any, Any] | None = None
        if device.type == "cuda":
            self.events = (torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))
            self.events[0].record()
        self.started = time.perf_counter()

    def stop(self) -> tuple[float | None, Any, Any]:
        if self.events is None:
            return time.perf_counter() - self.started, None, None
        self.events[1].record()
        return None, self.events[0], self.events[1]


def check_budget(progress: Progress, budget_bytes: int | None) -> None:
    watch = progress.watch
    if watch is not None and watch.over_budget:
        assert budget_bytes is not None
        raise BudgetExceeded(watch.over_budget_bytes, budget_bytes)


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


def loss_edges(losses: list[float]) -> tuple[float | None, float | None]:
    """lossFirst / lossLast: the mean loss of the first and of the last min(5, n // 2) steps of the
    whole run (warmup included: the loss is about learning, not about the measured window). The two
    windows never overlap, so a short run never compares a window with itself; under 2 steps there is
    nothing to compare and both are None."""
    edge = min(LOSS_EDGE_STEPS, len(losses) // 2)
    if edge == 0:
        return None, None
    return statistics.fmean(losses[:edge]), statistics.fmean(losses[-edge:])


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
    losses = [r.loss_value for r in done if r.loss_value is not None]
    loss_first, loss_last = loss_edges(losses)
    if progress.watch is not None:
        progress.watch.stop()  # takes a last sample
        nvml_process, nvml_device = progress.watch.peaks()
    else:
        nvml_process = {"value": None, "reason": progress.nvml.reason}
        nvml_device = dict(nvml_process)
    memory = memory_snapshot(device, progress.nvml, spec.vram_budget_bytes)
    nvml = {"process": nvml_process, "device": nvml_device}
    ranks, energy = ddp.rank_figures(progress.world, memory, nvml, energy)
    return {
        "type": "summary",
        "warmupSteps": spec.train.warmup_steps,
        "measuredSteps": len(measured),
        "measuredSeconds": measured_seconds,
        "realTokens": sum(r.real_tokens for r in measured),
        "processedTokens": sum(r.processed_tokens for r in measured),
        "labelTokens": sum(r.label_tokens for r in measured),
        "stepSecondsMedian": statistics.median(seconds) if seconds else None,
        "attentionSpanTokens": (
            sum(r.span_sq for r in measured) / span_tokens
            if (span_tokens := sum(r.span_tokens for r in measured))
            else None
        ),
        "lossFirst": loss_first,
        "lossLast": loss_last,
        # Allocator peaks are since the process began (load included), not reset at the window: the
        # whole run has to fit on the card, so that is the figure that matters.
        "memory": memory,
        # Data-parallel: rank 0's figures above, every rank's here; the energy below is summed over the ranks.
        **({"ranks": ranks} if ranks is not None else {}),
        "nvmlPeakProcessBytes": nvml_process,
        "nvmlPeakDeviceBytes": nvml_device,
        "energyJoules": energy,
    }


def _report_failure(exc: BaseException, events: EventStream, progress: Progress) -> int:
    classified = classify(exc)
    memory = None
    if progress.device is not None:
        try:
            memory = memory_snapshot(progress.device, progress.nvml, progress.budget_bytes)
        except Exception:  # a broken CUDA context can refuse even this
            memory = None
    details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    # A full disk is expected and named by the message and hint: no traceback, whoever raised it.
    if classified.kind != "disk" and (
        classified.kind in ("internal", "cuda", "oom") or not isinstance(exc, EngineError)
    ):
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
