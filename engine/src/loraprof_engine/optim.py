"""Optimizers and the learning-rate schedule."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch

from .errors import EngineError
from .spec import BNB_OPTIMIZERS, OptimizerSpec

BNB_HINT = "Install it with `pip install bitsandbytes` (or `loraprof setup`), or use optimizer adamw_torch."


def lr_at(step: int, total_steps: int, warmup_steps: int, base_lr: float, schedule: str) -> float:
    """Learning rate for optimizer step `step` (1-based).

    Linear warmup over the first `warmup_steps` steps (step 1 gets base/warmup, never 0), then
    constant, linear decay, or cosine decay. The decay runs over the remaining steps and reaches 0 one
    step after the last, so the last step still learns (the convention of transformers' schedulers).
    """
    if warmup_steps > 0 and step <= warmup_steps:
        return base_lr * step / warmup_steps
    if schedule == "constant":
        return base_lr
    progress = (step - 1 - warmup_steps) / max(1, total_steps - warmup_steps)
    if schedule == "linear":
        return base_lr * max(0.0, 1.0 - progress)
    if schedule == "cosine":
        return base_lr * 0.5 * (1.0 + math.cos(math.pi * progress))
    raise ValueError(f"unknown schedule {schedule!r}")


def build_optimizer(
    params: Iterable[torch.nn.Parameter], spec: OptimizerSpec, device: torch.device
) -> torch.optim.Optimizer:
    """The optimizer named in the spec, over the trainable (LoRA) parameters.

    adamw_torch uses the multi-tensor (foreach) implementation; adamw_torch_fused the single fused
    kernel. PyTorch >= 2.4 also has a fused AdamW for the CPU, so on the CPU adamw_torch_fused runs
    fused when this PyTorch supports it and is a `config` error otherwise (no silent fallback: the name
    in the results must be what ran).
    """
    params = list(params)
    common: dict[str, Any] = {
        "lr": spec.lr,
        "betas": (spec.beta1, spec.beta2),
        "eps": spec.eps,
        "weight_decay": spec.weight_decay,
    }
    if spec.name == "adamw_torch":
        return torch.optim.AdamW(params, foreach=True, **common)
    if spec.name == "adamw_torch_fused":
        try:
            return torch.optim.AdamW(params, fused=True, **common)
        except (RuntimeError, ValueError, TypeError) as exc:
            raise EngineError(
                "config",
                f"optimizer adamw_torch_fused is not available on {device.type} with torch {torch.__version__}: {exc}",
                "Use optimizer adamw_torch.",
            ) from None
    if spec.name in BNB_OPTIMIZERS:
        if device.type != "cuda":
            raise EngineError(
                "config",
                f"optimizer {spec.name} (bitsandbytes) needs a CUDA device; the run is on {device}",
                "Use optimizer adamw_torch on the CPU.",
            )
        bnb = import_bitsandbytes(f"optimizer {spec.name}")
        cls = {
            "adamw_8bit": bnb.optim.AdamW8bit,
            "paged_adamw_8bit": bnb.optim.PagedAdamW8bit,
            "paged_adamw_32bit": bnb.optim.PagedAdamW32bit,
        }[spec.name]
        optimizer: torch.optim.Optimizer = cls(params, **common)
        return optimizer
    raise EngineError("config", f"unknown optimizer.name {spec.name!r}", None)


def import_bitsandbytes(needed_for: str) -> Any:
    """Import bitsandbytes only when a run needs it; its absence is a `dependency` error with the fix."""
    try:
        import bitsandbytes
    except ImportError as exc:
        raise EngineError(
            "dependency",
            f"{needed_for} needs the Python package bitsandbytes, which is not installed ({exc})",
            BNB_HINT,
        ) from None
    except Exception as exc:  # bitsandbytes raises RuntimeError when its native library does not load
        raise EngineError(
            "dependency",
            f"{needed_for} needs bitsandbytes, which is installed but failed to load: {exc}",
            BNB_HINT,
        ) from None
    return bitsandbytes
