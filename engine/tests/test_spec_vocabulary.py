"""spec.py's enums against the committed JSON Schema (exported from src/protocol/ by `npm run schema`).

Adding an optimizer, a precision or any other enum value on the TypeScript side changes the committed
schema; these tests fail until spec.py says the same, and the TypeScript drift test fails until the
schema is exported again.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints

import pytest

from loraprof_engine import spec as spec_module
from loraprof_engine.spec import (
    Architecture,
    DataSpec,
    ModelSpec,
    OptimizerSpec,
    QuantSpec,
    RunSpec,
    TrainSpec,
    parse_runspec,
)

from conftest import make_spec

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schema" / "runspec.schema.json"

# Where each dataclass sits in the RunSpec.
SECTIONS: dict[type, tuple[str, ...]] = {
    RunSpec: (),
    ModelSpec: ("model",),
    Architecture: ("model", "architecture"),
    DataSpec: ("data",),
    TrainSpec: ("train",),
    QuantSpec: ("quant",),
    OptimizerSpec: ("optimizer",),
}


def _camel(name: str) -> str:
    return re.sub(r"_([a-z])", lambda m: m.group(1).upper(), name)


def _object(node: dict[str, Any]) -> dict[str, Any]:
    """The object variant of a node (nullable sections are `anyOf: [object, null]`)."""
    if node.get("type") == "object":
        return node
    for variant in node.get("anyOf", []):
        if variant.get("type") == "object":
            return variant
    raise AssertionError(f"no object in {node}")


def _section(schema: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    node = schema
    for key in path:
        node = _object(node)["properties"][key]
    return _object(node)


def _literal_fields(cls: type) -> list[tuple[str, tuple[str, ...]]]:
    hints = get_type_hints(cls)
    out = []
    for field in dataclasses.fields(cls):
        hint = hints[field.name]
        if get_origin(hint) is Literal:
            out.append((field.name, get_args(hint)))
    return out


def _schema_enums(schema: dict[str, Any]) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """Every string enum in the RunSpec schema, with its path."""
    found: list[tuple[tuple[str, ...], tuple[str, ...]]] = []

    def walk(node: Any, path: tuple[str, ...]) -> None:
        if not isinstance(node, dict):
            return
        if node.get("type") == "string" and "enum" in node:
            found.append((path, tuple(node["enum"])))
        for key, child in node.get("properties", {}).items():
            walk(child, (*path, key))
        for variant in node.get("anyOf", []):
            walk(variant, path)

    walk(schema, ())
    return found


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


@pytest.mark.parametrize("cls", list(SECTIONS), ids=lambda c: c.__name__)
def test_every_literal_field_has_the_schemas_enum(cls: type, schema: dict[str, Any]) -> None:
    section = _section(schema, SECTIONS[cls])
    fields = _literal_fields(cls)
    assert fields, f"{cls.__name__} has no Literal fields to check"
    for name, choices in fields:
        prop = section["properties"][_camel(name)]
        assert set(choices) == set(prop["enum"]), (
            f"{'.'.join(SECTIONS[cls])}.{_camel(name)}: spec.py says {sorted(choices)}, "
            f"the schema says {sorted(prop['enum'])}"
        )


def test_every_enum_in_the_schema_is_a_literal_field_in_spec_py(schema: dict[str, Any]) -> None:
    covered = {(*SECTIONS[cls], _camel(name)) for cls in SECTIONS for name, _ in _literal_fields(cls)}
    missing = [".".join(path) for path, _ in _schema_enums(schema) if path not in covered]
    assert missing == [], f"schema enums spec.py does not declare as Literal fields: {missing}"


def test_the_optimizer_names_include_the_cuda_only_ones(schema: dict[str, Any]) -> None:
    names = set(_section(schema, ("optimizer",))["properties"]["name"]["enum"])
    assert set(spec_module.BNB_OPTIMIZERS) <= names
    assert set(spec_module.OPTIMIZERS) == names


@pytest.mark.parametrize(
    ("section", "key"),
    [("train", "precision"), ("data", "padding"), ("train", "lossImplementation"), ("optimizer", "schedule")],
)
def test_the_reader_accepts_every_value_the_schema_allows(
    section: str, key: str, schema: dict[str, Any], tmp_path: Path
) -> None:
    for value in _section(schema, (section,))["properties"][key]["enum"]:
        raw = make_spec(tmp_path, tmp_path / "shard")
        raw[section][key] = value
        parsed = parse_runspec(raw)
        assert getattr(getattr(parsed, section), re.sub(r"([A-Z])", r"_\1", key).lower()) == value
