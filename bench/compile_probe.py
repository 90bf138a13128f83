"""Feasibility probe: does torch.compile of the decoder layers speed up the engine's QLoRA step?

Loads the model of an engine RunSpec exactly as the engine does (loraprof_engine.model.load_model),
then times the engine's own train_step eagerly and with each decoder layer compiled
(`layer.compile()`, default mode: no CUDA graphs), on the same micro-batches.

    python bench/compile_probe.py --spec RUN_DIR/spec.json [--steps 12] [--out result.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from loraprof_engine.data import micro_batches, open_shard
from loraprof_engine.model import load_model
from loraprof_engine.optim import build_optimizer
from loraprof_engine.recipe import step_settings
from loraprof_engine.spec import parse_runspec
from loraprof_engine.step import train_step


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--spec", required=True)
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--out")
    args = ap.parse_args()
    spec = parse_runspec(json.loads(Path(args.spec).read_text()))
    device = torch.device("cuda", 0)
    torch.cuda.set_device(device)
    torch.manual_seed(0)
    loaded = load_model(spec, device)
    model = loaded.model
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = build_optimizer(params, spec.optimizer, device)
    shard = open_shard(spec.data.shard_dir, spec.data.seq_len)
    settings = step_settings(spec, loaded, device)

    def timed(n: int, label: str) -> list[float]:
        batches = micro_batches(shard, spec.data)
        times = []
        for i in range(n):
            micro = [next(batches) for _ in range(spec.data.grad_accum)]
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            loss, _ = train_step(model, optimizer, micro, settings)
            torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
            print(
                f"{label} step {i + 1}: {times[-1] * 1000:.1f} ms loss {float(loss):.4f}",
                flush=True,
            )
        return times

    result: dict[str, object] = {"spec": args.spec, "torch": torch.__version__}
    eager = timed(args.steps, "eager")
    result["eagerMedianSeconds"] = sorted(eager[2:])[len(eager[2:]) // 2]
    # Where an eager step's time goes: host (self CPU) vs device (CUDA kernels), top operators.
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        timed(2, "profiled")
    averages = prof.key_averages()
    print(averages.table(sort_by="self_cpu_time_total", row_limit=25), flush=True)
    result["profiledSelfCpuSeconds"] = sum(e.self_cpu_time_total for e in averages) / 1e6 / 2
    result["profiledDeviceSeconds"] = sum(getattr(e, "self_device_time_total", 0) for e in averages) / 1e6 / 2
    result["profiledOps"] = sum(e.count for e in averages) // 2
    base = model.get_base_model()
    torch._dynamo.config.cache_size_limit = 64  # type: ignore[attr-defined]
    t0 = time.perf_counter()
    for layer in base.model.layers:
        layer.compile()
    try:
        compiled = timed(args.steps, "compiled")
        result["compiledFirstStepSeconds"] = compiled[0]
        result["compiledMedianSeconds"] = sorted(compiled[3:])[len(compiled[3:]) // 2]
        result["speedup"] = result["eagerMedianSeconds"] / result["compiledMedianSeconds"]  # type: ignore[operator]
    except Exception as exc:  # the probe's answer may be "it does not compile"
        result["compileError"] = f"{type(exc).__name__}: {str(exc)[:2000]}"
    result["compileWallSeconds"] = time.perf_counter() - t0
    result["peakAllocatedBytes"] = torch.cuda.max_memory_allocated()
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
