"""The device: its description, allocator memory, and an NVML watch (memory peaks, energy, budget).

Everything here degrades to null plus a reason: on the CPU, without nvidia-ml-py, or on a GPU whose
driver does not expose a counter.
"""

from __future__ import annotations

import os
import platform
import threading
import time
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

LIBRARIES = (
    "torch",
    "transformers",
    "peft",
    "accelerate",
    "bitsandbytes",
    "numpy",
    "safetensors",
    "nvidia-ml-py",
)


def library_versions() -> dict[str, str | None]:
    """Installed versions, read from package metadata (importing bitsandbytes just to ask is slow)."""
    versions: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


ALLOCATOR_ENV = ("PYTORCH_ALLOC_CONF", "PYTORCH_CUDA_ALLOC_CONF")
EXPANDABLE_SEGMENTS = "expandable_segments:True"


def configure_allocator(
    mode: str,
    device_type: str,
    env: MutableMapping[str, str] | None = None,
    apply: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Set PyTorch's CUDA caching allocator before anything allocates on the GPU; returns what applied,
    for the hello event.

    expandable: `expandable_segments:True`. Without it, each new batch shape under `longest` padding or
    packed rows can leave cached blocks that fit no later request, so reserved memory (and NVML's device
    figure) climbs far past allocated (24 GiB allocated, 40 GiB reserved on one H200 run). A setting in
    the environment is the user's and wins. The variable is set for child processes, and applied to this
    process through torch's runtime setter: the zygote parent imported torch before the RunSpec existed,
    and some PyTorch versions read the variable once, when torch loads (2.9 also ignored the new
    PYTORCH_ALLOC_CONF name for this key, hence the CUDA-specific name here).
    """
    env = os.environ if env is None else env
    if device_type != "cuda":
        return {"settings": None, "source": "cpu"}
    for name in ALLOCATOR_ENV:
        if env.get(name):
            return {"settings": env[name], "source": "environment"}
    if mode != "expandable":
        return {"settings": None, "source": "pytorch-default"}
    env["PYTORCH_CUDA_ALLOC_CONF"] = EXPANDABLE_SEGMENTS
    # torch ≥ 2.9: the accelerator-wide setter (the CUDA one warns it is deprecated); older: the CUDA one.
    setter = apply or getattr(torch._C, "_accelerator_setAllocatorSettings", None)
    if setter is None:
        setter = getattr(torch.cuda.memory, "_set_allocator_settings", None)
    if setter is not None:
        setter(EXPANDABLE_SEGMENTS)
    return {"settings": EXPANDABLE_SEGMENTS, "source": "runspec"}


def host_op_seconds(ops: int = 2000, reps: int = 5) -> float:
    """Seconds this machine's host takes to dispatch one small PyTorch operation: the median of `reps` loops
    of `ops` in-place adds on one-element CPU tensors (about 20 ms in all). Host-bound steps (small batches,
    QLoRA, padded rows) scale with it, and hosts of one GPU kind differ up to 2x (two H100 leases in one
    session: 1.25 and 0.59 s for the same step), so it is stored with every run (the hello event) for the
    planner's host constants to be compared across machines."""
    a, b = torch.zeros(1), torch.ones(1)
    for _ in range(200):  # warm the dispatcher's caches
        a.add_(b)
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        for _ in range(ops):
            a.add_(b)
        times.append((time.perf_counter() - start) / ops)
    return sorted(times)[reps // 2]


def configure_cudnn_attention(enabled: bool, device: torch.device) -> str | None:
    """Whether PyTorch's SDPA may pick cuDNN attention in this process (its default, on Hopper GPUs); a note
    when it may not. cuDNN builds an execution plan for each new shape, so padded batches, whose length changes
    from step to step, pay for it again and again (about half a second a step for Qwen2.5-1.5B QLoRA at
    b8 × s1024 `longest` on an H100, docs/fast-path.md, cuDNN attention); off, SDPA runs flash or
    memory-efficient attention."""
    if device.type != "cuda":
        return None
    torch.backends.cuda.enable_cudnn_sdp(enabled)
    if enabled:
        return None
    return "attention: SDPA without cuDNN attention (flash or memory-efficient; cuDNN plans each new shape)"


def bf16_supported(device: torch.device) -> bool:
    """Native bf16 only: newer PyTorch reports emulated bf16 on pre-Ampere GPUs as supported, and that
    emulation is slow enough to make a measurement meaningless."""
    if device.type != "cuda":
        return True  # CPU autocast supports bf16 (speed depends on the CPU's instructions)
    major, _ = torch.cuda.get_device_capability(device)
    return major >= 8


def describe_device(device: torch.device, nvml: Nvml) -> dict[str, Any]:
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return {
            "kind": "cuda",
            "index": device.index,
            "name": props.name,
            "totalMemoryBytes": int(props.total_memory),
            "capability": f"{props.major}.{props.minor}",
            "driver": nvml.driver_version(),
            "bf16Supported": bf16_supported(device),
            "cpuThreads": max(1, torch.get_num_threads()),
        }
    return {
        "kind": "cpu",
        "index": None,
        "name": _cpu_name(),
        "totalMemoryBytes": _host_memory_bytes(),
        "capability": None,
        "driver": None,
        "bf16Supported": True,
        "cpuThreads": max(1, torch.get_num_threads()),
    }


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"


def _host_memory_bytes() -> int | None:
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return None


@dataclass
class Nvml:
    """An NVML handle for the run's GPU, or the reason there is none."""

    module: Any = None
    handle: Any = None
    reason: str | None = "CPU run: no NVML device"

    def driver_version(self) -> str | None:
        if self.module is None:
            return None
        try:
            version = self.module.nvmlSystemGetDriverVersion()
            return version.decode() if isinstance(version, bytes) else str(version)
        except Exception:
            return None

    def device_used_bytes(self) -> int | None:
        if self.handle is None:
            return None
        try:
            return int(self.module.nvmlDeviceGetMemoryInfo(self.handle).used)
        except Exception:
            return None

    def process_used_bytes(self, pid: int) -> tuple[int | None, str | None]:
        if self.handle is None:
            return None, self.reason
        try:
            processes = self.module.nvmlDeviceGetComputeRunningProcesses(self.handle)
        except Exception as exc:
            return None, f"NVML cannot list the GPU's processes: {exc}"
        for proc in processes:
            if proc.pid == pid:
                used = getattr(proc, "usedGpuMemory", None)
                if used is None:
                    return None, "NVML does not report per-process memory here (driver or MIG restriction)"
                return int(used), None
        return None, (
            f"NVML does not list this process (pid {pid}) among the GPU's processes; in a container the "
            "driver sees host PIDs"
        )

    def energy_millijoules(self) -> tuple[int | None, str | None]:
        if self.handle is None:
            return None, self.reason
        try:
            return int(self.module.nvmlDeviceGetTotalEnergyConsumption(self.handle)), None
        except Exception as exc:
            return None, f"NVML energy counter not available on this GPU: {exc}"


def open_nvml(device: torch.device) -> Nvml:
    """Find the NVML handle of the torch device (by UUID, then PCI bus id: CUDA_VISIBLE_DEVICES and
    CUDA_DEVICE_ORDER make torch's index differ from NVML's)."""
    if device.type != "cuda":
        return Nvml()
    try:
        import pynvml
    except ImportError:
        return Nvml(reason="nvidia-ml-py is not installed (pip install nvidia-ml-py)")
    try:
        pynvml.nvmlInit()
    except Exception as exc:
        return Nvml(reason=f"NVML did not initialize: {exc}")
    props = torch.cuda.get_device_properties(device)
    candidates: list[tuple[str, Any]] = []
    uuid = getattr(props, "uuid", None)
    if uuid is not None:
        text = str(uuid)
        candidates += [("uuid", f"GPU-{text}"), ("uuid", f"MIG-{text}"), ("uuid", text)]
    bus_id, device_id = getattr(props, "pci_bus_id", None), getattr(props, "pci_device_id", None)
    if bus_id is not None and device_id is not None:
        candidates.append(("pci", f"{getattr(props, 'pci_domain_id', 0):08x}:{bus_id:02x}:{device_id:02x}.0"))
    for how, key in candidates:
        try:
            if how == "uuid":
                handle = pynvml.nvmlDeviceGetHandleByUUID(key)
            else:
                handle = pynvml.nvmlDeviceGetHandleByPciBusId(key)
            return Nvml(module=pynvml, handle=handle, reason=None)
        except Exception:
            continue
    if "CUDA_VISIBLE_DEVICES" not in os.environ:
        try:
            return Nvml(module=pynvml, handle=pynvml.nvmlDeviceGetHandleByIndex(device.index or 0), reason=None)
        except Exception as exc:
            return Nvml(module=pynvml, reason=f"NVML has no handle for {device}: {exc}")
    return Nvml(module=pynvml, reason=f"could not match {device} to an NVML device")


@dataclass
class NvmlWatch:
    """A daemon thread sampling NVML every ~50 ms: peak process and device memory, and the budget flag.

    The training loop reads `over_budget` (a plain bool: no device synchronization) once per step.
    """

    nvml: Nvml
    budget_bytes: int | None
    interval_seconds: float = 0.05
    peak_device_bytes: int | None = None
    peak_process_bytes: int | None = None
    process_reason: str | None = None
    over_budget: bool = False
    over_budget_bytes: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        if self.nvml.handle is None:
            return
        self._sample()
        self._thread = threading.Thread(target=self._loop, name="loraprof-nvml", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1.0)
            self._thread = None
        if self.nvml.handle is not None:
            self._sample()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_seconds):
            self._sample()

    def _sample(self) -> None:
        used = self.nvml.device_used_bytes()
        if used is not None:
            self.peak_device_bytes = max(used, self.peak_device_bytes or 0)
            if self.budget_bytes is not None and used > self.budget_bytes and not self.over_budget:
                self.over_budget_bytes = used
                self.over_budget = True
        process, reason = self.nvml.process_used_bytes(os.getpid())
        if process is not None:
            self.peak_process_bytes = max(process, self.peak_process_bytes or 0)
        self.process_reason = reason

    def peaks(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """(process, device) peaks as {value, reason} for the summary."""
        if self.nvml.handle is None:
            none = {"value": None, "reason": self.nvml.reason}
            return dict(none), dict(none)
        process = {
            "value": self.peak_process_bytes,
            "reason": None if self.peak_process_bytes is not None else self.process_reason,
        }
        device = {
            "value": self.peak_device_bytes,
            "reason": None if self.peak_device_bytes is not None else "NVML memory query failed",
        }
        return process, device


def apply_budget(device: torch.device, budget_bytes: int | None) -> None:
    """Cap the caching allocator at the budget. NVML's device-used figure also counts what the allocator
    cannot see (CUDA context, cuBLAS workspaces, bitsandbytes' paged memory); NvmlWatch checks that."""
    if budget_bytes is None or device.type != "cuda":
        return
    total = torch.cuda.get_device_properties(device).total_memory
    torch.cuda.set_per_process_memory_fraction(min(1.0, budget_bytes / total), device)


def memory_snapshot(device: torch.device, nvml: Nvml, budget_bytes: int | None) -> dict[str, Any]:
    """Allocator figures (current and peak since the process began: the peaks cover the whole run,
    loading included, because that is what has to fit on the card) plus NVML's device-level view."""
    if device.type != "cuda" or not torch.cuda.is_available():
        return {
            "allocatedBytes": None,
            "reservedBytes": None,
            "peakAllocatedBytes": None,
            "peakReservedBytes": None,
            "deviceUsedBytes": None,
            "deviceTotalBytes": None,
            "budgetBytes": budget_bytes,
        }
    try:
        total: int | None = int(torch.cuda.get_device_properties(device).total_memory)
    except Exception:
        total = None
    return {
        "allocatedBytes": int(torch.cuda.memory_allocated(device)),
        "reservedBytes": int(torch.cuda.memory_reserved(device)),
        "peakAllocatedBytes": int(torch.cuda.max_memory_allocated(device)),
        "peakReservedBytes": int(torch.cuda.max_memory_reserved(device)),
        "deviceUsedBytes": nvml.device_used_bytes(),
        "deviceTotalBytes": total,
        "budgetBytes": budget_bytes,
    }


def unix_ms() -> float:
    return time.time() * 1000.0
