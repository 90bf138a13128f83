import { describe, expect, it } from "vitest";
import { findGpu, GPUS, usableMemoryBytes } from "./gpus.js";

describe("GPU catalog", () => {
  it("finds GPUs by the names nvidia-smi prints", () => {
    expect(findGpu("NVIDIA GeForce RTX 4060")?.id).toBe("rtx-4060");
    expect(findGpu("NVIDIA H200")?.id).toBe("h200");
    expect(findGpu("NVIDIA H100 80GB HBM3")?.id).toBe("h100-sxm");
    expect(findGpu("NVIDIA A100-SXM4-80GB")?.id).toBe("a100-80gb");
    expect(findGpu("  nvidia  geforce rtx 4090 ")?.id).toBe("rtx-4090");
    expect(findGpu("Tesla T4")?.id).toBe("t4");
    expect(findGpu("Tesla V100-SXM2-32GB")?.id).toBe("v100-32gb");
    expect(findGpu("NVIDIA A10G")?.id).toBe("a10g");
  });

  it("finds GPUs by catalog id and by display name", () => {
    expect(findGpu("rtx-4060")?.name).toBe("NVIDIA GeForce RTX 4060");
    expect(findGpu("H200")?.id).toBe("h200");
    expect(findGpu("NVIDIA GeForce RTX 3060 12GB")?.id).toBe("rtx-3060");
  });

  it("tells the 8 GB and 16 GB RTX 4060 Ti apart by the memory NVML reports", () => {
    expect(findGpu("NVIDIA GeForce RTX 4060 Ti", 16379 * 2 ** 20)?.id).toBe("rtx-4060-ti-16gb");
    expect(findGpu("NVIDIA GeForce RTX 4060 Ti", 8188 * 2 ** 20)?.id).toBe("rtx-4060-ti-8gb");
  });

  it("returns undefined for a GPU it does not know", () => {
    expect(findGpu("NVIDIA GeForce GTX 1080")).toBeUndefined();
  });

  it("covers the boards the planner promises", () => {
    for (const id of [
      "rtx-3060",
      "rtx-3080",
      "rtx-3090",
      "rtx-4060",
      "rtx-4060-ti-16gb",
      "rtx-4070",
      "rtx-4080",
      "rtx-4090",
      "rtx-5090",
      "a10",
      "a10g",
      "rtx-a6000",
      "t4",
      "v100-16gb",
      "v100-32gb",
      "l4",
      "l40s",
      "a100-40gb",
      "a100-80gb",
      "h100-sxm",
      "h100-pcie",
      "h200",
    ]) {
      expect(findGpu(id), id).toBeDefined();
    }
  });

  it("runs fp16 with FP32 accumulate at half rate on GeForce and at the bf16 rate everywhere", () => {
    const r4090 = findGpu("rtx-4090")!;
    expect(r4090.peakFlops.fp16 / 1e12).toBeCloseTo(165.2, 1);
    const r4060 = findGpu("rtx-4060")!;
    expect(r4060.peakFlops.fp16 / 1e12).toBeCloseTo(30.2, 1);
    expect(r4060.peakFlops.fp32 / 1e12).toBeCloseTo(15.1, 1);
    // Whitepaper: RTX 3080 FP32 29.8, FP16 tensor with FP32 accumulate 59.5 TFLOPS.
    expect(findGpu("rtx-3080")!.peakFlops.fp32 / 1e12).toBeCloseTo(29.8, 1);
    expect(findGpu("rtx-3080")!.peakFlops.fp16 / 1e12).toBeCloseTo(59.5, 1);
    for (const g of GPUS) {
      if (g.bf16Supported) expect(g.peakFlops.bf16, g.id).toBe(g.peakFlops.fp16);
      else expect(g.peakFlops.bf16, g.id).toBe(g.peakFlops.fp32);
    }
  });

  it("keeps every figure positive, sourced and ordered fp32 ≤ tf32 ≤ fp16", () => {
    for (const g of GPUS) {
      expect(g.sources.length, g.id).toBeGreaterThan(0);
      expect(g.bandwidthBytesPerSecond).toBeGreaterThan(1e11);
      expect(g.peakFlops.fp32).toBeLessThanOrEqual(g.peakFlops.tf32);
      expect(g.peakFlops.tf32).toBeLessThanOrEqual(g.peakFlops.fp16);
      expect(usableMemoryBytes(g)).toBeLessThanOrEqual(g.memoryBytes * 1.03);
    }
  });
});
