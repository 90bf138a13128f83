"""The RunSpec (written by the TS side, defined in src/protocol/wire.ts), read into typed dataclasses.

The TS side validates the spec with zod before writing it; this module re-checks what the engine relies
on, so that a hand-written or stale spec fails as one `config` error naming every field at fault
instead of a KeyError deep in training.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from .errors import EngineError

PROTOCOL_VERSION = 1

# The vocabulary, mirrored from src/protocol/vocabulary.ts; tests/test_spec_vocabulary.py fails when an enum
# here and the committed JSON Schema (engine/schema/runspec.schema.json) disagree.
ModelType = Literal["qwen2", "llama", "mistral", "qwen3", "gemma2", "gemma3_text", "phi3"]
HiddenAct = Literal["silu", "gelu_pytorch_tanh"]
ModelSource = Literal["synthetic", "hub", "local"]
Precision = Literal["fp32", "fp16", "bf16"]
OptimizerName = Literal["adamw_torch", "adamw_torch_fused", "adamw_8bit", "paged_adamw_8bit", "paged_adamw_32bit"]
PaddingMode = Literal["longest", "max_length", "packed"]
Method = Literal["lora", "qlora"]
AttnImplementation = Literal["sdpa", "eager"]
LossImplementation = Literal["full", "chunked", "fused"]
Recipe = Literal["reference", "fast"]
Kernels = Literal["none", "liger"]
CompileMode = Literal["none", "layers"]
QuantType = Literal["nf4", "fp4"]
LrSchedule = Literal["constant", "linear", "cosine"]

MODEL_TYPES: tuple[str, ...] = get_args(ModelType)
HIDDEN_ACTS: tuple[str, ...] = get_args(HiddenAct)
MODEL_SOURCES: tuple[str, ...] = get_args(ModelSource)
PRECISIONS: tuple[str, ...] = get_args(Precision)
OPTIMIZERS: tuple[str, ...] = get_args(OptimizerName)
BNB_OPTIMIZERS = ("adamw_8bit", "paged_adamw_8bit", "paged_adamw_32bit")
PADDING_MODES: tuple[str, ...] = get_args(PaddingMode)
METHODS: tuple[str, ...] = get_args(Method)
ATTN_IMPLEMENTATIONS: tuple[str, ...] = get_args(AttnImplementation)
LOSS_IMPLEMENTATIONS: tuple[str, ...] = get_args(LossImplementation)
RECIPES: tuple[str, ...] = get_args(Recipe)
KERNELS: tuple[str, ...] = get_args(Kernels)
COMPILE_MODES: tuple[str, ...] = get_args(CompileMode)
QUANT_TYPES: tuple[str, ...] = get_args(QuantType)
LR_SCHEDULES: tuple[str, ...] = get_args(LrSchedule)


@dataclass(frozen=True)
class Architecture:
    model_type: ModelType
    hidden_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    intermediate_size: int
    vocab_size: int
    tie_word_embeddings: bool
    rope_theta: float
    rope_scaling: dict[str, float | str] | None
    qkv_bias: bool
    max_position_embeddings: int
    rms_norm_eps: float
    hidden_act: HiddenAct = "silu"
    # Sliding-window span (Mistral, Gemma 2/3 local layers, Phi-3); None: full attention.
    sliding_window: int | None = None
    # Gemma 2's tanh soft-capping of attention scores and of the final logits; None: none.
    attn_logit_softcapping: float | None = None
    final_logit_softcapping: float | None = None


@dataclass(frozen=True)
class ModelSpec:
    id: str
    source: ModelSource
    path: str | None
    hub_id: str | None
    revision: str | None
    architecture: Architecture | None
    synthetic_seed: int


@dataclass(frozen=True)
class DataSpec:
    shard_dir: str
    pad_token_id: int
    batch_size: int
    seq_len: int
    grad_accum: int
    padding: PaddingMode
    seed: int


@dataclass(frozen=True)
class TrainSpec:
    steps: int
    warmup_steps: int
    precision: Precision
    method: Method
    grad_checkpointing: bool
    attn_implementation: AttnImplementation
    seed: int
    log_every_steps: int
    loss_implementation: LossImplementation
    loss_chunk_tokens: int  # target rows per LM-head chunk (chunked only)
    recipe: Recipe  # what the CLI resolved the settings from (recorded, not acted on)
    kernels: Kernels  # fused Triton kernels for RMSNorm, SwiGLU and RoPE (GPU only)
    fused_lora: bool  # LoRA's update added by one addmm per layer (kernels.fused_lora_forward)
    cuda_graphs: bool  # the decoder's forward and backward replayed as CUDA graphs (graphs.py; packed, GPU)
    cudnn_attention: bool  # SDPA may pick cuDNN attention (PyTorch's default); device.configure_cudnn_attention
    offload_activations: bool  # checkpointed layer inputs in pinned host memory (offload.py; GPU)
    compile: CompileMode  # regional torch.compile of the decoder layers (graphs.compile_layers; eager, GPU)


@dataclass(frozen=True)
class LoraSpec:
    r: int
    alpha: float
    dropout: float
    target_modules: str | list[str]


@dataclass(frozen=True)
class QuantSpec:
    type: QuantType
    double_quant: bool


@dataclass(frozen=True)
class OptimizerSpec:
    name: OptimizerName
    lr: float
    weight_decay: float
    beta1: float
    beta2: float
    eps: float
    max_grad_norm: float | None
    schedule: LrSchedule


@dataclass(frozen=True)
class RunSpec:
    run_id: str
    model: ModelSpec
    data: DataSpec
    train: TrainSpec
    lora: LoraSpec
    quant: QuantSpec | None
    optimizer: OptimizerSpec
    device: str
    vram_budget_bytes: int | None
    cuda_allocator: Literal["expandable", "default"]  # device.configure_allocator
    telemetry_energy: bool


def load_runspec(path: str) -> RunSpec:
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EngineError("config", f"RunSpec file not found: {path}", None) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EngineError("config", f"RunSpec {path} is not readable JSON: {exc}", None) from None
    return parse_runspec(raw)


def parse_runspec(raw: Any) -> RunSpec:
    """Build a RunSpec, collecting every problem before failing (one `config` error lists them all)."""
    r = _Reader()
    spec = _read(r, raw)
    if r.problems or spec is None:
        raise EngineError(
            "config",
            "invalid RunSpec: " + "; ".join(r.problems),
            "The RunSpec is written by the loraprof CLI; rerun through `loraprof run`, or fix the named fields.",
        )
    return spec


class _Reader:
    """Typed field access that records a problem (with the dotted field name) instead of raising."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def obj(self, parent: Any, key: str, where: str) -> dict[str, Any] | None:
        value = parent.get(key) if isinstance(parent, dict) else None
        if not isinstance(value, dict):
            self.problems.append(f"{where}{key} must be an object")
            return None
        return value

    def _get(self, parent: dict[str, Any], key: str, where: str) -> tuple[bool, Any]:
        if key not in parent:
            self.problems.append(f"{where}{key} is missing")
            return False, None
        return True, parent[key]

    def int_(self, parent: dict[str, Any], key: str, where: str, minimum: int = 0) -> int:
        ok, value = self._get(parent, key, where)
        if ok and (isinstance(value, bool) or not isinstance(value, int) or value < minimum):
            self.problems.append(f"{where}{key} must be an integer >= {minimum} (got {value!r})")
            return minimum
        return int(value) if ok else minimum

    def num(
        self,
        parent: dict[str, Any],
        key: str,
        where: str,
        low: float,
        high: float | None = None,
        low_inclusive: bool = True,
    ) -> float:
        ok, value = self._get(parent, key, where)
        if not ok:
            return low
        good = isinstance(value, (int, float)) and not isinstance(value, bool)
        if good:
            good = (value >= low if low_inclusive else value > low) and (high is None or value <= high)
        if not good:
            bound = f"{'>=' if low_inclusive else '>'} {low}" + (f" and <= {high}" if high is not None else "")
            self.problems.append(f"{where}{key} must be a number {bound} (got {value!r})")
            return low
        return float(value)

    def bool_(self, parent: dict[str, Any], key: str, where: str) -> bool:
        ok, value = self._get(parent, key, where)
        if ok and not isinstance(value, bool):
            self.problems.append(f"{where}{key} must be true or false (got {value!r})")
            return False
        return bool(value)

    def str_(self, parent: dict[str, Any], key: str, where: str, nullable: bool = False) -> str | None:
        ok, value = self._get(parent, key, where)
        if not ok or (value is None and nullable):
            return None
        if not isinstance(value, str):
            self.problems.append(f"{where}{key} must be a string{' or null' if nullable else ''} (got {value!r})")
            return None
        return value

    def enum(self, parent: dict[str, Any], key: str, where: str, choices: tuple[str, ...]) -> Any:
        ok, value = self._get(parent, key, where)
        if ok and value not in choices:
            self.problems.append(f"{where}{key} must be one of {', '.join(choices)} (got {value!r})")
            return choices[0]
        return value if ok else choices[0]


def _read(r: _Reader, raw: Any) -> RunSpec | None:
    if not isinstance(raw, dict):
        r.problems.append("the RunSpec must be a JSON object")
        return None
    version = raw.get("protocolVersion")
    if version != PROTOCOL_VERSION:
        r.problems.append(
            f"protocolVersion is {version!r}, this engine speaks {PROTOCOL_VERSION} "
            "(the CLI and the engine come from different loraprof versions)"
        )
    run_id = r.str_(raw, "runId", "") or ""
    m, d, t = r.obj(raw, "model", ""), r.obj(raw, "data", ""), r.obj(raw, "train", "")
    lo, o, tel = r.obj(raw, "lora", ""), r.obj(raw, "optimizer", ""), r.obj(raw, "telemetry", "")
    if None in (m, d, t, lo, o, tel):
        return None
    assert m is not None and d is not None and t is not None and lo is not None and o is not None
    assert tel is not None

    model = _read_model(r, m)
    data = DataSpec(
        shard_dir=r.str_(d, "shardDir", "data.") or "",
        pad_token_id=r.int_(d, "padTokenId", "data."),
        batch_size=r.int_(d, "batchSize", "data.", 1),
        seq_len=r.int_(d, "seqLen", "data.", 1),
        grad_accum=r.int_(d, "gradAccum", "data.", 1),
        padding=r.enum(d, "padding", "data.", PADDING_MODES),
        seed=r.int_(d, "seed", "data."),
    )
    train = TrainSpec(
        steps=r.int_(t, "steps", "train.", 1),
        warmup_steps=r.int_(t, "warmupSteps", "train."),
        precision=r.enum(t, "precision", "train.", PRECISIONS),
        method=r.enum(t, "method", "train.", METHODS),
        grad_checkpointing=r.bool_(t, "gradCheckpointing", "train."),
        attn_implementation=r.enum(t, "attnImplementation", "train.", ATTN_IMPLEMENTATIONS),
        seed=r.int_(t, "seed", "train."),
        log_every_steps=r.int_(t, "logEverySteps", "train.", 1),
        loss_implementation=r.enum(t, "lossImplementation", "train.", LOSS_IMPLEMENTATIONS),
        loss_chunk_tokens=r.int_(t, "lossChunkTokens", "train.", 1),
        recipe=r.enum(t, "recipe", "train.", RECIPES),
        kernels=r.enum(t, "kernels", "train.", KERNELS),
        fused_lora=r.bool_(t, "fusedLora", "train."),
        cuda_graphs=r.bool_(t, "cudaGraphs", "train."),
        cudnn_attention=r.bool_(t, "cudnnAttention", "train."),
        offload_activations=r.bool_(t, "offloadActivations", "train."),
        compile=r.enum(t, "compile", "train.", COMPILE_MODES),
    )
    targets = lo.get("targetModules")
    if not (
        targets == "all-linear"
        or (isinstance(targets, list) and targets and all(isinstance(x, str) and x for x in targets))
    ):
        r.problems.append(f'lora.targetModules must be "all-linear" or a non-empty list of names (got {targets!r})')
        targets = "all-linear"
    lora = LoraSpec(
        r=r.int_(lo, "r", "lora.", 1),
        alpha=r.num(lo, "alpha", "lora.", 0, low_inclusive=False),
        dropout=r.num(lo, "dropout", "lora.", 0, 1),
        target_modules=targets,
    )
    quant: QuantSpec | None = None
    if raw.get("quant") is not None:
        q = r.obj(raw, "quant", "")
        if q is not None:
            quant = QuantSpec(
                type=r.enum(q, "type", "quant.", QUANT_TYPES),
                double_quant=r.bool_(q, "doubleQuant", "quant."),
            )
    elif "quant" not in raw:
        r.problems.append("quant is missing (null for method lora)")
    max_grad_norm = o.get("maxGradNorm")
    if max_grad_norm is not None:
        max_grad_norm = r.num(o, "maxGradNorm", "optimizer.", 0, low_inclusive=False)
    optimizer = OptimizerSpec(
        name=r.enum(o, "name", "optimizer.", OPTIMIZERS),
        lr=r.num(o, "lr", "optimizer.", 0, low_inclusive=False),
        weight_decay=r.num(o, "weightDecay", "optimizer.", 0),
        beta1=r.num(o, "beta1", "optimizer.", 0, 1),
        beta2=r.num(o, "beta2", "optimizer.", 0, 1),
        eps=r.num(o, "eps", "optimizer.", 0, low_inclusive=False),
        max_grad_norm=max_grad_norm,
        schedule=r.enum(o, "schedule", "optimizer.", LR_SCHEDULES),
    )
    device = r.str_(raw, "device", "") or "cpu"
    if not re.fullmatch(r"cpu|cuda:\d+", device):
        r.problems.append(f'device must be "cpu" or "cuda:N" (got {device!r})')
    budget = raw.get("vramBudgetBytes")
    if budget is not None:
        budget = r.int_(raw, "vramBudgetBytes", "", 1)
    elif "vramBudgetBytes" not in raw:
        r.problems.append("vramBudgetBytes is missing (null for no budget)")
    spec = RunSpec(
        run_id=run_id,
        model=model,
        data=data,
        train=train,
        lora=lora,
        quant=quant,
        optimizer=optimizer,
        device=device,
        vram_budget_bytes=budget,
        cuda_allocator=r.enum(raw, "cudaAllocator", "", ("expandable", "default")),
        telemetry_energy=r.bool_(tel, "energy", "telemetry."),
    )
    _check_combinations(r, spec)
    return spec


def _read_model(r: _Reader, m: dict[str, Any]) -> ModelSpec:
    source = r.enum(m, "source", "model.", MODEL_SOURCES)
    arch: Architecture | None = None
    a = m.get("architecture")
    if a is not None:
        a = r.obj(m, "architecture", "model.")
    if isinstance(a, dict):
        w = "model.architecture."
        scaling = a.get("ropeScaling")
        if scaling is not None and not (
            isinstance(scaling, dict)
            and all(isinstance(v, (int, float, str)) and not isinstance(v, bool) for v in scaling.values())
        ):
            r.problems.append(f"{w}ropeScaling must be null or an object of numbers and strings")
            scaling = None
        optional: dict[str, float | None] = {}
        for key in ("slidingWindow", "attnLogitSoftcapping", "finalLogitSoftcapping"):
            v = a.get(key)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0):
                r.problems.append(f"{w}{key} must be null or a positive number (got {v!r})")
                v = None
            optional[key] = v
        window = optional["slidingWindow"]
        if window is not None and window != int(window):
            r.problems.append(f"{w}slidingWindow must be an integer (got {window!r})")
        arch = Architecture(
            model_type=r.enum(a, "modelType", w, MODEL_TYPES),
            hidden_size=r.int_(a, "hiddenSize", w, 1),
            num_layers=r.int_(a, "numLayers", w, 1),
            num_heads=r.int_(a, "numHeads", w, 1),
            num_kv_heads=r.int_(a, "numKvHeads", w, 1),
            head_dim=r.int_(a, "headDim", w, 1),
            intermediate_size=r.int_(a, "intermediateSize", w, 1),
            vocab_size=r.int_(a, "vocabSize", w, 1),
            tie_word_embeddings=r.bool_(a, "tieWordEmbeddings", w),
            rope_theta=r.num(a, "ropeTheta", w, 0, low_inclusive=False),
            rope_scaling=dict(scaling) if isinstance(scaling, dict) else None,
            qkv_bias=r.bool_(a, "qkvBias", w),
            max_position_embeddings=r.int_(a, "maxPositionEmbeddings", w, 1),
            rms_norm_eps=r.num(a, "rmsNormEps", w, 0, low_inclusive=False),
            hidden_act=r.enum(a, "hiddenAct", w, HIDDEN_ACTS),
            sliding_window=int(window) if window is not None else None,
            attn_logit_softcapping=optional["attnLogitSoftcapping"],
            final_logit_softcapping=optional["finalLogitSoftcapping"],
        )
    return ModelSpec(
        id=r.str_(m, "id", "model.") or "",
        source=source,
        path=r.str_(m, "path", "model.", nullable=True),
        hub_id=r.str_(m, "hubId", "model.", nullable=True),
        revision=r.str_(m, "revision", "model.", nullable=True),
        architecture=arch,
        synthetic_seed=r.int_(m, "syntheticSeed", "model."),
    )


def _check_combinations(r: _Reader, spec: RunSpec) -> None:
    """Rules that span fields; the device-dependent ones (fp16 on CPU, bf16 support) live in the recipe."""
    m, t = spec.model, spec.train
    if m.source == "synthetic" and (m.architecture is None or not m.path):
        r.problems.append("model.source synthetic needs model.architecture and model.path (the checkpoint cache)")
    if m.source == "hub" and not m.hub_id:
        r.problems.append("model.source hub needs model.hubId")
    if m.source == "local" and not m.path:
        r.problems.append("model.source local needs model.path")
    if t.warmup_steps >= t.steps:
        r.problems.append(
            f"train.warmupSteps ({t.warmup_steps}) must be less than train.steps ({t.steps}): "
            "otherwise no step is measured"
        )
    if t.method == "qlora" and spec.quant is None:
        r.problems.append("train.method qlora needs quant (type nf4|fp4, doubleQuant)")
    if t.method == "lora" and spec.quant is not None:
        r.problems.append("quant must be null for train.method lora (quantization is what qlora adds)")
