"""Synthetic checkpoints, loading through from_pretrained, LoRA wiring, the QLoRA configuration."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

from loraprof_engine import model as model_module
from loraprof_engine.errors import EngineError
from loraprof_engine.model import (
    architecture_config,
    bnb_config,
    count_parameters,
    ensure_synthetic_checkpoint,
    load_model,
)
from loraprof_engine.spec import Architecture, QuantSpec, RunSpec, parse_runspec

from conftest import TINY_QWEN2, make_spec

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> RunSpec:
    tmp = tmp_path_factory.mktemp("model")
    return parse_runspec(make_spec(tmp, tmp / "shard"))


@pytest.fixture(scope="module")
def checkpoint(spec: RunSpec) -> Path:
    """Materialized once for the module."""
    assert spec.model.architecture is not None and spec.model.path is not None
    assert ensure_synthetic_checkpoint(spec.model.architecture, spec.model.path, 0, CPU) is True
    return Path(spec.model.path)


def test_a_synthetic_checkpoint_loads_through_from_pretrained(checkpoint: Path) -> None:
    model = AutoModelForCausalLM.from_pretrained(str(checkpoint))
    assert model.config.model_type == "qwen2"
    assert model.config.num_hidden_layers == 2 and model.config.head_dim == 16
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()  # tied
    stored = load_file(str(checkpoint / "model.safetensors"))
    assert all(t.dtype == torch.bfloat16 for t in stored.values())
    assert torch.equal(
        model.model.layers[0].self_attn.q_proj.weight.to(torch.bfloat16),
        stored["model.layers.0.self_attn.q_proj.weight"],
    )
    assert float(stored["model.layers.0.self_attn.q_proj.weight"].float().std()) == pytest.approx(0.02, rel=0.1)


def test_the_config_carries_rope_theta_in_both_transformers_spellings(checkpoint: Path) -> None:
    config = json.loads((checkpoint / "config.json").read_text())
    assert config["rope_theta"] == 1_000_000.0
    assert config["torch_dtype"] == "bfloat16"


def test_an_existing_checkpoint_is_reused_not_rewritten(spec: RunSpec, checkpoint: Path) -> None:
    assert spec.model.architecture is not None
    before = (checkpoint / "model.safetensors").stat().st_mtime_ns
    assert ensure_synthetic_checkpoint(spec.model.architecture, str(checkpoint), 0, CPU) is False
    assert (checkpoint / "model.safetensors").stat().st_mtime_ns == before


def test_the_same_seed_draws_the_same_weights_and_another_seed_other_ones(
    spec: RunSpec, checkpoint: Path, tmp_path: Path
) -> None:
    assert spec.model.architecture is not None
    ensure_synthetic_checkpoint(spec.model.architecture, str(tmp_path / "same"), 0, CPU)
    ensure_synthetic_checkpoint(spec.model.architecture, str(tmp_path / "other"), 1, CPU)
    reference = load_file(str(checkpoint / "model.safetensors"))
    same = load_file(str(tmp_path / "same" / "model.safetensors"))
    other = load_file(str(tmp_path / "other" / "model.safetensors"))
    name = "model.layers.1.mlp.down_proj.weight"
    assert torch.equal(reference[name], same[name])
    assert not torch.equal(reference[name], other[name])


def test_a_process_that_loses_the_rename_race_uses_the_winners_checkpoint(
    spec: RunSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert spec.model.architecture is not None
    arch = spec.model.architecture
    target = tmp_path / "raced"
    real_write = model_module._write_config

    def write_then_lose(config: object, folder: Path) -> None:
        real_write(config, folder)
        # The other process finishes first, while this one is still writing.
        monkeypatch.setattr(model_module, "_write_config", real_write)
        assert ensure_synthetic_checkpoint(arch, str(target), 0, CPU) is True

    monkeypatch.setattr(model_module, "_write_config", write_then_lose)
    assert ensure_synthetic_checkpoint(arch, str(target), 0, CPU) is False
    assert (target / "config.json").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["raced"]  # the loser's temporary folder is gone


def test_a_checkpoint_of_another_architecture_is_refused(spec: RunSpec, checkpoint: Path) -> None:
    assert spec.model.architecture is not None
    wider = dataclasses.replace(spec.model.architecture, hidden_size=128)
    with pytest.raises(EngineError, match="another architecture") as caught:
        ensure_synthetic_checkpoint(wider, str(checkpoint), 0, CPU)
    assert caught.value.kind == "config"


def test_a_large_checkpoint_is_sharded_with_an_index_that_from_pretrained_reads(
    spec: RunSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert spec.model.architecture is not None
    monkeypatch.setattr(model_module, "SHARD_BYTES", 40_000)
    ensure_synthetic_checkpoint(spec.model.architecture, str(tmp_path / "sharded"), 0, CPU)
    files = sorted(p.name for p in (tmp_path / "sharded").glob("*.safetensors"))
    assert len(files) > 1 and files[0].endswith(f"-of-{len(files):05d}.safetensors")
    model = AutoModelForCausalLM.from_pretrained(str(tmp_path / "sharded"))
    whole = load_file(str(Path(spec.model.path or "") / "model.safetensors"))
    assert torch.equal(model.model.norm.weight.to(torch.bfloat16), whole["model.norm.weight"])
    assert torch.equal(
        model.model.layers[1].mlp.up_proj.weight.to(torch.bfloat16), whole["model.layers.1.mlp.up_proj.weight"]
    )


def test_a_disk_without_room_is_refused_before_anything_is_written(
    spec: RunSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert spec.model.architecture is not None
    arch = spec.model.architecture
    ensure_synthetic_checkpoint(arch, str(tmp_path / "other-a"), 0, CPU)
    ensure_synthetic_checkpoint(arch, str(tmp_path / "other-b"), 1, CPU)
    (tmp_path / "not-a-checkpoint").mkdir()
    before = sorted(p.name for p in tmp_path.iterdir())
    held = sum(f.stat().st_size for name in ("other-a", "other-b") for f in (tmp_path / name).iterdir())
    size = 2 * sum(p.numel() for p in AutoModelForCausalLM.from_config(architecture_config(arch)).parameters())
    real = shutil.disk_usage(tmp_path)
    # 10 MB free: the tiny checkpoint itself fits, not with the 64 MiB margin.
    monkeypatch.setattr(model_module.shutil, "disk_usage", lambda _: real._replace(free=10_000_000))
    drawn: list[object] = []
    monkeypatch.setattr(model_module, "_draw_normal", lambda *args: drawn.append(args))
    with pytest.raises(EngineError) as caught:
        ensure_synthetic_checkpoint(arch, str(tmp_path / "full"), 0, CPU)
    error = caught.value
    assert error.kind == "disk"
    assert "qwen2" in error.message and str(tmp_path / "full") in error.message
    assert f"needs {size / 1e9:.2f} GB" in error.message and "0.01 GB free" in error.message
    assert error.hint is not None and "LORAPROF_CACHE" in error.hint
    assert f"The 2 other synthetic checkpoints in {tmp_path} take {held / 1e9:.2f} GB" in error.hint
    assert drawn == []  # refused before the first tensor was drawn
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # neither the checkpoint nor its tmp folder


def test_evicting_makes_room_from_the_least_recently_used_checkpoints_only_when_asked(
    spec: RunSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert spec.model.architecture is not None
    arch = spec.model.architecture
    for name, seed in (("old", 0), ("recent", 1)):
        ensure_synthetic_checkpoint(arch, str(tmp_path / name), seed, CPU)
    os.utime(tmp_path / "old", (1_000_000, 1_000_000))
    ensure_synthetic_checkpoint(arch, str(tmp_path / "recent"), 1, CPU)  # reused: its last use is now
    (tmp_path / "not-a-checkpoint").mkdir()
    real = shutil.disk_usage(tmp_path)
    # Room appears once one checkpoint is gone.
    monkeypatch.setattr(
        model_module.shutil,
        "disk_usage",
        lambda _: real._replace(free=10_000_000 if (tmp_path / "old").exists() else 100 * 1024**2),
    )
    monkeypatch.delenv(model_module.EVICT_ENV, raising=False)
    with pytest.raises(EngineError):
        ensure_synthetic_checkpoint(arch, str(tmp_path / "new"), 2, CPU)
    assert (tmp_path / "old").is_dir()  # not asked: nothing deleted
    monkeypatch.setenv(model_module.EVICT_ENV, "1")
    assert ensure_synthetic_checkpoint(arch, str(tmp_path / "new"), 2, CPU) is True
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new", "not-a-checkpoint", "recent"]


def test_a_disk_with_room_gets_the_checkpoint(spec: RunSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert spec.model.architecture is not None
    real = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(model_module.shutil, "disk_usage", lambda _: real._replace(free=100 * 1024**2))
    assert ensure_synthetic_checkpoint(spec.model.architecture, str(tmp_path / "fits"), 0, CPU) is True
    assert (tmp_path / "fits" / "model.safetensors").is_file()


def test_a_llama_architecture_builds_a_llama_config() -> None:
    arch = parse_runspec_arch(
        modelType="llama",
        qkvBias=False,
        ropeScaling={
            "rope_type": "llama3",
            "factor": 8.0,
            "low_freq_factor": 1.0,
            "high_freq_factor": 4.0,
            "original_max_position_embeddings": 8192,
        },
    )
    config = architecture_config(arch)
    assert config.model_type == "llama" and config.attention_bias is False


def test_bias_settings_transformers_cannot_express_are_config_errors() -> None:
    with pytest.raises(EngineError, match="qkvBias") as caught:
        architecture_config(parse_runspec_arch(qkvBias=False))
    assert caught.value.kind == "config"
    with pytest.raises(EngineError, match="o_proj"):
        architecture_config(parse_runspec_arch(modelType="llama", qkvBias=True))


def parse_runspec_arch(**changes: object) -> Architecture:
    raw = make_spec(Path("/tmp"), Path("/tmp/shard"))
    raw["model"]["architecture"] = {**TINY_QWEN2, **changes}
    parsed = parse_runspec(raw)
    assert parsed.model.architecture is not None
    return parsed.model.architecture


def test_lora_on_all_linear_adapts_the_seven_projections_and_freezes_the_base(spec: RunSpec, checkpoint: Path) -> None:
    loaded = load_model(spec, CPU)
    names = {n.rsplit(".", 3)[-3] for n, p in loaded.model.named_parameters() if p.requires_grad}
    assert names == {"lora_A", "lora_B"}
    adapted = {
        n.split(".")[-1]
        for n, m in loaded.model.named_modules()
        if hasattr(m, "lora_A") and "lora" not in n.split(".")[-1]
    }
    assert adapted == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
    assert all(p.dtype == torch.float32 for p in loaded.model.parameters() if p.requires_grad)
    # r=8 on 7 projections per layer, 2 layers: A is r×in, B is out×r.
    h, kv, inter, r = 64, 32, 128, 8
    per_layer = r * ((h + h) + (h + kv) * 2 + (h + h) + (h + inter) * 2 + (inter + h))
    assert loaded.trainable_parameters == 2 * per_layer
    assert loaded.total_parameters == count_parameters(loaded.model)[0]
    assert loaded.model.training and loaded.model.config.use_cache is False
    assert loaded.synthetic_checkpoint == {"path": str(checkpoint), "created": False}
    assert any("frozen in fp32" in note for note in loaded.notes)


def test_gradient_checkpointing_is_enabled_non_reentrant(spec: RunSpec, checkpoint: Path) -> None:
    loaded = load_model(dataclasses.replace(spec, train=dataclasses.replace(spec.train, grad_checkpointing=True)), CPU)
    base = loaded.model.get_base_model()
    assert getattr(base, "is_activation_checkpointing", None) or base.is_gradient_checkpointing
    assert any("non-reentrant" in note for note in loaded.notes)


def test_the_qlora_quantization_config_follows_the_spec() -> None:
    config = bnb_config("fp4", False, torch.float32)
    assert config.load_in_4bit and config.bnb_4bit_quant_type == "fp4"
    assert config.bnb_4bit_use_double_quant is False and config.bnb_4bit_compute_dtype == torch.float32
    nf4 = bnb_config("nf4", True, torch.bfloat16)
    assert nf4.bnb_4bit_quant_type == "nf4" and nf4.bnb_4bit_use_double_quant


@pytest.mark.skipif(importlib.util.find_spec("bitsandbytes") is not None, reason="bitsandbytes is installed")
def test_qlora_without_bitsandbytes_is_a_dependency_error(spec: RunSpec, checkpoint: Path) -> None:
    qlora = dataclasses.replace(
        spec, train=dataclasses.replace(spec.train, method="qlora"), quant=QuantSpec(type="nf4", double_quant=True)
    )
    with pytest.raises(EngineError) as caught:
        load_model(qlora, CPU)
    assert caught.value.kind == "dependency"
    assert caught.value.hint is not None and "pip install bitsandbytes" in caught.value.hint


def test_a_hub_model_that_cannot_be_fetched_is_a_config_error_with_the_alternatives(
    spec: RunSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub.constants

    # Offline mode read at import time; set the constant so the test does not wait on network timeouts.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    hub = dataclasses.replace(
        spec,
        model=dataclasses.replace(
            spec.model, source="hub", hub_id="loraprof-test/not-a-model", path=None, architecture=None
        ),
    )
    with pytest.raises(EngineError) as caught:
        load_model(hub, CPU)
    assert caught.value.kind == "config"
    assert caught.value.hint is not None and "--weights random" in caught.value.hint
