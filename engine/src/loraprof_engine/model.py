"""Model: materialize a synthetic checkpoint, load weights with from_pretrained, quantize, attach LoRA.

Synthetic weights go through the same `from_pretrained` path as real ones (safetensors on disk, then
loaded), so loading, quantization and memory behave as they would for the real model.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import transformers
from peft import LoraConfig, get_peft_model
from safetensors.torch import save_file
from transformers import (
    AutoModelForCausalLM,
    BitsAndBytesConfig,
    Gemma2Config,
    Gemma3TextConfig,
    LlamaConfig,
    MistralConfig,
    Phi3Config,
    Qwen2Config,
    Qwen3Config,
)

from .device import configure_cudnn_attention
from .distributed import world_from_env
from .errors import EngineError
from .kernels import (
    LIGER_PATCHES,
    PACKED_ATTENTION,
    apply_liger,
    fuse_lora_layers,
    group_lora_siblings,
    liger_unavailable,
    register_packed_attention,
    varlen_available,
)
from .offload import offload_unavailable, offloaded_checkpoint
from .optim import import_bitsandbytes
from .spec import Architecture, RunSpec

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
DTYPE_NAMES = {torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}
SYNTHETIC_STD = 0.02  # transformers' initializer_range for Qwen2 and Llama
SHARD_BYTES = 4 * 1024**3  # safetensors file size for synthetic checkpoints (bounds host memory when saving)
ROOM_MARGIN_BYTES = 64 * 1024**2  # beyond the tensors and 1% of them, before a checkpoint is written
GB = 1e9
NO_HUB_HINT = (
    "Download the model first (e.g. `huggingface-cli download {id}`) and pass its folder as the model, "
    "or use `--weights random` to run on seeded random weights of the same architecture."
)


@dataclass
class LoadedModel:
    model: Any  # a peft.PeftModel over a transformers causal LM
    vocab_size: int
    total_parameters: int
    trainable_parameters: int
    weights_description: str
    notes: list[str]
    synthetic_checkpoint: dict[str, Any] | None
    loss_implementation: str = "full"  # what runs: the spec's, or its fallback where a kernel cannot run here
    varlen: bool = False  # packed batches on flash varlen attention (else a block-diagonal mask)
    graphed: Any = None  # graphs.GraphedDecoder once recorded (graphs.prepare), else None: eager decoder
    static_shape: Any = None  # data.StaticShape every micro-batch is collated to when graphed


# ----------------------------------------------------------------------------------------------------
# Synthetic checkpoints


def architecture_config(arch: Architecture) -> Any:
    """The transformers config for the catalog's architecture facts."""
    common: dict[str, Any] = {
        "vocab_size": arch.vocab_size,
        "hidden_size": arch.hidden_size,
        "intermediate_size": arch.intermediate_size,
        "num_hidden_layers": arch.num_layers,
        "num_attention_heads": arch.num_heads,
        "num_key_value_heads": arch.num_kv_heads,
        "head_dim": arch.head_dim,
        "hidden_act": arch.hidden_act,
        "max_position_embeddings": arch.max_position_embeddings,
        "rms_norm_eps": arch.rms_norm_eps,
        "tie_word_embeddings": arch.tie_word_embeddings,
        "rope_theta": arch.rope_theta,
        # Copied: transformers 5 writes rope_theta into the dict it is given.
        "rope_scaling": dict(arch.rope_scaling) if arch.rope_scaling else None,
        "initializer_range": SYNTHETIC_STD,
        "use_cache": False,
    }
    if arch.model_type == "qwen2":
        if not arch.qkv_bias:
            raise EngineError(
                "config",
                "model.architecture: modelType qwen2 always has q/k/v biases in transformers, but qkvBias is false",
                "Use modelType llama for an attention without biases.",
            )
        return Qwen2Config(use_sliding_window=False, **common)
    if arch.qkv_bias:
        raise EngineError(
            "config",
            f"model.architecture: modelType {arch.model_type} cannot have q/k/v-only biases"
            + (" (attention_bias also biases o_proj)" if arch.model_type == "llama" else ""),
            "Use modelType qwen2 for q/k/v biases.",
        )
    if arch.model_type in ("gemma2", "gemma3_text"):
        # Gemma names its activation hidden_activation; queries are scaled by head_dim ** -0.5
        # (query_pre_attn_scalar = head_dim), as in the published 2B/9B configs.
        gemma = {
            **common,
            "hidden_activation": arch.hidden_act,
            "sliding_window": arch.sliding_window,
            # JSON writes 50.0 as 50; transformers' strict config fields want a float.
            "attn_logit_softcapping": _float_or_none(arch.attn_logit_softcapping),
            "final_logit_softcapping": _float_or_none(arch.final_logit_softcapping),
            "query_pre_attn_scalar": arch.head_dim,
        }
        return Gemma2Config(**gemma) if arch.model_type == "gemma2" else Gemma3TextConfig(**gemma)
    if arch.model_type == "mistral":
        return MistralConfig(sliding_window=arch.sliding_window, **common)
    if arch.model_type == "qwen3":
        return Qwen3Config(use_sliding_window=False, attention_bias=False, **common)
    if arch.model_type == "phi3":
        # Phi-3 fuses q/k/v into qkv_proj and gate/up into gate_up_proj; head_dim is hidden / heads.
        if arch.head_dim * arch.num_heads != arch.hidden_size:
            raise EngineError(
                "config",
                "model.architecture: modelType phi3 needs headDim × numHeads = hiddenSize",
                "Use the hidden size, heads and head dim of the model's config.json.",
            )
        # Its default pad/eos ids (32000) would lie outside a test vocabulary; batches carry their own.
        return Phi3Config(
            sliding_window=arch.sliding_window, pad_token_id=None, bos_token_id=None, eos_token_id=None, **common
        )
    return LlamaConfig(attention_bias=False, mlp_bias=False, **common)


def _float_or_none(value: float | None) -> float | None:
    return None if value is None else float(value)


def ensure_synthetic_checkpoint(arch: Architecture, path: str, seed: int, device: torch.device) -> bool:
    """Materialize seeded random weights at `path` unless a checkpoint is already there.

    Returns whether it was created now. Written to a temporary sibling folder and renamed into place, so
    a reader never sees half a checkpoint and two processes racing both end with a complete one (the
    loser discards its copy). The tensors are drawn on the run's device when it is a GPU: drawing
    billions of normals on the CPU takes minutes, on a GPU well under a second per billion. The values
    therefore depend on the device that drew them; the checkpoint is a cache of one draw, reused as is.
    A disk without room for it is a `disk` error before the first tensor is drawn, not a failed write.
    """
    target = Path(path)
    if (target / "config.json").is_file():
        _check_existing(target, arch)
        with contextlib.suppress(OSError):
            os.utime(target)  # last used now: what LORAPROF_EVICT_CHECKPOINTS evicts last
        return False
    config = architecture_config(arch)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        _write_random_weights(config, arch, tmp, seed, device, target)
        _write_config(config, tmp)
        try:
            tmp.rename(target)  # atomic; replaces an empty folder, fails on a complete one
        except OSError:
            if (target / "config.json").is_file():
                return False  # another process finished first: use its checkpoint
            raise
        return True
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _write_random_weights(
    config: Any, arch: Architecture, folder: Path, seed: int, device: torch.device, target: Path
) -> None:
    # The model is built on the meta device only for its parameter names and shapes: no memory, no init.
    with torch.device("meta"):
        skeleton = AutoModelForCausalLM.from_config(config)
    attn = skeleton.model.layers[0].self_attn
    # Phi-3 fuses q/k/v into one qkv_proj: its outputs are (heads + 2 × kv heads) × head_dim.
    q_proj = getattr(attn, "q_proj", None)
    q_out = (
        q_proj.out_features
        if q_proj is not None
        else attn.qkv_proj.out_features - 2 * arch.num_kv_heads * arch.head_dim
    )
    if q_out != arch.num_heads * arch.head_dim:
        raise EngineError(
            "config",
            f"this transformers version builds q_proj with {q_out} outputs, not numHeads × "
            f"headDim = {arch.num_heads * arch.head_dim} (headDim differs from hiddenSize / numHeads)",
            "Upgrade transformers (`pip install -U transformers`).",
        )
    _check_room(skeleton, arch, target)
    draw_on = device if device.type == "cuda" else torch.device("cpu")
    generator = torch.Generator(device=draw_on)
    generator.manual_seed(seed)
    written: list[tuple[str, list[str]]] = []
    current: dict[str, torch.Tensor] = {}
    current_bytes = 0
    total_bytes = 0

    def flush() -> None:
        nonlocal current, current_bytes
        file_name = f"part-{len(written) + 1:05d}.safetensors"
        save_file(current, str(folder / file_name), metadata={"format": "pt"})
        written.append((file_name, list(current)))
        current, current_bytes = {}, 0

    # named_parameters() lists a tied LM head once (as the embedding), as save_pretrained stores it.
    for name, param in skeleton.named_parameters():
        if param.dim() == 1:
            fill = 0.0 if name.endswith(".bias") else 1.0  # biases 0, RMSNorm scales 1
            tensor = torch.full(param.shape, fill, dtype=torch.bfloat16)
        else:
            tensor = _draw_normal(param.shape, generator, draw_on)
        size = tensor.numel() * tensor.element_size()
        if current and current_bytes + size > SHARD_BYTES:
            flush()  # host memory holds at most one shard
        current[name] = tensor
        current_bytes += size
        total_bytes += size
    if current:
        flush()
    _name_shards(folder, written, total_bytes)
    if draw_on.type == "cuda":
        # Materializing is not part of the run: give its scratch memory back and forget its peak, so the
        # allocator peaks reported for the run are the same whether the checkpoint was created or reused.
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(draw_on)


def _check_room(skeleton: torch.nn.Module, arch: Architecture, target: Path) -> None:
    """Refuse before drawing a tensor when the checkpoint cannot fit on the disk that would hold it."""
    # bf16 as written; named_parameters() lists a tied LM head once, as it is stored.
    params = sum(param.numel() for _, param in skeleton.named_parameters())
    size = 2 * params
    needed = size + size // 100 + ROOM_MARGIN_BYTES  # safetensors headers, the index, config.json
    free = shutil.disk_usage(target.parent).free
    if free >= needed:
        return
    if os.environ.get(EVICT_ENV) == "1":
        for old in _checkpoints_least_recently_used(target):
            shutil.rmtree(old, ignore_errors=True)
            print(f"loraprof: {EVICT_ENV}=1: removed the synthetic checkpoint {old} to make room", file=sys.stderr)
            if shutil.disk_usage(target.parent).free >= needed:
                return
        free = shutil.disk_usage(target.parent).free
    others, others_bytes = _other_checkpoints(target)
    held = (
        f" The {others} other synthetic checkpoint{'s' if others != 1 else ''} in {target.parent} take "
        f"{others_bytes / GB:.2f} GB; deleting those not needed frees that much."
        if others
        else ""
    )
    raise EngineError(
        "disk",
        f"no room for the synthetic checkpoint of {arch.model_type} ({params / 1e9:.2f}B parameters, "
        f"{arch.num_layers} layers, hidden size {arch.hidden_size}): it needs {size / GB:.2f} GB at {target}, "
        f"and {target.parent} has {free / GB:.2f} GB free",
        f"Free space in {target.parent} (`loraprof cache clear checkpoints` removes the cached synthetic "
        f"checkpoints; they are written again when needed), or set LORAPROF_CACHE to a folder on a disk with "
        f"room, or set {EVICT_ENV}=1 to let a new checkpoint evict the least recently used.{held}",
    )


EVICT_ENV = "LORAPROF_EVICT_CHECKPOINTS"
"""Set to 1, a synthetic checkpoint without room evicts the others beside it, least recently used first
(they are a cache of seeded random weights, written again when needed). Off by default: a run never
deletes files it was not asked to; the GPU benchmarks turn it on, whose checks need more models than a
host's disk holds at once."""


def _checkpoints_least_recently_used(target: Path) -> list[Path]:
    """The complete synthetic checkpoints beside `target`, least recently used first: folders with a config.json,
    not the dot-named temporary folder another process is writing (it holds config.json just before its rename)."""
    found: list[tuple[float, Path]] = []
    with contextlib.suppress(OSError):
        for folder in target.parent.iterdir():
            if folder == target or folder.name.startswith(".") or not (folder / "config.json").is_file():
                continue
            with contextlib.suppress(OSError):
                found.append((folder.stat().st_mtime, folder))
    return [folder for _, folder in sorted(found)]


def _other_checkpoints(target: Path) -> tuple[int, int]:
    """How many complete synthetic checkpoints sit beside `target`, and their bytes."""
    folders = _checkpoints_least_recently_used(target)
    total = 0
    for folder in folders:
        with contextlib.suppress(OSError):
            total += sum(f.stat().st_size for f in folder.iterdir() if f.is_file())
    return len(folders), total


DRAW_CHUNK = 1 << 26  # elements drawn at once: 256 MB of fp32 scratch at most, whatever the tensor size


def _draw_normal(shape: torch.Size, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """N(0, SYNTHETIC_STD²) as a bf16 CPU tensor, drawn in fixed-size chunks on `device`."""
    out = torch.empty(shape, dtype=torch.bfloat16)
    flat = out.view(-1)
    for start in range(0, flat.numel(), DRAW_CHUNK):
        count = min(DRAW_CHUNK, flat.numel() - start)
        part = torch.randn(count, generator=generator, device=device, dtype=torch.float32)
        flat[start : start + count].copy_(part.mul_(SYNTHETIC_STD).to(torch.bfloat16))
    return out


def _name_shards(folder: Path, written: list[tuple[str, list[str]]], total_bytes: int) -> None:
    """One file is `model.safetensors`; several get the `-0000i-of-0000n` names and an index, as
    save_pretrained writes them."""
    if len(written) == 1:
        (folder / written[0][0]).rename(folder / "model.safetensors")
        return
    weight_map: dict[str, str] = {}
    for i, (file_name, names) in enumerate(written, start=1):
        final = f"model-{i:05d}-of-{len(written):05d}.safetensors"
        (folder / file_name).rename(folder / final)
        weight_map.update(dict.fromkeys(names, final))
    index = {"metadata": {"total_size": total_bytes}, "weight_map": weight_map}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index, indent=2))


def _write_config(config: Any, folder: Path) -> None:
    config.save_pretrained(str(folder))
    # transformers 5 writes RoPE as `rope_parameters`; 4.x reads only `rope_theta`/`rope_scaling` and would
    # silently fall back to theta 10000. Write both spellings so either version loads the same model.
    path = folder / "config.json"
    data = json.loads(path.read_text())
    rope = data.get("rope_parameters") or {}
    data.setdefault("rope_theta", rope.get("rope_theta", getattr(config, "rope_theta", None)))
    if "rope_scaling" not in data:
        scaling = {k: v for k, v in rope.items() if k != "rope_theta"}
        data["rope_scaling"] = scaling if scaling.get("rope_type", "default") != "default" else None
    data["dtype"] = data["torch_dtype"] = "bfloat16"  # the stored weights (5.x and 4.x spellings)
    data["loraprof_synthetic"] = True
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def _check_existing(target: Path, arch: Architecture) -> None:
    try:
        data = json.loads((target / "config.json").read_text())
    except (OSError, ValueError) as exc:
        raise EngineError(
            "config",
            f"synthetic checkpoint {target} has an unreadable config.json: {exc}",
            f"Delete {target} (it is a cache) and run again.",
        ) from None
    expected = {
        "model_type": arch.model_type,
        "hidden_size": arch.hidden_size,
        "num_hidden_layers": arch.num_layers,
        "num_attention_heads": arch.num_heads,
        "num_key_value_heads": arch.num_kv_heads,
        "intermediate_size": arch.intermediate_size,
        "vocab_size": arch.vocab_size,
        "tie_word_embeddings": arch.tie_word_embeddings,
    }
    wrong = [f"{k} {data.get(k)!r} (expected {v!r})" for k, v in expected.items() if data.get(k) != v]
    if wrong:
        raise EngineError(
            "config",
            f"the synthetic checkpoint at {target} is for another architecture: " + ", ".join(wrong),
            f"Delete {target} (it is a cache) or point model.path at another folder.",
        )


# ----------------------------------------------------------------------------------------------------
# Loading


def dtype_kwarg() -> str:
    """from_pretrained's dtype argument: `dtype` since transformers 4.56, `torch_dtype` before."""
    major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
    return "dtype" if (major, minor) >= (4, 56) else "torch_dtype"


def bnb_config(quant_type: str, double_quant: bool, compute_dtype: torch.dtype) -> Any:
    """4-bit weights for every linear layer but the LM head (bitsandbytes' default skip list)."""
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type=quant_type,
        bnb_4bit_use_double_quant=double_quant,
        bnb_4bit_compute_dtype=compute_dtype,
    )


def lora_config(spec: RunSpec) -> Any:
    alpha: Any = int(spec.lora.alpha) if float(spec.lora.alpha).is_integer() else spec.lora.alpha
    return LoraConfig(
        r=spec.lora.r,
        lora_alpha=alpha,
        lora_dropout=spec.lora.dropout,
        # PEFT's "all-linear": every nn.Linear / Linear4bit except the output layer (LM head).
        target_modules=spec.lora.target_modules,
        bias="none",
        task_type="CAUSAL_LM",
    )


def check_fast_path(spec: RunSpec) -> None:
    """What packing and the chunked/fused losses do not model, refused up front rather than computed wrong:
    soft-capped attention scores or a sliding window shorter than a row (packed attention is plain causal
    attention inside each record), and soft-capped final logits (the chunked and fused losses call the
    LM head themselves)."""
    arch, t = spec.model.architecture, spec.train
    if arch is None:
        return
    if spec.data.padding == "packed" and arch.attn_logit_softcapping is not None:
        raise EngineError(
            "config",
            "data.padding packed cannot soft-cap attention scores (Gemma 2's attnLogitSoftcapping)",
            "Use --padding longest for this model.",
        )
    if spec.data.padding == "packed" and arch.sliding_window is not None and spec.data.seq_len > arch.sliding_window:
        raise EngineError(
            "config",
            f"data.padding packed with seqLen {spec.data.seq_len} over the model's sliding window "
            f"{arch.sliding_window}: packed attention does not slide",
            f"Use --seq-len {arch.sliding_window} or less, or --padding longest.",
        )
    if t.loss_implementation != "full" and arch.final_logit_softcapping is not None:
        raise EngineError(
            "config",
            f"train.lossImplementation {t.loss_implementation} does not soft-cap the final logits "
            "(Gemma 2's finalLogitSoftcapping)",
            "Use --loss full for this model.",
        )


def load_model(spec: RunSpec, device: torch.device) -> LoadedModel:
    """Load the base model in the run's precision (or 4-bit), freeze it, and attach LoRA adapters."""
    precision = spec.train.precision
    weight_dtype = DTYPES[precision]
    notes: list[str] = []
    source, synthetic = _resolve_source(spec, device, notes)

    compute_dtype = weight_dtype if precision != "fp32" else None
    attention: str = spec.train.attn_implementation
    arch = spec.model.architecture
    if arch is not None and arch.attn_logit_softcapping is not None and attention != "eager":
        # transformers refuses SDPA for soft-capped attention scores (Gemma 2) with an internal error.
        raise EngineError(
            "config",
            f"train.attnImplementation: {attention} cannot soft-cap attention scores "
            f"(attnLogitSoftcapping {arch.attn_logit_softcapping})",
            "Use --attn eager for Gemma 2 models.",
        )
    varlen = False
    check_fast_path(spec)
    if spec.data.padding == "packed":
        register_packed_attention()
        attention = PACKED_ATTENTION
        varlen, how = varlen_available(device, compute_dtype)
        notes.append(
            "packed rows: attention kept inside each record, positions restart per record; "
            + (how if varlen else f"SDPA with a block-diagonal causal mask ({how})")
        )
    cudnn_note = configure_cudnn_attention(spec.train.cudnn_attention, device)
    if cudnn_note and not varlen and attention != "eager":
        notes.append(cudnn_note)
    liger_reason = (
        liger_unavailable(device)
        if spec.train.kernels == "liger" or spec.train.loss_implementation == "fused"
        else None
    )
    model_type = arch.model_type if arch is not None else None
    kernels_reason = liger_reason
    if kernels_reason is None and model_type is not None and model_type not in LIGER_PATCHES:
        kernels_reason = f"no Liger patch is wired for model type {model_type}"
    loss = spec.train.loss_implementation
    if loss == "fused" and liger_reason is not None:
        loss = "chunked"
        notes.append(f"loss: fused linear cross-entropy unavailable ({liger_reason}); chunked loss instead")
    if loss == "chunked":
        notes.append(
            f"loss: chunked LM head + cross-entropy, {spec.train.loss_chunk_tokens} target tokens per chunk, "
            "each chunk recomputed in backward (no [tokens × vocab] logits; padding and prompt rows skipped)"
        )
    elif loss == "fused":
        notes.append("loss: Liger fused linear cross-entropy on the target rows (no logits, no recompute)")

    kwargs: dict[str, Any] = {
        dtype_kwarg(): weight_dtype,
        "attn_implementation": attention,
    }
    if spec.model.source == "hub" and spec.model.revision:
        kwargs["revision"] = spec.model.revision
    if device.type == "cuda":
        kwargs["device_map"] = {"": device.index or 0}  # load straight onto the GPU, shard by shard
    if spec.train.method == "qlora":
        assert spec.quant is not None
        import_bitsandbytes("method qlora (4-bit weights)")
        kwargs["quantization_config"] = bnb_config(spec.quant.type, spec.quant.double_quant, weight_dtype)
    try:
        model = AutoModelForCausalLM.from_pretrained(source, **kwargs)
    except OSError as exc:
        if spec.model.source == "hub":
            raise EngineError(
                "config",
                f"could not load {spec.model.hub_id!r} from the Hugging Face Hub (no network or not cached): "
                f"{str(exc).splitlines()[0]}",
                NO_HUB_HINT.format(id=spec.model.hub_id),
            ) from None
        raise EngineError(
            "config",
            f"could not load the model from {source}: {exc}",
            "Check that the folder holds config.json and safetensors weights.",
        ) from None
    model.config.use_cache = False  # no KV cache in training; it only costs memory

    for param in model.parameters():
        param.requires_grad_(False)
    if spec.train.method == "qlora":
        assert spec.quant is not None
        _check_quantized(model)
        # Deliberately NOT peft.prepare_model_for_kbit_training: it casts every parameter that is not
        # 4-bit (embeddings, LM head, norms) to fp32. For a 7B Qwen2 that is two 152k × 3584 tables,
        # about 2.2 GB more in fp32 than in bf16, and fp32 norm weights promote the residual stream
        # (its activations, saved for backward) to fp32. It does freeze the base and enable input grads,
        # which is done here explicitly.
        dq = "+double-quant" if spec.quant.double_quant else ""
        notes.append(f"linear layers stored as {spec.quant.type}{dq} (bitsandbytes 4-bit), computed in {precision}")
        notes.append(
            f"embeddings, LM head and RMSNorm weights left in {precision}, not upcast to fp32 "
            "(peft's prepare_model_for_kbit_training is not called; RMSNorm computes its statistics in fp32 "
            "internally)"
        )
        description = f"{spec.quant.type}{dq}, compute {precision}; embeddings, norms and LM head {precision}"
    else:
        notes.append(f"base weights frozen in {precision}")
        description = f"{precision} base weights"

    if spec.train.kernels == "liger":
        if kernels_reason is None and str(model.config.model_type) in LIGER_PATCHES:
            notes.append(apply_liger(model, str(model.config.model_type)))
        else:
            why = kernels_reason or f"no Liger patch is wired for model type {model.config.model_type}"
            notes.append(f"kernels: Liger not applied ({why}); PyTorch's own ops instead")

    offload = spec.train.offload_activations
    offload_why = offload_unavailable(spec, device, world_from_env().size) if offload else None
    if offload_why is not None:
        notes.append(f"activation offload not used: {offload_why}")
    if offload and offload_why is None:  # offload_unavailable has checked that checkpointing is on
        model._set_gradient_checkpointing(enable=True, gradient_checkpointing_func=offloaded_checkpoint)
        model.enable_input_require_grads()  # its backward recomputes from an input that requires grad
        notes.append(
            "gradient checkpointing with offload: every decoder layer recomputed in backward, its input kept in "
            "pinned host memory in between (copied out on a side stream, back before its recompute)"
        )
    elif spec.train.grad_checkpointing:
        with warnings.catch_warnings():
            # Recent 5.x renames it activation_checkpointing_enable (warning only); this name works in 4.35-5.x.
            warnings.simplefilter("ignore", FutureWarning)
            checkpoint_kwargs: dict[str, Any] = {"use_reentrant": False}
            if spec.train.cuda_graphs and spec.lora.dropout == 0:
                # Nothing random runs in a layer without dropout, so there is no generator state to restore
                # for the recompute; reading it would fail inside a CUDA graph capture.
                checkpoint_kwargs["preserve_rng_state"] = False
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=checkpoint_kwargs)
        # With a frozen embedding the first layer's input has no grad; non-reentrant checkpointing does
        # not need it, but it keeps LoRA's gradients flowing whatever checkpointing mode runs. Costs one
        # hidden-size activation gradient per token in backward.
        model.enable_input_require_grads()
        notes.append("gradient checkpointing: non-reentrant, every decoder layer recomputed in backward")

    model = get_peft_model(model, lora_config(spec))  # adapters in fp32 (autocast_adapter_dtype default)
    model.train()  # from_pretrained returns eval mode: LoRA dropout and checkpointing need train mode
    if spec.train.fused_lora:
        count, why_not = fuse_lora_layers(model)
        single = sum(1 for m in model.modules() if getattr(m, "loraprof_single_node", False))
        # Regional compilation, where it runs, undoes them (graphs.compile_layers): it traces each layer.
        groups = group_lora_siblings(model)
        notes.append(
            f"LoRA forward fused: {count} layers add the adapter's update with one addmm (no input casts)"
            + (f"; {single} of them one autograd node (the adapter's input gradient added in place)" if single else "")
            + (
                f"; {groups} groups of siblings reading one input (q/k/v, gate/up) one node each (the input read "
                "once for their A, their input gradients summed in the matmuls)"
                if groups
                else ""
            )
            if why_not is None
            else f"LoRA forward not fused ({why_not}); PEFT's forward instead"
        )
    adapter_dtypes = sorted({DTYPE_NAMES.get(p.dtype, str(p.dtype)) for p in model.parameters() if p.requires_grad})
    targets = sorted(
        {
            name.rsplit(".", 1)[-1]
            for name, mod in model.named_modules()
            if hasattr(mod, "lora_A") and name.rsplit(".", 1)[-1] not in ("lora_A", "lora_B")
        }
    )
    notes.append(
        f"LoRA r={spec.lora.r} alpha={spec.lora.alpha:g} dropout={spec.lora.dropout:g} on "
        f"{', '.join(targets)}; adapter weights {'/'.join(adapter_dtypes)}"
    )
    notes.append("use_cache disabled (no KV cache in training)")
    total, trainable = count_parameters(model)
    return LoadedModel(
        model=model,
        vocab_size=int(model.get_input_embeddings().num_embeddings),
        total_parameters=total,
        trainable_parameters=trainable,
        weights_description=f"{description}; LoRA adapters {'/'.join(adapter_dtypes)}",
        notes=notes,
        synthetic_checkpoint=synthetic,
        loss_implementation=loss,
        varlen=varlen,
    )


def _resolve_source(spec: RunSpec, device: torch.device, notes: list[str]) -> tuple[str, dict[str, Any] | None]:
    """What to hand from_pretrained, and the synthetic checkpoint's path and whether it was created now."""
    m = spec.model
    if m.source == "synthetic":
        assert m.architecture is not None and m.path is not None
        created = ensure_synthetic_checkpoint(m.architecture, m.path, m.synthetic_seed, device)
        notes.append(
            f"synthetic weights (seed {m.synthetic_seed}, normal std {SYNTHETIC_STD}, stored bf16): "
            "loss values are not meaningful"
        )
        return m.path, {"path": m.path, "created": created}
    if m.source == "local":
        assert m.path is not None
        if not (Path(m.path) / "config.json").is_file():
            raise EngineError(
                "config",
                f"model folder {m.path} has no config.json",
                "Pass a folder with a transformers checkpoint (config.json + safetensors).",
            )
        return m.path, None
    assert m.hub_id is not None
    return m.hub_id, None


def _check_quantized(model: Any) -> None:
    if not any(type(mod).__name__ == "Linear4bit" for mod in model.modules()):
        raise EngineError(
            "dependency",
            "method qlora loaded no 4-bit layer (bitsandbytes did not quantize)",
            "Check the bitsandbytes install with `loraprof doctor`.",
        )


def count_parameters(model: Any) -> tuple[int, int]:
    """(total, trainable) in parameters, not storage elements: a 4-bit tensor packs two per byte."""
    total = trainable = 0
    for param in model.parameters():
        quant_state = getattr(param, "quant_state", None)
        if quant_state is not None and getattr(quant_state, "shape", None) is not None:
            n = int(torch.Size(quant_state.shape).numel())
        elif type(param).__name__ == "Params4bit":
            n = param.numel() * 2
        else:
            n = param.numel()
        total += n
        if param.requires_grad:
            trainable += n
    return total, trainable
