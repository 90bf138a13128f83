"""Failure kinds, their exit codes, and the one function that classifies an exception.

Expected failures (a bad RunSpec, a missing package, an out-of-memory, a full disk) become one `error`
event and a distinct exit code; only an `internal` error carries a traceback, because only then is the
traceback the useful part.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from typing import Literal

ErrorKind = Literal["oom", "cuda", "config", "data", "dependency", "disk", "internal"]

EXIT_OK = 0
EXIT_USAGE = 2  # no event pipe on fd 3, or no RunSpec argument: nobody can be told in-band
EXIT_OOM = 3
EXIT_ERROR = 4  # every other error event
EXIT_PARENT_GONE = 129  # the stdin pipe from the TS side closed: the parent died
EXIT_SIGTERM = 143  # 128 + SIGTERM, the shell convention

SETUP_HINT = "Run `loraprof doctor` to see what is missing, then `loraprof setup` to install it."


class EngineError(Exception):
    """An expected failure: the kind, a message naming the setting at fault, and the fix."""

    def __init__(self, kind: ErrorKind, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind
        self.message = message
        self.hint = hint


class BudgetExceeded(EngineError):
    """Device memory went over `vramBudgetBytes` (seen by the NVML watch, checked once per step)."""

    def __init__(self, used_bytes: int, budget_bytes: int) -> None:
        gib = 1024**3
        super().__init__(
            "oom",
            f"device memory in use reached {used_bytes / gib:.2f} GiB ({used_bytes} bytes, NVML), over the "
            f"vramBudgetBytes budget of {budget_bytes / gib:.2f} GiB ({budget_bytes} bytes)",
            "The run does not fit the emulated card: lower data.batchSize or data.seqLen, enable "
            "train.gradCheckpointing, or use method qlora.",
        )
        self.used_bytes = used_bytes
        self.budget_bytes = budget_bytes


@dataclass(frozen=True)
class Classified:
    kind: ErrorKind
    message: str
    hint: str | None


OOM_HINT = (
    "Out of GPU memory: lower data.batchSize or data.seqLen (raise data.gradAccum to keep the batch), "
    "enable train.gradCheckpointing, use method qlora, or a paged optimizer."
)
CUDA_HINT = (
    "A CUDA error, not a configuration problem the engine can name. Check `nvidia-smi` and the driver "
    "(`loraprof doctor`); a device-side assert often means a token id outside the vocabulary."
)
DISK_HINT = (
    "loraprof writes its bulky files to the loraprof cache (synthetic checkpoints, token shards: LORAPROF_CACHE, "
    "default $XDG_CACHE_HOME/loraprof or ~/.cache/loraprof) and under .loraprof (run logs, the store: "
    "LORAPROF_HOME). `loraprof cache` shows what the cache holds and `loraprof cache clear checkpoints` (or "
    "shards, all) frees it; or point LORAPROF_CACHE at a disk with room."
)

# A write that found the disk full or the user's quota used up. safetensors (Rust) raises its own
# SafetensorError with the OS text ("Error while serializing: I/O error: No space left on device (os
# error 28)"), not an OSError, so the text is matched as well as the errno.
_DISK_ERRNOS = frozenset(code for code in (errno.ENOSPC, getattr(errno, "EDQUOT", None)) if code is not None)
_DISK_MARKERS = ("no space left on device", "disk quota exceeded")

# Substrings (lower-cased) that mean an allocation failed, whoever raised it: the PyTorch caching
# allocator, the CUDA runtime or driver, cuBLAS/cuDNN/cuSOLVER workspace allocation, the CPU allocator.
# (bitsandbytes' paged allocation, cget_managed_ptr, checks the CUDA status in C; in the versions read
# it prints "Error out of memory at line …" and calls exit(1), so that failure never reaches Python: the
# TS side sees exit code 1 with the message in the stderr tail. Not verified on a GPU here.)
# The TypeScript side reads that stderr with the same list (OOM_MARKERS in src/run/failure.ts); its unit
# test fails when the two lists differ.
_OOM_MARKERS = (
    "out of memory",
    "cublas_status_alloc_failed",
    "cudnn_status_alloc_failed",
    "cusolver_status_alloc_failed",
    "cudaerrormemoryallocation",
    "cuda_error_out_of_memory",
    "failed to allocate",
    "memory allocation failed",
    "not enough memory",  # PyTorch's CPU allocator
)
_CUDA_MARKERS = (
    "cuda error",
    "cuda driver error",
    "cuda runtime error",
    "cublas_status",
    "cudnn_status",
    "cudnn error",
    "cusparse_status",
    "nccl error",
    "device-side assert",
    "illegal memory access",
    "no kernel image is available",
    "cuda kernel errors",
    "found no nvidia driver",
    "cuda driver initialization failed",
    "cuda initialization",
)
_DEPENDENCY_MARKERS = (
    "requires the latest version of bitsandbytes",
    "pip install",
    "bitsandbytes was compiled without gpu support",
    "cuda setup failed",
    "libbitsandbytes",
    "torch not compiled with cuda enabled",
)


def classify(exc: BaseException) -> Classified:
    """Map any exception to an error kind, message and hint. Pure: looks only at the exception."""
    if isinstance(exc, EngineError):
        return Classified(exc.kind, exc.message, exc.hint)
    message = str(exc).strip() or type(exc).__name__
    lowered = f"{type(exc).__name__}: {message}".lower()
    names = {cls.__name__ for cls in type(exc).__mro__}
    oom_class = "OutOfMemoryError" in names or "MemoryError" in names
    # Before the OOM markers, so "failed to allocate …: No space left on device" is a disk error; an
    # out-of-memory message never names the disk, and an OOM exception class stays an OOM.
    if not oom_class and (
        (isinstance(exc, OSError) and exc.errno in _DISK_ERRNOS) or any(marker in lowered for marker in _DISK_MARKERS)
    ):
        return Classified("disk", f"the disk is full: {type(exc).__name__}: {_first_line(message)}", DISK_HINT)
    if oom_class or any(marker in lowered for marker in _OOM_MARKERS):
        return Classified("oom", _first_line(message), OOM_HINT)
    if isinstance(exc, ImportError) or any(marker in lowered for marker in _DEPENDENCY_MARKERS):
        missing = getattr(exc, "name", None)
        what = f"the Python package '{missing}' is missing" if missing else _first_line(message)
        return Classified("dependency", what, SETUP_HINT)
    if "AcceleratorError" in names or any(marker in lowered for marker in _CUDA_MARKERS):
        return Classified("cuda", _first_line(message), CUDA_HINT)
    return Classified("internal", f"{type(exc).__name__}: {_first_line(message)}", None)


def exit_code_for(kind: ErrorKind) -> int:
    return EXIT_OOM if kind == "oom" else EXIT_ERROR


def _first_line(message: str) -> str:
    """PyTorch appends paragraphs of advice to CUDA errors; the first line is the fact."""
    return message.splitlines()[0].strip() if message else message
