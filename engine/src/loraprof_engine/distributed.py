"""Data-parallel runs: the engine under torchrun (`loraprof run --nproc-per-node N`).

torchrun starts one engine per rank with RANK / LOCAL_RANK / WORLD_SIZE set. Every rank reads the same
seeded micro-batch stream; a step takes world × gradAccum micro-batches and rank r trains on every
world-th one from r. The global batch is therefore batchSize × gradAccum × world, and a step of N ranks
sees exactly the micro-batches one process with gradAccum × N would see. Each rank's loss is divided by
the whole step's label tokens and multiplied by the world size, so DDP's gradient average equals the
single process's gradient.

Only rank 0 reports, on the fd 3 that launch.py keeps open in torchrun's workers; the other ranks
close it and log to stderr only. Every rank keeps the stdin pipe (workers inherit fd 0), so each one exits
when the TS side dies.
"""

from __future__ import annotations

import contextlib
import os
import resource
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .events import EVENT_FD

if TYPE_CHECKING:  # torch is imported by the recipe, after the RunSpec is checked
    import torch


@dataclass(frozen=True)
class World:
    rank: int = 0
    local_rank: int = 0
    size: int = 1

    @property
    def distributed(self) -> bool:
        return self.size > 1


def world_from_env() -> World:
    """The rank layout torchrun sets; a plain engine process is a world of one."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    return World(rank=int(os.environ["RANK"]), local_rank=int(os.environ.get("LOCAL_RANK", "0")), size=size)


def keep_event_pipe(world: World) -> None:
    """Ranks other than 0 close the event pipe they inherited (launch.py), so it ends with rank 0."""
    if world.distributed and world.rank != 0:
        with contextlib.suppress(OSError):
            os.close(EVENT_FD)


def init_process_group(world: World, device_type: str) -> None:
    if not world.distributed:
        return
    import torch.distributed as dist

    backend = "nccl" if device_type == "cuda" else "gloo"
    dist.init_process_group(backend=backend, rank=world.rank, world_size=world.size)


def wrap(step_loss: Any, world: World, device: torch.device) -> Any:
    """DistributedDataParallel around the run's `step.StepLoss` (the PEFT model and its loss, whichever
    implementation): the trainable (LoRA) gradients are averaged over the ranks. Every rank builds the same
    weights (same checkpoint or seed) and no buffer changes while training (rotary frequencies), so the
    buffers are not broadcast before each forward."""
    from torch.nn.parallel import DistributedDataParallel

    device_ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(step_loss, device_ids=device_ids, broadcast_buffers=False)


def mean_over_ranks(value: torch.Tensor, world: World) -> torch.Tensor:
    """The step's loss: each rank holds its share × world, so the mean over ranks is the global loss."""
    if not world.distributed:
        return value
    import torch.distributed as dist

    total = value.detach().clone()
    dist.all_reduce(total)
    return total / world.size


def rank_figures(
    world: World, snapshot: dict[str, Any], nvml: dict[str, Any], energy: dict[str, Any]
) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """Every rank's memory peaks (allocator, host RSS, NVML process and device) and measured-window
    energy, gathered on all ranks: (the ranks' figures with their maxima, the energy summed over the ranks'
    GPUs). One process: (None, its own energy). `nvml`: this rank's {"process", "device"} NVML peaks and
    `energy` its window's, each {"value", "reason"}."""
    if not world.distributed:
        return None, energy
    import torch.distributed as dist

    mine = {
        "rank": world.rank,
        "peakAllocatedBytes": snapshot.get("peakAllocatedBytes"),
        "peakReservedBytes": snapshot.get("peakReservedBytes"),
        # ru_maxrss is in KiB on Linux.
        "peakHostRssBytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "nvmlPeakProcessBytes": nvml["process"]["value"],
        "nvmlPeakDeviceBytes": nvml["device"]["value"],
        "energyJoules": energy,
    }
    gathered: list[Any] = [None] * world.size
    dist.all_gather_object(gathered, mine)
    return summarize_ranks(gathered)


def summarize_ranks(per_rank: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ranks' figures with their maxima, and the energy summed over their GPUs: a figure only when
    every rank read its counter (otherwise the first missing rank's reason)."""

    def most(field: str) -> Any:
        values = [r[field] for r in per_rank if r[field] is not None]
        return max(values) if values else None

    missing = next((r for r in per_rank if r["energyJoules"]["value"] is None), None)
    energy = (
        {"value": sum(r["energyJoules"]["value"] for r in per_rank), "reason": None}
        if missing is None
        else {"value": None, "reason": f"rank {missing['rank']}: {missing['energyJoules']['reason']}"}
    )
    ranks = {
        "worldSize": len(per_rank),
        "perRank": [{**r, "energyJoules": r["energyJoules"]["value"]} for r in per_rank],
        "maxPeakAllocatedBytes": most("peakAllocatedBytes"),
        "maxPeakHostRssBytes": most("peakHostRssBytes"),
        "maxNvmlPeakDeviceBytes": most("nvmlPeakDeviceBytes"),
    }
    return ranks, energy


def finish(world: World) -> None:
    if world.distributed:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()
