"""Learning-rate schedules and optimizer construction."""

from __future__ import annotations

import importlib.util
import itertools

import pytest
import torch

from loraprof_engine.errors import EngineError
from loraprof_engine.optim import build_optimizer, lr_at
from loraprof_engine.spec import OptimizerSpec


def opt_spec(name: str = "adamw_torch") -> OptimizerSpec:
    return OptimizerSpec(
        name=name,
        lr=1e-3,
        weight_decay=0.01,
        beta1=0.9,
        beta2=0.95,
        eps=1e-8,  # type: ignore[arg-type]
        max_grad_norm=1.0,
        schedule="constant",
    )


def test_warmup_rises_linearly_and_never_starts_at_zero() -> None:
    assert [lr_at(s, 10, 4, 1.0, "constant") for s in range(1, 6)] == [0.25, 0.5, 0.75, 1.0, 1.0]


def test_constant_holds_the_base_rate_without_warmup() -> None:
    assert {lr_at(s, 10, 0, 2e-4, "constant") for s in range(1, 11)} == {2e-4}


def test_linear_decays_from_the_base_rate_and_keeps_the_last_step_above_zero() -> None:
    rates = [lr_at(s, 12, 2, 1.0, "linear") for s in range(1, 13)]
    assert rates[2] == 1.0
    assert all(a > b for a, b in itertools.pairwise(rates[2:]))
    assert rates[-1] == pytest.approx(0.1)


def test_cosine_starts_at_the_base_rate_and_ends_near_zero() -> None:
    rates = [lr_at(s, 102, 2, 1.0, "cosine") for s in range(1, 103)]
    assert rates[2] == 1.0
    assert rates[52] == pytest.approx(0.5)
    assert 0 < rates[-1] < 0.001


def params() -> list[torch.nn.Parameter]:
    return [torch.nn.Parameter(torch.randn(4, 4))]


def test_adamw_torch_is_the_foreach_implementation_with_the_spec_hyperparameters() -> None:
    opt = build_optimizer(params(), opt_spec(), torch.device("cpu"))
    assert isinstance(opt, torch.optim.AdamW)
    group = opt.param_groups[0]
    assert group["foreach"] is True and group["betas"] == (0.9, 0.95) and group["weight_decay"] == 0.01


def test_adamw_torch_fused_runs_fused_on_this_cpu() -> None:
    opt = build_optimizer(params(), opt_spec("adamw_torch_fused"), torch.device("cpu"))
    assert opt.param_groups[0]["fused"] is True


@pytest.mark.parametrize("name", ["adamw_8bit", "paged_adamw_8bit", "paged_adamw_32bit"])
def test_bitsandbytes_optimizers_on_the_cpu_are_config_errors(name: str) -> None:
    with pytest.raises(EngineError, match="needs a CUDA device") as caught:
        build_optimizer(params(), opt_spec(name), torch.device("cpu"))
    assert caught.value.kind == "config"


@pytest.mark.skipif(importlib.util.find_spec("bitsandbytes") is not None, reason="bitsandbytes is installed")
def test_a_bitsandbytes_optimizer_without_bitsandbytes_is_a_dependency_error_with_the_fix() -> None:
    with pytest.raises(EngineError) as caught:
        build_optimizer(params(), opt_spec("paged_adamw_8bit"), torch.device("cuda", 0))
    assert caught.value.kind == "dependency"
    assert caught.value.hint is not None and "pip install bitsandbytes" in caught.value.hint
    assert "loraprof setup" in caught.value.hint
