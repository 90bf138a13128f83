"""Each supported decoder family as a tiny synthetic checkpoint: built on the CPU from the RunSpec's
architecture, loaded through from_pretrained, and trained for two steps by the real engine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from loraprof_engine.model import architecture_config, ensure_synthetic_checkpoint
from loraprof_engine.spec import parse_runspec

from conftest import TINY_QWEN2, learnable_records, make_spec, run_engine, write_shard

pytestmark = pytest.mark.slow

# Tiny dimensions, each family's own switches (what its config.json sets).
FAMILIES: dict[str, dict[str, Any]] = {
    "mistral": {"modelType": "mistral", "qkvBias": False, "tieWordEmbeddings": False, "slidingWindow": 32},
    "qwen3": {"modelType": "qwen3", "qkvBias": False},
    "gemma2": {
        "modelType": "gemma2",
        "qkvBias": False,
        "hiddenAct": "gelu_pytorch_tanh",
        "slidingWindow": 32,
        # As the CLI's JSON sends them: 50.0 and 30.0 are written 50 and 30 (ints to Python).
        "attnLogitSoftcapping": 50,
        "finalLogitSoftcapping": 30,
    },
    "gemma3_text": {
        "modelType": "gemma3_text",
        "qkvBias": False,
        "hiddenAct": "gelu_pytorch_tanh",
        "slidingWindow": 32,
    },
    "phi3": {"modelType": "phi3", "qkvBias": False, "tieWordEmbeddings": False, "slidingWindow": 32},
}


@pytest.fixture(scope="module")
def shard(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_shard(tmp_path_factory.mktemp("shard") / "shard", learnable_records(16, vocab=512, seed=0))


def spec_for(family: str, tmp: Path, shard: Path) -> dict[str, Any]:
    # Gemma 2 soft-caps attention scores, which only the eager attention implements.
    attn = "eager" if family == "gemma2" else "sdpa"
    raw = make_spec(tmp, shard, train={"steps": 2, "warmupSteps": 0, "logEverySteps": 1, "attnImplementation": attn})
    raw["model"]["id"] = f"tiny-{family}"
    raw["model"]["path"] = str(tmp / "weights" / family)
    raw["model"]["architecture"] = {**TINY_QWEN2, **FAMILIES[family]}
    return raw


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_the_family_builds_its_transformers_config_and_checkpoint(family: str, tmp_path: Path, shard: Path) -> None:
    spec = parse_runspec(spec_for(family, tmp_path, shard))
    arch = spec.model.architecture
    assert arch is not None and spec.model.path is not None
    config = architecture_config(arch)
    assert config.model_type == family
    if family == "gemma2":
        assert config.final_logit_softcapping == 30.0 and config.attn_logit_softcapping == 50.0
        assert isinstance(config.final_logit_softcapping, float)
    assert ensure_synthetic_checkpoint(arch, spec.model.path, 0, torch.device("cpu")) is True
    assert (Path(spec.model.path) / "config.json").exists()


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_the_engine_trains_two_steps_of_the_family_on_the_cpu(family: str, tmp_path: Path, shard: Path) -> None:
    code, events, stderr = run_engine(spec_for(family, tmp_path, shard), tmp_path)
    assert code == 0, stderr
    steps = [e for e in events if e["type"] == "step"]
    assert [e["step"] for e in steps] == [1, 2]
    assert all(e["loss"] > 0 for e in steps)
    assert events[-1]["type"] == "summary"


def test_q_k_v_biases_are_refused_outside_qwen2(tmp_path: Path, shard: Path) -> None:
    from loraprof_engine.errors import EngineError

    raw = spec_for("mistral", tmp_path, shard)
    raw["model"]["architecture"]["qkvBias"] = True
    arch = parse_runspec(raw).model.architecture
    assert arch is not None
    with pytest.raises(EngineError, match="mistral cannot have q/k/v-only biases"):
        architecture_config(arch)


def test_gemma2_with_sdpa_is_a_config_error_naming_the_fix(tmp_path: Path, shard: Path) -> None:
    raw = spec_for("gemma2", tmp_path, shard)
    raw["train"]["attnImplementation"] = "sdpa"
    code, events, stderr = run_engine(raw, tmp_path)
    assert code != 0
    assert "config error during load" in stderr and "cannot soft-cap attention scores" in stderr
    assert "--attn eager" in str([e for e in events if e["type"] == "error"])
