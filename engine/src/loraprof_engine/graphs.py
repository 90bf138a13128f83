"""CUDA graphs over the decoder: its forward and backward recorded once, then replayed each micro-batch.

Why: at the study's shapes a QLoRA step is bound by the host, not the GPU (bench/results/
h200-compile-probe.json: ~0.56 s of Python and dispatch for ~0.05 s of kernels at batch 1 × 512). A replayed
graph launches the decoder's tens of thousands of kernels with one call each way.

What it needs, each checked up front with a reason to fall back (written to the run's notes):
- a CUDA device, and packed micro-batches in one static shape (`data.StaticShape`: every row `seqLen`
  wide, record boundaries padded with zero-length segments), so that every replay sees the same shapes;
- no LoRA dropout when layers are checkpointed (the recompute could not replay the same random mask without
  saving the generator's state, which a graph capture cannot read), and one process (no DDP hooks).

What stays eager: the LM head and the loss (Liger's fused loss reads a count on the host), the optimizer,
GradScaler. The graphed decoder is an autograd function (torch.cuda.make_graphed_callables): its backward
replays the recorded backward and hands LoRA's gradients to autograd, which accumulates them as usual.

The other way to fewer launches, for the eager decoder (`train.compile: layers`, `compile_layers`): each
decoder layer compiled on its own by torch.compile (regional compilation: one layer's code, compiled once
and reused by every layer), which fuses the element-wise work between the GEMMs. Not with the graphs.
"""

from __future__ import annotations

import importlib
from typing import Any, Literal

import torch

from .data import Shard, StaticShape, packed_static_shape
from .kernels import ungroup_lora_siblings
from .spec import RunSpec


def graphs_unavailable(spec: RunSpec, device: torch.device, world_size: int = 1) -> str | None:
    """Why the decoder cannot be replayed as CUDA graphs for this run, or None when it can."""
    if device.type != "cuda":
        return "CUDA graphs need a CUDA device"
    if spec.data.padding != "packed":
        return "CUDA graphs need packed micro-batches (--packing): padded batches change shape every step"
    if world_size > 1:
        return "CUDA graphs are not combined with data-parallel ranks (DDP's gradient hooks run eagerly)"
    if spec.train.offload_activations and spec.train.grad_checkpointing:
        return (
            "the checkpointed layers' inputs are offloaded to host memory (--offload-activations), "
            "which a graph does not replay"
        )
    if spec.lora.dropout > 0 and spec.train.grad_checkpointing:
        return "CUDA graphs with gradient checkpointing need LoRA dropout 0 (--lora-dropout 0)"
    return None


class _Decoder(torch.nn.Module):
    """The decoder body as a module of three tensors (what make_graphed_callables records)."""

    def __init__(self, decoder: torch.nn.Module, width: int) -> None:
        super().__init__()
        self.decoder = decoder
        self.width = width

    def forward(self, input_ids: torch.Tensor, position_ids: torch.Tensor, cu: torch.Tensor) -> torch.Tensor:
        out = self.decoder(
            input_ids=input_ids,
            position_ids=position_ids,
            cu_seq_lens_q=cu,
            cu_seq_lens_k=cu,
            max_length_q=self.width,  # the graph's fixed bound; every segment is at most one row
            max_length_k=self.width,
        )
        hidden: torch.Tensor = out.last_hidden_state
        return hidden


def warm_up(module: torch.nn.Module, sample: tuple[torch.Tensor, ...], iterations: int) -> None:
    """Forward and backward of `module` on the current stream, as make_graphed_callables warms up on a side
    stream: lazy initialization (Triton compilation, cuBLAS handles) happens here, outside any capture."""
    params = [p for p in module.parameters() if p.requires_grad]
    for _ in range(iterations):
        out = module(*sample)
        torch.autograd.grad(out, params, grad_outputs=torch.empty_like(out), allow_unused=True)
        del out


class GraphedDecoder:
    """The decoder replayed from CUDA graphs: `hidden(input_ids, position_ids, cu)` → last hidden states.

    `warmup_stream`: "current" (the engine's) warms up on the run's own stream, whose cuBLAS workspaces
    the eager LM head and loss use anyway; "side" is make_graphed_callables' own warm-up on a new stream,
    which keeps that stream's cuBLAS workspaces and cached blocks for the whole run. At the study's run 2
    on the H200 (bench/results/h200-graphs-warmup-probe.json, one process, side first) the side stream
    kept 106 MiB (66 MiB of cuBLAS workspaces) and the graphs' private pool reserved 1,032 MiB; warming
    up on the run's stream added no such stream and the pool reserved 970 MiB, for the same losses.
    """

    def __init__(
        self,
        model: Any,
        shape: StaticShape,
        device: torch.device,
        amp_dtype: torch.dtype | None,
        warmup_stream: Literal["side", "current"] = "current",
    ) -> None:
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        self.shape = shape
        module = _Decoder(base.get_decoder(), shape.width)
        rows, width = shape.rows, shape.width
        # A sample micro-batch of the static shape: whole rows, one segment each, the rest zero-length.
        bounds = [r * width for r in range(rows + 1)] + [rows * width] * (shape.slots - rows)
        sample = (
            torch.zeros((rows, width), dtype=torch.int64, device=device),
            torch.arange(width, device=device).repeat(rows, 1),
            torch.tensor(bounds, dtype=torch.int32, device=device),
        )
        # Autocast's weight cache cannot live across replays: casts are recorded inside the graph.
        with torch.autocast(
            device_type=device.type,
            dtype=amp_dtype or torch.float32,
            enabled=amp_dtype is not None,
            cache_enabled=False,
        ):
            if warmup_stream == "current":
                warm_up(module, sample, iterations=2)
                torch.cuda.synchronize(device)
            self._graphed: Any = torch.cuda.make_graphed_callables(
                module, sample, num_warmup_iters=2 if warmup_stream == "side" else 0
            )
        torch.cuda.synchronize(device)
        # The warm-up's eager activations sit in the caching allocator's free blocks: hand them back so the
        # device holds the graph's pool and no second copy of the activations.
        torch.cuda.empty_cache()

    def hidden(self, input_ids: torch.Tensor, position_ids: torch.Tensor, cu: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self._graphed(input_ids, position_ids, cu)
        return out


def capture(
    spec: RunSpec,
    model: Any,
    shape: StaticShape,
    device: torch.device,
    amp_dtype: torch.dtype | None,
    warmup_stream: Literal["side", "current"] = "current",
) -> tuple[GraphedDecoder | None, str]:
    """Record the decoder's graphs; (graphed decoder, note) or (None, why not) if recording failed."""
    try:
        graphed = GraphedDecoder(model, shape, device, amp_dtype, warmup_stream)
    except (RuntimeError, AssertionError, TypeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        torch.cuda.synchronize(device)
        torch.cuda.empty_cache()
        return None, f"CUDA graphs not used: recording the decoder failed ({type(exc).__name__}: {first[:300]})"
    return graphed, (
        f"CUDA graphs: the decoder's forward and backward replayed per micro-batch, static shape "
        f"{shape.rows} × {shape.width} tokens, up to {shape.slots} segments (rows padded to seqLen)"
    )


def prepare(
    spec: RunSpec,
    loaded: Any,
    shard: Shard,
    device: torch.device,
    world_size: int = 1,
    warmup_stream: Literal["side", "current"] = "current",
) -> None:
    """Record the run's CUDA graphs when `train.cudaGraphs` asks for them and they can run here: sets
    `loaded.graphed` and `loaded.static_shape`, and writes what happened (or why not) to the run's notes."""
    if not spec.train.cuda_graphs:
        return
    why = graphs_unavailable(spec, device, world_size)
    if why is None and not loaded.varlen:
        why = "CUDA graphs replay packed attention on flash varlen only (fp16 or bf16 on a GPU)"
    if why is not None:
        loaded.notes.append(f"CUDA graphs not used: {why}")
        return
    micro_count = spec.train.steps * spec.data.grad_accum * world_size
    shape = packed_static_shape(shard, spec.data, micro_count)
    amp = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(spec.train.precision)
    graphed, note = capture(spec, loaded.model, shape, device, amp, warmup_stream)
    loaded.notes.append(note)
    if graphed is not None:
        loaded.graphed, loaded.static_shape = graphed, shape


def compile_unavailable(spec: RunSpec, loaded: Any, device: torch.device) -> str | None:
    """Why the decoder layers cannot be compiled for this run, or None when they can."""
    if loaded.graphed is not None:
        return "the decoder already replays as CUDA graphs (--no-cuda-graphs to compile it instead)"
    if device.type != "cuda":
        return "regional torch.compile runs on a CUDA GPU only here (inductor's Triton kernels)"
    try:
        importlib.import_module("triton")
    except ImportError:
        return "Triton is not installed"
    return None


def compile_layers(spec: RunSpec, loaded: Any, device: torch.device, backend: str = "inductor") -> None:
    """Compile each decoder layer (`nn.Module.compile`) when `train.compile` asks for it and it can run here;
    writes what happened, or why not, to the run's notes. Compilation happens at each layer's first call
    (the warm-up steps); packed rows change width per micro-batch, so shapes turn dynamic after the first
    recompile instead of compiling once per width."""
    if spec.train.compile != "layers":
        return
    why = compile_unavailable(spec, loaded, device) if backend == "inductor" else None
    if why is not None:
        loaded.notes.append(f"torch.compile not used: {why}")
        return
    model = loaded.model
    ungrouped = ungroup_lora_siblings(model)
    if ungrouped:
        loaded.notes.append(
            f"LoRA sibling groups undone for torch.compile ({ungrouped}): each projection one node again, as "
            "a compiled layer traces its own forward"
        )
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    layers = base.get_decoder().layers
    for layer in layers:
        layer.compile(backend=backend)
    loaded.notes.append(
        f"torch.compile: each of the {len(layers)} decoder layers compiled on its own ({backend}; "
        "compiled at the first steps, which the warm-up steps should cover)"
    )
