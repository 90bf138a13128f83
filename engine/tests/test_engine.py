"""The engine as the TS side runs it: a subprocess with the RunSpec file, events on fd 3, a stdin pipe."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import pytest

from loraprof_engine.errors import EXIT_ERROR, EXIT_PARENT_GONE, EXIT_SIGTERM, EXIT_USAGE

from conftest import SRC_DIR, learnable_records, make_spec, read_until_exit, run_engine, start_engine, write_shard

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def shard(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_shard(tmp_path_factory.mktemp("shard") / "shard", learnable_records(64, vocab=512, seed=0))


def run_20_steps(shard: Path, tmp: Path, **train: object) -> tuple[int, list[dict], str]:
    spec = make_spec(
        tmp,
        shard,
        train={"steps": 20, "warmupSteps": 3, "logEverySteps": 5, **train},
        optimizer={"lr": 1e-3, "schedule": "cosine"},
    )
    return run_engine(spec, tmp)


@pytest.fixture(scope="module")
def full_run(shard: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[int, list[dict], str]:
    """One 20-step run of tiny qwen2 on the CPU, shared by the tests that read its events."""
    return run_20_steps(shard, tmp_path_factory.mktemp("run"))


@pytest.fixture(scope="module")
def chunked_run(shard: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[int, list[dict], str]:
    """The same run with the chunked LM head + loss, 16 target tokens per chunk."""
    return run_20_steps(shard, tmp_path_factory.mktemp("chunked"), lossImplementation="chunked", lossChunkTokens=16)


def test_a_cpu_run_emits_hello_loaded_steps_window_and_summary_in_order(full_run: tuple) -> None:
    code, events, stderr = full_run
    assert code == 0, stderr
    kinds = [e["type"] for e in events]
    assert kinds[:2] == ["hello", "loaded"]
    assert kinds[-1] == "summary"
    assert kinds.count("step") == 20
    windows = [(e["state"], e["step"]) for e in events if e["type"] == "window"]
    assert windows == [("start", 3), ("end", 20)]
    # the window opens after the last warmup step event and closes after the last step event
    assert kinds.index("window") == kinds.index("step") + 3
    assert [e["step"] for e in events if e["type"] == "step"] == list(range(1, 21))


def test_every_event_validates_against_the_exported_schema(full_run: tuple, event_schema: dict) -> None:
    _, events, _ = full_run
    for event in events:
        jsonschema.validate(event, event_schema)


def test_the_loss_falls_over_the_run(full_run: tuple) -> None:
    summary = full_run[1][-1]
    assert summary["lossLast"] < summary["lossFirst"]


def test_a_chunked_loss_run_completes_says_so_and_its_loss_falls(chunked_run: tuple, event_schema: dict) -> None:
    code, events, stderr = chunked_run
    assert code == 0, stderr
    for event in events:
        jsonschema.validate(event, event_schema)
    assert [e["type"] for e in events].count("step") == 20
    assert any("chunked" in note for note in events[1]["notes"])
    assert events[-1]["lossLast"] < events[-1]["lossFirst"]


def test_a_chunked_loss_run_follows_the_full_runs_losses_step_by_step(full_run: tuple, chunked_run: tuple) -> None:
    # Same seeded weights, data order and LoRA init: the two losses differ only by summation order.
    full, chunked = ([e["loss"] for e in run[1] if e["type"] == "step"] for run in (full_run, chunked_run))
    assert len(chunked) == len(full) == 20
    assert chunked == pytest.approx(full, rel=1e-4)


def test_the_summary_counts_measured_steps_and_their_tokens(full_run: tuple) -> None:
    _, events, _ = full_run
    steps = [e for e in events if e["type"] == "step"]
    summary = events[-1]
    measured = [s for s in steps if s["phase"] == "measure"]
    assert [s["phase"] for s in steps[:3]] == ["warmup"] * 3 and len(measured) == 17
    assert summary["measuredSteps"] == 17 and summary["warmupSteps"] == 3
    for key in ("realTokens", "processedTokens", "labelTokens"):
        assert summary[key] == sum(s[key] for s in measured)
    assert summary["measuredSeconds"] >= sum(s["stepSeconds"] for s in measured) * 0.9
    assert all(s["realTokens"] <= s["processedTokens"] and s["labelTokens"] < s["realTokens"] for s in steps)
    losses = [s["loss"] for s in steps]
    assert summary["lossFirst"] == pytest.approx(sum(losses[:5]) / 5)
    assert summary["lossLast"] == pytest.approx(sum(losses[-5:]) / 5)


def test_the_step_events_carry_the_schedule_and_the_clipped_norm(full_run: tuple) -> None:
    steps = [e for e in full_run[1] if e["type"] == "step"]
    assert [round(s["lr"], 10) for s in steps[:3]] == [round(1e-3 * k / 3, 10) for k in (1, 2, 3)]
    assert steps[-1]["lr"] < steps[5]["lr"]  # cosine decay
    assert all(s["gradNorm"] is not None and s["gradNorm"] > 0 for s in steps)


def test_cpu_runs_report_null_gpu_figures_with_reasons(full_run: tuple) -> None:
    summary = full_run[1][-1]
    assert summary["memory"]["peakAllocatedBytes"] is None
    for key in ("energyJoules", "nvmlPeakProcessBytes", "nvmlPeakDeviceBytes"):
        assert summary[key]["value"] is None and "CPU" in summary[key]["reason"]
    hello = full_run[1][0]
    assert hello["device"]["kind"] == "cpu" and hello["libraries"]["torch"]
    assert hello["allocator"] == {"settings": None, "source": "cpu"}


def test_the_loaded_event_says_what_was_loaded(full_run: tuple) -> None:
    loaded = full_run[1][1]
    assert loaded["parameters"]["trainable"] > 0
    assert loaded["parameters"]["total"] > loaded["parameters"]["trainable"]
    assert loaded["syntheticCheckpoint"]["created"] is True
    assert "fp32" in loaded["weightsDescription"]
    assert any("q_proj" in note for note in loaded["notes"])


def test_a_bad_runspec_yields_one_config_error_event(tmp_path: Path, shard: Path, event_schema: dict) -> None:
    spec = make_spec(tmp_path, shard, train={"steps": 0})
    code, events, _ = run_engine(spec, tmp_path)
    assert code == EXIT_ERROR
    assert [e["type"] for e in events] == ["error"]
    jsonschema.validate(events[0], event_schema)
    assert events[0]["kind"] == "config" and events[0]["stage"] == "setup"
    assert "train.steps" in events[0]["message"] and events[0]["traceback"] is None


def test_fp16_on_the_cpu_is_a_config_error_with_a_hint(tmp_path: Path, shard: Path) -> None:
    code, events, _ = run_engine(make_spec(tmp_path, shard, train={"precision": "fp16"}), tmp_path)
    assert code == EXIT_ERROR and events[-1]["kind"] == "config"
    assert "bf16" in events[-1]["hint"]


def test_a_token_outside_the_vocabulary_is_a_data_error_before_training(tmp_path: Path, event_schema: dict) -> None:
    bad = write_shard(tmp_path / "bad", [([1, 2, 9999], [0, 1, 1])])
    code, events, _ = run_engine(make_spec(tmp_path, bad), tmp_path)
    assert code == EXIT_ERROR
    assert [e["type"] for e in events] == ["hello", "error"]
    jsonschema.validate(events[-1], event_schema)
    assert events[-1]["kind"] == "data" and events[-1]["stage"] == "load" and "9999" in events[-1]["message"]


def test_without_fd_3_the_engine_says_so_on_stderr_and_exits_2(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "loraprof_engine", str(tmp_path / "spec.json")],
        env={**os.environ, "PYTHONPATH": str(SRC_DIR)},
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == EXIT_USAGE
    assert "file descriptor 3" in proc.stderr and proc.stdout == ""


def long_spec(tmp: Path, shard: Path) -> Path:
    spec = make_spec(tmp, shard, train={"steps": 100000, "warmupSteps": 1, "logEverySteps": 1})
    path = tmp / "long.json"
    path.write_text(json.dumps(spec))
    return path


def wait_for_steps(read_end: int, proc: subprocess.Popen, timeout: float = 90) -> None:
    """Read events until the first step event, so the signal lands in the training loop."""
    buffer = b""
    deadline = time.monotonic() + timeout
    while b'"type":"step"' not in buffer:
        assert time.monotonic() < deadline and proc.poll() is None, buffer.decode()
        buffer += os.read(read_end, 65536)


def test_sigterm_ends_the_run_promptly_without_a_traceback(tmp_path: Path, shard: Path) -> None:
    assert_sigterm_ends_the_run(tmp_path, shard)


def assert_sigterm_ends_the_run(tmp_path: Path, shard: Path, module: tuple[str, ...] = ("loraprof_engine",)) -> None:
    """SIGTERM in the training loop: exit 143 within 10 s, no traceback (the zygote tests reuse it)."""
    proc, read_end = start_engine(long_spec(tmp_path, shard), tmp_path / "stderr", module)
    wait_for_steps(read_end, proc)
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    read_until_exit(read_end, proc, timeout=30)
    assert proc.returncode == EXIT_SIGTERM
    assert time.monotonic() - started < 10
    assert "Traceback" not in (tmp_path / "stderr").read_text()


def test_the_engine_exits_when_its_parent_closes_stdin(tmp_path: Path, shard: Path) -> None:
    proc, read_end = start_engine(long_spec(tmp_path, shard), tmp_path / "stderr")
    wait_for_steps(read_end, proc)
    assert proc.stdin is not None
    proc.stdin.close()  # what the OS does when the TS side dies
    read_until_exit(read_end, proc, timeout=30)
    assert proc.returncode == EXIT_PARENT_GONE
