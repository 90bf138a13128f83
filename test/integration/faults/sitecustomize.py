"""Fault injection for the integration fault suite (test/integration/faults.test.ts), never shipped.

The suite puts this folder on PYTHONPATH, so every engine process imports it at start. It reads
LORAPROF_TEST_FAULTS, a JSON object from a run's seed to a fault, and injects that fault once per
seed (a marker file in LORAPROF_TEST_FAULT_DIR records that it fired, so a rerun succeeds):

  oom       the second training step raises torch.OutOfMemoryError, as CUDA does
  sigkill   the engine kills itself with SIGKILL at the second step (no error event, no summary)
  protocol  the engine writes a malformed event on its event pipe (fd 3) at the second step
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

_FAULTS = json.loads(os.environ.get("LORAPROF_TEST_FAULTS", "{}"))
_DIR = os.environ.get("LORAPROF_TEST_FAULT_DIR", "")


def _claim(seed: int) -> str | None:
    fault = _FAULTS.get(str(seed))
    if fault is None or not _DIR:
        return None
    try:
        fd = os.open(Path(_DIR) / f"fired-{seed}", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return None  # fired on an earlier attempt: this one runs clean
    os.write(fd, fault.encode())
    os.close(fd)
    return str(fault)


def _install() -> None:
    import loraprof_engine.spec as spec_module

    original = spec_module.load_runspec

    def load_runspec(path: str) -> Any:
        spec = original(path)
        fault = _claim(spec.train.seed)
        if fault is not None:
            _patch_train_step(fault)
        return spec

    spec_module.load_runspec = load_runspec


def _patch_train_step(fault: str) -> None:
    import torch

    import loraprof_engine.recipe as recipe

    original = recipe.train_step
    calls = {"n": 0}

    def train_step(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            if fault == "oom":
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (injected)")
            if fault == "sigkill":
                os.kill(os.getpid(), signal.SIGKILL)
            if fault == "protocol":
                os.write(3, b'{"type":"step","step":"two"}\n')
        return original(*args, **kwargs)

    recipe.train_step = train_step


if _FAULTS:
    _install()
