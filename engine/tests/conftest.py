"""Shared fixtures: tiny token shards written with numpy, RunSpecs, the JSON Schemas, and an engine runner."""

from __future__ import annotations

import copy
import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ENGINE_ROOT = Path(__file__).resolve().parents[1]
SCHEMA_DIR = ENGINE_ROOT / "schema"
SRC_DIR = ENGINE_ROOT / "src"

# The catalog's tiny-qwen2 with a small vocabulary, so tests run in seconds on two cores.
TINY_QWEN2: dict[str, Any] = {
    "modelType": "qwen2",
    "hiddenSize": 64,
    "numLayers": 2,
    "numHeads": 4,
    "numKvHeads": 2,
    "headDim": 16,
    "intermediateSize": 128,
    "vocabSize": 512,
    "tieWordEmbeddings": True,
    "ropeTheta": 1_000_000.0,
    "ropeScaling": None,
    "qkvBias": True,
    "maxPositionEmbeddings": 32768,
    "rmsNormEps": 1e-6,
    "hiddenAct": "silu",
}


def write_shard(folder: Path, records: list[tuple[list[int], list[int]]], meta: dict[str, Any] | None = None) -> Path:
    """The shard layout of src/data/shard.ts: tokens uint32 LE, labels uint8, offsets uint64 LE (records + 1)."""
    folder.mkdir(parents=True, exist_ok=True)
    tokens = np.array([t for ids, _ in records for t in ids], dtype="<u4")
    labels = np.array([m for _, mask in records for m in mask], dtype="u1")
    offsets = np.zeros(len(records) + 1, dtype="<u8")
    offsets[1:] = np.cumsum([len(ids) for ids, _ in records])
    tokens.tofile(folder / "tokens.bin")
    labels.tofile(folder / "labels.bin")
    offsets.tofile(folder / "offsets.bin")
    (folder / "meta.json").write_text(json.dumps(meta or {"records": len(records), "tokens": len(tokens)}))
    return folder


def learnable_records(
    count: int, vocab: int, seed: int, min_len: int = 24, max_len: int = 48
) -> list[tuple[list[int], list[int]]]:
    """Records a model can learn quickly: a prompt of random ids, then a response drawn from a few
    frequent ids (a skewed unigram distribution), only the response marked as target."""
    rng = np.random.default_rng(seed)
    frequent = rng.choice(np.arange(4, vocab), size=8, replace=False)
    weights = np.array([0.4, 0.2, 0.1, 0.1, 0.08, 0.06, 0.04, 0.02])
    records = []
    for _ in range(count):
        length = int(rng.integers(min_len, max_len + 1))
        prompt = int(length // 3)
        ids = list(rng.integers(4, vocab, size=prompt)) + list(rng.choice(frequent, size=length - prompt, p=weights))
        mask = [0] * prompt + [1] * (length - prompt)
        records.append(([int(i) for i in ids], mask))
    return records


def make_spec(tmp: Path, shard_dir: Path, **sections: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "protocolVersion": 1,
        "runId": "test-run",
        "model": {
            "id": "tiny-qwen2",
            "source": "synthetic",
            "path": str(tmp / "weights" / "tiny-qwen2"),
            "hubId": None,
            "revision": None,
            "architecture": copy.deepcopy(TINY_QWEN2),
            "syntheticSeed": 0,
        },
        "data": {
            "shardDir": str(shard_dir),
            "padTokenId": 0,
            "batchSize": 4,
            "seqLen": 64,
            "gradAccum": 1,
            "padding": "longest",
            "seed": 0,
        },
        "train": {
            "steps": 6,
            "warmupSteps": 2,
            "precision": "fp32",
            "method": "lora",
            "gradCheckpointing": False,
            "attnImplementation": "sdpa",
            "seed": 0,
            "logEverySteps": 2,
            "lossImplementation": "full",
            "lossChunkTokens": 1024,
            "recipe": "reference",
            "kernels": "none",
            "fusedLora": False,
            "cudaGraphs": False,
            "cudnnAttention": True,
            "offloadActivations": False,
            "compile": "none",
        },
        "lora": {"r": 8, "alpha": 16, "dropout": 0.0, "targetModules": "all-linear"},
        "quant": None,
        "optimizer": {
            "name": "adamw_torch",
            "lr": 2e-4,
            "weightDecay": 0.0,
            "beta1": 0.9,
            "beta2": 0.999,
            "eps": 1e-8,
            "maxGradNorm": 1.0,
            "schedule": "constant",
        },
        "device": "cpu",
        "vramBudgetBytes": None,
        "cudaAllocator": "expandable",
        "telemetry": {"energy": True},
    }
    for name, values in sections.items():
        if isinstance(spec.get(name), dict) and isinstance(values, dict):
            spec[name].update(values)
        else:
            spec[name] = values
    return spec


def run_engine(
    spec: dict[str, Any], tmp: Path, timeout: float = 120, module: tuple[str, ...] = ("loraprof_engine",)
) -> tuple[int, list[dict[str, Any]], str]:
    """Run `python -m loraprof_engine` as the TS side does: RunSpec file, events on fd 3, a stdin pipe
    held open for the whole run. Returns (exit code, events, stderr)."""
    spec_path = tmp / f"runspec-{len(list(tmp.glob('runspec-*')))}.json"
    spec_path.write_text(json.dumps(spec))
    proc, events_pipe = start_engine(spec_path, tmp / f"{spec_path.stem}.stderr", module)
    lines = read_until_exit(events_pipe, proc, timeout)
    assert proc.stdin is not None
    proc.stdin.close()
    events = [json.loads(line) for line in lines if line.strip()]
    return proc.returncode, events, (tmp / f"{spec_path.stem}.stderr").read_text(errors="replace")


def start_engine(
    spec_path: Path, stderr_path: Path, module: tuple[str, ...] = ("loraprof_engine",)
) -> tuple[subprocess.Popen[bytes], int]:
    """Start the engine with fd 3 as the write end of a pipe; returns the process and the read end.

    module: what follows `python -m` before the RunSpec (the zygote tests pass `loraprof_engine.attach SOCKET`)."""
    read_end, write_end = os.pipe()
    # The engine's source first, then whatever the test process was given (a GPU host may supply
    # bitsandbytes on PYTHONPATH).
    inherited = os.environ.get("PYTHONPATH")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC_DIR), *([inherited] if inherited else [])])}
    with stderr_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", *module, str(spec_path)],
            stdin=subprocess.PIPE,
            stdout=log,
            stderr=log,
            env=env,
            close_fds=False,  # fd 3 below must survive exec (the pipe's own fds are non-inheritable)
            preexec_fn=lambda: os.dup2(write_end, 3),
        )
    os.close(write_end)
    return proc, read_end


def read_until_exit(read_end: int, proc: subprocess.Popen[bytes], timeout: float) -> list[str]:
    """Read the event pipe to EOF (the engine exited), killing the engine past the timeout."""
    deadline = time.monotonic() + timeout
    chunks: list[bytes] = []
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                proc.kill()
                proc.wait()
                raise TimeoutError(f"engine still running after {timeout} s")
            ready, _, _ = select.select([read_end], [], [], min(left, 1.0))
            if ready:
                chunk = os.read(read_end, 65536)
                if not chunk:
                    break
                chunks.append(chunk)
    finally:
        os.close(read_end)
    proc.wait(timeout=30)
    return b"".join(chunks).decode().splitlines()


@pytest.fixture(scope="session")
def event_schema() -> dict[str, Any]:
    return json.loads((SCHEMA_DIR / "event.schema.json").read_text())


@pytest.fixture(scope="session")
def runspec_schema() -> dict[str, Any]:
    return json.loads((SCHEMA_DIR / "runspec.schema.json").read_text())
