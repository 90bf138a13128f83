"""The chunked LM head + loss (train.lossImplementation chunked) equals the full one, in value and gradients."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM

from loraprof_engine.data import IGNORE_INDEX, MicroBatch, collate, open_shard
from loraprof_engine.model import architecture_config
from loraprof_engine.spec import parse_runspec
from loraprof_engine.step import (
    StepSettings,
    chunked_token_loss_sum,
    loss_rows,
    to_device,
    token_loss_sum,
    train_step,
)

from conftest import TINY_QWEN2, make_spec, write_shard

# PEFT still calls transformers' deprecated is_gradient_checkpointing; not this module's concern.
pytestmark = pytest.mark.filterwarnings("ignore:.*gradient_checkpointing.*:FutureWarning")

VOCAB = 96
CPU = torch.device("cpu")

# Prompt tokens masked (maskPrompt-like), lengths 3..11 so padding to longest and to max_length differ.
MASKED = [
    ([3, 9, 4, 17, 8, 2, 40, 41, 42], [0, 0, 1, 1, 1, 1, 1, 1, 1]),
    ([5, 6, 7], [0, 1, 1]),
    ([12, 13, 14, 15, 16, 18, 19, 20, 60, 61, 62], [0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1]),
    ([21, 22, 23, 24, 90], [0, 0, 1, 1, 1]),
]
# Every token a target (maskPrompt off).
UNMASKED = [(ids, [1] * len(ids)) for ids, _ in MASKED]
SEQ_LEN = 16


def tiny_peft_model(
    model_type: str = "qwen2", grad_checkpointing: bool = False, attn_implementation: str = "sdpa"
) -> torch.nn.Module:
    """Tiny qwen2 (tied embeddings) or llama (untied LM head) in fp32, with LoRA on every linear layer.

    LoRA B starts random (not zero) so that both A and B receive gradients worth comparing.
    """
    raw = make_spec(Path("/tmp"), Path("/tmp/shard"))
    arch = {**TINY_QWEN2, "vocabSize": VOCAB}
    if model_type == "llama":
        arch.update(modelType="llama", qkvBias=False, tieWordEmbeddings=False)
    raw["model"]["architecture"] = arch
    parsed = parse_runspec(raw).model.architecture
    assert parsed is not None
    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_config(architecture_config(parsed), attn_implementation=attn_implementation)
    base = base.float()
    for p in base.parameters():
        p.requires_grad_(False)
    if grad_checkpointing:
        base.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        base.enable_input_require_grads()
    config = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules="all-linear", init_lora_weights=False)
    peft_model = get_peft_model(base, config)
    peft_model.train()
    return peft_model


def batch_of(tmp: Path, records: list, indices: list[int], padding: str) -> MicroBatch:
    shard = open_shard(str(write_shard(tmp / f"s{len(list(tmp.iterdir()))}", records)), SEQ_LEN)
    return collate(shard, indices, 0, padding, SEQ_LEN)


def lora_grads(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad and p.grad is not None}


def full_loss(model: torch.nn.Module, batch: MicroBatch) -> torch.Tensor:
    inputs = to_device(batch, CPU)
    logits = model(input_ids=inputs.input_ids).logits
    return token_loss_sum(logits, inputs.labels)


def chunked_loss(model: torch.nn.Module, batch: MicroBatch, chunk: int) -> torch.Tensor:
    return chunked_token_loss_sum(model, to_device(batch, CPU, with_loss_rows=True), chunk)


def assert_same_grads(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys() and len(a) > 0
    for name in a:
        assert a[name].abs().sum() > 0, f"{name} got no gradient"
        # relative to the tensor's scale: an element near zero differs by rounding of the larger ones
        scale = float(a[name].abs().max())
        torch.testing.assert_close(
            b[name], a[name], rtol=1e-5, atol=1e-5 * scale, msg=lambda m, name=name: f"{name}: {m}"
        )


def test_the_host_finds_the_shifted_target_rows_the_full_loss_counts(tmp_path: Path) -> None:
    batch = batch_of(tmp_path, MASKED, [0, 1, 2, 3], "max_length")
    rows, targets = loss_rows(batch.labels)
    assert len(rows) == batch.label_tokens
    width = batch.labels.shape[1]
    for row, target in zip(rows, targets, strict=True):
        b, pos = divmod(int(row), width)
        assert batch.labels[b, pos + 1] == target != IGNORE_INDEX
    assert rows.dtype == np.int64 and targets.dtype == np.int64


@pytest.mark.parametrize("model_type", ["qwen2", "llama"])
@pytest.mark.parametrize("padding", ["longest", "max_length"])
@pytest.mark.parametrize("records", [MASKED, UNMASKED], ids=["masked-prompt", "all-targets"])
@pytest.mark.parametrize("chunk", [1, 5, 6, 4096])
def test_the_chunked_loss_and_lora_gradients_equal_the_full_ones_in_fp32(
    tmp_path: Path, model_type: str, padding: str, records: list, chunk: int
) -> None:
    model = tiny_peft_model(model_type)
    batch = batch_of(tmp_path, records, [0, 1, 2, 3], padding)
    # 18 (masked prompts) or 24 target rows: chunks of 6 divide them, chunks of 5 leave a remainder;
    # 1 and 4096 are the two extremes.
    assert batch.label_tokens == (18 if records is MASKED else 24)

    model.zero_grad()
    full = full_loss(model, batch)
    full.backward()
    full_grads = lora_grads(model)
    model.zero_grad()
    chunked = chunked_loss(model, batch, chunk)
    chunked.backward()

    assert float(chunked.detach()) == pytest.approx(float(full.detach()), rel=1e-5)
    assert_same_grads(full_grads, lora_grads(model))


def test_the_chunked_loss_matches_with_gradient_checkpointing_on(tmp_path: Path) -> None:
    model = tiny_peft_model(grad_checkpointing=True)
    batch = batch_of(tmp_path, MASKED, [0, 2], "max_length")
    model.zero_grad()
    full = full_loss(model, batch)
    full.backward()
    full_grads = lora_grads(model)
    model.zero_grad()
    chunked = chunked_loss(model, batch, 3)
    chunked.backward()
    assert float(chunked.detach()) == pytest.approx(float(full.detach()), rel=1e-5)
    assert_same_grads(full_grads, lora_grads(model))


def test_a_micro_batch_without_targets_gives_a_zero_loss_that_backpropagates(tmp_path: Path) -> None:
    model = tiny_peft_model()
    no_targets = [(ids, [0] * len(ids)) for ids, _ in MASKED] + [([7, 8], [0, 1])]  # a shard needs one target
    batch = batch_of(tmp_path, no_targets, [0, 1], "longest")
    assert batch.label_tokens == 0
    model.zero_grad()
    loss = chunked_loss(model, batch, 4)
    assert loss.dtype == torch.float32 and float(loss.detach()) == 0.0
    loss.backward()  # no "does not require grad" error: the zero is connected to the adapters
    assert all(float(g.abs().sum()) == 0.0 for g in lora_grads(model).values())


def test_the_chunked_lm_head_runs_in_the_autocast_dtype_like_the_full_one(tmp_path: Path) -> None:
    model = tiny_peft_model()
    batch = batch_of(tmp_path, MASKED, [0, 1, 2, 3], "longest")
    head = model.get_base_model().get_output_embeddings()
    seen: list[torch.dtype] = []
    hook = head.register_forward_hook(lambda _m, _i, out: seen.append(out.dtype))
    try:
        with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
            full = full_loss(model, batch)
            chunked = chunked_loss(model, batch, 8)
        chunked.backward()  # recomputes each chunk's logits: under the forward's autocast state again
    finally:
        hook.remove()
    # one full forward, 3 chunk forwards (18 rows / 8) and their 3 recomputes, all in bf16
    assert seen == [torch.bfloat16] * 7
    assert float(chunked.detach()) == pytest.approx(float(full.detach()), rel=2e-2)


def test_train_step_takes_the_same_optimizer_step_with_either_loss(tmp_path: Path) -> None:
    """Through train_step: micro-batches, normalization by the step's label tokens, clipping, the update."""
    base = tiny_peft_model()
    micro = [
        batch_of(tmp_path, MASKED, [0, 1], "longest"),
        batch_of(tmp_path, MASKED, [2, 3], "max_length"),
    ]

    def settings(params: list[torch.nn.Parameter], chunk: int | None) -> StepSettings:
        loss = "full" if chunk is None else "chunked"
        return StepSettings(CPU, params, None, None, 1e9, loss=loss, loss_chunk_tokens=chunk or 1)

    results = {}
    for chunk in (None, 6):
        model = copy.deepcopy(base)
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.SGD(params, lr=1.0)
        loss, norm = train_step(model, optimizer, micro, settings(params, chunk))
        assert norm is not None
        results[chunk] = (float(loss), float(norm), [p.detach().clone() for p in params])
    (loss_full, norm_full, after_full), (loss_chunked, norm_chunked, after_chunked) = results.values()
    assert loss_chunked == pytest.approx(loss_full, rel=1e-5)
    assert norm_chunked == pytest.approx(norm_full, rel=1e-5)
    before = [p for p in base.parameters() if p.requires_grad]
    for p0, a, b in zip(before, after_full, after_chunked, strict=True):
        torch.testing.assert_close(b - p0, a - p0, rtol=1e-5, atol=1e-7)  # the updates, not the weights
