/**
 * Per-rank memory and a scaling estimate for a data-parallel run (`run --nproc-per-node N`), as the
 * engine runs it: every rank holds the whole model (base weights, adapters, their gradients,
 * optimizer state) and its own micro-batch's activations, exactly as one process with the same
 * micro-batch does, so the single-process estimate is each rank's; DistributedDataParallel adds its
 * gradient buckets (with the default gradient_as_bucket_view=False, a second fp32 copy of every
 * trainable gradient) and, on GPUs, NCCL's communicator buffers outside the allocator.
 *
 * Time: each rank runs gradAccum micro-batches per optimizer step (the global batch is
 * batchSize × gradAccum × N); the earlier ones accumulate locally (DDP's no_sync) and the last one's
 * backward all-reduces the adapter gradients once, a ring all-reduce moving 2(N−1)/N of the gradient
 * bytes over the link. Without overlap of that communication with compute (an upper bound on its
 * cost for LoRA's small gradients), a step takes the single-rank step plus one all-reduce.
 */
import { countLoraParameters } from "../catalog/params.js";
import type { MemoryEstimate } from "./memory.js";
import type { ThroughputEstimate } from "./throughput.js";
import { architectureOf, type PlanInput } from "./types.js";

/** Assumptions for the link between ranks; no multi-GPU figure of this project backs them yet. */
export interface RankLink {
  /** All-reduce bus bandwidth (bytes/s): NCCL's "busbw". */
  busBandwidthBytesPerSecond: number;
  /** Fixed cost per all-reduce call (s). */
  latencySeconds: number;
  /** NCCL communicator buffers per rank, seen by NVML, outside the allocator. */
  communicatorBytes: number;
}

/**
 * Defaults, assumed, not measured here: NVLink-class all-reduce bus bandwidth of 100 GB/s (well under
 * the H200's 900 GB/s NVLink, as small LoRA buckets do not reach peak), 50 µs per call, 512 MiB of
 * NCCL buffers per rank. `bench/gpu/ddp-scaling.sh` measures per-rank peaks and step times on a GPU host.
 */
export const DEFAULT_RANK_LINK: RankLink = {
  busBandwidthBytesPerSecond: 100e9,
  latencySeconds: 50e-6,
  communicatorBytes: 512 * 2 ** 20,
};

export interface RankPlan {
  ranks: number;
  /** Rows (records) per optimizer step over all ranks: batchSize × gradAccum × ranks. */
  globalBatchRows: number;
  perRank: {
    /** The single-process device peak plus DDP's buckets and NCCL's buffers. */
    devicePeakBytes: number;
    allocatorPeakBytes: number;
    /** DDP's gradient buckets: an fp32 copy of every trainable (LoRA) gradient. */
    ddpBucketBytes: number;
    /** NCCL buffers (GPU ranks only; 0 for one rank). */
    communicatorBytes: number;
    /** Of which unchanged from one process: weights, adapters, their gradients, optimizer state, activations. */
    singleProcessPeakBytes: number;
  };
  /** Null without a throughput prediction (no GPU to time against). */
  scaling: {
    /** Trainable gradient bytes all-reduced per optimizer step. */
    gradientBytes: number;
    allReduceSeconds: number;
    /** All-reduces per optimizer step: one (the last micro-batch's backward), none for one rank. */
    allReducesPerStep: number;
    singleRankStepSeconds: number;
    stepSeconds: number;
    realTokensPerSecond: number;
    /** realTokensPerSecond ÷ the one-process rate. */
    speedup: number;
    /** speedup ÷ ranks. */
    efficiency: number;
  } | null;
  assumptions: string[];
}

export function planRanks(
  input: PlanInput,
  memory: MemoryEstimate,
  throughput: ThroughputEstimate | null,
  ranks: number,
  link: RankLink = DEFAULT_RANK_LINK,
): RankPlan {
  if (!Number.isInteger(ranks) || ranks < 1)
    throw new RangeError(`ranks must be a whole number ≥ 1, got ${ranks}`);
  const arch = architectureOf(input.model);
  const trainable = countLoraParameters(arch, input.lora.r, input.lora.targetModules);
  // Adapters train in fp32 (PEFT's autocast_adapter_dtype): 4-byte gradients.
  const gradientBytes = 4 * trainable;
  const multi = ranks > 1;
  const ddpBucketBytes = multi ? gradientBytes : 0;
  const communicatorBytes = multi && input.gpu !== null ? link.communicatorBytes : 0;
  const perRank = {
    devicePeakBytes: memory.devicePeakBytes + ddpBucketBytes + communicatorBytes,
    allocatorPeakBytes: memory.allocatorPeakBytes + ddpBucketBytes,
    ddpBucketBytes,
    communicatorBytes,
    singleProcessPeakBytes: memory.devicePeakBytes,
  };
  let scaling: RankPlan["scaling"] = null;
  if (throughput) {
    const allReduceSeconds = multi
      ? link.latencySeconds + (2 * (ranks - 1) * gradientBytes) / ranks / link.busBandwidthBytesPerSecond
      : 0;
    const allReducesPerStep = multi ? 1 : 0;
    const stepSeconds = throughput.stepSeconds + allReducesPerStep * allReduceSeconds;
    const realTokensPerStep = throughput.realTokensPerSecond * throughput.stepSeconds * ranks;
    const realTokensPerSecond = realTokensPerStep / stepSeconds;
    const speedup = realTokensPerSecond / throughput.realTokensPerSecond;
    scaling = {
      gradientBytes,
      allReduceSeconds,
      allReducesPerStep,
      singleRankStepSeconds: throughput.stepSeconds,
      stepSeconds,
      realTokensPerSecond,
      speedup,
      efficiency: speedup / ranks,
    };
  }
  const gbps = (link.busBandwidthBytesPerSecond / 1e9).toFixed(0);
  const assumptions = [
    `each of the ${ranks} rank(s) holds the whole model and its own micro-batch of ${input.batchSize} row(s): the one-process memory estimate, per rank`,
    ...(multi
      ? [
          "DDP's gradient buckets: an fp32 copy of every LoRA gradient (gradient_as_bucket_view off, torch's default)",
          ...(input.gpu !== null
            ? [
                `NCCL buffers: ${(link.communicatorBytes / 2 ** 20).toFixed(0)} MiB per rank (assumed, not measured)`,
              ]
            : []),
          `one ring all-reduce of the LoRA gradients per optimizer step at ${gbps} GB/s bus bandwidth + ${(link.latencySeconds * 1e6).toFixed(0)} µs (assumed, not measured), not overlapped with compute`,
          "ranks do not slow each other's compute (one GPU each); the data stage is shared",
          ...(input.offloadActivations && input.gradCheckpointing
            ? [
                "activation offload is not used with several ranks (the engine falls back to plain checkpointing): planned with every layer input on the device",
              ]
            : []),
        ]
      : []),
  ];
  return {
    ranks,
    globalBatchRows: input.batchSize * input.gradAccum * ranks,
    perRank,
    scaling,
    assumptions,
  };
}
