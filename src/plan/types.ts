/** The planner's input: one run configuration, on one GPU or memory budget. */
import type { GpuEntry } from "../catalog/gpus.js";
import type { ModelArchitecture, ModelEntry } from "../catalog/types.js";
import type {
  CudaAllocatorMode,
  Kernels,
  LossImplementation,
  OptimizerName,
  PaddingMode,
  Precision,
} from "../protocol/index.js";
import type { Calibration, PlannerConstants } from "./constants.js";
import type { LengthStats } from "./lengths.js";
import type { ConstantsSource } from "./shipped.js";

export interface PlanInput {
  /** A catalog entry or bare architecture facts. */
  model: ModelEntry | ModelArchitecture;
  /** The GPU to predict for; null predicts memory only (and a fit verdict if a budget is given). */
  gpu: GpuEntry | null;
  /** Emulated smaller card: the run is held to this many device bytes. */
  vramBudgetBytes: number | null;
  batchSize: number;
  /** Records are truncated to this many tokens. */
  seqLen: number;
  gradAccum: number;
  padding: PaddingMode;
  /** Packed rows replayed as CUDA graphs (RunConfig `cudaGraphs`): rows padded to seqLen. */
  cudaGraphs?: boolean;
  /** Checkpointed layer inputs in host memory between forward and backward (RunConfig `offloadActivations`). */
  offloadActivations?: boolean;
  /** Data-parallel ranks the run uses (`--nproc-per-node`); absent: one process. */
  ranks?: number;
  precision: Precision;
  method: "lora" | "qlora";
  /** 4-bit storage of the base linear weights; required for qlora, null for lora. */
  quant: { type: "nf4" | "fp4"; doubleQuant: boolean } | null;
  lora: { r: number; alpha?: number; dropout: number; targetModules: "all-linear" | string[] };
  optimizer: OptimizerName;
  gradCheckpointing: boolean;
  /**
   * full (default): tokens × vocab logits at the loss; chunked: one chunk of `lossChunkTokens`
   * target rows at a time (RunConfig `loss`).
   */
  lossImplementation?: LossImplementation;
  /** Target rows per chunk with the chunked loss (default DEFAULT_LOSS_CHUNK_TOKENS). */
  lossChunkTokens?: number;
  /**
   * The engine's CUDA caching allocator (RunConfig `cudaAllocator`): expandable segments keep the
   * reserve near the allocated peak. Absent: PyTorch's default, as runs stored before the setting.
   */
  cudaAllocator?: CudaAllocatorMode;
  /** Fused kernels (RunConfig `kernels`); with `fusedLora` and the fused loss they make the fast recipe's calibration apply. */
  kernels?: Kernels;
  /**
   * RunConfig `attnImplementation` (absent: sdpa). Eager materializes every head's scores, batch ×
   * heads × width² per layer (Gemma 2's soft-capped attention needs it).
   */
  attnImplementation?: "sdpa" | "eager";
  /**
   * RunConfig `cudnnAttention` (absent: true, PyTorch's default). Off, padded batches of changing shape do
   * not pay cuDNN's per-shape attention plans (PlannerConstants.variableShapeHostFactor).
   */
  cudnnAttention?: boolean;
  fusedLora?: boolean;
  /** Record lengths of the dataset (tokens, template included). */
  lengthStats: LengthStats;
  /**
   * Optimizer steps of the run (warmup included). Under `longest` padding the widest micro-batch a
   * run meets, and so its memory peak, depends on how many records it visits; absent: a run long
   * enough to meet the longest record.
   */
  steps?: number;
  /** Warmup steps (left out of the measured window), with `steps` and `seed`: see `runWidths`. */
  warmupSteps?: number;
  /** The record-order seed (RunConfig `seed`): with every record's length, the planner walks the run's records. */
  seed?: number;
  /** Fitted constants; predictions made with it say `calibrated: true`. */
  calibration?: Calibration;
  /** Where `calibration` came from (user, shipped, transferred), with its tokens/s interval; see ./shipped.ts. */
  constantsSource?: ConstantsSource;
  /** Per-call overrides of individual constants (applied after the calibration). */
  constants?: Partial<PlannerConstants>;
}

export function architectureOf(model: ModelEntry | ModelArchitecture): ModelArchitecture {
  return "architecture" in model ? model.architecture : model;
}

/** Bytes per element of the compute dtype (and of the frozen 16/32-bit weights). */
export function computeBytes(precision: Precision): number {
  return precision === "fp32" ? 4 : 2;
}

/**
 * Whether the run keeps its checkpointed layer inputs in host memory (engine/src/loraprof_engine/offload.py,
 * `offload_unavailable`, owns the rule): asked for, under checkpointing, one rank, and not replayed as
 * CUDA graphs.
 */
export function offloadsActivations(input: PlanInput): boolean {
  return (
    input.offloadActivations === true &&
    input.gradCheckpointing &&
    (input.ranks ?? 1) <= 1 &&
    input.cudaGraphs !== true
  );
}
