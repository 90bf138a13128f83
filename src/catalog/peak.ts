/**
 * Peak FLOP/s by precision, one owner: the planner's throughput estimate (plan/throughput.ts) and the
 * measured MFU (telemetry/metrics.ts) both divide by this number.
 */
import type { Precision } from "../protocol/index.js";

/** Dense (no sparsity) peak FLOP/s by precision, as the GPU catalog lists it (null: not listed). */
export interface PeakFlops<T extends number | null = number | null> {
  fp32: T;
  tf32: T;
  fp16: T;
  bf16: T;
}

/**
 * The peak a run at `precision` can reach. fp32 runs use the fp32 (CUDA-core) peak: PyTorch leaves
 * TF32 matmuls off unless asked (`torch.backends.cuda.matmul.allow_tf32`), so pass `tf32: true` only
 * when the engine turned them on. QLoRA's matmuls run in the compute dtype, which is the run's precision.
 */
export function peakFlopsFor<T extends number | null>(
  peak: PeakFlops<T>,
  precision: Precision,
  opts: { tf32?: boolean } = {},
): T {
  if (precision === "fp32") return opts.tf32 ? peak.tf32 : peak.fp32;
  return peak[precision];
}
