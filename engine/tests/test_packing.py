"""Packed batches: the packer, the collation, and the equivalence that makes packing honest — every
record's loss and every LoRA gradient of a packed batch equal those of the records trained unpacked."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch

from loraprof_engine.data import (
    IGNORE_INDEX,
    PACK_LOOKAHEAD,
    StaticShape,
    collate,
    collate_packed,
    micro_batches,
    open_shard,
    pack_rows,
    packed_static_shape,
    record_order,
)
from loraprof_engine.kernels import PACKED_ATTENTION, block_causal_mask, register_packed_attention
from loraprof_engine.spec import DataSpec
from loraprof_engine.step import StepSettings, batch_loss_sum, to_device
from test_chunked_loss import MASKED, UNMASKED, tiny_peft_model

from conftest import write_shard

pytestmark = pytest.mark.filterwarnings("ignore:.*gradient_checkpointing.*:FutureWarning")
CPU = torch.device("cpu")


def lengths_of(n: int, seed: int, low: int = 1, high: int = 40) -> np.ndarray:
    return np.random.default_rng(seed).integers(low, high + 1, size=n).astype(np.int64)


@pytest.mark.parametrize(("rows", "capacity"), [(1, 40), (3, 64), (8, 100)])
def test_pack_rows_fills_rows_within_capacity_and_keeps_every_record_once(rows: int, capacity: int) -> None:
    lengths = lengths_of(500, seed=rows)
    batches = itertools.islice(pack_rows(record_order(500, 7), lengths, rows, capacity), 400)
    seen: list[int] = []
    kept = []
    for batch in batches:
        if len(seen) + sum(len(r) for r in batch) > 400:  # stay inside the first epoch
            break
        kept.append(batch)
        assert 1 <= len(batch) <= rows
        for row in batch:
            assert sum(int(lengths[i]) for i in row) <= capacity
            seen += row
    assert len(seen) == len(set(seen)), "a record was packed twice within the first epoch"
    # Nothing is skipped: the records packed so far are the seeded order's, within the look-ahead window.
    order = list(itertools.islice(record_order(500, 7), 500))
    assert set(order[: len(seen) - PACK_LOOKAHEAD - 1]) <= set(seen)
    assert set(seen) <= set(order[: len(seen) + PACK_LOOKAHEAD + 1])
    fill = sum(int(lengths[i]) for i in seen) / (len(kept) * rows * capacity)
    assert fill > 0.9, f"rows only {fill:.0%} full"


def test_pack_rows_is_deterministic_for_a_seed() -> None:
    lengths = lengths_of(300, seed=1)
    first = list(itertools.islice(pack_rows(record_order(300, 3), lengths, 4, 64), 20))
    again = list(itertools.islice(pack_rows(record_order(300, 3), lengths, 4, 64), 20))
    other = list(itertools.islice(pack_rows(record_order(300, 4), lengths, 4, 64), 20))
    assert first == again
    assert first != other


def test_collate_packed_restarts_positions_and_never_targets_a_record_start(tmp_path: Path) -> None:
    shard = open_shard(str(write_shard(tmp_path / "s", UNMASKED)), 16)
    batch = collate_packed(shard, [[0, 1], [2]], pad_token_id=0)  # rows of 9+3 and 11 tokens
    assert batch.input_ids.shape == (2, 12)
    assert batch.position_ids is not None and batch.cu_seqlens is not None
    assert batch.position_ids[0].tolist() == [*range(9), 0, 1, 2]
    assert batch.position_ids[1].tolist() == [*range(11), 0]  # the row's padding: its own segment
    assert batch.cu_seqlens.tolist() == [0, 9, 12, 23, 24]
    assert batch.max_seqlen == 11
    assert batch.labels[0, 9] == IGNORE_INDEX  # record 1's first token, after record 0's last
    assert batch.real_tokens == 23 and batch.processed_tokens == 24 and batch.records == 3
    assert (batch.span_sq, batch.span_tokens) == (9 * 9 + 3 * 3 + 11 * 11, 23)  # attention spans a record
    # Every target of the records alone is a target here, and nothing else: label tokens add up.
    alone = sum(collate(shard, [i], 0, "longest", 16).label_tokens for i in range(3))
    assert batch.label_tokens == alone


def test_collate_packed_in_a_static_shape_pads_rows_to_seq_len_and_boundaries_to_the_slots(tmp_path: Path) -> None:
    shard = open_shard(str(write_shard(tmp_path / "s", UNMASKED)), 16)
    batch = collate_packed(shard, [[0, 1]], pad_token_id=0, static=StaticShape(rows=2, width=16, slots=6))
    assert batch.input_ids.shape == (2, 16)
    assert batch.cu_seqlens is not None and batch.position_ids is not None
    # record 0 (9), record 1 (3), row 0's padding (4), row 1 empty: one padding segment, then zero-length ones.
    assert batch.cu_seqlens.tolist() == [0, 9, 12, 16, 32, 32, 32]
    assert batch.position_ids[1].tolist() == list(range(16))
    assert batch.real_tokens == 12 and batch.processed_tokens == 32 and batch.records == 2
    loose = collate_packed(shard, [[0, 1]], pad_token_id=0)
    assert batch.label_tokens == loose.label_tokens  # the padding adds no target


def test_packed_static_shape_holds_every_micro_batch_of_the_run(tmp_path: Path) -> None:
    shard = open_shard(str(write_shard(tmp_path / "s", UNMASKED * 7)), 16)
    spec = DataSpec(shard_dir="", pad_token_id=0, batch_size=2, seq_len=16, grad_accum=1, padding="packed", seed=3)
    shape = packed_static_shape(shard, spec, 25)
    assert (shape.rows, shape.width) == (2, 16)
    loose = list(itertools.islice(micro_batches(shard, spec), 25))
    assert shape.slots == max(b.records for b in loose) + 2
    for batch in itertools.islice(micro_batches(shard, spec, shape), 25):  # none overflows the slots
        assert batch.input_ids.shape == (2, 16)
        assert batch.cu_seqlens is not None and len(batch.cu_seqlens) == shape.slots + 1


def test_a_static_shape_leaves_every_loss_and_gradient_as_it_was(tmp_path: Path) -> None:
    """What CUDA graphs replay: rows padded to seqLen, boundaries padded with zero-length segments. The
    padding is its own segment and carries no target, so loss and LoRA gradients are unchanged."""
    register_packed_attention()
    model = tiny_peft_model("qwen2", attn_implementation=PACKED_ATTENTION)
    shard = open_shard(str(write_shard(tmp_path / "s", MASKED)), 16)
    settings = StepSettings(CPU, [], None, None, None)

    def loss_and_grads(batch) -> tuple[torch.Tensor, list[torch.Tensor]]:  # type: ignore[no-untyped-def]
        model.zero_grad(set_to_none=True)
        loss = batch_loss_sum(model, to_device(batch, CPU), settings)
        loss.backward()
        return loss.detach(), [p.grad.clone() for p in model.parameters() if p.grad is not None]

    rows = [[0, 1], [2]]
    loose_loss, loose_grads = loss_and_grads(collate_packed(shard, rows, 0))
    static_loss, static_grads = loss_and_grads(collate_packed(shard, rows, 0, StaticShape(rows=3, width=32, slots=9)))
    torch.testing.assert_close(static_loss, loose_loss, rtol=1e-5, atol=1e-6)
    assert len(static_grads) == len(loose_grads) > 0
    for a, b in zip(loose_grads, static_grads, strict=True):
        assert float((b - a).norm() / a.norm()) <= 1e-5


def test_micro_batches_in_packed_mode_pack_batch_size_rows_of_seq_len(tmp_path: Path) -> None:
    shard = open_shard(str(write_shard(tmp_path / "s", UNMASKED * 5)), 16)
    spec = DataSpec(shard_dir="", pad_token_id=0, batch_size=2, seq_len=16, grad_accum=1, padding="packed", seed=0)
    for batch in itertools.islice(micro_batches(shard, spec), 10):
        assert batch.input_ids.shape[0] <= 2 and batch.input_ids.shape[1] <= 16
        assert batch.real_tokens == int(batch.attention_mask.sum())


def test_block_causal_mask_keeps_attention_inside_each_segment() -> None:
    mask = block_causal_mask(torch.tensor([0, 2, 5, 6]), batch=2, width=3)
    assert mask.shape == (2, 1, 3, 3)
    assert mask[0, 0].tolist() == [[True, False, False], [True, True, False], [False, False, True]]
    assert mask[1, 0].tolist() == [[True, False, False], [True, True, False], [False, False, True]]


def per_token_losses(model: torch.nn.Module, batch, settings: StepSettings) -> torch.Tensor:  # type: ignore[no-untyped-def]
    inputs = to_device(batch, CPU)
    logits = model(input_ids=inputs.input_ids, **(inputs.packed or {})).logits
    shifted = torch.nn.functional.pad(inputs.labels, (0, 1), value=IGNORE_INDEX)[:, 1:]
    return torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), shifted.reshape(-1), ignore_index=IGNORE_INDEX, reduction="none"
    ).view(shifted.shape)


@pytest.mark.parametrize("model_type", ["qwen2", "llama"])
@pytest.mark.parametrize("records", [MASKED, UNMASKED], ids=["masked", "unmasked"])
@pytest.mark.parametrize("grad_checkpointing", [False, True])
def test_packed_losses_and_lora_gradients_equal_the_records_trained_unpacked(
    model_type: str, records: list, grad_checkpointing: bool, tmp_path: Path
) -> None:
    register_packed_attention()
    reference = tiny_peft_model(model_type, grad_checkpointing)
    packed_model = tiny_peft_model(model_type, grad_checkpointing, attn_implementation=PACKED_ATTENTION)
    packed_model.load_state_dict(reference.state_dict())
    shard = open_shard(str(write_shard(tmp_path / "s", records)), 16)
    settings = StepSettings(CPU, [], None, None, None)

    # Each record alone (no padding at all), then the four packed into two rows.
    alone = [per_token_losses(reference, collate(shard, [i], 0, "longest", 16), settings)[0] for i in range(4)]
    packed_batch = collate_packed(shard, [[0, 1], [2, 3]], 0)
    packed = per_token_losses(packed_model, packed_batch, settings)
    width = packed_batch.input_ids.shape[1]
    spans = []  # (flat start, flat end) of each record: rows [0, 1] and [2, 3], laid from each row's start
    for r, row in enumerate([[0, 1], [2, 3]]):
        at = r * width
        for i in row:
            length = len(records[i][0])
            spans.append((at, at + length))
            at += length
    flat = packed.detach().reshape(-1)
    for record, (start, end) in enumerate(spans):
        # Position end-1 would predict the next record's first token: ignored (IGNORE_INDEX → 0 loss).
        torch.testing.assert_close(
            flat[start : end - 1], alone[record].detach()[: end - start - 1], rtol=1e-5, atol=1e-6
        )
        assert float(flat[end - 1]) == 0.0

    def grads(model: torch.nn.Module, batches: list) -> list[torch.Tensor]:  # type: ignore[type-arg]
        model.zero_grad(set_to_none=True)
        for b in batches:
            loss = batch_loss_sum(model, to_device(b, CPU, with_loss_rows=True), settings)
            loss.backward()
        return [p.grad.clone() for p in model.parameters() if p.requires_grad and p.grad is not None]

    g_alone = grads(reference, [collate(shard, [i], 0, "longest", 16) for i in range(4)])
    g_packed = grads(packed_model, [packed_batch])
    assert len(g_alone) == len(g_packed) > 0
    for a, b in zip(g_alone, g_packed, strict=True):
        # fp32 sums taken in another order: each gradient within 1e-5 of the unpacked one, relative to its norm
        assert float((b - a).norm() / a.norm()) <= 1e-5


def test_packed_chunked_loss_equals_the_full_loss(tmp_path: Path) -> None:
    register_packed_attention()
    model = tiny_peft_model("qwen2", attn_implementation=PACKED_ATTENTION)
    shard = open_shard(str(write_shard(tmp_path / "s", MASKED)), 16)
    batch = collate_packed(shard, [[0, 1, 3], [2]], 0)
    full = batch_loss_sum(model, to_device(batch, CPU), StepSettings(CPU, [], None, None, None))
    chunked = batch_loss_sum(
        model,
        to_device(batch, CPU, with_loss_rows=True),
        StepSettings(CPU, [], None, None, None, loss="chunked", loss_chunk_tokens=5),
    )
    torch.testing.assert_close(chunked, full, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("grouped", [False, True])
@pytest.mark.parametrize("model_type", ["qwen2", "llama"])
def test_fused_lora_forward_equals_peft_forward_in_value_and_gradients(
    model_type: str, grouped: bool, tmp_path: Path
) -> None:
    from loraprof_engine.kernels import fuse_lora_layers, group_lora_siblings

    peft_model = tiny_peft_model(model_type)
    fused_model = tiny_peft_model(model_type)
    fused_model.load_state_dict(peft_model.state_dict())
    count, why_not = fuse_lora_layers(fused_model)
    assert why_not is None and count == 14  # 7 projections × 2 layers
    if grouped:
        assert group_lora_siblings(fused_model) == 4  # q/k/v and gate/up in each of 2 layers
    shard = open_shard(str(write_shard(tmp_path / "s", MASKED)), 16)
    batch = collate(shard, [0, 1, 2, 3], 0, "longest", 16)
    settings = StepSettings(CPU, [], None, None, None)

    def loss_and_grads(model: torch.nn.Module) -> tuple[float, list[torch.Tensor]]:
        model.zero_grad(set_to_none=True)
        loss = batch_loss_sum(model, to_device(batch, CPU), settings)
        loss.backward()
        return float(loss), [p.grad.clone() for p in model.parameters() if p.requires_grad and p.grad is not None]

    # 16-bit base layers without dropout run as one autograd node (kernels._LoraLinear), or grouped with the
    # siblings reading the same input, one node per group (kernels._LoraGroupLinear)
    nodes: list[str] = []
    hooks = [
        m.register_forward_hook(lambda _m, _i, out: nodes.append(type(out.grad_fn).__name__))
        for n, m in fused_model.named_modules()
        if n.endswith(("layers.0.self_attn.q_proj", "layers.0.self_attn.v_proj", "layers.0.mlp.up_proj"))
    ]
    loss_a, grads_a = loss_and_grads(peft_model)
    loss_b, grads_b = loss_and_grads(fused_model)
    for hook in hooks:
        hook.remove()
    node = "_LoraGroupLinearBackward" if grouped else "_LoraLinearBackward"
    assert nodes == [node] * 3, nodes  # each of them, one forward
    assert loss_b == pytest.approx(loss_a, rel=1e-6)
    assert len(grads_a) == len(grads_b) == 28
    for a, b in zip(grads_a, grads_b, strict=True):
        assert float((b - a).norm() / a.norm()) <= 1e-5


def assert_same_loss_and_lora_grads(reference: torch.nn.Module, model: torch.nn.Module, tmp_path: Path) -> None:
    """One masked batch through both models: the same loss (1e-6) and the same 28 LoRA gradients (1e-5,
    relative)."""
    shard = open_shard(str(write_shard(tmp_path / "s", MASKED)), 16)
    batch = collate(shard, [0, 1, 2, 3], 0, "longest", 16)
    settings = StepSettings(CPU, [], None, None, None)
    losses, grads = [], []
    for m in (reference, model):
        loss = batch_loss_sum(m, to_device(batch, CPU), settings)
        loss.backward()
        losses.append(float(loss))
        grads.append([p.grad for p in m.parameters() if p.requires_grad and p.grad is not None])
    assert losses[1] == pytest.approx(losses[0], rel=1e-6)
    assert len(grads[0]) == len(grads[1]) == 28
    for a, b in zip(*grads, strict=True):
        assert float((b - a).norm() / a.norm()) <= 1e-5


def test_grouped_lora_under_checkpointing_equals_peft_in_value_and_gradients(tmp_path: Path) -> None:
    """The sibling groups recompute under non-reentrant checkpointing as the layers do: each group's first
    member computes the group again on the recomputed input, the others take their outputs."""
    from loraprof_engine.kernels import fuse_lora_layers, group_lora_siblings

    peft_model = tiny_peft_model("qwen2", grad_checkpointing=True)
    grouped = tiny_peft_model("qwen2", grad_checkpointing=True)
    grouped.load_state_dict(peft_model.state_dict())
    assert fuse_lora_layers(grouped) == (14, None)
    assert group_lora_siblings(grouped) == 4
    nodes: list[str] = []
    v_proj = next(m for n, m in grouped.named_modules() if n.endswith("layers.1.self_attn.v_proj"))
    hook = v_proj.register_forward_hook(lambda _m, _i, out: nodes.append(type(out.grad_fn).__name__))
    assert_same_loss_and_lora_grads(peft_model, grouped, tmp_path)
    hook.remove()
    assert nodes == ["_LoraGroupLinearBackward"] * 2  # the forward, then the recompute in backward


def test_a_grouped_member_called_with_another_input_computes_its_own_output() -> None:
    """Out of the usual order (a member called with a tensor its group did not see), the member computes the
    group on that input: the same output as the layer alone, and the pending outputs of the first input are
    not handed out for it."""
    from loraprof_engine.kernels import LoraSiblings, fuse_lora_layers, group_lora_siblings

    model = tiny_peft_model("qwen2")
    reference = tiny_peft_model("qwen2")
    reference.load_state_dict(model.state_dict())
    fuse_lora_layers(model)
    fuse_lora_layers(reference)
    group_lora_siblings(model)
    attn = model.base_model.model.model.layers[0].self_attn
    alone = reference.base_model.model.model.layers[0].self_attn
    assert isinstance(attn.q_proj.loraprof_group, LoraSiblings)
    torch.manual_seed(1)
    x, other = torch.randn(2, 5, attn.q_proj.in_features), torch.randn(2, 5, attn.q_proj.in_features)
    q = attn.q_proj(x)
    k_other = attn.k_proj(other)  # not x: computed on `other`, not taken from x's group
    k, v = attn.k_proj(x), attn.v_proj(x)
    torch.testing.assert_close(q, alone.q_proj(x), rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(k_other, alone.k_proj(other), rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(k, alone.k_proj(x), rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(v, alone.v_proj(x), rtol=1e-6, atol=1e-6)


def tiny_qlora_model() -> torch.nn.Module:
    """tiny_peft_model's qwen2 with every decoder linear layer a bitsandbytes 4-bit NF4 layer (fp32 compute,
    double quantization), quantized on the CPU: same seed, same model."""
    bnb = pytest.importorskip("bitsandbytes")
    model = tiny_peft_model("qwen2")
    base = model.base_model.model
    for lora in list(base.modules()):
        linear = getattr(lora, "base_layer", None)
        if type(linear) is not torch.nn.Linear:
            continue
        four_bit = bnb.nn.Linear4bit(
            linear.in_features,
            linear.out_features,
            bias=linear.bias is not None,
            compute_dtype=torch.float32,
            quant_type="nf4",
            compress_statistics=True,
        )
        four_bit.weight = bnb.nn.Params4bit(
            linear.weight.data.clone(), requires_grad=False, quant_type="nf4", compress_statistics=True
        )
        if linear.bias is not None:
            four_bit.bias = torch.nn.Parameter(linear.bias.data.clone(), requires_grad=False)
        lora.base_layer = four_bit.to("cpu")  # quantizes the weight
    return model


@pytest.mark.parametrize("grouped", [False, True])
def test_fused_lora_on_a_4bit_base_equals_the_two_kernel_forward_in_value_and_gradients(
    grouped: bool, tmp_path: Path
) -> None:
    """The one-node LoRA (kernels._LoraLinear) over a bitsandbytes 4-bit base: bitsandbytes' matmul_4bit
    forward, the weight dequantized again in backward, against PEFT's forward over the same 4-bit layers."""
    from loraprof_engine.kernels import fuse_lora_layers, group_lora_siblings, lora_single_node

    peft_model = tiny_qlora_model()
    fused_model = tiny_qlora_model()
    assert fuse_lora_layers(fused_model) == (14, None)
    if grouped:
        assert group_lora_siblings(fused_model) == 4
    q_proj = next(m for n, m in fused_model.named_modules() if n.endswith("q_proj"))
    assert type(q_proj.base_layer).__name__ == "Linear4bit" and lora_single_node(q_proj)
    assert_same_loss_and_lora_grads(peft_model, fused_model, tmp_path)


# The same packing is pinned in src/plan/packing.test.ts: the planner replays this packer.
PINNED_PACKING = [
    [[142, 119, 99, 81, 162], [117], [128, 190, 155]],
    [[6, 43, 198, 188], [84, 122], [135, 71]],
    [[131, 126], [186, 104], [100, 45]],
    [[169, 98], [62, 152, 132], [24, 96, 48]],
]


def test_pack_rows_matches_the_packing_pinned_on_the_typescript_side() -> None:
    lengths = np.array([(i * 37) % 61 + 3 for i in range(200)], dtype=np.int64)
    assert list(itertools.islice(pack_rows(record_order(200, 3), lengths, 3, 64), 4)) == PINNED_PACKING


@pytest.mark.parametrize(
    ("arch_change", "data_change", "train_change", "field"),
    [
        ({"attn_logit_softcapping": 50.0}, {"padding": "packed"}, {}, "data.padding"),
        ({"sliding_window": 32}, {"padding": "packed", "seq_len": 64}, {}, "data.padding"),
        ({"final_logit_softcapping": 30.0}, {}, {"loss_implementation": "fused"}, "train.lossImplementation"),
    ],
)
def test_what_packing_and_the_fused_losses_do_not_model_is_refused_naming_the_setting(
    arch_change: dict, data_change: dict, train_change: dict, field: str, tmp_path: Path
) -> None:
    import dataclasses

    from loraprof_engine.errors import EngineError
    from loraprof_engine.model import check_fast_path
    from loraprof_engine.spec import parse_runspec

    from conftest import make_spec

    spec = parse_runspec(make_spec(tmp_path, tmp_path / "shard"))
    assert spec.model.architecture is not None
    check_fast_path(spec)  # the plain tiny model passes
    spec = dataclasses.replace(
        spec,
        model=dataclasses.replace(spec.model, architecture=dataclasses.replace(spec.model.architecture, **arch_change)),
        data=dataclasses.replace(spec.data, **data_change),
        train=dataclasses.replace(spec.train, **train_change),
    )
    with pytest.raises(EngineError) as caught:
        check_fast_path(spec)
    assert caught.value.kind == "config" and caught.value.message.startswith(field)


def test_cuda_graphs_fall_back_with_a_reason_where_they_cannot_run(tmp_path: Path) -> None:
    from loraprof_engine.graphs import graphs_unavailable
    from loraprof_engine.spec import parse_runspec

    from conftest import make_spec

    shard = write_shard(tmp_path / "s", UNMASKED)
    raw = make_spec(tmp_path, shard, train={"cudaGraphs": True})
    raw["data"]["padding"] = "packed"
    spec = parse_runspec(raw)
    assert "CUDA device" in (graphs_unavailable(spec, CPU) or "")
    cuda = torch.device("cuda", 0)
    assert graphs_unavailable(spec, cuda) is None
    raw["data"]["padding"] = "longest"
    assert "packed" in (graphs_unavailable(parse_runspec(raw), cuda) or "")
    raw["data"]["padding"] = "packed"
    assert "data-parallel" in (graphs_unavailable(parse_runspec(raw), cuda, world_size=2) or "")
    raw["lora"]["dropout"] = 0.1
    raw["train"]["gradCheckpointing"] = True
    assert "dropout 0" in (graphs_unavailable(parse_runspec(raw), cuda) or "")


def test_the_graphs_own_warm_up_runs_forward_and_backward_without_touching_gradients() -> None:
    from loraprof_engine.graphs import warm_up

    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.Tanh(), torch.nn.Linear(8, 4))
    frozen = module[0].weight
    frozen.requires_grad_(False)
    calls = []
    module.register_full_backward_hook(lambda *_: calls.append("backward"))
    warm_up(module, (torch.randn(3, 8),), iterations=2)
    assert calls == ["backward", "backward"]  # two iterations, each through the backward
    # autograd.grad, not .backward(): nothing accumulates into .grad before the real steps
    assert all(p.grad is None for p in module.parameters())


def test_compiled_decoder_layers_give_the_eager_losses_and_lora_gradients(tmp_path: Path) -> None:
    """`train.compile: layers` wraps each decoder layer in torch.compile. On the CPU the run falls back (the
    engine compiles with inductor's Triton kernels only on a GPU); the wrapping itself is checked here with
    the aot_eager backend (dynamo's trace and AOT autograd, no code generation): same loss and gradients."""
    from types import SimpleNamespace

    from loraprof_engine.graphs import compile_layers
    from loraprof_engine.kernels import fuse_lora_layers, group_lora_siblings
    from loraprof_engine.spec import parse_runspec

    from conftest import make_spec

    register_packed_attention()
    eager = tiny_peft_model(attn_implementation=PACKED_ATTENTION)
    compiled = tiny_peft_model(attn_implementation=PACKED_ATTENTION)
    compiled.load_state_dict(eager.state_dict())
    for model in (eager, compiled):  # the fast recipe's LoRA forward, as the compiled runs use it
        assert fuse_lora_layers(model)[1] is None
    assert group_lora_siblings(compiled) == 4  # 2 layers × (q/k/v, gate/up), as loaded; compiling undoes them
    attn = compiled.get_base_model().get_decoder().layers[0].self_attn
    shard_dir = write_shard(tmp_path / "s", MASKED)
    spec = parse_runspec(make_spec(tmp_path, shard_dir, train={"compile": "layers"}))
    loaded = SimpleNamespace(model=compiled, graphed=None, notes=[])
    compile_layers(spec, loaded, CPU)
    assert loaded.notes[0].startswith("torch.compile not used: regional torch.compile runs on a CUDA GPU only")
    assert len(loaded.notes) == 1
    assert hasattr(attn.q_proj, "loraprof_group")  # compilation fell back: the groups stay
    compile_layers(spec, loaded, CPU, backend="aot_eager")
    assert loaded.notes[-2].startswith("LoRA sibling groups undone for torch.compile (4)")
    assert "each of the 2 decoder layers compiled" in loaded.notes[-1]
    assert not hasattr(attn.q_proj, "loraprof_group")

    shard = open_shard(str(shard_dir), 16)
    settings = StepSettings(CPU, [], None, None, None)
    batches = [collate_packed(shard, [[0, 1], [2, 3]], 0), collate_packed(shard, [[1, 3, 0]], 0)]  # two widths

    def losses_and_grads(model: torch.nn.Module) -> tuple[list[float], list[torch.Tensor]]:
        model.zero_grad(set_to_none=True)
        losses = []
        for b in batches:
            loss = batch_loss_sum(model, to_device(b, CPU, with_loss_rows=True), settings)
            loss.backward()
            losses.append(float(loss.detach()))
        return losses, [p.grad.clone() for p in model.parameters() if p.requires_grad and p.grad is not None]

    loss_eager, grads_eager = losses_and_grads(eager)
    loss_compiled, grads_compiled = losses_and_grads(compiled)
    assert loss_compiled == pytest.approx(loss_eager, rel=1e-5)
    assert len(grads_eager) == len(grads_compiled) > 0
    for a, b in zip(grads_eager, grads_compiled, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)
    base = compiled.get_base_model()
    assert all(layer._compiled_call_impl is not None for layer in base.get_decoder().layers)


def test_compiling_the_layers_is_skipped_when_the_decoder_replays_as_graphs(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from loraprof_engine.graphs import compile_layers
    from loraprof_engine.spec import parse_runspec

    from conftest import make_spec

    spec = parse_runspec(make_spec(tmp_path, write_shard(tmp_path / "s", UNMASKED), train={"compile": "layers"}))
    loaded = SimpleNamespace(model=None, graphed=object(), notes=[])
    compile_layers(spec, loaded, torch.device("cuda", 0))
    assert loaded.notes == [
        "torch.compile not used: the decoder already replays as CUDA graphs (--no-cuda-graphs to compile it instead)"
    ]
    off = parse_runspec(make_spec(tmp_path, write_shard(tmp_path / "t", UNMASKED)))
    compile_layers(off, loaded, torch.device("cuda", 0))  # train.compile none: nothing, no note
    assert len(loaded.notes) == 1
