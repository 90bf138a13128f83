/**
 * What NVML's device-used peak holds beyond the caching allocator's reserve and paged optimizer
 * state, per GPU family: the CUDA context with the kernels PyTorch, cuBLAS and bitsandbytes load
 * (process − reserved in NVML's per-process figure) and what the driver keeps on the device
 * (device − process). cuBLAS workspaces are not here: PyTorch allocates them through the caching
 * allocator (allocatorFixedBytes). Paged optimizer state is the memory model's own item.
 *
 * Measured for Hopper only (the committed H200 runs); other families take the H200's figure until
 * a run there measures theirs, and say so: the figure depends more on the libraries (kernel images
 * loaded lazily) than on the card, so it transfers better than nothing, not exactly.
 */
import type { GpuEntry } from "../catalog/gpus.js";

const MiB = 2 ** 20;

export interface DeviceOverhead {
  bytes: number;
  /** Where the figure comes from, shown with the plan. */
  source: string;
  measured: boolean;
}

/**
 * H200, torch 2.11 + CUDA 13.0, driver 580, bitsandbytes 0.50: process − reserved = 758 MiB in all
 * 19 committed non-paged runs of bench/results/h200-*.json; device − process 624–752 MiB (median
 * 624 MiB over the same runs); together the median device − reserved, 1382 MiB.
 */
export const H200_DEVICE_OVERHEAD_BYTES = 1382 * MiB;

const MEASURED: Partial<Record<GpuEntry["architecture"], DeviceOverhead>> = {
  hopper: {
    bytes: H200_DEVICE_OVERHEAD_BYTES,
    source: "measured on the H200 (median device − reserved over 19 committed runs)",
    measured: true,
  },
};

export function deviceOverheadFor(gpu: Pick<GpuEntry, "architecture"> | null): DeviceOverhead {
  const m = gpu ? MEASURED[gpu.architecture] : undefined;
  if (m) return m;
  return {
    bytes: H200_DEVICE_OVERHEAD_BYTES,
    source: `the H200's figure${gpu ? ` (not measured on ${gpu.architecture} GPUs)` : ""}`,
    measured: false,
  };
}
