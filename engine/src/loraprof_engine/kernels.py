"""The fast recipe's pieces that replace parts of the model's computation, each with a reason to fall back.

- Packed attention: transformers' attention interface, registered under PACKED_ATTENTION, keeps every
  record's attention inside the record. On CUDA in fp16/bf16 it is PyTorch's own varlen flash attention
  (`torch.nn.attention.varlen`, cumulative sequence lengths, no mask, no padding computed between
  records); elsewhere (the CPU, fp32) SDPA with a block-diagonal causal mask built from the same
  boundaries: the same function, at O(width²) mask memory per row.
- Liger Kernel (a kernel library of Triton kernels): fused RMSNorm, SwiGLU and RoPE, patched into the
  model before LoRA is attached, and its fused linear cross-entropy for the loss. GPU + Triton only.

Every choice made here is written to the run's notes (the `loaded` event), so a stored run says what ran.
"""

from __future__ import annotations

import functools
import importlib
import inspect
from collections.abc import Callable
from typing import Any, cast

import torch
import torch.nn.functional as F

PACKED_ATTENTION = "loraprof_packed"

_varlen: Callable[..., torch.Tensor] | None = None
_varlen_reason: str | None = None


def _load_varlen() -> tuple[Callable[..., torch.Tensor] | None, str | None]:
    try:
        module = importlib.import_module("torch.nn.attention.varlen")
        return module.varlen_attn, None
    except (ImportError, AttributeError) as exc:
        return None, f"torch {torch.__version__} has no torch.nn.attention.varlen ({exc})"


def varlen_available(device: torch.device, dtype: torch.dtype | None) -> tuple[bool, str]:
    """Whether packed attention runs on flash varlen here, and if not, why (the masked-SDPA path runs)."""
    global _varlen, _varlen_reason
    if device.type != "cuda":
        return False, "varlen flash attention needs a CUDA device"
    if dtype not in (torch.float16, torch.bfloat16):
        return False, "varlen flash attention needs fp16 or bf16"
    if _varlen is None and _varlen_reason is None:
        _varlen, _varlen_reason = _load_varlen()
    if _varlen is None:
        return False, _varlen_reason or "varlen attention unavailable"
    return True, "PyTorch varlen flash attention (torch.nn.attention.varlen)"


@functools.cache
def _varlen_options() -> tuple[dict[str, Any], bool, bool]:
    """varlen_attn's keyword arguments for causal attention, whether it takes `scale` and `enable_gqa`:
    read from its signature once (it changed between torch 2.9 and 2.12), not in every layer's call."""
    assert _varlen is not None
    params = inspect.signature(_varlen).parameters
    # torch >= 2.10: causal is a window reaching back without limit and zero tokens ahead.
    causal: dict[str, Any] = {"is_causal": True} if "is_causal" in params else {"window_size": (-1, 0)}
    return causal, "scale" in params, "enable_gqa" in params


def _varlen_call(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cu: torch.Tensor, max_len: int, scale: float | None
) -> torch.Tensor:
    assert _varlen is not None
    causal, takes_scale, takes_gqa = _varlen_options()
    kwargs: dict[str, Any] = dict(causal)
    if takes_scale and scale is not None:
        kwargs["scale"] = scale
    if k.shape[1] != q.shape[1]:
        if takes_gqa:
            kwargs["enable_gqa"] = True
        else:  # grouped-query attention by repeating the key/value heads (what SDPA's enable_gqa does)
            k = k.repeat_interleave(q.shape[1] // k.shape[1], dim=1)
            v = v.repeat_interleave(q.shape[1] // v.shape[1], dim=1)
    return _varlen(q, k, v, cu, cu, max_len, max_len, **kwargs)


def block_causal_mask(cu_seqlens: torch.Tensor, batch: int, width: int) -> torch.Tensor:
    """[batch, 1, width, width] bool: True where a query may attend a key (same segment, not later)."""
    flat = torch.arange(batch * width, device=cu_seqlens.device)
    segment = torch.searchsorted(cu_seqlens[1:].to(torch.int64), flat, right=True).view(batch, width)
    same = segment[:, :, None] == segment[:, None, :]
    causal = torch.ones(width, width, dtype=torch.bool, device=cu_seqlens.device).tril()
    return (same & causal)[:, None]


def packed_attention(
    module: Any,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """transformers' attention interface: query [batch, heads, width, dim] → [batch, width, heads, dim].

    The packed micro-batch's boundaries arrive as keyword arguments of the model's forward
    (`cu_seq_lens_q`, `max_length_q`: transformers' names for packed flash attention), passed down to
    every attention layer unchanged.
    """
    cu: torch.Tensor | None = kwargs.get("cu_seq_lens_q")
    if cu is None:
        raise RuntimeError("packed attention called without cu_seq_lens_q (the engine passes it for packed batches)")
    batch, heads, width, dim = query.shape
    mask = kwargs.get("loraprof_block_mask")
    if mask is None:  # the engine passes a mask only when varlen flash attention is not used
        q = query.transpose(1, 2).reshape(batch * width, heads, dim)
        k = key.transpose(1, 2).reshape(batch * width, key.shape[1], dim)
        v = value.transpose(1, 2).reshape(batch * width, value.shape[1], dim)
        out = _varlen_call(q, k, v, cu, int(kwargs["max_length_q"]), scaling)
        return out.view(batch, width, heads, dim), None
    out = F.scaled_dot_product_attention(
        query,
        key,
        value,
        attn_mask=mask,
        scale=scaling,
        enable_gqa=key.shape[1] != heads,
    )
    return out.transpose(1, 2).contiguous(), None


def register_packed_attention() -> None:
    """Make PACKED_ATTENTION a name from_pretrained accepts (no mask function: transformers builds none)."""
    from transformers import AttentionInterface

    AttentionInterface.register(PACKED_ATTENTION, packed_attention)


# ----------------------------------------------------------------------------------------------------
# Liger Kernel


def liger_unavailable(device: torch.device) -> str | None:
    """Why Liger's Triton kernels cannot run here, or None when they can."""
    if device.type != "cuda":
        return "Liger Kernel's Triton kernels need a CUDA GPU"
    try:
        importlib.import_module("triton")
    except ImportError:
        return "Triton is not installed"
    try:
        importlib.import_module("liger_kernel.transformers")
    except ImportError as exc:
        return f"liger-kernel is not installed ({exc}; `pip install liger-kernel`)"
    return None


# Families whose Liger patch takes rope/rms_norm/swiglu as the Qwen2 one does (the others use GeGLU or
# fused projections: not wired, so they run PyTorch's ops with a note).
LIGER_PATCHES = {
    "qwen2": "apply_liger_kernel_to_qwen2",
    "qwen3": "apply_liger_kernel_to_qwen3",
    "llama": "apply_liger_kernel_to_llama",
    "mistral": "apply_liger_kernel_to_mistral",
}


def apply_liger(model: Any, model_type: str) -> str:
    """Patch RMSNorm, SwiGLU MLP and RoPE of a loaded (not yet LoRA-wrapped) model with Liger's kernels."""
    from liger_kernel import transformers as liger

    apply = getattr(liger, LIGER_PATCHES[model_type])
    apply(rope=True, rms_norm=True, swiglu=True, cross_entropy=False, fused_linear_cross_entropy=False, model=model)
    version = _version("liger-kernel")
    return f"Liger Kernel {version}: fused RMSNorm, SwiGLU and RoPE (Triton)"


def fused_linear_cross_entropy_sum(weight: torch.Tensor, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Sum of cross-entropies of `hidden @ weight.T` against targets, never materializing the logits:
    Liger's fused linear cross-entropy computes the gradient chunk by chunk in the forward pass."""
    from liger_kernel.transformers.functional import liger_fused_linear_cross_entropy

    return liger_fused_linear_cross_entropy(hidden, weight, targets, reduction="sum")  # type: ignore[no-any-return]


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "unknown"


# ----------------------------------------------------------------------------------------------------
# Fused LoRA forward


def fused_lora_forward(self: Any, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
    """PEFT's LoRA forward for one plain adapter as two kernels: `x @ A.T`, then one `addmm` that adds
    `scaling · (x A.T) B.T` to the base layer's output in the matmul's epilogue.

    PEFT's own forward casts the input to the adapter's dtype (fp32 adapters: a bf16 → fp32 copy of
    every layer input, cast back by autocast inside lora_A), multiplies by the scaling and adds in two
    more passes over the output, and for 4-bit layers clones the output first. Same function, same
    gradients (engine/tests/test_packing.py checks them against PEFT's forward); under autocast the
    adapter's fp32 weights are cast to the compute dtype as any linear's are.
    """
    adapter = self.active_adapters[0]
    a = self.lora_A[adapter]
    b = self.lora_B[adapter]
    base = self.base_layer
    if getattr(self, "loraprof_single_node", False) and not args:
        # A frozen base without dropout: one autograd node for base and adapter, whose backward adds the
        # adapter's input gradient into the base's in the matmul (no separate sum).
        dtype = torch.get_autocast_dtype(x.device.type) if torch.is_autocast_enabled(x.device.type) else x.dtype
        quant_state = getattr(base.weight, "quant_state", None)  # a bitsandbytes 4-bit base
        if quant_state is None or getattr(base, "compute_dtype", None) in (None, dtype):
            group = getattr(self, "loraprof_group", None)
            if group is not None:
                return cast(LoraSiblings, group).output(self, x, dtype)
            with torch.autocast(x.device.type, enabled=False):
                out = _LoraLinear.apply(
                    x.to(dtype), *_adapter_operands(self, dtype), float(self.scaling[adapter]), quant_state
                )
            return out  # type: ignore[no-any-return]
    result = base(x, *args, **kwargs)
    xa = a(self.lora_dropout[adapter](x))
    out = torch.addmm(
        result.reshape(-1, result.shape[-1]),
        xa.reshape(-1, xa.shape[-1]),
        b.weight.t(),
        alpha=self.scaling[adapter],
    )
    return out.view(result.shape)


def lora_single_node(module: Any) -> bool:
    """Whether a fused LoRA layer runs as one autograd node (_LoraLinear): a frozen 16-bit base or a
    bitsandbytes 4-bit one, no dropout."""
    adapter = module.active_adapters[0]
    base = module.base_layer
    four_bit = type(base).__name__ == "Linear4bit" and getattr(base.weight, "quant_state", None) is not None
    return (type(base) is torch.nn.Linear or four_bit) and isinstance(module.lora_dropout[adapter], torch.nn.Identity)


class _LoraLinear(torch.autograd.Function):
    """`x Wᵀ + b + s · (x Aᵀ) Bᵀ` for a frozen W: forward as the base's matmul (F.linear, or bitsandbytes'
    matmul_4bit for a 4-bit W) plus one addmm into its output; backward computes the input gradient as
    `g W` (W dequantized again for a 4-bit base, as bitsandbytes' own backward does) with `(s · g B) A`
    added by an in-place addmm, where autograd would write the adapter's input gradient separately and sum
    the two. Saves x and x Aᵀ, as PEFT's forward does, and no dequantized weight."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        x: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        lora_a: torch.Tensor,
        lora_b: torch.Tensor,
        scaling: float,
        quant_state: Any = None,
    ) -> torch.Tensor:
        x2 = x.reshape(-1, x.shape[-1])
        out = _base_linear(x2, weight, bias, quant_state)
        xa = x2 @ lora_a.t()
        out.addmm_(xa, lora_b.t(), alpha=scaling)
        ctx.save_for_backward(x2, xa, weight, lora_a, lora_b)
        ctx.scaling = scaling
        ctx.x_shape = x.shape
        ctx.quant_state = quant_state
        return out.view(*x.shape[:-1], out.shape[-1])

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:  # type: ignore[override]
        x2, xa, weight, lora_a, lora_b = ctx.saved_tensors
        s = ctx.scaling
        g = grad.reshape(-1, grad.shape[-1])
        g_xa = (g @ lora_b).mul_(s)  # [tokens × r]
        grad_a = g_xa.t() @ x2 if ctx.needs_input_grad[3] else None
        grad_b = (g.t() @ xa).mul_(s) if ctx.needs_input_grad[4] else None
        grad_x = None
        if ctx.needs_input_grad[0]:
            dense = _dense_weight(weight, ctx.quant_state, g.dtype)
            grad_x = (g @ dense).addmm_(g_xa, lora_a).view(ctx.x_shape)
        # W and the bias are frozen here (fuse_lora_layers fuses LoRA layers only)
        grad_w = g.t() @ x2 if ctx.needs_input_grad[1] and ctx.quant_state is None else None
        grad_bias = g.sum(0) if ctx.needs_input_grad[2] else None
        return grad_x, grad_w, grad_bias, grad_a, grad_b, None, None


def _adapter_operands(module: Any, dtype: torch.dtype) -> tuple[Any, ...]:
    """One single-node layer's operands for _LoraLinear / _LoraGroupLinear, in the compute dtype: the base
    weight (4-bit as stored), its bias, the adapter's A and B."""
    adapter = module.active_adapters[0]
    base = module.base_layer
    four_bit = getattr(base.weight, "quant_state", None) is not None
    return (
        base.weight if four_bit else base.weight.to(dtype),
        None if base.bias is None else base.bias.to(dtype),
        module.lora_A[adapter].weight.to(dtype),
        module.lora_B[adapter].weight.to(dtype),
    )


class LoraSiblings:
    """Single-node LoRA layers of one block that read the same input (q/k/v; gate/up), run as one autograd
    node (_LoraGroupLinear): the input is read once for all adapters' A, and backward sums the members'
    input gradients in the matmuls' epilogues instead of autograd adding separate tensors.

    The first member called with an input computes every member's output; the others, called next with the
    same tensor (as every decoder block of the supported families calls them), take theirs. A member called
    with another input computes the group again: correct, only slower."""

    def __init__(self, members: list[Any]) -> None:
        self.members = members
        self.x: torch.Tensor | None = None
        self.pending: dict[int, torch.Tensor] = {}

    def output(self, member: Any, x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        index = self.members.index(member)
        if self.x is x and index in self.pending:
            out = self.pending.pop(index)
            if not self.pending:
                self.x = None
            return out
        with torch.autocast(x.device.type, enabled=False):
            operands = [t for m in self.members for t in _adapter_operands(m, dtype)]
            outs = _LoraGroupLinear.apply(
                x.to(dtype),
                tuple(float(m.scaling[m.active_adapters[0]]) for m in self.members),
                tuple(getattr(m.base_layer.weight, "quant_state", None) for m in self.members),
                *operands,
            )
        self.x = x
        self.pending = {i: o for i, o in enumerate(outs) if i != index}
        return outs[index]  # type: ignore[no-any-return]


def _dense_weight(weight: torch.Tensor, quant_state: Any, dtype: torch.dtype) -> torch.Tensor:
    """A base weight for the input gradient: as is, or a 4-bit one dequantized again (as bitsandbytes'
    own backward does)."""
    if quant_state is None:
        return weight
    import bitsandbytes.functional as bnbf

    return cast(torch.Tensor, bnbf.dequantize_4bit(weight.view(-1, 1), quant_state)).to(dtype)


def _base_linear(x2: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, quant_state: Any) -> torch.Tensor:
    if quant_state is None:
        return F.linear(x2, weight, bias)
    import bitsandbytes as bnb

    return cast(torch.Tensor, bnb.matmul_4bit(x2, weight, quant_state=quant_state, bias=bias))


class _LoraGroupLinear(torch.autograd.Function):
    """_LoraLinear for n layers sharing their input x: `x A_allᵀ` once for the concatenated adapters' A
    (one read of x instead of n), each base output with its adapter's update added by an addmm; backward
    computes the A gradients as one matmul over x and the input gradient as `g_1 W_1` with every other
    member's `g_i W_i` and the adapters' `(s · g B) A_all` added in place. Operands per member: base weight,
    bias, A, B (kernels._adapter_operands)."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        x: torch.Tensor,
        scalings: tuple[float, ...],
        quant_states: tuple[Any, ...],
        *operands: torch.Tensor | None,
    ) -> tuple[torch.Tensor, ...]:
        x2 = x.reshape(-1, x.shape[-1])
        weights, biases = operands[0::4], operands[1::4]
        lora_as, lora_bs = operands[2::4], operands[3::4]
        a_all = torch.cat(lora_as, 0)  # type: ignore[arg-type]
        xa_all = x2 @ a_all.t()  # [tokens × Σr]
        outs = []
        start = 0
        for w, b, a, lb, s, q in zip(weights, biases, lora_as, lora_bs, scalings, quant_states, strict=True):
            r = a.shape[0]  # type: ignore[union-attr]
            out = _base_linear(x2, w, b, q)  # type: ignore[arg-type]
            out.addmm_(xa_all[:, start : start + r], lb.t(), alpha=s)  # type: ignore[union-attr]
            outs.append(out.view(*x.shape[:-1], out.shape[-1]))
            start += r
        ctx.save_for_backward(x2, xa_all, a_all, *weights, *lora_bs)
        ctx.scalings = scalings
        ctx.quant_states = quant_states
        ctx.x_shape = x.shape
        ctx.ranks = [a.shape[0] for a in lora_as]  # type: ignore[union-attr]
        return tuple(outs)

    @staticmethod
    def backward(ctx: Any, *grads: torch.Tensor) -> tuple[torch.Tensor | None, ...]:  # type: ignore[override]
        n = len(grads)
        x2, xa_all, a_all, *rest = ctx.saved_tensors
        weights, lora_bs = rest[:n], rest[n:]
        gs = [g.reshape(-1, g.shape[-1]) for g in grads]
        g_xas = [(g @ lb).mul_(s) for g, lb, s in zip(gs, lora_bs, ctx.scalings, strict=True)]
        g_xa_all = torch.cat(g_xas, 1)  # [tokens × Σr]
        grad_a_all = g_xa_all.t() @ x2
        need = ctx.needs_input_grad
        out: list[torch.Tensor | None] = [None, None, None]
        start = 0
        for i, (g, r, s) in enumerate(zip(gs, ctx.ranks, ctx.scalings, strict=True)):
            grad_a = grad_a_all[start : start + r] if need[3 + 4 * i + 2] else None
            grad_b = (g.t() @ xa_all[:, start : start + r]).mul_(s) if need[3 + 4 * i + 3] else None
            # base weights and biases are frozen (fuse_lora_layers groups single-node layers only)
            out += [None, None, grad_a, grad_b]
            start += r
        if need[0]:
            grad_x = gs[0] @ _dense_weight(weights[0], ctx.quant_states[0], gs[0].dtype)
            for g, w, q in zip(gs[1:], weights[1:], ctx.quant_states[1:], strict=True):
                grad_x.addmm_(g, _dense_weight(w, q, g.dtype))
            grad_x.addmm_(g_xa_all, a_all)
            out[0] = grad_x.view(ctx.x_shape)
        return tuple(out)


# Sibling projections that read one input in the decoder blocks of the supported families (Phi-3 fuses
# them into one layer already).
SIBLINGS = (("q_proj", "k_proj", "v_proj"), ("gate_proj", "up_proj"))


def group_lora_siblings(model: Any) -> int:
    """Groups each block's single-node LoRA siblings (SIBLINGS) whose bases are alike (all 16-bit or all
    4-bit, same input width) into one LoraSiblings; returns how many groups were made."""
    groups = 0
    for parent in model.modules():
        for names in SIBLINGS:
            members = [getattr(parent, name, None) for name in names]
            if not all(getattr(m, "loraprof_single_node", False) for m in members):
                continue
            bases = [m.base_layer for m in members]  # type: ignore[union-attr]
            if len({(type(b).__name__, b.in_features) for b in bases}) != 1:
                continue
            group = LoraSiblings(members)
            for m in members:
                m.loraprof_group = group  # type: ignore[union-attr]
            groups += 1
    return groups


def ungroup_lora_siblings(model: Any) -> int:
    """Undoes group_lora_siblings: each member runs as its own single-node layer again. Returns how many
    groups there were (regional compilation traces each layer's forward, and a group's shared state, the
    outputs it hands from one member's call to the next, stays out of a trace)."""
    groups = set()
    for module in model.modules():
        group = module.__dict__.pop("loraprof_group", None)
        if group is not None:
            groups.add(id(group))
    return len(groups)


def fuse_lora_layers(model: Any) -> tuple[int, str | None]:
    """Give every LoRA linear layer (16-bit or bitsandbytes 4-bit) with one plain adapter the fused
    forward; returns how many were fused, or the reason none could be."""
    from types import MethodType

    from peft.tuners.lora import LoraLayer

    fused = 0
    for module in model.modules():
        if not isinstance(module, LoraLayer) or not hasattr(module, "base_layer"):
            continue
        adapters = list(module.active_adapters)
        if (
            len(adapters) != 1
            or adapters[0] in getattr(module, "lora_variant", {})
            or getattr(module, "merged", False)
            or type(module).__name__ not in ("Linear", "Linear4bit")
            or getattr(module, "use_dora", {}).get(adapters[0], False)
        ):
            return 0, f"{type(module).__name__} with adapters {adapters} is not a plain LoRA linear layer"
        if module.lora_B[adapters[0]].bias is not None:
            return 0, "LoRA B with a bias"
        module.forward = MethodType(fused_lora_forward, module)  # type: ignore[attr-defined]
        module.loraprof_single_node = lora_single_node(module)  # type: ignore[attr-defined]  # decided once
        fused += 1
    return fused, None
