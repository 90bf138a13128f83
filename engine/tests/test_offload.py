"""Activation offload (offload.py) on the CPU: the same loss and LoRA gradients as PyTorch's checkpointing.

On the CPU the layer inputs are plain copies (no pinned memory, no side stream), so these tests pin the
recompute itself: the forward's autocast and random state restored, the parameter gradients accumulated
inside the function's backward, the input gradient handed on. The device side (pinned, asynchronous copies
and the device peak they save) is engine/tests/test_gpu.py's.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM

from loraprof_engine.model import architecture_config
from loraprof_engine.offload import HostCopy, offload_unavailable, offloaded_checkpoint
from loraprof_engine.spec import parse_runspec

from conftest import TINY_QWEN2, make_spec

VOCAB = 512


def tiny_model(checkpoint_func: object, dropout: float) -> torch.nn.Module:
    raw = make_spec(Path("/tmp"), Path("/tmp/shard"))
    raw["model"]["architecture"] = {**TINY_QWEN2, "vocabSize": VOCAB}
    arch = parse_runspec(raw).model.architecture
    assert arch is not None
    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_config(architecture_config(arch), attn_implementation="sdpa").float()
    for p in base.parameters():
        p.requires_grad_(False)
    base._set_gradient_checkpointing(enable=True, gradient_checkpointing_func=checkpoint_func)
    base.enable_input_require_grads()
    config = LoraConfig(r=4, lora_alpha=8, lora_dropout=dropout, target_modules="all-linear", init_lora_weights=False)
    model = get_peft_model(base, config)
    model.train()
    return model


def loss_and_grads(checkpoint_func: object, dropout: float, autocast: torch.dtype | None) -> tuple[float, dict]:
    model = tiny_model(checkpoint_func, dropout)
    ids = torch.randint(1, VOCAB, (2, 24), generator=torch.Generator().manual_seed(1))
    torch.manual_seed(7)  # the dropout masks
    with torch.autocast("cpu", dtype=autocast or torch.float32, enabled=autocast is not None):
        loss = model(input_ids=ids, labels=ids).loss
    loss.backward()
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    return float(loss.detach()), grads


def standard(run, *args):  # type: ignore[no-untyped-def]
    return torch.utils.checkpoint.checkpoint(run, *args, use_reentrant=False)


@pytest.mark.parametrize(
    ("dropout", "autocast"),
    [(0.0, None), (0.2, None), (0.0, torch.bfloat16)],
    ids=["fp32", "dropout-rng-restored", "bf16-autocast-restored"],
)
def test_offloaded_checkpointing_gives_the_loss_and_lora_gradients_of_pytorch_checkpointing(
    dropout: float, autocast: torch.dtype | None
) -> None:
    loss_ref, grads_ref = loss_and_grads(standard, dropout, autocast)
    loss_off, grads_off = loss_and_grads(offloaded_checkpoint, dropout, autocast)
    assert loss_off == pytest.approx(loss_ref, rel=1e-6)
    assert grads_off.keys() == grads_ref.keys() and len(grads_ref) > 0
    tol = 1e-5 if autocast is None else 1e-2
    for name, g in grads_ref.items():
        assert g.abs().sum() > 0, name  # every adapter got a gradient
        torch.testing.assert_close(grads_off[name], g, rtol=tol, atol=tol * 1e-2, msg=name)


def test_a_host_copy_is_a_copy_and_comes_back_unchanged() -> None:
    t = torch.randn(3, 4)
    before = t.clone()
    saved = HostCopy(t)
    t.add_(1.0)  # the original may be reused after the forward; the copy must not follow it
    assert torch.equal(saved.back(), before)


def test_offload_falls_back_with_a_reason_where_it_cannot_run(tmp_path: Path) -> None:
    raw = make_spec(tmp_path, tmp_path / "shard", train={"offloadActivations": True, "gradCheckpointing": True})
    spec = parse_runspec(raw)
    cuda = torch.device("cuda", 0)
    assert offload_unavailable(spec, cuda, 1) is None
    assert "CPU" in (offload_unavailable(spec, torch.device("cpu"), 1) or "")
    assert "data-parallel" in (offload_unavailable(spec, cuda, 2) or "")
    raw["train"]["gradCheckpointing"] = False
    assert "checkpointing is off" in (offload_unavailable(parse_runspec(raw), cuda, 1) or "")


def test_a_cpu_run_asking_for_offload_trains_and_says_why_it_kept_the_activations(tmp_path: Path) -> None:
    from conftest import learnable_records, run_engine, write_shard

    shard = write_shard(tmp_path / "shard", learnable_records(16, vocab=512, seed=0))
    spec = make_spec(tmp_path, shard, train={"offloadActivations": True, "gradCheckpointing": True})
    code, events, stderr = run_engine(spec, tmp_path)
    assert code == 0, stderr
    notes = next(e for e in events if e["type"] == "loaded")["notes"]
    assert any(n.startswith("activation offload not used: the run is on the CPU") for n in notes), notes
    assert any(n.startswith("gradient checkpointing: non-reentrant") for n in notes), notes
