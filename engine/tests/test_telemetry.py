"""NVML watch (with a fake NVML at the hardware boundary), the budget check in the loop, error events."""

from __future__ import annotations

import errno
import io
import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import torch

from loraprof_engine.data import open_shard
from loraprof_engine.device import Nvml, NvmlWatch, memory_snapshot
from loraprof_engine.errors import EXIT_ERROR, EXIT_OOM, BudgetExceeded, EngineError
from loraprof_engine.events import EventStream, finite
from loraprof_engine.model import load_model
from loraprof_engine.optim import build_optimizer
from loraprof_engine.recipe import Progress, _report_failure, train
from loraprof_engine.spec import parse_runspec

from conftest import make_spec, write_shard

GIB = 1024**3


@dataclass
class FakeProcess:
    pid: int
    usedGpuMemory: int | None


@dataclass
class FakeMemory:
    used: int


class FakeNvmlModule:
    """Replays device-used figures; lists this process with a fixed usage, or not at all."""

    def __init__(self, used: list[int], process_bytes: int | None, list_us: bool = True) -> None:
        self.used = list(used)
        self.process_bytes = process_bytes
        self.list_us = list_us

    def nvmlDeviceGetMemoryInfo(self, handle: Any) -> FakeMemory:
        return FakeMemory(self.used.pop(0) if len(self.used) > 1 else self.used[0])

    def nvmlDeviceGetComputeRunningProcesses(self, handle: Any) -> list[FakeProcess]:
        return [FakeProcess(os.getpid() if self.list_us else 1, self.process_bytes)]

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: Any) -> int:
        return 123_456


def watch_over(used: list[int], budget: int | None, **kwargs: Any) -> NvmlWatch:
    watch = NvmlWatch(Nvml(module=FakeNvmlModule(used, **kwargs), handle=object(), reason=None), budget)
    for _ in used:
        watch._sample()
    return watch


def test_the_watch_keeps_the_peaks_of_device_and_process_memory() -> None:
    watch = watch_over([2 * GIB, 5 * GIB, 3 * GIB], None, process_bytes=4 * GIB)
    process, device = watch.peaks()
    assert device == {"value": 5 * GIB, "reason": None}
    assert process == {"value": 4 * GIB, "reason": None}
    assert not watch.over_budget


def test_the_watch_flags_device_memory_over_the_budget_with_the_figure() -> None:
    watch = watch_over([2 * GIB, 9 * GIB, 3 * GIB], 8 * GIB, process_bytes=None)
    assert watch.over_budget and watch.over_budget_bytes == 9 * GIB


def test_a_process_nvml_does_not_list_gets_a_reason_not_a_guess() -> None:
    process, _ = watch_over([GIB], None, process_bytes=GIB, list_us=False).peaks()
    assert process["value"] is None and "does not list this process" in process["reason"]


def test_nvml_energy_is_read_in_millijoules() -> None:
    nvml = Nvml(module=FakeNvmlModule([GIB], None), handle=object(), reason=None)
    assert nvml.energy_millijoules() == (123_456, None)


def test_without_a_gpu_every_nvml_figure_is_null_with_the_reason() -> None:
    watch = NvmlWatch(Nvml(), None)
    watch.start()
    process, device = watch.peaks()
    assert process["value"] is None and device["value"] is None and "CPU" in (device["reason"] or "")
    assert Nvml().energy_millijoules() == (None, "CPU run: no NVML device")


def capture() -> tuple[EventStream, io.StringIO]:
    out = io.StringIO()
    return EventStream(out), out


def test_events_are_compact_json_lines_and_non_finite_numbers_become_null() -> None:
    stream, out = capture()
    stream.emit({"type": "window", "state": "start", "step": 0, "unixMs": 1.5})
    stream.emit({"type": "window", "state": "end", "step": 2, "unixMs": 2.5})
    lines = out.getvalue().splitlines()
    assert [json.loads(line)["state"] for line in lines] == ["start", "end"]
    assert " " not in lines[0]
    assert finite(float("nan")) is None and finite(float("inf")) is None and finite(2.0) == 2.0


def test_an_oom_becomes_a_schema_valid_error_event_with_a_memory_snapshot(event_schema: dict) -> None:
    stream, out = capture()
    progress = Progress(stage="train", step=7, device=torch.device("cpu"), budget_bytes=8 * GIB)
    code = _report_failure(BudgetExceeded(9 * GIB, 8 * GIB), stream, progress)
    event = json.loads(out.getvalue())
    jsonschema.validate(event, event_schema)
    assert code == EXIT_OOM
    assert (event["kind"], event["stage"], event["step"]) == ("oom", "train", 7)
    assert event["memory"]["budgetBytes"] == 8 * GIB and event["traceback"] is None


def test_an_unexpected_exception_is_internal_with_its_traceback(event_schema: dict) -> None:
    stream, out = capture()
    try:
        raise KeyError("lm_head")
    except KeyError as exc:
        _report_failure(exc, stream, Progress(stage="load"))
    event = json.loads(out.getvalue())
    jsonschema.validate(event, event_schema)
    assert event["kind"] == "internal" and "KeyError" in event["traceback"] and event["memory"] is None


@pytest.mark.parametrize(
    "exc",
    [
        OSError(errno.ENOSPC, "No space left on device", "/cache/checkpoints/x/model.safetensors"),
        EngineError("disk", "no room for the synthetic checkpoint", "Free space, or set LORAPROF_CACHE."),
    ],
)
def test_a_full_disk_is_a_disk_error_event_without_a_traceback(
    exc: Exception, event_schema: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    stream, out = capture()
    try:
        raise exc
    except Exception as raised:
        code = _report_failure(raised, stream, Progress(stage="load"))
    event = json.loads(out.getvalue())
    jsonschema.validate(event, event_schema)
    assert code == EXIT_ERROR
    assert event["kind"] == "disk" and "LORAPROF_CACHE" in event["hint"] and event["traceback"] is None
    err = capsys.readouterr().err
    assert "disk error during load" in err and "Traceback" not in err


def test_the_training_loop_stops_at_the_step_where_the_budget_watch_fired(tmp_path: Path) -> None:
    shard_dir = write_shard(tmp_path / "shard", [([1, 2, 3, 4], [0, 1, 1, 1])] * 4)
    spec = parse_runspec(make_spec(tmp_path, shard_dir))
    spec = replace(spec, vram_budget_bytes=8 * GIB)
    device = torch.device("cpu")
    loaded = load_model(spec, device)
    optimizer = build_optimizer([p for p in loaded.model.parameters() if p.requires_grad], spec.optimizer, device)
    watch = NvmlWatch(Nvml(), spec.vram_budget_bytes, over_budget=True, over_budget_bytes=9 * GIB)
    progress = Progress(stage="train", device=device, watch=watch, budget_bytes=spec.vram_budget_bytes)
    stream, _ = capture()
    with pytest.raises(BudgetExceeded, match=r"9\.00 GiB"):
        train(spec, loaded, optimizer, open_shard(str(shard_dir), 64), device, stream, progress)
    assert progress.step == 1


def test_the_cpu_memory_snapshot_is_all_null_but_the_budget() -> None:
    snapshot = memory_snapshot(torch.device("cpu"), Nvml(), 5)
    assert snapshot.pop("budgetBytes") == 5 and set(snapshot.values()) == {None}
