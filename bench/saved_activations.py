"""What one decoder layer saves for the backward, by family and attention path, measured on the CPU.

The planner's activation model (src/plan/memory.ts, layerActivationBytesPerToken) counts the tensors a layer
saves per token. Check 5 (bench/results/h100-plan-holdout5-holdout.json) put Gemma runs without
checkpointing 13-26% over its device prediction: Gemma norms before and after attention and MLP (four
RMSNorms a layer), and Gemma 2 needs eager attention (soft-capped scores), which materializes every head's
scores. This builds each family's model with real layer widths from transformers' own classes (bf16, LoRA
r16 on every linear, dropout 0), runs a forward under `saved_tensors_hooks`, and counts the distinct
storages saved that are not parameters, at 1 and 2 layers and at two sequence lengths: per layer it
separates bytes per token (the linear part) from bytes per token per key (the quadratic part, eager only).

    python bench/saved_activations.py [--out saved-activations.json]

The quadratic part is what the planner's `eagerScoreBytes` models per head; a unit test reads the committed
result (bench/results/cpu-saved-activations.json). Autocast, the GPU's attention kernels and the engine's
fused paths change the linear part, so only the families' differences are compared there, not its size.
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path
from typing import Any

import peft
import torch
import transformers
from peft import LoraConfig, get_peft_model
from torch.utils._python_dispatch import TorchDispatchMode
from transformers import AutoConfig, AutoModelForCausalLM

# Real layer widths (config.json of each model); a 512-token vocabulary: the head is not a layer's.
FAMILIES: dict[str, dict[str, Any]] = {
    "qwen2.5-1.5b": dict(
        model_type="qwen2",
        hidden_size=1536,
        intermediate_size=8960,
        num_attention_heads=12,
        num_key_value_heads=2,
        head_dim=128,
    ),
    "qwen3-0.6b": dict(
        model_type="qwen3",
        hidden_size=1024,
        intermediate_size=3072,
        num_attention_heads=16,
        num_key_value_heads=8,
        head_dim=128,
    ),
    "gemma-2-2b": dict(
        model_type="gemma2",
        hidden_size=2304,
        intermediate_size=9216,
        num_attention_heads=8,
        num_key_value_heads=4,
        head_dim=256,
        attn_logit_softcapping=50.0,
        final_logit_softcapping=30.0,
        query_pre_attn_scalar=256,
        sliding_window=4096,
    ),
    "gemma-3-1b": dict(
        model_type="gemma3_text",
        hidden_size=1152,
        intermediate_size=6912,
        num_attention_heads=4,
        num_key_value_heads=1,
        head_dim=256,
        query_pre_attn_scalar=256,
        sliding_window=512,
    ),
}
# (family, attention path): Gemma 2 runs eager only (transformers refuses SDPA for soft-capped scores).
CASES = [
    ("qwen2.5-1.5b", "sdpa"),
    ("qwen2.5-1.5b", "eager"),
    ("qwen3-0.6b", "sdpa"),
    ("gemma-2-2b", "eager"),
    ("gemma-3-1b", "sdpa"),
]
SEQ_LENS = (128, 256)


class _CountOps(TorchDispatchMode):
    """Counts the ATen operations dispatched (the host's launches, before any fusion)."""

    def __init__(self) -> None:
        super().__init__()
        self.ops = 0

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        self.ops += 1
        return func(*args, **(kwargs or {}))


def _measure(family: str, attn: str, layers: int, seq_len: int) -> tuple[int, int]:
    """Bytes saved for backward by one forward (parameters excluded), and ops of forward + backward."""
    kw = dict(FAMILIES[family])
    model_type = kw.pop("model_type")
    cfg = AutoConfig.for_model(model_type, num_hidden_layers=layers, vocab_size=512, **kw)
    if model_type == "gemma3_text":
        cfg.layer_types = ["sliding_attention"] * layers  # the windowed layers, as 5 of every 6 are
    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_config(cfg, attn_implementation=attn, dtype=torch.bfloat16)
    model: Any = get_peft_model(base, LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules="all-linear"))
    model.train()
    decoder: Any = model.base_model.model.model
    ids = torch.randint(0, 512, (1, seq_len))
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    saved: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        if storage.data_ptr() not in params:
            saved[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        decoder(input_ids=ids, use_cache=False)
    count = _CountOps()
    with count:
        out = decoder(input_ids=ids, use_cache=False)
        out.last_hidden_state.float().sum().backward()
    return sum(saved.values()), count.ops


def measure(family: str, attn: str) -> dict[str, Any]:
    """Per layer: bytes per token and per token per key (a·S + q·S² over S = 128, 256), ops per step."""
    per_layer: dict[int, int] = {}
    ops = 0
    for s in SEQ_LENS:
        one, ops_one = _measure(family, attn, 1, s)
        two, ops_two = _measure(family, attn, 2, s)
        per_layer[s] = two - one
        ops = ops_two - ops_one
    s1, s2 = SEQ_LENS
    quadratic = (per_layer[s2] * s1 - per_layer[s1] * s2) / (s1 * s2 * (s2 - s1))
    linear = (per_layer[s1] - quadratic * s1 * s1) / s1
    return {
        "family": family,
        "modelType": FAMILIES[family]["model_type"],
        "attnImplementation": attn,
        "numHeads": FAMILIES[family]["num_attention_heads"],
        "bytesPerTokenPerLayer": round(linear, 1),
        "bytesPerTokenPerKeyPerLayer": round(quadratic, 3),
        "bytesPerTokenPerKeyPerHead": round(quadratic / FAMILIES[family]["num_attention_heads"], 3),
        "opsPerLayerForwardBackward": ops,
        "perLayerBytes": {str(s): b for s, b in per_layer.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON")
    args = parser.parse_args()
    results = []
    for family, attn in CASES:
        r = measure(family, attn)
        results.append(r)
        print(
            f"{family:14s} {attn:5s}: {r['bytesPerTokenPerLayer']:>9,.0f} B/token/layer, "
            f"{r['bytesPerTokenPerKeyPerHead']:.2f} B/token/key/head, "
            f"{r['opsPerLayerForwardBackward']} ops/layer (forward + backward)"
        )
    doc = {
        "benchmark": "saved-for-backward bytes and ATen ops of one decoder layer (bench/saved_activations.py)",
        "command": "python bench/saved_activations.py --out bench/results/cpu-saved-activations.json",
        "setup": "bf16 weights, LoRA r16 all-linear dropout 0 (PEFT's fp32 adapters), batch 1, no autocast, CPU",
        "versions": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "peft": peft.__version__,
            "python": platform.python_version(),
        },
        "results": results,
    }
    if args.out:
        args.out.write_text(json.dumps(doc, indent=1) + "\n")


if __name__ == "__main__":
    main()
