"""The zygote (pre-imported parent, one fork per run) and its attach process, as the TS side uses them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from loraprof_engine.errors import EXIT_ERROR, EXIT_PARENT_GONE
from test_engine import assert_sigterm_ends_the_run, long_spec, wait_for_steps

from conftest import SRC_DIR, learnable_records, make_spec, read_until_exit, run_engine, start_engine, write_shard

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def shard(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_shard(tmp_path_factory.mktemp("shard") / "shard", learnable_records(64, vocab=512, seed=0))


@pytest.fixture(scope="module")
def zygote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict, subprocess.Popen[str]]]:
    socket_path = str(tmp_path_factory.mktemp("z") / "z.sock")
    proc = subprocess.Popen(
        [sys.executable, "-m", "loraprof_engine.zygote", socket_path],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(SRC_DIR)},
    )
    assert proc.stdout is not None
    ready = json.loads(proc.stdout.readline())
    yield socket_path, ready, proc
    assert proc.stdin is not None
    proc.stdin.close()  # its owner is gone: the zygote exits
    assert proc.wait(timeout=10) == 0


def attach(socket_path: str) -> tuple[str, ...]:
    return ("loraprof_engine.attach", socket_path)


def test_the_zygote_imports_everything_without_starting_cuda(zygote: tuple) -> None:
    _, ready, _ = zygote
    assert ready["ready"] is True and ready["cudaInitialized"] is False
    assert ready["importSeconds"] > 0


def test_the_zygote_leaves_forks_able_to_start_cuda(zygote: tuple) -> None:
    _, ready, _ = zygote
    assert ready["forkPoisoned"] is False and ready["cudaInitializedBy"] is None


def test_an_import_that_starts_cuda_is_named_and_device_queries_go_to_nvml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib

    import torch

    from loraprof_engine import zygote

    # Like bitsandbytes 0.50: a module that asks for the device when imported and swallows a failure.
    (tmp_path / "starts_cuda_on_import.py").write_text(
        "import torch\ntry:\n    torch.cuda._lazy_init()\nexcept Exception:\n    pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv(zygote.NVML_CUDA_CHECK, raising=False)
    real_init, real_capability = torch.cuda._lazy_init, torch.cuda.get_device_capability
    culprits: list[str] = []
    with zygote.cuda_kept_cold(culprits):
        assert os.environ[zygote.NVML_CUDA_CHECK] == "1"  # is_available()/device_count() through NVML
        assert torch.cuda.get_device_capability is not real_capability
        importlib.import_module("starts_cuda_on_import")
    monkeypatch.delenv(zygote.NVML_CUDA_CHECK)
    assert culprits == ["starts_cuda_on_import"]
    assert torch.cuda._lazy_init is real_init and torch.cuda.get_device_capability is real_capability


def test_device_capability_comes_from_nvml_for_the_visible_device_and_falls_back_when_it_cannot(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import types

    import torch

    from loraprof_engine import zygote

    asked: list[object] = []
    fake = types.ModuleType("pynvml")
    fake.nvmlInit = lambda: asked.append("init")  # type: ignore[attr-defined]
    fake.nvmlShutdown = lambda: asked.append("shutdown")  # type: ignore[attr-defined]
    fake.nvmlDeviceGetHandleByIndex = lambda i: asked.append(("handle", i)) or f"h{i}"  # type: ignore[attr-defined]
    fake.nvmlDeviceGetCudaComputeCapability = lambda h: (9, 0)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    capability = zygote._nvml_capability(lambda device=None: (0, 0))
    assert capability(torch.cuda.device(1)) == (9, 0)  # how bitsandbytes asks: visible device 1 = NVML index 5
    assert capability(None) == (9, 0)
    assert asked == ["init", ("handle", 5), "shutdown", "init", ("handle", 3), "shutdown"]

    def broken(i: int) -> str:
        raise RuntimeError("NVML_ERROR_UNKNOWN")

    fake.nvmlDeviceGetHandleByIndex = broken  # type: ignore[attr-defined]
    assert capability(0) == (0, 0)  # the real query (which would start CUDA, and be reported)


def test_a_forked_run_reports_what_a_plain_run_does(zygote: tuple, shard: Path, tmp_path: Path) -> None:
    socket_path, ready, _ = zygote
    spec = make_spec(tmp_path, shard, train={"steps": 6, "warmupSteps": 2, "logEverySteps": 2})
    plain_code, plain, _ = run_engine(spec, tmp_path)
    code, forked, stderr = run_engine(spec, tmp_path, module=attach(socket_path))
    again_code, again, _ = run_engine(spec, tmp_path, module=attach(socket_path))
    assert (plain_code, code, again_code) == (0, 0, 0), stderr
    assert [e["type"] for e in forked] == [e["type"] for e in plain]
    losses = [[e["loss"] for e in events if e["type"] == "step"] for events in (plain, forked, again)]
    assert losses[1] == pytest.approx(losses[0], rel=1e-5) and losses[2] == pytest.approx(losses[0], rel=1e-5)
    pids = [events[0]["pid"] for events in (forked, again)]
    assert len({*pids, ready["pid"]}) == 3  # each run its own process, none the zygote
    # The imports were paid by the zygote, not by the run.
    assert forked[0]["startupSeconds"]["imports"] < 0.5 * plain[0]["startupSeconds"]["imports"]


def test_sigterm_to_the_attach_process_ends_the_forked_run_with_143(zygote: tuple, shard: Path, tmp_path: Path) -> None:
    assert_sigterm_ends_the_run(tmp_path, shard, attach(zygote[0]))


def test_the_forked_run_exits_when_its_parent_closes_stdin(zygote: tuple, shard: Path, tmp_path: Path) -> None:
    proc, read_end = start_engine(long_spec(tmp_path, shard), tmp_path / "stderr", attach(zygote[0]))
    wait_for_steps(read_end, proc)
    assert proc.stdin is not None
    proc.stdin.close()
    read_until_exit(read_end, proc, timeout=30)
    assert proc.returncode == EXIT_PARENT_GONE


def test_a_killed_attach_process_takes_its_forked_run_down(zygote: tuple, shard: Path, tmp_path: Path) -> None:
    proc, read_end = start_engine(long_spec(tmp_path, shard), tmp_path / "stderr", attach(zygote[0]))
    buffer = b""
    while b'"type":"step"' not in buffer:
        buffer += os.read(read_end, 65536)
    child = json.loads(buffer.split(b"\n")[0])["pid"]
    proc.kill()  # SIGKILL cannot be forwarded: the child sees the socket close
    read_until_exit(read_end, proc, timeout=30)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and Path(f"/proc/{child}").exists():
        time.sleep(0.1)
    assert not Path(f"/proc/{child}").exists()


def test_without_a_zygote_attach_runs_the_engine_itself_and_says_why(tmp_path: Path) -> None:
    (tmp_path / "spec.json").write_text("{}")
    code, events, stderr = run_engine({}, tmp_path, module=attach(str(tmp_path / "missing.sock")))
    assert code == EXIT_ERROR
    assert [e["type"] for e in events] == ["error"] and events[0]["kind"] == "config"
    assert "zygote not used" in stderr
