/** A quick look at the GPUs through nvidia-smi (no CUDA initialization, ~100 ms). */
import { execFile } from "node:child_process";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface GpuInfo {
  index: number;
  name: string;
  memoryTotalBytes: number | null;
  driver: string | null;
  computeCapability: string | null;
}

export async function listGpus(
  nvidiaSmi = process.env["LORAPROF_NVIDIA_SMI"] ?? "nvidia-smi",
): Promise<{ ok: true; gpus: GpuInfo[] } | { ok: false; reason: string }> {
  try {
    const { stdout } = await run(
      nvidiaSmi,
      ["--query-gpu=index,name,memory.total,driver_version,compute_cap", "--format=csv,noheader,nounits"],
      { timeout: 10_000 },
    );
    const gpus = stdout
      .split("\n")
      .map((l) => l.trim())
      .filter(Boolean)
      .map((l) => {
        const [index, name, mem, driver, cap] = l.split(",").map((x) => x.trim());
        const memMiB = Number(mem);
        return {
          index: Number(index),
          name: name ?? "unknown",
          memoryTotalBytes: Number.isFinite(memMiB) ? memMiB * 2 ** 20 : null,
          driver: driver && !driver.startsWith("[") ? driver : null,
          computeCapability: cap && !cap.startsWith("[") ? cap : null,
        };
      });
    return { ok: true, gpus };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return {
      ok: false,
      reason: e.code === "ENOENT" ? "nvidia-smi not found (no NVIDIA driver)" : e.message.split("\n")[0]!,
    };
  }
}
