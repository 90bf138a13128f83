"""Error classification over messages recorded from PyTorch, CUDA, cuBLAS, bitsandbytes and transformers."""

from __future__ import annotations

import errno

import pytest

from loraprof_engine.errors import (
    EXIT_ERROR,
    EXIT_OOM,
    BudgetExceeded,
    EngineError,
    classify,
    exit_code_for,
)


class OutOfMemoryError(RuntimeError):
    """Stands in for torch.cuda.OutOfMemoryError (matched by class name, as on a CPU-only torch)."""


class AcceleratorError(RuntimeError):
    """Stands in for torch.AcceleratorError (torch >= 2.8 raises it for CUDA errors)."""


TORCH_OOM = (
    "CUDA out of memory. Tried to allocate 2.32 GiB. GPU 0 has a total capacity of 139.81 GiB of which "
    "1.05 GiB is free. Including non-PyTorch memory, this process has 138.74 GiB memory in use. Of the "
    "allocated memory 135.1 GiB is allocated by PyTorch, and 2.9 GiB is reserved by PyTorch but unallocated. "
    "If reserved but unallocated memory is large try setting PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True"
)


@pytest.mark.parametrize(
    "exc",
    [
        OutOfMemoryError(TORCH_OOM),
        RuntimeError(
            "CUDA error: out of memory\nCUDA kernel errors might be asynchronously reported at some other "
            "API call, so the stacktrace below might be incorrect."
        ),
        RuntimeError("CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`"),
        RuntimeError("cuDNN error: CUDNN_STATUS_ALLOC_FAILED"),
        RuntimeError("CUDA driver error: out of memory"),
        RuntimeError(
            "[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: not enough memory: you tried "
            "to allocate 1073741824 bytes."
        ),
        MemoryError(),
        BudgetExceeded(9 * 1024**3, 8 * 1024**3),
    ],
)
def test_every_out_of_memory_message_is_an_oom(exc: BaseException) -> None:
    assert classify(exc).kind == "oom"
    assert exit_code_for(classify(exc).kind) == EXIT_OOM


def test_an_oom_message_keeps_its_figures_and_gets_a_hint() -> None:
    result = classify(OutOfMemoryError(TORCH_OOM))
    assert "Tried to allocate 2.32 GiB" in result.message
    assert result.hint is not None and "batchSize" in result.hint


def test_the_budget_watch_reports_the_figure_that_exceeded_the_budget() -> None:
    result = classify(BudgetExceeded(9 * 1024**3, 8 * 1024**3))
    assert "9.00 GiB" in result.message and "8.00 GiB" in result.message
    assert str(9 * 1024**3) in result.message


@pytest.mark.parametrize(
    "exc",
    [
        RuntimeError(
            "CUDA error: device-side assert triggered\nCUDA kernel errors might be asynchronously "
            "reported at some other API call"
        ),
        RuntimeError("CUDA error: an illegal memory access was encountered"),
        RuntimeError(
            "CUDA error: CUBLAS_STATUS_EXECUTION_FAILED when calling `cublasGemmEx( handle, opa, opb, m, n, k)`"
        ),
        RuntimeError("CUDA error: no kernel image is available for execution on the device"),
        RuntimeError(
            "Found no NVIDIA driver on your system. Please check that you have an NVIDIA GPU and "
            "installed a driver from http://www.nvidia.com/Download/index.aspx"
        ),
        AcceleratorError("CUDA error: unspecified launch failure"),
    ],
)
def test_other_cuda_failures_are_cuda_errors(exc: BaseException) -> None:
    assert classify(exc).kind == "cuda"
    assert exit_code_for("cuda") == EXIT_ERROR


def test_cuda_advice_paragraphs_are_cut_from_the_message() -> None:
    result = classify(RuntimeError("CUDA error: device-side assert triggered\nCompile with `TORCH_USE_CUDA_DSA`"))
    assert result.message == "CUDA error: device-side assert triggered"


@pytest.mark.parametrize(
    "exc",
    [
        ModuleNotFoundError("No module named 'bitsandbytes'", name="bitsandbytes"),
        ImportError(
            "Using `bitsandbytes` 4-bit quantization requires the latest version of bitsandbytes: "
            "`pip install -U bitsandbytes`"
        ),
        RuntimeError(
            "CUDA Setup failed despite GPU being available. Please run the following command to get "
            "more information: python -m bitsandbytes"
        ),
        AssertionError("Torch not compiled with CUDA enabled"),
    ],
)
def test_missing_or_broken_packages_are_dependency_errors(exc: BaseException) -> None:
    result = classify(exc)
    assert result.kind == "dependency"
    assert result.hint is not None and "loraprof setup" in result.hint and "loraprof doctor" in result.hint


def test_a_missing_module_is_named() -> None:
    assert "'peft'" in classify(ModuleNotFoundError("No module named 'peft'", name="peft")).message


class SafetensorError(Exception):
    """Stands in for safetensors' SafetensorError (raised from Rust with the OS text, not as an OSError)."""


SAFETENSORS_ENOSPC = "Error while serializing: I/O error: No space left on device (os error 28)"


@pytest.mark.parametrize(
    "exc",
    [
        OSError(errno.ENOSPC, "No space left on device", "/cache/checkpoints/x/model.safetensors"),
        OSError(errno.EDQUOT, "quota", "/cache/shards/y/tokens.bin"),  # matched by its errno alone
        OSError(errno.ENOSPC, "short write"),
        SafetensorError(SAFETENSORS_ENOSPC),
        SafetensorError("Error while serializing: I/O error: Disk quota exceeded (os error 122)"),
    ],
)
def test_a_full_disk_or_used_up_quota_is_a_disk_error(exc: BaseException) -> None:
    result = classify(exc)
    assert result.kind == "disk"
    assert result.message.startswith("the disk is full")
    assert result.hint is not None and "LORAPROF_CACHE" in result.hint and ".loraprof" in result.hint
    assert exit_code_for(result.kind) == EXIT_ERROR


def test_a_disk_error_keeps_the_first_line_of_the_original_message() -> None:
    result = classify(SafetensorError(SAFETENSORS_ENOSPC + "\nmore"))
    assert result.message == f"the disk is full: SafetensorError: {SAFETENSORS_ENOSPC}"
    assert (
        "/cache/checkpoints/x"
        in classify(OSError(errno.ENOSPC, "No space left on device", "/cache/checkpoints/x")).message
    )


def test_an_oom_is_still_an_oom_beside_the_disk_check() -> None:
    assert classify(OutOfMemoryError(TORCH_OOM)).kind == "oom"
    assert classify(OSError(errno.ENOMEM, "Cannot allocate memory")).kind != "disk"
    assert classify(OutOfMemoryError("CUDA out of memory; no space left on device")).kind == "oom"


def test_engine_errors_keep_their_kind_message_and_hint() -> None:
    result = classify(EngineError("data", "record 3 holds token id 999999", "rebuild the shard"))
    assert (result.kind, result.message, result.hint) == ("data", "record 3 holds token id 999999", "rebuild the shard")


def test_anything_else_is_internal_and_names_the_exception_type() -> None:
    result = classify(KeyError("lm_head"))
    assert result.kind == "internal"
    assert result.message.startswith("KeyError")
    assert result.hint is None
