/**
 * From a run configuration (what `loraprof run` takes, or what a stored run resolved to) to the
 * planner's input: the catalog model, the GPU, the budget and the shape. Pure: the dataset's length
 * statistics and the GPU are passed in (see ./dataset.ts for the lengths, `resolvePlanGpu` for the
 * GPU), so the same mapping serves the CLI, the calibration and the accuracy benchmark.
 */
import { resolvePrecision } from "../config/device.js";
import { findGpu, GPUS, type GpuEntry } from "../catalog/gpus.js";
import { MODELS } from "../catalog/models.js";
import { findModelOrHfConfig } from "../catalog/hfconfig.js";
import { ligerPatched } from "../catalog/params.js";
import type { ModelEntry } from "../catalog/types.js";
import { parseByteSize, type RunConfig } from "../config/schema.js";
import { DEFAULT_LOSS_CHUNK_TOKENS, type Precision } from "../protocol/index.js";
import { LoraprofError } from "../util/errors.js";
import type { Calibration } from "./constants.js";
import type { LengthStats } from "./lengths.js";
import type { PlanInput } from "./types.js";

/**
 * A RunConfig before (`precision: auto`) or after resolution (a stored run's config). Runs stored
 * before the chunked loss existed carry no `loss` fields: they ran the full loss.
 */
export type PlannableConfig = Omit<
  RunConfig,
  | "precision"
  | "device"
  | "weights"
  | "loss"
  | "lossChunkTokens"
  | "cudaAllocator"
  | "kernels"
  | "fusedLora"
  | "cudnnAttention"
> & {
  /** Absent in runs stored before the setting: PyTorch's default (on). */
  cudnnAttention?: boolean;
  kernels?: RunConfig["kernels"];
  fusedLora?: boolean;
  cudaAllocator?: RunConfig["cudaAllocator"];
  precision: RunConfig["precision"] | Precision;
  device?: string;
  weights?: string;
  loss?: RunConfig["loss"];
  lossChunkTokens?: number;
};

/**
 * Whether the engine replays the decoder as CUDA graphs with these settings, on a GPU with one rank
 * (engine/src/loraprof_engine/graphs.py, `graphs_unavailable`, is the rule's owner): asked for,
 * packed rows, fp16/bf16 (varlen flash attention), no activation offload and no LoRA dropout under
 * checkpointing.
 */
export function graphsReplay(s: {
  cudaGraphs?: boolean;
  padding: RunConfig["padding"];
  precision: Precision;
  gradCheckpointing: boolean;
  loraDropout: number;
  offloadActivations?: boolean;
}): boolean {
  return (
    s.cudaGraphs === true &&
    s.padding === "packed" &&
    s.precision !== "fp32" &&
    !(s.offloadActivations === true && s.gradCheckpointing) &&
    !(s.loraDropout > 0 && s.gradCheckpointing)
  );
}

export function planModel(config: Pick<PlannableConfig, "model">): ModelEntry {
  const entry = findModelOrHfConfig(config.model);
  if (entry) return entry;
  throw new LoraprofError("MODEL_NOT_FOUND", `the planner has no architecture for "${config.model}"`, {
    problems: [
      {
        field: "model",
        message:
          "not in the model catalog, not a folder with a config.json, and not in the Hugging Face cache",
        hint: `plan with a model folder, a cached hub id, or the closest catalog id (${MODELS.map((m) => m.id).join(", ")})`,
      },
    ],
  });
}

/** `auto` precision as `run` resolves it (config/device.ts): fp32 on the CPU (no GPU), bf16 from compute capability 8.0, else fp16. */
export function planPrecision(config: Pick<PlannableConfig, "precision">, gpu: GpuEntry | null): Precision {
  return resolvePrecision(config.precision, gpu === null ? null : gpu.computeCapability);
}

/** The budget a config holds a run to, in bytes; null for the whole GPU. */
export function planBudgetBytes(config: Pick<PlannableConfig, "vramBudget">): number | null {
  return config.vramBudget === null || config.vramBudget === undefined
    ? null
    : parseByteSize(config.vramBudget);
}

export interface PlanInputOptions {
  gpu: GpuEntry | null;
  lengthStats: LengthStats;
  calibration?: Calibration;
  /** Data-parallel ranks (`--nproc-per-node`); absent: one process. */
  ranks?: number;
}

export function planInputFromConfig(config: PlannableConfig, opts: PlanInputOptions): PlanInput {
  const method = config.method;
  const precision = planPrecision(config, opts.gpu);
  const offloadActivations = config.offloadActivations ?? false;
  const model = planModel(config);
  return {
    model,
    gpu: opts.gpu,
    vramBudgetBytes: planBudgetBytes(config),
    batchSize: config.batchSize,
    seqLen: config.seqLen,
    gradAccum: config.gradAccum,
    padding: config.padding,
    cudaGraphs: graphsReplay({
      cudaGraphs: config.cudaGraphs,
      padding: config.padding,
      precision,
      gradCheckpointing: config.gradCheckpointing,
      loraDropout: config.lora.dropout,
      offloadActivations,
    }),
    offloadActivations,
    ...(opts.ranks !== undefined ? { ranks: opts.ranks } : {}),
    precision,
    method,
    quant: method === "qlora" ? { type: config.quant.type, doubleQuant: config.quant.doubleQuant } : null,
    lora: {
      r: config.lora.r,
      alpha: config.lora.alpha,
      dropout: config.lora.dropout,
      targetModules: config.lora.targetModules,
    },
    optimizer: config.optimizer.name,
    gradCheckpointing: config.gradCheckpointing,
    lossImplementation: config.loss ?? "full",
    lossChunkTokens: config.lossChunkTokens ?? DEFAULT_LOSS_CHUNK_TOKENS,
    // Stored runs from before the setting ran PyTorch's default allocator.
    cudaAllocator: config.cudaAllocator ?? "default",
    // The engine applies Liger only where a patch is wired for the family, else PyTorch's own ops.
    kernels: config.kernels === "liger" && ligerPatched(model.architecture) ? "liger" : "none",
    attnImplementation: config.attnImplementation ?? "sdpa",
    cudnnAttention: config.cudnnAttention ?? true,
    fusedLora: config.fusedLora ?? false,
    lengthStats: opts.lengthStats,
    steps: config.steps,
    warmupSteps: config.warmupSteps,
    seed: config.seed,
    ...(opts.calibration ? { calibration: opts.calibration } : {}),
  };
}

/** What nvidia-smi showed for a GPU (util/gpu.ts's GpuInfo, or a run's recorded device). */
export interface SeenGpu {
  name: string;
  memoryTotalBytes?: number | null;
  index?: number;
}

function unknownGpu(name: string, field: string): LoraprofError {
  return new LoraprofError("FLAG_INVALID", `no GPU "${name}" in the catalog`, {
    problems: [
      {
        field,
        message: `"${name}" is neither a catalog id nor a catalogued board name`,
        hint:
          `use one of ${GPUS.map((g) => g.id).join(", ")}; for another card describe it with ` +
          "--gpu custom --gpu-memory 12GiB [--gpu-tflops 65] [--gpu-bandwidth 320GB/s], or cap memory with --vram-budget",
      },
    ],
  });
}

export interface CustomGpuFlags {
  /** Memory the card has, e.g. "12GiB" (required). */
  memory?: string | undefined;
  /** Dense FP16/BF16 tensor TFLOP/s with FP32 accumulate. */
  tflops?: string | undefined;
  /** Memory bandwidth, e.g. "320GB/s" or 320 (GB/s). */
  bandwidth?: string | undefined;
}

function customProblem(field: string, message: string, hint: string): LoraprofError {
  return new LoraprofError("FLAG_INVALID", `--gpu custom: ${message}`, {
    problems: [{ field, message, hint }],
  });
}

/**
 * `--gpu custom`: a card described by flags. Memory is required (it decides the fit); without
 * --gpu-tflops / --gpu-bandwidth the speed figures are the slowest catalog card's (T4), so speed
 * errs low, never high. FP32 and TF32 follow the A10's ratios to the tensor rate (1/4, 1/2).
 */
export function customGpu(flags: CustomGpuFlags): GpuEntry {
  if (!flags.memory) {
    throw customProblem(
      "--gpu-memory",
      "the card's memory is missing",
      "add --gpu-memory 12GiB, or plan under a cap with --vram-budget",
    );
  }
  let memoryBytes: number;
  try {
    memoryBytes = parseByteSize(flags.memory);
  } catch {
    throw customProblem("--gpu-memory", `"${flags.memory}" is not a size`, "write it like 12GiB or 24GB");
  }
  const slowest = findGpu("t4")!;
  const positive = (field: string, raw: string, unit: RegExp): number => {
    const v = Number(raw.trim().replace(unit, ""));
    if (!Number.isFinite(v) || v <= 0)
      throw customProblem(
        field,
        `"${raw}" is not a positive number`,
        `e.g. ${field} ${field === "--gpu-tflops" ? "65" : "320GB/s"}`,
      );
    return v;
  };
  const tensor = flags.tflops
    ? positive("--gpu-tflops", flags.tflops, /\s*tflops?(\/s)?$/i) * 1e12
    : slowest.peakFlops.fp16;
  const bandwidth = flags.bandwidth
    ? positive("--gpu-bandwidth", flags.bandwidth, /\s*gb\/s$/i) * 1e9
    : slowest.bandwidthBytesPerSecond;
  const assumed = [flags.tflops ? null : "tensor FLOP/s", flags.bandwidth ? null : "bandwidth"].filter(
    Boolean,
  );
  return {
    id: "custom",
    name: `custom GPU (${flags.memory})`,
    smiNames: [],
    memoryBytes,
    nvmlTotalBytes: null,
    bandwidthBytesPerSecond: bandwidth,
    peakFlops: flags.tflops
      ? { fp32: tensor / 4, tf32: tensor / 2, fp16: tensor, bf16: tensor }
      : { ...slowest.peakFlops, bf16: slowest.peakFlops.fp16 },
    boardPowerWatts: slowest.boardPowerWatts,
    bf16Supported: true,
    computeCapability: "8.0",
    architecture: "ampere",
    segment: "datacenter",
    sources: [
      "--gpu custom flags",
      ...(assumed.length > 0
        ? [`${assumed.join(" and ")} and board power: the T4's (the slowest catalog card)`]
        : []),
    ],
  };
}

/** A catalog GPU from a `--gpu` value (catalog id, board name or nvidia-smi name). */
export function requirePlanGpu(name: string, field = "--gpu"): GpuEntry {
  const g = findGpu(name);
  if (!g) throw unknownGpu(name, field);
  return g;
}

/**
 * `--gpu auto`: the GPU the run would use (cuda:N picks index N, else the first), found with
 * nvidia-smi. No GPU, or one the catalog does not know, is an error that says to pass --gpu.
 */
export function gpuFromProbe(
  probe: { ok: true; gpus: SeenGpu[] } | { ok: false; reason: string },
  device = "auto",
): GpuEntry {
  const index = /^cuda:(\d+)$/.exec(device)?.[1];
  const seen = probe.ok
    ? index === undefined
      ? probe.gpus[0]
      : probe.gpus.find((g) => g.index === Number(index))
    : undefined;
  if (!seen) {
    throw new LoraprofError("FLAG_INVALID", "no GPU found to plan for", {
      problems: [
        {
          field: "--gpu",
          message: probe.ok
            ? `nvidia-smi lists no GPU${index === undefined ? "" : ` ${index}`}`
            : probe.reason,
          hint: `name the card to plan for: --gpu rtx-4060 (catalog: ${GPUS.map((g) => g.id).join(", ")})`,
        },
      ],
    });
  }
  const g = findGpu(seen.name, seen.memoryTotalBytes ?? null);
  if (!g) {
    throw new LoraprofError("FLAG_INVALID", `this machine's GPU "${seen.name}" is not in the catalog`, {
      problems: [
        {
          field: "--gpu",
          message: "the planner needs the card's datasheet figures",
          hint: `pass the closest catalog id with --gpu (${GPUS.map((x) => x.id).join(", ")})`,
        },
      ],
    });
  }
  return g;
}
