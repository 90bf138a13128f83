"""RunSpec fixtures validate against the exported JSON Schema; the engine's reader names every bad field."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import pytest

from loraprof_engine.errors import EngineError
from loraprof_engine.spec import load_runspec, parse_runspec

from conftest import make_spec


@pytest.fixture
def spec(tmp_path: Path) -> dict:
    return make_spec(tmp_path, tmp_path / "shard")


def test_the_test_runspec_is_valid_under_the_exported_schema(spec: dict, runspec_schema: dict) -> None:
    jsonschema.validate(spec, runspec_schema)


def test_a_qlora_runspec_on_cuda_is_valid_under_the_exported_schema(spec: dict, runspec_schema: dict) -> None:
    spec["train"].update(method="qlora", precision="bf16", gradCheckpointing=True)
    spec.update(quant={"type": "nf4", "doubleQuant": True}, device="cuda:0", vramBudgetBytes=8 * 1024**3)
    spec["optimizer"]["name"] = "paged_adamw_8bit"
    jsonschema.validate(spec, runspec_schema)
    parsed = parse_runspec(spec)
    assert parsed.quant is not None and parsed.quant.type == "nf4" and parsed.quant.double_quant
    assert parsed.vram_budget_bytes == 8 * 1024**3


def test_a_hub_runspec_is_valid_under_the_exported_schema(spec: dict, runspec_schema: dict) -> None:
    spec["model"].update(source="hub", path=None, hubId="Qwen/Qwen2.5-0.5B", revision="main", architecture=None)
    jsonschema.validate(spec, runspec_schema)
    assert parse_runspec(spec).model.hub_id == "Qwen/Qwen2.5-0.5B"


def test_the_reader_turns_camel_case_into_typed_fields(spec: dict) -> None:
    parsed = parse_runspec(spec)
    assert parsed.data.batch_size == 4 and parsed.data.padding == "longest"
    assert parsed.train.warmup_steps == 2 and parsed.train.log_every_steps == 2
    assert parsed.model.architecture is not None and parsed.model.architecture.head_dim == 16
    assert parsed.optimizer.max_grad_norm == 1.0 and parsed.lora.target_modules == "all-linear"
    assert parsed.telemetry_energy is True


def test_every_bad_field_is_named_in_one_config_error(spec: dict, runspec_schema: dict) -> None:
    bad = copy.deepcopy(spec)
    bad["data"]["batchSize"] = 0
    bad["train"]["precision"] = "fp8"
    bad["optimizer"]["lr"] = -1
    del bad["lora"]["r"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, runspec_schema)
    with pytest.raises(EngineError) as caught:
        parse_runspec(bad)
    assert caught.value.kind == "config"
    for field in ("data.batchSize", "train.precision", "optimizer.lr", "lora.r"):
        assert field in caught.value.message


def test_a_wrong_protocol_version_is_refused(spec: dict) -> None:
    spec["protocolVersion"] = 2
    with pytest.raises(EngineError, match="protocolVersion"):
        parse_runspec(spec)


def test_warmup_must_leave_steps_to_measure(spec: dict) -> None:
    spec["train"].update(steps=3, warmupSteps=3)
    with pytest.raises(EngineError, match="warmupSteps"):
        parse_runspec(spec)


def test_qlora_without_quant_is_refused(spec: dict) -> None:
    spec["train"]["method"] = "qlora"
    with pytest.raises(EngineError, match="quant"):
        parse_runspec(spec)


def test_a_synthetic_model_needs_an_architecture(spec: dict) -> None:
    spec["model"]["architecture"] = None
    with pytest.raises(EngineError, match="architecture"):
        parse_runspec(spec)


def test_a_missing_or_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(EngineError, match="not found") as caught:
        load_runspec(str(tmp_path / "nope.json"))
    assert caught.value.kind == "config"
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(EngineError, match="not readable JSON"):
        load_runspec(str(tmp_path / "bad.json"))


def test_a_runspec_file_round_trips(spec: dict, tmp_path: Path) -> None:
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    assert load_runspec(str(tmp_path / "spec.json")) == parse_runspec(spec)
