"""One optimizer step: host batches to the device, the forward with its loss, backward, clipping, update.

Nothing here synchronizes the device: loss and grad norm are returned as device tensors, read at the
recipe's flushes. The three losses (full, chunked, fused) give the same value and gradients.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from .data import IGNORE_INDEX, MicroBatch
from .kernels import block_causal_mask, fused_linear_cross_entropy_sum


@dataclass(frozen=True)
class StepSettings:
    """Everything train_step needs besides the model, the optimizer and the batches, fixed for a run."""

    device: torch.device
    params: list[torch.nn.Parameter]
    amp_dtype: torch.dtype | None  # autocast dtype; None: fp32, no autocast
    scaler: Any  # torch.amp.GradScaler for fp16, else None
    max_grad_norm: float | None
    loss: str = "full"  # full | chunked | fused (see token_loss_sum and its two siblings)
    loss_chunk_tokens: int = 1024
    varlen: bool = False  # packed batches: flash varlen attention (True) or the block mask (False)
    world_size: int = 1  # data-parallel ranks (distributed.py); DDP averages their gradients
    graphed: Any = None  # graphs.GraphedDecoder: the decoder replayed from CUDA graphs (packed, static shape)
    ddp: Any = None  # data-parallel runs: StepLoss under DistributedDataParallel (distributed.wrap)


@dataclass(frozen=True)
class DeviceBatch:
    input_ids: torch.Tensor
    labels: torch.Tensor
    # The chunked and fused losses' rows: flat [batch × width] indices of the positions whose next token
    # is a target, and those target ids. None unless asked for.
    loss_rows: torch.Tensor | None = None
    loss_targets: torch.Tensor | None = None
    # Packed batches: the keyword arguments the model's forward passes down to the attention layers.
    packed: dict[str, Any] | None = None


def train_step(
    model: Any,
    optimizer: torch.optim.Optimizer,
    micro: list[MicroBatch],
    s: StepSettings,
    step_label_tokens: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One optimizer step over its micro-batches; returns (loss, grad norm) as device tensors, unread.

    Host synchronizations left inside a step, outside the engine's control: with fp16 GradScaler.step reads
    the overflow flag on the host unless the optimizer takes it on the device (adamw_torch_fused does).
    """
    # Data-parallel: the step's label tokens over every rank's micro-batches, and × world because DDP
    # averages the ranks' gradients: the result is one process's gradient over all the micro-batches.
    label_tokens = sum(b.label_tokens for b in micro) if step_label_tokens is None else step_label_tokens
    step_loss = torch.zeros((), device=s.device)
    for i, batch in enumerate(micro):
        inputs = to_device(batch, s.device, with_loss_rows=s.loss != "full", varlen=s.varlen)
        # Data-parallel: the gradients are all-reduced once per optimizer step, in the last micro-batch's
        # backward; the earlier ones accumulate locally (DDP's no_sync covers their forward and backward).
        local = s.ddp is not None and i < len(micro) - 1
        with s.ddp.no_sync() if local else contextlib.nullcontext():
            with torch.autocast(
                device_type=s.device.type,
                dtype=s.amp_dtype or torch.float32,
                enabled=s.amp_dtype is not None,
                cache_enabled=s.graphed is None,  # a graph records its own casts (make_graphed_callables)
            ):
                loss_sum = s.ddp(inputs) if s.ddp is not None else batch_loss_sum(model, inputs, s)
            # Sum of token losses over the micro-batch ÷ label tokens of the whole step: every target
            # token weighs the same however the step's tokens fall into micro-batches.
            loss = loss_sum * s.world_size / max(1, label_tokens)
            if s.scaler is not None:
                s.scaler.scale(loss).backward()
            else:
                loss.backward()
        step_loss = step_loss + loss.detach()
    grad_norm = None
    if s.max_grad_norm is not None:
        if s.scaler is not None:
            s.scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
        grad_norm = torch.nn.utils.clip_grad_norm_(s.params, s.max_grad_norm).detach()
    if s.scaler is not None:
        s.scaler.step(optimizer)  # skipped when the scaled gradients overflowed
        s.scaler.update()
    else:
        optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return step_loss, grad_norm


def batch_loss_sum(model: Any, batch: DeviceBatch, s: StepSettings) -> torch.Tensor:
    """The micro-batch's summed token cross-entropy with the run's loss implementation. Call under autocast."""
    if s.loss == "full":
        if s.graphed is not None:
            logits = _lm_head(model)(decoder_hidden(model, batch, s.graphed))
        else:
            logits = model(input_ids=batch.input_ids, **(batch.packed or {})).logits
        return token_loss_sum(logits, batch.labels)
    if s.loss == "chunked":
        return chunked_token_loss_sum(model, batch, s.loss_chunk_tokens, s.graphed)
    return fused_token_loss_sum(model, batch, s.graphed)


class StepLoss(torch.nn.Module):
    """A micro-batch's summed token loss as one module call: what DistributedDataParallel wraps, so that its
    forward covers the decoder and whichever loss the run uses (the chunked and fused losses call the
    decoder body and the LM head themselves, past the causal LM's forward)."""

    def __init__(self, model: Any, settings: StepSettings) -> None:
        super().__init__()
        self.model = model
        self.settings = settings

    def forward(self, batch: DeviceBatch) -> torch.Tensor:
        return batch_loss_sum(self.model, batch, self.settings)


def token_loss_sum(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Sum of next-token cross-entropies over the target positions, computed in fp32.

    The labels are shifted (not the logits) so no shifted copy of the [batch, width, vocab] logits is made.
    """
    shifted = F.pad(labels, (0, 1), value=IGNORE_INDEX)[:, 1:]
    return F.cross_entropy(
        logits.float().reshape(-1, logits.shape[-1]),
        shifted.reshape(-1),
        ignore_index=IGNORE_INDEX,
        reduction="sum",
    )


def _base(model: Any) -> Any:
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def _lm_head(model: Any) -> Any:
    return _base(model).get_output_embeddings()


def decoder_hidden(model: Any, batch: DeviceBatch, graphed: Any = None) -> torch.Tensor:
    """The decoder body's last hidden states [batch, width, hidden]: run eagerly, or replayed from the
    run's CUDA graphs (`graphs.GraphedDecoder`) for packed micro-batches of its static shape."""
    if graphed is not None:
        assert batch.packed is not None, "CUDA graphs replay packed micro-batches only"
        return graphed.hidden(batch.input_ids, batch.packed["position_ids"], batch.packed["cu_seq_lens_q"])  # type: ignore[no-any-return]
    hidden: torch.Tensor = (
        _base(model).get_decoder()(input_ids=batch.input_ids, **(batch.packed or {})).last_hidden_state
    )
    return hidden


def _decoder_rows(model: Any, batch: DeviceBatch, graphed: Any = None) -> tuple[Any, torch.Tensor | None, torch.Tensor]:
    """The LM head module, the final hidden states at the loss rows (None if the micro-batch has no target),
    and the flat hidden states (so that a target-free micro-batch still reaches the decoder)."""
    head = _lm_head(model)
    hidden = decoder_hidden(model, batch, graphed)
    flat = hidden.reshape(-1, hidden.shape[-1])
    rows = batch.loss_rows
    assert rows is not None and batch.loss_targets is not None, "to_device(..., with_loss_rows=True) builds them"
    if rows.numel() == 0:
        return head, None, flat
    return head, flat.index_select(0, rows), flat  # a gather by host-built indices, no sync


def chunked_token_loss_sum(model: Any, batch: DeviceBatch, chunk_tokens: int, graphed: Any = None) -> torch.Tensor:
    """`token_loss_sum` without ever holding the [batch, width, vocab] logits. Call under the step's autocast.

    The decoder body runs once; its final hidden states at the positions whose next token is a target
    (`batch.loss_rows`, found on the host) go through the LM head and an fp32 cross-entropy `chunk_tokens`
    rows at a time. Each chunk runs under non-reentrant checkpointing, so backward keeps only its
    [chunk, hidden] input and recomputes the chunk's logits (in the autocast dtype the forward used) when
    it reaches it: one chunk's logits and their fp32 copies are alive at a time instead of every token's.
    What it costs: the LM head runs twice on each target row (forward, recompute); padding and masked
    prompt rows, which carry no loss, never reach it.

    The model is a PEFT model or a transformers causal LM; LoRA layers are injected in place, so the
    decoder body runs them. The LM head is the model's output embedding module, tied to the input
    embedding or not, called as the full forward calls it.
    """
    head, picked, flat = _decoder_rows(model, batch, graphed)
    if picked is None:
        # No target in this micro-batch: a zero that still reaches the decoder, as the full loss's would.
        return flat[:, :0].float().sum()
    assert batch.loss_targets is not None
    total: torch.Tensor | None = None
    for h, t in zip(picked.split(chunk_tokens), batch.loss_targets.split(chunk_tokens), strict=True):
        part = checkpoint(_head_cross_entropy_sum, head, h, t, use_reentrant=False)
        total = part if total is None else total + part
    assert total is not None
    return total


def fused_token_loss_sum(model: Any, batch: DeviceBatch, graphed: Any = None) -> torch.Tensor:
    """`token_loss_sum` through Liger's fused linear cross-entropy: the LM head and the loss in one kernel
    sequence that computes the head's input gradient during the forward, chunk by chunk, so neither the
    logits nor a recompute of them is needed (the chunked loss runs the head twice). The LM head's weight
    is frozen (LoRA does not touch it), so only the hidden states' gradient is kept."""
    head, picked, flat = _decoder_rows(model, batch, graphed)
    if picked is None:
        return flat[:, :0].float().sum()
    assert batch.loss_targets is not None
    weight = head.weight
    if torch.is_autocast_enabled(picked.device.type):
        dtype = torch.get_autocast_dtype(picked.device.type)
        picked, weight = picked.to(dtype), weight.to(dtype)
    return fused_linear_cross_entropy_sum(weight, picked, batch.loss_targets).float()


def _head_cross_entropy_sum(head: Any, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """One chunk: logits in the compute dtype (autocast), cross-entropy in fp32 as `token_loss_sum` does."""
    return F.cross_entropy(head(hidden).float(), targets, reduction="sum")


def loss_rows(labels: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Flat indices of the positions whose next token is a target, and those targets: the causal shift of
    `token_loss_sum`, done on the host. On the device, selecting them (a boolean index, nonzero) would
    make the host wait for the GPU to learn how many there are; the host built the labels and knows."""
    shifted = np.full_like(labels, IGNORE_INDEX)
    shifted[:, :-1] = labels[:, 1:]
    flat = shifted.reshape(-1)
    rows = np.flatnonzero(flat != IGNORE_INDEX).astype(np.int64)
    return rows, flat[rows]


def to_device(
    batch: MicroBatch, device: torch.device, with_loss_rows: bool = False, varlen: bool = False
) -> DeviceBatch:
    """Host arrays → device tensors; on CUDA through pinned memory so the copy is asynchronous.

    No attention mask, padded or not. Records are right-padded (`collate`), so under causal attention a
    real token only ever attends to earlier positions, all real: the padding changes neither its output
    nor, since padding positions carry no label, the loss or any gradient (position ids count from 0
    either way). Without a mask, SDPA takes its `is_causal` kernels (flash attention on CUDA) instead of
    the masked path, no [batch, 1, width, width] mask is built, and transformers' host-side
    `mask.all()` check (a device synchronization per forward) never runs. The padding is still computed:
    processed tokens are what they were. (engine/tests/test_training.py checks loss and gradients.)

    Packed batches add their position ids and record boundaries (`cu_seq_lens_q/k`, `max_length_q/k`,
    transformers' names for packed attention); without varlen attention, the block-diagonal mask is built
    here once per micro-batch instead of once per layer.
    """
    arrays: list[npt.NDArray[Any]] = [batch.input_ids, batch.labels]
    if with_loss_rows:
        arrays += loss_rows(batch.labels)
    packed = batch.cu_seqlens is not None and batch.position_ids is not None
    if packed:
        assert batch.position_ids is not None and batch.cu_seqlens is not None
        arrays += [batch.position_ids, batch.cu_seqlens]
    tensors = [torch.from_numpy(a) for a in arrays]
    if device.type == "cuda":
        tensors = [x.pin_memory().to(device, non_blocking=True) for x in tensors]
    extra: dict[str, Any] | None = None
    if packed:
        position_ids, cu = tensors[-2], tensors[-1]
        extra = {
            "position_ids": position_ids,
            "cu_seq_lens_q": cu,
            "cu_seq_lens_k": cu,
            "max_length_q": batch.max_seqlen,
            "max_length_k": batch.max_seqlen,
        }
        if not varlen:
            extra["loraprof_block_mask"] = block_causal_mask(cu, *batch.input_ids.shape)
    return DeviceBatch(
        input_ids=tensors[0],
        labels=tensors[1],
        loss_rows=tensors[2] if with_loss_rows else None,
        loss_targets=tensors[3] if with_loss_rows else None,
        packed=extra,
    )


def grad_scaler() -> Any:
    amp = getattr(torch, "amp", None)
    if amp is not None and hasattr(amp, "GradScaler"):
        return amp.GradScaler("cuda")
    return torch.cuda.amp.GradScaler()  # torch < 2.3
