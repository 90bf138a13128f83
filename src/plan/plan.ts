/**
 * `planRun`: will this run fit on that GPU (or budget), with what margin, and how fast will it
 * go — predicted from the architecture, the GPU's datasheet figures, the run config and the
 * dataset's length statistics, without running anything. `fitSearch` sweeps batch size and
 * sequence length for the largest configuration that fits and the fastest one per optimizer and
 * precision. Both are pure and fast (planRun: well under a millisecond).
 */
import { usableMemoryBytes, type GpuEntry } from "../catalog/gpus.js";
import { OPTIMIZERS, PRECISIONS, type OptimizerName, type Precision } from "../protocol/index.js";
import { LoraprofError, type Problem } from "../util/errors.js";
import { resolveConstants, type PlannerConstants } from "./constants.js";
import { validateLengthStats } from "./lengths.js";
import { combineMemory, eagerAttention, memoryComponents, type MemoryEstimate } from "./memory.js";
import { combineThroughput, throughputComponents, type ThroughputEstimate } from "./throughput.js";
import { architectureOf, type PlanInput } from "./types.js";
import { resolveTargetModules } from "../catalog/params.js";
import { DEFAULTS_SOURCE, speedInterval, type ConstantsSource, type SpeedInterval } from "./shipped.js";

export type { PlanInput } from "./types.js";

/**
 * The device-peak model's held-out error as a fraction of the limit: the room `plan --fit` and `tune` leave
 * free, and the band either side of the limit where a verdict is called tight.
 */
export const DEFAULT_MARGIN_FRACTION = 0.05;

export interface FitVerdict {
  /** Device-level peak ≤ limit. */
  verdict: boolean;
  limitBytes: number;
  /** limit − predicted device peak (negative: does not fit). */
  marginBytes: number;
  limitSource: "budget" | "gpu";
  /**
   * The predicted peak is within DEFAULT_MARGIN_FRACTION of the limit, on either side: inside the device-peak
   * model's error, so the run may go either way (check 8: planned 8.10 GiB against 8 GiB, ran at 7.96).
   */
  tight: boolean;
}

export interface PlanResult {
  memory: MemoryEstimate;
  fits: FitVerdict | null;
  /** Null without a GPU to time against. */
  throughput: ThroughputEstimate | null;
  calibrated: boolean;
  calibrationRuns: number;
  /** Where the constants came from, and the interval that goes with them. */
  constantsSource: ConstantsSource;
  /** Real tokens/s interval: [predicted ÷ factor, predicted × factor] of the source; null without a GPU. */
  speedInterval: SpeedInterval | null;
  constants: PlannerConstants;
  /** What the prediction takes for granted; shown with every result. */
  assumptions: string[];
}

function validate(input: PlanInput): void {
  const problems: Problem[] = [];
  const posInt = (v: number, field: string, hint: string) => {
    if (!Number.isInteger(v) || v < 1)
      problems.push({ field, message: `must be a positive whole number, got ${v}`, hint });
  };
  posInt(input.batchSize, "batchSize", "use 1 or more");
  posInt(input.seqLen, "seqLen", "use a token count such as 512");
  posInt(input.gradAccum, "gradAccum", "use 1 or more");
  posInt(input.lora.r, "lora.r", "use a rank such as 16");
  if (!(input.lora.dropout >= 0 && input.lora.dropout < 1)) {
    problems.push({
      field: "lora.dropout",
      message: `must be in [0, 1), got ${input.lora.dropout}`,
      hint: "use e.g. 0.05",
    });
  }
  if (input.method === "qlora" && input.quant === null) {
    problems.push({
      field: "quant",
      message: "qlora needs a 4-bit storage type",
      hint: 'pass quant: { type: "nf4", doubleQuant: true }',
    });
  }
  if (input.method === "lora" && input.quant !== null) {
    problems.push({
      field: "quant",
      message: "lora keeps 16/32-bit base weights; quant is for qlora",
      hint: "set method qlora or quant null",
    });
  }
  if (!OPTIMIZERS.includes(input.optimizer)) {
    problems.push({
      field: "optimizer",
      message: `unknown optimizer ${input.optimizer}`,
      hint: `use one of ${OPTIMIZERS.join(", ")}`,
    });
  }
  if (!PRECISIONS.includes(input.precision)) {
    problems.push({
      field: "precision",
      message: `unknown precision ${input.precision}`,
      hint: `use one of ${PRECISIONS.join(", ")}`,
    });
  }
  if (input.vramBudgetBytes !== null && !(input.vramBudgetBytes > 0)) {
    problems.push({
      field: "vramBudget",
      message: `must be positive, got ${input.vramBudgetBytes}`,
      hint: 'use a size like "8GiB"',
    });
  }
  if (problems.length > 0) {
    throw new LoraprofError("CONFIG_INVALID", "cannot plan this run", { problems });
  }
  resolveTargetModules(input.lora.targetModules);
  validateLengthStats(input.lengthStats);
}

function limitOf(input: PlanInput): { bytes: number; source: "budget" | "gpu" } | null {
  if (input.vramBudgetBytes !== null) return { bytes: input.vramBudgetBytes, source: "budget" };
  if (input.gpu) return { bytes: usableMemoryBytes(input.gpu), source: "gpu" };
  return null;
}

function assumptionsFor(
  input: PlanInput,
  memory: MemoryEstimate,
  calibrated: boolean,
  runs: number,
): string[] {
  const arch = architectureOf(input.model);
  const out: string[] = [];
  out.push(
    calibrated
      ? `constants calibrated on ${runs} measured run${runs === 1 ? "" : "s"} (${sourceOf(input).label})`
      : "constants are uncalibrated defaults (run `loraprof plan calibrate` after measuring runs)",
  );
  if (input.padding === "longest") {
    out.push(
      `memory peak at the widest batch a run meets: ${memory.peakSeqLen} tokens` +
        (input.lengthStats.maxTokens === undefined && !input.lengthStats.lengths
          ? " (longest record unknown, so seqLen: the safe side)"
          : " (the longest record, truncated to seqLen)"),
    );
  }
  out.push(
    eagerAttention(input)
      ? "eager attention: every head's scores materialized (batch × heads × width², fp32 softmax and its copy per layer)"
      : "sdpa attention, causal kernels without a mask (native GQA: K/V not repeated to every query head)",
  );
  if (input.precision !== "fp32") {
    out.push(
      `torch.autocast ${input.precision}; LoRA adapters and their gradients fp32; each adapter keeps its own ${input.precision} copy of its input`,
    );
  }
  if (input.method === "qlora") {
    out.push(
      `embeddings, LM head and norms kept in ${input.precision} (no prepare_model_for_kbit_training upcast to fp32)`,
    );
  }
  if (arch.tieWordEmbeddings)
    out.push("LM head tied to the embedding (one matrix in memory, a matmul every step)");
  out.push("gradient checkpointing (when on) is non-reentrant per decoder layer");
  if (input.gpu) {
    if (input.precision === "bf16" && !input.gpu.bf16Supported) {
      out.push(
        `${input.gpu.name} has no bf16 tensor cores: bf16 will be emulated and far slower than predicted`,
      );
    }
    if (input.gpu.segment === "geforce" && input.precision !== "fp32") {
      out.push(
        `${input.gpu.name}: fp16 and bf16 GEMMs (FP32 accumulate) run at the same half rate, so they time the same`,
      );
    }
    out.push("J/token is board power ÷ tokens/s: an estimate, not a measurement");
    out.push(
      "NVML device memory excludes other processes (a desktop session on a GeForce card takes several hundred MiB)",
    );
  }
  return out;
}

/** The input's constants source; a bare calibration (library callers) counts as the user's. */
function sourceOf(input: PlanInput): ConstantsSource {
  if (input.constantsSource) return input.constantsSource;
  if (!input.calibration) return DEFAULTS_SOURCE;
  const e = input.calibration.error.realTokensPerSecond;
  return {
    kind: "user",
    label: `user calibration (${input.calibration.runs} runs)`,
    runs: input.calibration.runs,
    speedFactor: 1 + (e ? (2 * e.maxAbsPct) / 100 : 1),
    notes: ["interval: twice the calibration's in-sample tokens/s error"],
  };
}

export function planRun(input: PlanInput): PlanResult {
  validate(input);
  const constants = resolveConstants(input.calibration, input.constants);
  const memory = combineMemory(memoryComponents(input), constants);
  const limit = limitOf(input);
  const fits: FitVerdict | null = limit
    ? {
        verdict: memory.devicePeakBytes <= limit.bytes,
        limitBytes: limit.bytes,
        marginBytes: limit.bytes - memory.devicePeakBytes,
        limitSource: limit.source,
        tight: Math.abs(limit.bytes - memory.devicePeakBytes) < DEFAULT_MARGIN_FRACTION * limit.bytes,
      }
    : null;
  const throughput = input.gpu ? combineThroughput(throughputComponents(input, input.gpu), constants) : null;
  const calibrated = input.calibration !== undefined;
  const calibrationRuns = input.calibration?.runs ?? 0;
  const constantsSource = sourceOf(input);
  return {
    memory,
    fits,
    throughput,
    calibrated,
    calibrationRuns,
    constantsSource,
    speedInterval: throughput
      ? speedInterval(throughput.realTokensPerSecond, constantsSource, throughput.hostRange)
      : null,
    constants,
    assumptions: assumptionsFor(input, memory, calibrated, calibrationRuns),
  };
}

// ---- fit search ------------------------------------------------------------------------------

export const FIT_BATCH_SIZES = [1, 2, 4, 8, 16, 32, 64] as const;
export const FIT_SEQ_LENS = [128, 256, 512, 1024, 2048, 4096, 8192] as const;

export interface FitGridRow {
  seqLen: number;
  /** Largest batch size of the grid that fits at this length; null if not even batch 1 does. */
  largestBatchSize: number | null;
  devicePeakBytes: number | null;
}

export interface FitChoice {
  batchSize: number;
  seqLen: number;
  realTokensPerSecond: number | null;
  devicePeakBytes: number;
  marginBytes: number;
}

export interface FitSearchResult {
  limitBytes: number;
  limitSource: "budget" | "gpu";
  /** For the input's optimizer and precision. */
  grid: FitGridRow[];
  /** The fitting configuration with the most tokens per micro-batch (batch × padded width). */
  largest: (FitChoice & { tokensPerMicroBatch: number }) | null;
  /** Per optimizer × precision: the fastest fitting batch size at the input's seqLen. */
  fastest: { optimizer: OptimizerName; precision: Precision; best: FitChoice | null }[];
}

export interface FitSearchOptions {
  batchSizes?: readonly number[];
  seqLens?: readonly number[];
  optimizers?: readonly OptimizerName[];
  precisions?: readonly Precision[];
}

/**
 * For a GPU or budget: the largest batch × sequence that fits (powers of two, batch 1–64, seq
 * 128–8192) for the input's optimizer and precision, and the fastest configuration per optimizer
 * and precision (batch size swept at the input's seqLen, which the data fixes: shorter would
 * truncate records). The input's batchSize is ignored.
 */
export function fitSearch(input: PlanInput, opts: FitSearchOptions = {}): FitSearchResult {
  const limit = limitOf(input);
  if (!limit) {
    throw new LoraprofError("FLAG_INVALID", "a fit search needs a GPU or a memory budget", {
      problems: [
        {
          field: "--gpu",
          message: "no GPU and no budget given",
          hint: "pass --gpu NAME (or auto) or --vram-budget 8GiB",
        },
      ],
    });
  }
  validate(input);
  const constants = resolveConstants(input.calibration, input.constants);
  const batchSizes = opts.batchSizes ?? FIT_BATCH_SIZES;
  const seqLens = opts.seqLens ?? FIT_SEQ_LENS;

  const memOf = (cfg: PlanInput) => combineMemory(memoryComponents(cfg), constants);
  const grid: FitGridRow[] = [];
  let largest: FitSearchResult["largest"] = null;
  for (const seqLen of seqLens) {
    let row: FitGridRow = { seqLen, largestBatchSize: null, devicePeakBytes: null };
    let width = seqLen;
    for (const batchSize of batchSizes) {
      const mem = memOf({ ...input, batchSize, seqLen });
      if (mem.devicePeakBytes > limit.bytes) break; // memory grows with batch size
      row = { seqLen, largestBatchSize: batchSize, devicePeakBytes: mem.devicePeakBytes };
      width = mem.peakSeqLen;
    }
    grid.push(row);
    if (row.largestBatchSize !== null && row.devicePeakBytes !== null) {
      // Under `longest` padding a seqLen past the longest record adds nothing: count the real width,
      // and keep the shorter seqLen on ties.
      const tokens = row.largestBatchSize * width;
      if (!largest || tokens > largest.tokensPerMicroBatch) {
        const tp = input.gpu
          ? combineThroughput(
              throughputComponents({ ...input, batchSize: row.largestBatchSize, seqLen }, input.gpu),
              constants,
            )
          : null;
        largest = {
          batchSize: row.largestBatchSize,
          seqLen,
          tokensPerMicroBatch: tokens,
          realTokensPerSecond: tp?.realTokensPerSecond ?? null,
          devicePeakBytes: row.devicePeakBytes,
          marginBytes: limit.bytes - row.devicePeakBytes,
        };
      }
    }
  }

  const optimizers = opts.optimizers ?? OPTIMIZERS;
  const precisions =
    opts.precisions ??
    PRECISIONS.filter((p) => p !== "bf16" || input.gpu === null || input.gpu.bf16Supported);
  const fastest: FitSearchResult["fastest"] = [];
  for (const optimizer of optimizers) {
    for (const precision of precisions) {
      let best: FitChoice | null = null;
      for (const batchSize of batchSizes) {
        const cfg: PlanInput = { ...input, optimizer, precision, batchSize };
        const mem = memOf(cfg);
        if (mem.devicePeakBytes > limit.bytes) break;
        const tps = input.gpu
          ? combineThroughput(throughputComponents(cfg, input.gpu as GpuEntry), constants).realTokensPerSecond
          : null;
        // Without a GPU to time against, the largest batch that fits stands in for the fastest.
        const better =
          !best || tps === null || best.realTokensPerSecond === null || tps > best.realTokensPerSecond;
        if (better) {
          best = {
            batchSize,
            seqLen: input.seqLen,
            realTokensPerSecond: tps,
            devicePeakBytes: mem.devicePeakBytes,
            marginBytes: limit.bytes - mem.devicePeakBytes,
          };
        }
      }
      fastest.push({ optimizer, precision, best });
    }
  }
  return { limitBytes: limit.bytes, limitSource: limit.source, grid, largest, fastest };
}
