"""GEMM throughput by model width on this GPU: the evidence a planner term for narrow models needs.

The planner's compute roof is FLOPs ÷ (peak × efficiency), with one efficiency for every model. Held-out
runs on the H200 (bench/results/h200-plan-holdout-holdout.json) missed the fast recipe by +55% at
Qwen2.5-0.5B (hidden 896) and −23% at 3B (hidden 2048) with constants fitted at 1.5B (hidden 1536), which
a GEMM efficiency that grows with the inner dimension would explain. This times the decoder's own GEMM
shapes (q/o: h × h; gate/up: h → intermediate; down: intermediate → h) for each catalogued width, forward
(x W^T) and the backward's input gradient (dY W), at a packed micro-batch's row count, in bf16.

    python bench/gemm_width.py [--rows 16384] [--repeats 20] [--out gemm-width.json]

Prints one line per width with achieved TFLOP/s per GEMM and their FLOP-weighted mean; writes JSON.
On a CPU it runs a tiny smoke shape (the figures mean nothing there).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch

# (name, hidden, intermediate) of the decoder families the planner's catalog carries, Qwen2.5 first.
WIDTHS = [
    ("qwen2.5-0.5b", 896, 4864),
    ("qwen2.5-1.5b", 1536, 8960),
    ("qwen2.5-3b", 2048, 11008),
    ("llama-3.2-3b", 3072, 8192),
    ("qwen2.5-7b", 3584, 18944),
    ("llama-3.1-8b", 4096, 14336),
]


def time_matmul(a: torch.Tensor, b: torch.Tensor, repeats: int) -> float:
    """Median seconds of a @ b over `repeats` runs, each between two device synchronizations."""
    for _ in range(3):
        a @ b
    times = []
    for _ in range(repeats):
        if a.is_cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            a @ b
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end) / 1000.0)
        else:
            t = time.perf_counter()
            a @ b
            times.append(time.perf_counter() - t)
    times.sort()
    return float(times[len(times) // 2])


def width_row(
    rows: int, hidden: int, inter: int, repeats: int, device: torch.device, dtype: torch.dtype
) -> dict[str, Any]:
    gemms = {
        "q/o forward": (rows, hidden, hidden),
        "gate/up forward": (rows, hidden, inter),
        "down forward": (rows, inter, hidden),
        "gate/up input grad": (rows, inter, hidden),
        "down input grad": (rows, hidden, inter),
    }
    out: dict[str, Any] = {}
    flops_total = seconds_total = 0.0
    for name, (m, k, n) in gemms.items():
        a = torch.randn(m, k, device=device, dtype=dtype)
        b = torch.randn(k, n, device=device, dtype=dtype)
        seconds = time_matmul(a, b, repeats)
        flops = 2.0 * m * k * n
        out[name] = {"m": m, "k": k, "n": n, "seconds": seconds, "tflops": flops / seconds / 1e12}
        flops_total += flops
        seconds_total += seconds
        del a, b
    out["weighted"] = {"tflops": flops_total / seconds_total / 1e12}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=16384, help="tokens per micro-batch (a packed b8 × s2048)")
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    cuda = torch.cuda.is_available()
    device = torch.device("cuda", 0) if cuda else torch.device("cpu")
    dtype = torch.bfloat16 if cuda else torch.float32
    rows, repeats = (args.rows, args.repeats) if cuda else (64, 2)
    scale = 1 if cuda else 32  # the CPU smoke run: every width ÷ 32
    result: dict[str, Any] = {
        "device": torch.cuda.get_device_name(0) if cuda else "cpu (smoke shapes, not a measurement)",
        "torch": torch.__version__,
        "dtype": str(dtype),
        "rows": rows,
        "repeats": repeats,
        "widths": {},
    }
    for name, hidden, inter in WIDTHS:
        row = width_row(rows, hidden // scale, inter // scale, repeats, device, dtype)
        result["widths"][name] = {"hidden": hidden // scale, "intermediate": inter // scale, **row}
        print(
            f"{name:14s} hidden {hidden // scale:5d}  weighted {row['weighted']['tflops']:7.1f} TFLOP/s  "
            + "  ".join(f"{g} {v['tflops']:.0f}" for g, v in row.items() if g != "weighted")
        )
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
