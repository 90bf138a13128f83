"""Exploration probe for the fast recipe: many variants of one RunSpec, timed in one process.

Loads each variant exactly as the engine does (loraprof_engine.model.load_model, the engine's own
micro_batches and train_step), runs `--steps` steps, and times the last `--steps - --warmup` between two
device synchronizations: real tokens/s, processed tokens/s, allocator peaks and NVML's device peak.
One process saves the ~20 s engine start per variant; the figures the README quotes come from real
`loraprof run` invocations (bench/gpu/fast.sh), not from here.

    python bench/fast_probe.py --spec RUN_DIR/spec.json --variants NAME[,NAME…] [--steps 14] [--warmup 4]

A variant is `name:key=value,key=value` over the spec's fields (data.batchSize, data.seqLen,
data.padding, train.precision, train.kernels, train.lossImplementation, train.gradCheckpointing,
train.method, train.cudnnAttention, optimizer.name); the spec's own values are the baseline. cuDNN's
attention plans outlive a variant (one per shape, cached in the process), so compare train.cudnnAttention
on and off in processes of their own. Three `probe.*` keys are the
probe's own diagnostics, not spec fields:
- `probe.memory=true`: the caching allocator's segments by (memory pool, stream) at each stage (loaded,
  optimizer, graphs recorded, first step, end), with the device's used memory (cudaMemGetInfo);
- `probe.profile=true`: torch.profiler over two steps after the measured window, the top kernels by
  device time;
- `probe.clearWorkspaces=true`: after recording the graphs, release cuBLAS's per-stream workspaces
  (the recording's side streams keep one each) and empty the cache. On the H200 this broke the replay
  (the recorded graph uses one of those workspaces): kept as a recorded negative result;
- `probe.warmup=side`: the graphs' warm-up on a side stream (make_graphed_callables' own) instead of the
  run's own stream, the engine's (graphs.GraphedDecoder `warmup_stream`);
- `probe.compile=layers`: regional torch.compile, each decoder layer compiled on its own (inductor,
  shapes made dynamic after a first recompile), for eager runs; the compilation falls in the warm-up
  steps (`compileSeconds`: the first step's wall time). Not combined with CUDA graphs (skipped, noted).
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import time
import traceback
from pathlib import Path
from typing import Any, Literal

import torch

from loraprof_engine import graphs
from loraprof_engine.data import micro_batches, open_shard
from loraprof_engine.device import NvmlWatch, open_nvml
from loraprof_engine.model import load_model
from loraprof_engine.optim import build_optimizer
from loraprof_engine.recipe import step_settings
from loraprof_engine.spec import parse_runspec
from loraprof_engine.step import train_step


def parse_variant(text: str) -> tuple[str, dict[str, Any]]:
    name, _, body = text.partition(":")
    changes: dict[str, Any] = {}
    for item in filter(None, body.split(",")):
        key, _, raw = item.partition("=")
        value: Any = raw
        if raw in ("true", "false"):
            value = raw == "true"
        elif raw.lstrip("-").isdigit():
            value = int(raw)
        changes[key] = value
    return name, changes


def apply(raw: dict[str, Any], changes: dict[str, Any], shards: dict[int, str]) -> dict[str, Any]:
    out = copy.deepcopy(raw)
    for key, value in changes.items():
        section, _, field = key.partition(".")
        out[section][field] = value
        if key == "train.method":
            out["quant"] = {"type": "nf4", "doubleQuant": True} if value == "qlora" else None
        if key == "data.seqLen":  # records are truncated to seqLen in the shard: take the matching one
            out["data"]["shardDir"] = shards[int(value)]
    return out


def memory_stage(device: torch.device) -> dict[str, Any]:
    """The caching allocator's segments grouped by (pool, stream), and the device's used bytes."""
    torch.cuda.synchronize(device)
    groups: dict[str, dict[str, int]] = {}
    for seg in torch.cuda.memory._snapshot(device)["segments"]:
        if seg.get("device", device.index or 0) != (device.index or 0):
            continue
        key = f"pool={tuple(seg.get('segment_pool_id', (0, 0)))} stream={seg.get('stream', 0)}"
        g = groups.setdefault(key, {"reservedBytes": 0, "allocatedBytes": 0, "segments": 0})
        g["reservedBytes"] += int(seg["total_size"])
        g["allocatedBytes"] += int(seg["allocated_size"])
        g["segments"] += 1
    free, total = torch.cuda.mem_get_info(device)
    return {
        "deviceUsedBytes": total - free,
        "allocatedBytes": torch.cuda.memory_allocated(device),
        "reservedBytes": torch.cuda.memory_reserved(device),
        "maxAllocatedBytes": torch.cuda.max_memory_allocated(device),
        "maxReservedBytes": torch.cuda.max_memory_reserved(device),
        "groups": groups,
    }


def profile_steps(
    model: Any, optimizer: Any, batches: Any, settings: Any, grad_accum: int, device: torch.device
) -> list[dict[str, Any]]:
    """Two steps under torch.profiler: the 30 kernels (or graph launches) with the most device time, then
    the 20 operators with the most host (self CPU) time and the CUDA runtime calls that make the host wait
    for the device (synchronizations and device-to-host copies), which is where a host-bound step's time
    goes."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        t0 = time.perf_counter()
        for _ in range(2):
            train_step(model, optimizer, [next(batches) for _ in range(grad_accum)], settings)
        torch.cuda.synchronize(device)
        wall_ms = (time.perf_counter() - t0) * 1000
    events = prof.key_averages()
    rows = []
    for ev in events:
        device_us = float(getattr(ev, "self_device_time_total", 0) or getattr(ev, "self_cuda_time_total", 0) or 0)
        if device_us > 0:
            rows.append({"name": ev.key[:160], "count": ev.count, "selfDeviceMs": device_us / 1000})
    rows.sort(key=lambda r: -r["selfDeviceMs"])
    host = [
        {"host": ev.key[:160], "count": ev.count, "selfCpuMs": float(ev.self_cpu_time_total) / 1000}
        for ev in events
        if ev.self_cpu_time_total > 0
    ]
    host.sort(key=lambda r: -r["selfCpuMs"])
    waiting = ("Synchronize", "DtoH", "cudaMemcpy", "item", "_local_scalar")
    waits = [r for r in host if any(w in r["host"] for w in waiting)]
    total = sum(r["selfDeviceMs"] for r in rows)
    return [{"totalSelfDeviceMs": total, "wallMs": wall_ms}, *rows[:30], *host[:20], *waits[:10]]


def measure(raw: dict[str, Any], steps: int, warmup: int, probe: dict[str, Any] | None = None) -> dict[str, Any]:
    probe = probe or {}
    raw = copy.deepcopy(raw)
    raw["train"]["steps"], raw["train"]["warmupSteps"] = steps, warmup  # graphs size their shape by it
    spec = parse_runspec(raw)
    device = torch.device(spec.device)
    cuda = device.type == "cuda"
    torch.manual_seed(0)
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    watch = NvmlWatch(open_nvml(device), None)
    watch.start()
    stages: dict[str, Any] = {}
    want_memory = cuda and bool(probe.get("memory"))
    loaded = load_model(spec, device)
    if want_memory:
        stages["loaded"] = memory_stage(device)
    params = [p for p in loaded.model.parameters() if p.requires_grad]
    optimizer = build_optimizer(params, spec.optimizer, device)
    if want_memory:
        stages["optimizer"] = memory_stage(device)
    shard = open_shard(spec.data.shard_dir, spec.data.seq_len)
    capture_started = time.perf_counter()
    stream: Literal["side", "current"] = "side" if probe.get("warmup") == "side" else "current"
    graphs.prepare(spec, loaded, shard, device, warmup_stream=stream)  # train.cudaGraphs (or a note why not)
    capture_seconds = time.perf_counter() - capture_started
    if cuda and probe.get("clearWorkspaces"):
        torch._C._cuda_clearCublasWorkspaces()
        torch.cuda.empty_cache()
    if want_memory:
        stages["graphs"] = memory_stage(device)
    if probe.get("compile") == "layers":
        if loaded.graphed is not None:
            loaded.notes.append("probe.compile=layers skipped: the decoder replays as CUDA graphs")
        else:
            base = loaded.model.get_base_model() if hasattr(loaded.model, "get_base_model") else loaded.model
            for layer in base.get_decoder().layers:
                layer.compile()  # dynamic shapes after a first recompile (packed rows vary)
            loaded.notes.append("probe.compile=layers: each decoder layer compiled (torch.compile, inductor)")
    settings = step_settings(spec, loaded, device)
    batches = micro_batches(shard, spec.data, loaded.static_shape)
    real = processed = 0
    started = 0.0
    losses = []
    first_step_seconds = None
    run_started = time.perf_counter()
    for step in range(steps):
        if step == warmup:
            sync(device)
            started = time.perf_counter()
        if step == 1:  # the first step's wall time: a compiled variant's compilation is in it
            sync(device)
            first_step_seconds = time.perf_counter() - run_started
        micro = [next(batches) for _ in range(spec.data.grad_accum)]
        loss, _ = train_step(loaded.model, optimizer, micro, settings)
        losses.append(loss)
        if want_memory and step == 0:
            stages["firstStep"] = memory_stage(device)
        if step >= warmup:
            real += sum(b.real_tokens for b in micro)
            processed += sum(b.processed_tokens for b in micro)
    sync(device)
    seconds = time.perf_counter() - started
    watch.stop()
    _, nvml_device = watch.peaks()
    if want_memory:
        stages["end"] = memory_stage(device)
    kernels = None
    if cuda and probe.get("profile"):
        kernels = profile_steps(loaded.model, optimizer, batches, settings, spec.data.grad_accum, device)
    result = {
        "measuredSteps": steps - warmup,
        "seconds": seconds,
        "stepSeconds": seconds / (steps - warmup),
        "realTokensPerSecond": real / seconds,
        "processedTokensPerSecond": processed / seconds,
        "realTokensPerStep": real / (steps - warmup),
        "peakAllocatedBytes": torch.cuda.max_memory_allocated(device) if cuda else 0,
        "peakReservedBytes": torch.cuda.max_memory_reserved(device) if cuda else 0,
        "nvmlPeakDeviceBytes": nvml_device["value"],
        "losses": [float(x) for x in torch.stack(losses).cpu()],
        "notes": loaded.notes,
        "lossImplementation": loaded.loss_implementation,
        "varlen": loaded.varlen,
        "graphed": loaded.graphed is not None,
        "graphsSeconds": capture_seconds if spec.train.cuda_graphs else None,
        "compileSeconds": first_step_seconds if probe.get("compile") == "layers" else None,
        **({"memoryStages": stages} if stages else {}),
        **({"kernels": kernels} if kernels else {}),
    }
    del loaded, optimizer, settings, params, batches
    gc.collect()
    if cuda:
        torch.cuda.empty_cache()
    return result


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--spec", required=True)
    ap.add_argument("--variants", required=True, help="semicolon-separated name:key=value,… list")
    ap.add_argument("--steps", type=int, default=14)
    ap.add_argument("--warmup", type=int, default=4)
    ap.add_argument("--shards", default="", help="seqLen=shardDir,… for variants that change data.seqLen")
    ap.add_argument("--out")
    args = ap.parse_args()
    base = json.loads(Path(args.spec).read_text())
    shards = {int(k): v for k, _, v in (x.partition("=") for x in filter(None, args.shards.split(",")))}
    results: list[dict[str, Any]] = []
    for text in filter(None, args.variants.split(";")):
        name, changes = parse_variant(text)
        probe = {k.partition(".")[2]: changes.pop(k) for k in list(changes) if k.startswith("probe.")}
        try:
            figures = measure(apply(base, changes, shards), args.steps, args.warmup, probe)
            row = {"name": name, "changes": changes, "probe": probe, **figures}
            print(
                f"{name:28s} {figures['realTokensPerSecond']:9.0f} real tok/s"
                f"  {figures['stepSeconds'] * 1000:7.0f} ms/step"
                f"  {figures['realTokensPerStep']:7.0f} real tok/step"
                f"  alloc {figures['peakAllocatedBytes'] / 2**30:5.2f}"
                f"  reserved {figures['peakReservedBytes'] / 2**30:5.2f}"
                f"  device {(figures['nvmlPeakDeviceBytes'] or 0) / 2**30:5.2f} GiB"
                f"  loss {figures['losses'][0]:.3f}->{figures['losses'][-1]:.3f}",
                flush=True,
            )
            for note in figures["notes"]:
                if "CUDA graphs" in note:
                    print(f"  {note} ({figures['graphsSeconds']:.1f} s)", flush=True)
            for stage, m in figures.get("memoryStages", {}).items():
                groups = "; ".join(
                    f"{k} {g['reservedBytes'] / 2**20:.0f}/{g['allocatedBytes'] / 2**20:.0f} MiB"
                    for k, g in m["groups"].items()
                )
                print(f"  {stage}: used {m['deviceUsedBytes'] / 2**20:.0f} MiB  [{groups}]", flush=True)
            for k in figures.get("kernels", [])[:16]:
                print(f"  {k}", flush=True)
        except Exception as exc:  # an OOM or a kernel failure is a row, not the end of the probe
            row = {"name": name, "changes": changes, "error": f"{type(exc).__name__}: {exc}"[:2000]}
            print(f"{name:28s} FAILED {row['error'][:300]}", flush=True)
            traceback.print_exc()
            gc.collect()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        results.append(row)
        if args.out:
            Path(args.out).write_text(
                json.dumps({"spec": args.spec, "torch": torch.__version__, "results": results}, indent=1)
            )


if __name__ == "__main__":
    main()
