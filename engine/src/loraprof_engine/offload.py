"""Gradient checkpointing with the checkpointed layer inputs in host memory (`train.offloadActivations`).

Under gradient checkpointing a decoder layer keeps only its input hidden states for the backward pass
([rows, width, hidden] per layer, every layer of the model at once). Here each layer's input is copied to
pinned host memory as the forward passes it, on a side stream so the copy overlaps the next layers'
compute, and the device copy is released; the backward pass brings it back (on the compute stream, just
before the layer is recomputed), recomputes the layer under the forward's autocast and random state, and
backpropagates through it. Same values and gradients as PyTorch's checkpointing (engine/tests/test_offload.py);
the device holds one layer's input at a time instead of all of them, for two host-link transfers per layer
and step.

It is a checkpoint function in transformers' sense (`_set_gradient_checkpointing(gradient_checkpointing_func=…)`):
called as `offloaded_checkpoint(forward_with_kwargs_bound, hidden_states)`, once per decoder layer. Like
PyTorch's reentrant checkpointing it computes the layer's parameter gradients inside its own backward, so
it needs an input that requires grad (`enable_input_require_grads`) and does not run under
DistributedDataParallel or inside a CUDA graph capture (the engine falls back there, with a note).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from .spec import RunSpec

_copy_streams: dict[int, torch.cuda.Stream] = {}


def _copy_stream(device: torch.device) -> torch.cuda.Stream:
    index = device.index if device.index is not None else torch.cuda.current_device()
    if index not in _copy_streams:
        _copy_streams[index] = torch.cuda.Stream(device=index)
    return _copy_streams[index]


class HostCopy:
    """A tensor's copy in host memory: pinned and asynchronous from a GPU (on a side stream that waits for
    the tensor's producer), a plain copy on the CPU."""

    def __init__(self, tensor: torch.Tensor) -> None:
        self.device = tensor.device
        self.event: torch.cuda.Event | None = None
        if tensor.device.type != "cuda":
            self.host = tensor.detach().clone()
            return
        self.host = torch.empty(tensor.shape, dtype=tensor.dtype, device="cpu", pin_memory=True)
        stream = _copy_stream(tensor.device)
        stream.wait_stream(torch.cuda.current_stream(tensor.device))
        with torch.cuda.stream(stream):
            self.host.copy_(tensor.detach(), non_blocking=True)
            self.event = torch.cuda.Event()
            self.event.record(stream)
        tensor.record_stream(stream)  # the allocator may not hand its memory out before the copy is done

    def back(self) -> torch.Tensor:
        """The tensor on its device again, ordered after the copy out on the current stream."""
        if self.event is None:
            return self.host
        torch.cuda.current_stream(self.device).wait_event(self.event)
        return self.host.to(self.device, non_blocking=True)


class _OffloadedCheckpoint(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, run: Any, hidden: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        device_type = hidden.device.type
        ctx.run = run
        ctx.autocast = {
            "device_type": device_type,
            "enabled": torch.is_autocast_enabled(device_type),
            "dtype": torch.get_autocast_dtype(device_type),
            "cache_enabled": torch.is_autocast_cache_enabled(),
        }
        ctx.cpu_rng = torch.get_rng_state()
        ctx.cuda_rng = torch.cuda.get_rng_state(hidden.device) if device_type == "cuda" else None
        ctx.saved = HostCopy(hidden)
        ctx.input_requires_grad = hidden.requires_grad
        with torch.no_grad():
            out = run(hidden)
        if not isinstance(out, torch.Tensor):
            raise TypeError(
                f"offloaded checkpointing expects a decoder layer that returns a tensor, got {type(out).__name__}"
            )
        return out

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[None, torch.Tensor | None]:  # type: ignore[override]
        hidden = ctx.saved.back().detach().requires_grad_(ctx.input_requires_grad)
        ctx.saved = None
        devices = [hidden.device] if ctx.cuda_rng is not None else []
        with torch.random.fork_rng(devices=devices, device_type="cuda"):
            torch.set_rng_state(ctx.cpu_rng)
            if ctx.cuda_rng is not None:
                torch.cuda.set_rng_state(ctx.cuda_rng, hidden.device)
            with torch.enable_grad(), torch.autocast(**ctx.autocast):
                out = ctx.run(hidden)
        torch.autograd.backward(out, grad_out)
        return None, hidden.grad if ctx.input_requires_grad else None


def offload_unavailable(spec: RunSpec, device: torch.device, world_size: int) -> str | None:
    """Why a run asking for `train.offloadActivations` cannot offload here, or None if it can."""
    if not spec.train.grad_checkpointing:
        return "it offloads the checkpointed layers' inputs and gradient checkpointing is off"
    if device.type != "cuda":
        return "the run is on the CPU, where the activations are in host memory already"
    if world_size > 1:
        return (
            "with several data-parallel ranks (its backward computes the layers' gradients itself, "
            "which DDP does not follow)"
        )
    return None


def offloaded_checkpoint(run: Any, hidden: torch.Tensor, *args: Any) -> torch.Tensor:
    """transformers' checkpoint-function signature: the layer's forward with its keyword arguments bound,
    then its positional ones (the hidden states alone, for the decoder layers loraprof runs)."""
    if args:
        raise TypeError(f"offloaded checkpointing takes the hidden states alone, got {len(args)} more positional")
    out: torch.Tensor = _OffloadedCheckpoint.apply(run, hidden)
    return out
