"""GPU tests: run on a CUDA machine with bitsandbytes (`pytest -m gpu`); skipped elsewhere.

Not run on the development machine (no GPU there): these pin what has to hold on the H200.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import warnings
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest
import torch

from loraprof_engine.errors import EXIT_OOM
from loraprof_engine.spec import QuantSpec, parse_runspec

from conftest import TINY_QWEN2, learnable_records, make_spec, run_engine, write_shard

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]
needs_bnb = pytest.mark.skipif(importlib.util.find_spec("bitsandbytes") is None, reason="needs bitsandbytes")


@pytest.fixture(scope="module")
def shard(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_shard(tmp_path_factory.mktemp("gpu-shard") / "shard", learnable_records(64, vocab=512, seed=0))


def gpu_spec(tmp: Path, shard: Path, **sections: dict) -> dict:
    spec = make_spec(tmp, shard, **sections)
    spec["device"] = "cuda:0"
    if "precision" not in sections.get("train", {}):
        spec["train"]["precision"] = "bf16"
    return spec


def test_a_bf16_lora_run_measures_with_cuda_events_nvml_and_energy(
    tmp_path: Path, shard: Path, event_schema: dict
) -> None:
    spec = gpu_spec(
        tmp_path,
        shard,
        train={"precision": "bf16", "steps": 12, "warmupSteps": 2, "logEverySteps": 4, "gradCheckpointing": True},
        optimizer={"lr": 1e-3},
    )
    code, events, stderr = run_engine(spec, tmp_path)
    assert code == 0, stderr
    for event in events:
        jsonschema.validate(event, event_schema)
    hello, summary = events[0], events[-1]
    assert hello["device"]["kind"] == "cuda" and hello["device"]["bf16Supported"]
    steps = [e for e in events if e["type"] == "step"]
    assert all(s["stepSeconds"] > 0 and s["allocatedBytes"] > 0 for s in steps)
    assert summary["memory"]["peakAllocatedBytes"] >= max(s["allocatedBytes"] for s in steps)
    assert summary["nvmlPeakDeviceBytes"]["value"] is not None, summary["nvmlPeakDeviceBytes"]["reason"]
    assert summary["nvmlPeakDeviceBytes"]["value"] >= summary["memory"]["peakReservedBytes"]
    assert summary["energyJoules"]["value"] is None or summary["energyJoules"]["value"] > 0
    assert summary["energyJoules"]["value"] is not None or summary["energyJoules"]["reason"]
    assert summary["lossLast"] < summary["lossFirst"]


@needs_bnb
@pytest.mark.parametrize("quant_type", ["nf4", "fp4"])
def test_qlora_loads_4bit_linears_and_leaves_embeddings_and_norms_in_16_bits(
    tmp_path: Path, shard: Path, quant_type: str
) -> None:
    from loraprof_engine.model import load_model

    raw = gpu_spec(
        tmp_path, shard, train={"method": "qlora", "precision": "bf16"}, quant={"type": quant_type, "doubleQuant": True}
    )
    spec = parse_runspec(raw)
    torch.cuda.set_device(0)
    loaded = load_model(spec, torch.device("cuda", 0))
    base = loaded.model.get_base_model()
    # bitsandbytes' own Linear4bit (PEFT's LoRA wrapper class has the same name).
    linear4 = [m for m in base.modules() if type(m).__module__.startswith("bitsandbytes")]
    assert len(linear4) == 7 * TINY_QWEN2["numLayers"]
    assert all(m.weight.quant_state.quant_type == quant_type for m in linear4)
    assert all(m.weight.quant_state.nested for m in linear4)  # double quantization
    assert base.model.embed_tokens.weight.dtype == torch.bfloat16
    assert base.model.norm.weight.dtype == torch.bfloat16
    assert all(p.dtype == torch.float32 for p in loaded.model.parameters() if p.requires_grad)
    lora = load_model(
        dataclasses.replace(spec, train=dataclasses.replace(spec.train, method="lora"), quant=None),
        torch.device("cuda", 0),
    )
    assert loaded.total_parameters == lora.total_parameters  # 4-bit weights counted as parameters, not bytes
    assert loaded.trainable_parameters == lora.trainable_parameters
    assert "nf4" in loaded.weights_description or "fp4" in loaded.weights_description


@needs_bnb
def test_qlora_without_double_quant_is_not_nested(tmp_path: Path, shard: Path) -> None:
    from loraprof_engine.model import load_model

    spec = parse_runspec(
        gpu_spec(tmp_path, shard, train={"method": "qlora"}, quant={"type": "nf4", "doubleQuant": False})
    )
    assert spec.quant == QuantSpec("nf4", False)
    loaded = load_model(spec, torch.device("cuda", 0))
    linear4 = [m for m in loaded.model.modules() if type(m).__name__ == "Linear4bit"]
    assert linear4 and not any(m.weight.quant_state.nested for m in linear4)


@needs_bnb
@pytest.mark.parametrize("optimizer", ["adamw_8bit", "paged_adamw_8bit", "paged_adamw_32bit"])
def test_each_bitsandbytes_optimizer_takes_steps(tmp_path: Path, shard: Path, optimizer: str) -> None:
    spec = gpu_spec(
        tmp_path,
        shard,
        train={"method": "qlora", "steps": 4, "warmupSteps": 1},
        quant={"type": "nf4", "doubleQuant": True},
        optimizer={"name": optimizer, "lr": 1e-3},
    )
    code, events, stderr = run_engine(spec, tmp_path)
    assert code == 0, stderr
    steps = [e for e in events if e["type"] == "step"]
    assert len(steps) == 4 and all(s["loss"] is not None for s in steps)


def test_adamw_torch_fused_runs_on_the_gpu(tmp_path: Path, shard: Path) -> None:
    spec = gpu_spec(tmp_path, shard, train={"steps": 3, "warmupSteps": 1}, optimizer={"name": "adamw_torch_fused"})
    code, _, stderr = run_engine(spec, tmp_path)
    assert code == 0, stderr


def test_fp16_uses_a_grad_scaler_and_keeps_finite_losses(tmp_path: Path, shard: Path) -> None:
    spec = gpu_spec(
        tmp_path,
        shard,
        train={"precision": "fp16", "steps": 8, "warmupSteps": 1},
        optimizer={"lr": 1e-3, "maxGradNorm": 1.0},
    )
    code, events, stderr = run_engine(spec, tmp_path)
    assert code == 0, stderr
    steps = [e for e in events if e["type"] == "step"]
    assert all(s["loss"] is not None for s in steps)
    # The scaler's first steps may overflow (norm inf → null) while it calibrates; later ones are finite.
    assert steps[-1]["gradNorm"] is not None


def oom_spec(tmp: Path, budget: int | None) -> dict:
    """Full Qwen vocabulary, 8 × 512 tokens: the fp32 logits alone take 2.5 GB."""
    records = learnable_records(32, vocab=151_936, seed=1, min_len=512, max_len=512)
    shard = write_shard(tmp / "big-shard", records)
    spec = gpu_spec(
        tmp, shard, data={"batchSize": 8, "seqLen": 512, "padding": "max_length"}, train={"steps": 3, "warmupSteps": 1}
    )
    spec["model"]["architecture"] = {**TINY_QWEN2, "vocabSize": 151_936}
    spec["model"]["path"] = str(tmp / "weights" / "tiny-qwen2-full")
    spec["vramBudgetBytes"] = budget
    return spec


def test_a_run_over_its_vram_budget_ends_in_an_oom_event_then_a_new_process_runs(
    tmp_path: Path, event_schema: dict
) -> None:
    code, events, stderr = run_engine(oom_spec(tmp_path, 1024**3), tmp_path)
    assert code == EXIT_OOM, stderr
    error = events[-1]
    jsonschema.validate(error, event_schema)
    assert error["kind"] == "oom" and error["memory"] is not None
    assert error["memory"]["budgetBytes"] == 1024**3
    code, events, stderr = run_engine(oom_spec(tmp_path, None), tmp_path)
    assert code == 0, stderr
    assert events[-1]["type"] == "summary"


def test_the_chunked_loss_keeps_the_full_vocabulary_logits_off_the_allocator_peak(tmp_path: Path) -> None:
    """oom_spec's shape without a budget: full holds ~3 fp32 copies of 4096 × 151,936 (7.5 GB) at the
    loss; 256-row chunks hold a sixteenth of that. Same seeded run otherwise, so the losses follow."""
    runs = {}
    for loss, chunk in (("full", 1024), ("chunked", 256)):
        spec = oom_spec(tmp_path / loss, None)
        spec["train"].update(lossImplementation=loss, lossChunkTokens=chunk)
        code, events, stderr = run_engine(spec, tmp_path / loss)
        assert code == 0, stderr
        runs[loss] = events
    full_peak, chunked_peak = (runs[k][-1]["memory"]["peakAllocatedBytes"] for k in ("full", "chunked"))
    assert chunked_peak < full_peak / 3, (full_peak, chunked_peak)
    losses = {k: [e["loss"] for e in v if e["type"] == "step"] for k, v in runs.items()}
    assert losses["chunked"] == pytest.approx(losses["full"], rel=2e-2)  # bf16 LM head, other row blocking


def test_the_chunked_loss_adds_no_host_synchronization(tmp_path: Path, shard: Path) -> None:
    """Forward + backward of one unpadded micro-batch under CUDA's sync debug mode: the chunked path may
    not synchronize more often than the full one (its target rows come from the host, not nonzero)."""
    from loraprof_engine.data import collate, open_shard
    from loraprof_engine.model import load_model
    from loraprof_engine.recipe import chunked_token_loss_sum, to_device, token_loss_sum

    device = torch.device("cuda", 0)
    spec = parse_runspec(gpu_spec(tmp_path, shard, train={"precision": "bf16", "gradCheckpointing": True}))
    model = load_model(spec, device).model
    same_length = write_shard(tmp_path / "flat", learnable_records(4, vocab=512, seed=2, min_len=40, max_len=40))
    batch = collate(open_shard(str(same_length), 64), [0, 1, 2, 3], 0, "longest", 64)
    assert batch.real_tokens == batch.processed_tokens

    def full() -> None:
        inputs = to_device(batch, device)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            logits = model(input_ids=inputs.input_ids).logits
        token_loss_sum(logits, inputs.labels).backward()

    def chunked() -> None:
        inputs = to_device(batch, device, with_loss_rows=True)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = chunked_token_loss_sum(model, inputs, 16)
        loss.backward()

    def syncs(step: Callable[[], None]) -> list[str]:
        step()  # once outside the window: lazy initialization (cuBLAS handles, kernels) is not the step's
        torch.cuda.synchronize(device)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                step()
            finally:
                torch.cuda.set_sync_debug_mode("default")
        return [str(w.message) for w in caught if "synchroniz" in str(w.message)]

    full_syncs, chunked_syncs = syncs(full), syncs(chunked)
    assert len(chunked_syncs) <= len(full_syncs), chunked_syncs


FAST_TRAIN = {"kernels": "liger", "lossImplementation": "fused", "fusedLora": True, "recipe": "fast"}


def test_packed_attention_runs_on_varlen_flash_and_matches_the_records_alone(tmp_path: Path, shard: Path) -> None:
    """bf16 on the GPU: the loss of four records packed into two rows equals the sum of their losses
    each packed alone (so no attention crosses a record boundary on the varlen path)."""
    from loraprof_engine.data import collate_packed, open_shard
    from loraprof_engine.kernels import PACKED_ATTENTION
    from loraprof_engine.model import load_model
    from loraprof_engine.step import StepSettings, batch_loss_sum, to_device

    device = torch.device("cuda", 0)
    raw = gpu_spec(tmp_path, shard, train={"precision": "bf16"})
    raw["data"]["padding"] = "packed"
    loaded = load_model(parse_runspec(raw), device)
    assert loaded.varlen, loaded.notes
    assert loaded.model.config._attn_implementation == PACKED_ATTENTION
    s = open_shard(str(shard), 64)
    settings = StepSettings(device, [], torch.bfloat16, None, None, varlen=True)

    def loss(rows: list[list[int]]) -> float:
        batch = to_device(collate_packed(s, rows, 0), device, varlen=True)
        with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
            return float(batch_loss_sum(loaded.model, batch, settings))

    together = loss([[0, 1], [2, 3]])
    alone = sum(loss([[i]]) for i in range(4))
    assert together == pytest.approx(alone, rel=1e-2)  # bf16 activations, other blocking


@pytest.mark.parametrize("method", ["lora", pytest.param("qlora", marks=needs_bnb)])
def test_the_fast_recipe_loss_curve_tracks_the_reference_recipe_on_the_same_records(
    tmp_path: Path, shard: Path, method: str
) -> None:
    """Both packed (so that every step sees the same records); the fast recipe adds Liger's kernels, the
    fused linear cross-entropy and the fused LoRA forward. Tolerance: 2% per step (bf16 sums taken in
    another order drift a little over 30 optimizer steps), and both must learn."""
    curves = {}
    for name, extra in (("reference", {}), ("fast", FAST_TRAIN)):
        (tmp_path / name).mkdir()
        spec = gpu_spec(
            tmp_path / name,
            shard,
            train={"precision": "bf16", "steps": 30, "warmupSteps": 2, "logEverySteps": 10, "method": method, **extra},
            optimizer={"lr": 1e-3},
        )
        spec["data"].update(padding="packed", batchSize=2, seqLen=64)
        if method == "qlora":
            spec["quant"] = {"type": "nf4", "doubleQuant": True}
        code, events, stderr = run_engine(spec, tmp_path / name)
        assert code == 0, stderr
        curves[name] = [e["loss"] for e in events if e["type"] == "step"]
        notes = next(e for e in events if e["type"] == "loaded")["notes"]
        if name == "fast":
            assert any("Liger Kernel" in n for n in notes), notes
            assert any("LoRA forward fused" in n for n in notes), notes
    assert curves["fast"] == pytest.approx(curves["reference"], rel=2e-2)
    assert curves["fast"][-1] < curves["fast"][0] * 0.95  # H200, lora: 6.10 → 5.63 in 30 steps


METHOD_PRECISIONS = pytest.mark.parametrize(
    ("method", "precision"),
    [("lora", "bf16"), pytest.param("qlora", "fp16", marks=needs_bnb)],
    ids=["lora-bf16", "qlora-fp16"],
)


def packed_checkpointed_run(
    tmp: Path, shard: Path, method: str, precision: str, steps: int, **train: object
) -> tuple[list[float], list[str], list[dict]]:
    """One run on the packed records (2 rows × 64 tokens, grad-accum 2, checkpointing, lr 1e-3): its
    per-step losses, its load notes and its step events."""
    tmp.mkdir()
    spec = gpu_spec(
        tmp,
        shard,
        train={
            "precision": precision,
            "steps": steps,
            "warmupSteps": 2,
            "logEverySteps": 10,
            "method": method,
            "gradCheckpointing": True,
            **train,
        },
        optimizer={"lr": 1e-3},
    )
    spec["data"].update(padding="packed", batchSize=2, seqLen=64, gradAccum=2)
    if method == "qlora":
        spec["quant"] = {"type": "nf4", "doubleQuant": True}
    code, events, stderr = run_engine(spec, tmp)
    assert code == 0, stderr
    step_events = [e for e in events if e["type"] == "step"]
    notes = next(e for e in events if e["type"] == "loaded")["notes"]
    return [e["loss"] for e in step_events], notes, step_events


@METHOD_PRECISIONS
def test_cuda_graphs_replay_the_decoder_with_the_eager_loss_curve(
    tmp_path: Path, shard: Path, method: str, precision: str
) -> None:
    """The fast recipe with and without CUDA graphs on the same records: the graphed decoder (static rows
    of seqLen, zero-length segments) must follow the eager one step by step. Tolerance: 1% per step (the
    static shape pads rows, so kernels block the same sums differently), and the graphed run must learn."""
    eager, _, _ = packed_checkpointed_run(
        tmp_path / "eager", shard, method, precision, 30, **FAST_TRAIN, cudaGraphs=False
    )
    graphed, notes, steps = packed_checkpointed_run(
        tmp_path / "graphed", shard, method, precision, 30, **FAST_TRAIN, cudaGraphs=True
    )
    assert all(s["processedTokens"] == 2 * 2 * 64 for s in steps)  # rows padded to seqLen
    assert any(n.startswith("CUDA graphs: the decoder") for n in notes), notes
    assert graphed == pytest.approx(eager, rel=1e-2)
    assert graphed[-1] < graphed[0] * 0.95


def test_compiled_decoder_layers_follow_the_eager_loss_curve(tmp_path: Path, shard: Path) -> None:
    """`train.compile: layers` (regional torch.compile, inductor) against the same eager fast recipe on the same
    records, 16-bit LoRA bf16 as the MFU runs: tolerance 1% per step (inductor fuses and reorders bf16 sums),
    and the compiled run must learn."""
    runs = {}
    for name, mode in (("eager", "none"), ("compiled", "layers")):
        runs[name] = packed_checkpointed_run(
            tmp_path / name, shard, "lora", "bf16", 20, **FAST_TRAIN, cudaGraphs=False, compile=mode
        )
    compiled, notes, _ = runs["compiled"]
    assert any(n.startswith("torch.compile: each of the") for n in notes), notes
    assert compiled == pytest.approx(runs["eager"][0], rel=1e-2)
    assert compiled[-1] < compiled[0] * 0.95


@METHOD_PRECISIONS
def test_offloaded_activations_follow_checkpointing_in_device_memory_step_by_step(
    tmp_path: Path, shard: Path, method: str, precision: str
) -> None:
    """--offload-activations against plain checkpointing on the same records: the layer inputs go to pinned
    host memory on a side stream and come back for the recompute; the loss must follow step by step
    (tolerance 1e-3 per step: the same kernels, only the copies differ) and the run must learn."""
    device, _, _ = packed_checkpointed_run(tmp_path / "device", shard, method, precision, 20)
    offloaded, notes, _ = packed_checkpointed_run(
        tmp_path / "offloaded", shard, method, precision, 20, offloadActivations=True
    )
    assert any("with offload" in n for n in notes), notes
    assert offloaded == pytest.approx(device, rel=1e-3)
    assert offloaded[-1] < offloaded[0] * 0.95


def test_the_zygote_preloads_without_starting_cuda_and_its_forked_runs_use_the_gpu(tmp_path: Path, shard: Path) -> None:
    """On a CUDA host with bitsandbytes installed (its import asks for the compute capability): the zygote
    must come up with CUDA cold and forks unpoisoned, and a run forked from it must train on the GPU."""
    import json
    import os
    import subprocess
    import sys

    from conftest import SRC_DIR

    socket_path = str(tmp_path / "z.sock")
    inherited = os.environ.get("PYTHONPATH")
    proc = subprocess.Popen(
        [sys.executable, "-m", "loraprof_engine.zygote", socket_path],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC_DIR), *([inherited] if inherited else [])])},
    )
    try:
        assert proc.stdout is not None
        ready = json.loads(proc.stdout.readline())
        assert ready["cudaInitialized"] is False and ready["forkPoisoned"] is False, ready
        spec = gpu_spec(tmp_path, shard, train={"steps": 4, "warmupSteps": 1, "logEverySteps": 1})
        code, events, stderr = run_engine(spec, tmp_path, module=("loraprof_engine.attach", socket_path))
        assert code == 0, stderr
        hello = next(e for e in events if e["type"] == "hello")
        assert hello["device"]["kind"] == "cuda"
        assert len([e for e in events if e["type"] == "step"]) == 4
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=30)
