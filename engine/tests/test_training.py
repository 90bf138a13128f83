"""The loss the engine optimizes: token-level cross-entropy normalized over the whole optimizer step."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM

from loraprof_engine.data import collate, open_shard
from loraprof_engine.model import architecture_config
from loraprof_engine.recipe import to_device, token_loss_sum
from loraprof_engine.spec import parse_runspec

from conftest import TINY_QWEN2, make_spec, write_shard

RECORDS = [
    ([3, 9, 4, 17, 8, 2], [0, 0, 1, 1, 1, 1]),
    ([5, 6, 7], [0, 1, 1]),
    ([12, 13, 14, 15, 16, 18, 19, 20], [0, 0, 0, 1, 1, 1, 1, 1]),
    ([21, 22, 23, 24], [0, 0, 1, 1]),
]


@pytest.fixture(scope="module")
def tiny_model() -> torch.nn.Module:
    raw = make_spec(Path("/tmp"), Path("/tmp/shard"))
    raw["model"]["architecture"] = {**TINY_QWEN2, "vocabSize": 32}
    arch = parse_runspec(raw).model.architecture
    assert arch is not None
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(architecture_config(arch), attn_implementation="sdpa")
    return model.float().eval()


def test_the_token_loss_matches_transformers_own_causal_lm_loss(tiny_model: torch.nn.Module, tmp_path: Path) -> None:
    shard = open_shard(str(write_shard(tmp_path / "s", RECORDS[:1])), 16)
    batch = collate(shard, [0], 0, "longest", 16)
    ids, labels = torch.from_numpy(batch.input_ids), torch.from_numpy(batch.labels)
    out = tiny_model(input_ids=ids, labels=labels)
    ours = token_loss_sum(out.logits, labels) / batch.label_tokens
    assert float(ours.detach()) == pytest.approx(float(out.loss.detach()), rel=1e-6)


def test_micro_batches_normalized_by_the_step_total_give_the_full_batch_gradient(
    tiny_model: torch.nn.Module, tmp_path: Path
) -> None:
    shard = open_shard(str(write_shard(tmp_path / "s", RECORDS)), 16)
    params = list(tiny_model.parameters())

    def gradients(batches: list) -> list[torch.Tensor]:
        tiny_model.zero_grad()
        total = sum(b.label_tokens for b in batches)
        for b in batches:
            logits = tiny_model(
                input_ids=torch.from_numpy(b.input_ids), attention_mask=torch.from_numpy(b.attention_mask)
            ).logits
            (token_loss_sum(logits, torch.from_numpy(b.labels)) / total).backward()
        return [p.grad.clone() for p in params if p.grad is not None]

    whole = gradients([collate(shard, [0, 1, 2, 3], 0, "longest", 16)])
    split = gradients([collate(shard, [0, 1], 0, "longest", 16), collate(shard, [2, 3], 0, "longest", 16)])
    # Micro-batches of unequal label counts (4+2 vs 5+2): averaging per micro-batch would weigh tokens
    # unequally and change the gradient; normalizing by the step's total keeps it.
    for a, b in zip(whole, split, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_padding_changes_no_loss(tiny_model: torch.nn.Module, tmp_path: Path) -> None:
    shard = open_shard(str(write_shard(tmp_path / "s", RECORDS)), 16)
    losses = []
    for padding in ("longest", "max_length"):
        b = collate(shard, [0, 1], 0, padding, 16)
        logits = tiny_model(
            input_ids=torch.from_numpy(b.input_ids), attention_mask=torch.from_numpy(b.attention_mask)
        ).logits
        losses.append(float(token_loss_sum(logits, torch.from_numpy(b.labels))))
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
@pytest.mark.parametrize("padding", ["longest", "max_length"])
def test_right_padding_needs_no_attention_mask(attn: str, padding: str, tmp_path: Path) -> None:
    """The engine passes no attention mask (recipe.to_device): with right padding, loss and every
    gradient equal those computed with the mask."""
    raw = make_spec(Path("/tmp"), Path("/tmp/shard"))
    raw["model"]["architecture"] = {**TINY_QWEN2, "vocabSize": 32}
    arch = parse_runspec(raw).model.architecture
    assert arch is not None
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(architecture_config(arch), attn_implementation=attn).float().train()
    shard = open_shard(str(write_shard(tmp_path / "s", RECORDS)), 16)
    batch = collate(shard, [0, 1, 2, 3], 0, padding, 16)
    assert batch.real_tokens < batch.processed_tokens  # the batch is padded
    inputs = to_device(batch, torch.device("cpu"))

    def loss_and_grads(mask: torch.Tensor | None) -> tuple[torch.Tensor, list[torch.Tensor]]:
        model.zero_grad(set_to_none=True)
        logits = model(input_ids=inputs.input_ids, attention_mask=mask).logits
        loss = token_loss_sum(logits, inputs.labels)
        loss.backward()
        return loss.detach(), [p.grad.clone() for p in model.parameters() if p.grad is not None]

    masked_loss, masked_grads = loss_and_grads(torch.from_numpy(batch.attention_mask))
    loss, grads = loss_and_grads(None)
    torch.testing.assert_close(loss, masked_loss, rtol=1e-5, atol=1e-6)
    assert len(grads) == len(masked_grads) > 0
    for a, b in zip(grads, masked_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
