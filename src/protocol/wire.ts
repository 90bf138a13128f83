/**
 * The two contracts between the TypeScript side and the Python engine, defined once here:
 *
 * - RunSpec (TS → engine): the fully resolved run, written as JSON to a file whose path is the
 *   engine's only argument. The engine reads nothing else the user wrote.
 * - Event stream (engine → TS): one JSON object per line on file descriptor 3 (never stdout, so
 *   prints from libraries cannot corrupt it). A versioned union on `type`.
 *
 * `npm run schema` exports both as JSON Schema to engine/schema/, which the engine's tests validate
 * against; a unit test fails when the committed schema drifts from this file.
 */
import { z } from "zod";
import {
  ATTN_IMPLEMENTATIONS,
  LR_SCHEDULES,
  METHODS,
  QUANT_TYPES,
  MODEL_TYPES,
  KERNELS,
  COMPILE_MODES,
  LOSS_IMPLEMENTATIONS,
  OPTIMIZERS,
  PADDING_MODES,
  PRECISIONS,
  RECIPES,
  CUDA_ALLOCATOR_MODES,
} from "./vocabulary.js";

export const PROTOCOL_VERSION = 1;

const int = () => z.number().int();
const nonNegInt = () => z.number().int().nonnegative();
const bytes = () => z.number().nonnegative().nullable();

export const ArchitectureSchema = z
  .object({
    modelType: z.enum(MODEL_TYPES),
    hiddenSize: int().positive(),
    numLayers: int().positive(),
    numHeads: int().positive(),
    numKvHeads: int().positive(),
    headDim: int().positive(),
    intermediateSize: int().positive(),
    vocabSize: int().positive(),
    tieWordEmbeddings: z.boolean(),
    ropeTheta: z.number().positive(),
    ropeScaling: z.record(z.string(), z.union([z.number(), z.string()])).nullable(),
    qkvBias: z.boolean(),
    maxPositionEmbeddings: int().positive(),
    rmsNormEps: z.number().positive(),
    hiddenAct: z.enum(["silu", "gelu_pytorch_tanh"]),
    slidingWindow: int().positive().nullable().optional(),
    attnLogitSoftcapping: z.number().positive().nullable().optional(),
    finalLogitSoftcapping: z.number().positive().nullable().optional(),
  })
  .strict();

export const RunSpecSchema = z
  .object({
    protocolVersion: z.literal(PROTOCOL_VERSION),
    runId: z.string().min(1),
    model: z
      .object({
        /** What the user named (catalog id, hub id or folder). */
        id: z.string(),
        /**
         * synthetic: materialize `architecture` with seeded random weights into `path` once, then load
         * it with from_pretrained; hub: from_pretrained(hubId, revision); local: from_pretrained(path).
         */
        source: z.enum(["synthetic", "hub", "local"]),
        path: z.string().nullable(),
        hubId: z.string().nullable(),
        revision: z.string().nullable(),
        architecture: ArchitectureSchema.nullable(),
        syntheticSeed: nonNegInt(),
      })
      .strict(),
    data: z
      .object({
        /** Token shard folder (see src/data/shard.ts for the layout). */
        shardDir: z.string(),
        padTokenId: nonNegInt(),
        batchSize: int().positive(),
        seqLen: int().positive(),
        gradAccum: int().positive(),
        padding: z.enum(PADDING_MODES),
        /** Seeds the record order (a seeded permutation, cycled epoch by epoch). */
        seed: nonNegInt(),
      })
      .strict(),
    train: z
      .object({
        /** Optimizer steps in all, warmup included. */
        steps: int().positive(),
        /** Steps excluded from the measured window. */
        warmupSteps: nonNegInt(),
        precision: z.enum(PRECISIONS),
        method: z.enum(METHODS),
        gradCheckpointing: z.boolean(),
        attnImplementation: z.enum(ATTN_IMPLEMENTATIONS),
        seed: nonNegInt(),
        /** Steps per event flush: the only points where the engine synchronizes the device mid-run. */
        logEverySteps: int().positive(),
        /**
         * full: the model's forward returns [batch × width × vocab] logits and the loss upcasts them to
         * fp32. chunked: the decoder's hidden states go through the LM head `lossChunkTokens` target
         * rows at a time, each chunk recomputed in backward, so one chunk's logits are alive at once.
         * Same loss and gradients. The LM head then runs on target rows only (padding and masked
         * prompt rows are skipped), but twice per row: forward, and its recompute in backward.
         */
        lossImplementation: z.enum(LOSS_IMPLEMENTATIONS),
        /** Target rows per LM-head chunk (read only with lossImplementation chunked). */
        lossChunkTokens: int().positive(),
        /** The recipe the settings were resolved from (recorded with the run; the engine acts on the fields). */
        recipe: z.enum(RECIPES),
        /** Fused kernels; the engine falls back to PyTorch's ops, with a note, where they cannot run. */
        kernels: z.enum(KERNELS),
        /** LoRA's update added to the base output by one addmm per layer (no input casts, no extra passes). */
        fusedLora: z.boolean(),
        /** The decoder replayed as CUDA graphs (packed rows padded to seqLen); falls back with a note. */
        cudaGraphs: z.boolean(),
        /** SDPA may pick cuDNN attention (PyTorch's default); off: flash or memory-efficient attention only. */
        cudnnAttention: z.boolean(),
        /** Checkpointed layer inputs in pinned host memory between forward and backward; falls back with a note. */
        offloadActivations: z.boolean(),
        /** Regional torch.compile of the decoder layers (eager decoder, GPU); falls back with a note. */
        compile: z.enum(COMPILE_MODES),
      })
      .strict(),
    lora: z
      .object({
        r: int().positive(),
        alpha: z.number().positive(),
        dropout: z.number().min(0).max(1),
        /** "all-linear" (every linear projection but the LM head) or explicit module names. */
        targetModules: z.union([z.literal("all-linear"), z.array(z.string()).min(1)]),
      })
      .strict(),
    quant: z
      .object({
        type: z.enum(QUANT_TYPES),
        doubleQuant: z.boolean(),
      })
      .strict()
      .nullable(),
    optimizer: z
      .object({
        name: z.enum(OPTIMIZERS),
        lr: z.number().positive(),
        weightDecay: z.number().min(0),
        beta1: z.number().min(0).max(1),
        beta2: z.number().min(0).max(1),
        eps: z.number().positive(),
        /** Gradient clipping by global norm; null disables it. */
        maxGradNorm: z.number().positive().nullable(),
        schedule: z.enum(LR_SCHEDULES),
      })
      .strict(),
    /** "cpu" or "cuda:N". */
    device: z.string().regex(/^(cpu|cuda:\d+)$/),
    /** Emulate a smaller card: allocator cap plus an NVML watch of device-used memory. */
    vramBudgetBytes: nonNegInt().nullable(),
    /**
     * PyTorch's CUDA caching allocator. expandable: `expandable_segments:True`, segments grow in
     * place, so reserved memory stays near allocated when batch shapes vary; default: PyTorch's own
     * settings. An allocator setting in the engine's environment (PYTORCH_ALLOC_CONF or
     * PYTORCH_CUDA_ALLOC_CONF) wins over both; the hello event records what applied.
     */
    cudaAllocator: z.enum(CUDA_ALLOCATOR_MODES),
    telemetry: z.object({ energy: z.boolean() }).strict(),
  })
  .strict();
export type RunSpec = z.infer<typeof RunSpecSchema>;

const PhaseSchema = z.enum(["warmup", "measure"]);
export type Phase = z.infer<typeof PhaseSchema>;

export const MemorySnapshotSchema = z
  .object({
    allocatedBytes: bytes(),
    reservedBytes: bytes(),
    peakAllocatedBytes: bytes(),
    peakReservedBytes: bytes(),
    /** NVML: memory used on the whole device (CUDA context and managed/paged memory included). */
    deviceUsedBytes: bytes(),
    deviceTotalBytes: bytes(),
    /** The budget the run was held to, when one was set. */
    budgetBytes: bytes(),
  })
  .strict();

export const HelloEventSchema = z
  .object({
    type: z.literal("hello"),
    protocolVersion: z.literal(PROTOCOL_VERSION),
    engineVersion: z.string(),
    pid: int(),
    python: z.string(),
    platform: z.string(),
    libraries: z.record(z.string(), z.string().nullable()),
    device: z
      .object({
        kind: z.enum(["cpu", "cuda"]),
        index: nonNegInt().nullable(),
        name: z.string(),
        totalMemoryBytes: bytes(),
        capability: z.string().nullable(),
        driver: z.string().nullable(),
        bf16Supported: z.boolean(),
        cpuThreads: int().positive(),
      })
      .strict(),
    /**
     * Where the engine's start went before this event: importing torch, transformers, PEFT (and the
     * engine), then selecting the device (CUDA initialization, NVML, the VRAM budget).
     */
    startupSeconds: z
      .object({ imports: z.number().nonnegative(), device: z.number().nonnegative() })
      .strict(),
    /**
     * This machine's host speed: seconds to dispatch one small PyTorch operation on the CPU (median of five
     * loops of 2,000 in-place adds). Host-bound steps scale with it, and hosts of one GPU kind differ up to
     * 2x. Absent in runs recorded before the engine measured it.
     */
    hostOpSeconds: z.number().positive().optional(),
    /**
     * The CUDA caching allocator's settings as the run had them: from the RunSpec's cudaAllocator,
     * from the environment (the user's PYTORCH_ALLOC_CONF / PYTORCH_CUDA_ALLOC_CONF), or PyTorch's
     * default; `cpu` for CPU runs. Absent in runs recorded before the engine set it.
     */
    allocator: z
      .object({
        settings: z.string().nullable(),
        source: z.enum(["runspec", "environment", "pytorch-default", "cpu"]),
      })
      .strict()
      .optional(),
  })
  .strict();

export const LoadedEventSchema = z
  .object({
    type: z.literal("loaded"),
    loadSeconds: z.number().nonnegative(),
    parameters: z.object({ total: nonNegInt(), trainable: nonNegInt() }).strict(),
    memory: MemorySnapshotSchema,
    /** Weight storage the engine actually used, e.g. "nf4+double-quant, compute bf16". */
    weightsDescription: z.string(),
    /** What was upcast or left in 16 bits while preparing the model (said, not implied). */
    notes: z.array(z.string()),
    syntheticCheckpoint: z.object({ path: z.string(), created: z.boolean() }).strict().nullable(),
  })
  .strict();

export const StepEventSchema = z
  .object({
    type: z.literal("step"),
    step: int().positive(),
    phase: PhaseSchema,
    realTokens: nonNegInt(),
    processedTokens: nonNegInt(),
    labelTokens: nonNegInt(),
    loss: z.number().nullable(),
    /** Device time of the step (CUDA events on GPU, wall clock on CPU). */
    stepSeconds: z.number().nonnegative().nullable(),
    lr: z.number().nonnegative(),
    gradNorm: z.number().nullable(),
    allocatedBytes: bytes(),
    /**
     * Wall clock (Unix ms, host) when the engine began issuing the step's work; with host-bound or
     * in-order execution, when it began. Lines steps up with telemetry samples.
     */
    unixMs: z.number(),
  })
  .strict();

/** Boundaries of the measured window, emitted right after a device synchronization. */
export const WindowEventSchema = z
  .object({
    type: z.literal("window"),
    state: z.enum(["start", "end"]),
    step: nonNegInt(),
    unixMs: z.number(),
  })
  .strict();

const WithReason = <T extends z.ZodTypeAny>(value: T) =>
  z.object({ value: value.nullable(), reason: z.string().nullable() }).strict();

export const SummaryEventSchema = z
  .object({
    type: z.literal("summary"),
    warmupSteps: nonNegInt(),
    measuredSteps: nonNegInt(),
    /** Seconds between the two synchronized window boundaries. */
    measuredSeconds: z.number().nonnegative(),
    realTokens: nonNegInt(),
    processedTokens: nonNegInt(),
    labelTokens: nonNegInt(),
    stepSecondsMedian: z.number().nonnegative().nullable(),
    /**
     * The sequence length attention works over, token-weighted (Σ len² ÷ Σ len over the measured
     * steps' sequences): the padded width for padded batches, each record's own length for packed rows
     * (attention stays inside a record). For the attention term of the FLOPs per token. Absent from
     * engines before the fast recipe.
     */
    attentionSpanTokens: z.number().positive().nullable().optional(),
    lossFirst: z.number().nullable(),
    lossLast: z.number().nullable(),
    memory: MemorySnapshotSchema,
    /**
     * Data-parallel runs (`run --nproc-per-node N`): each rank's memory peaks and measured-window energy,
     * and their maxima. The token counts above are summed over the ranks and `energyJoules` below over
     * their GPUs; `memory` and the NVML peaks are rank 0's. Absent for one process. (Engines before
     * 2026-12-04 sent no NVML or energy figures per rank.)
     */
    ranks: z
      .object({
        worldSize: z.number().int().min(2),
        perRank: z.array(
          z
            .object({
              rank: nonNegInt(),
              peakAllocatedBytes: bytes(),
              peakReservedBytes: bytes(),
              peakHostRssBytes: z.number().int().nonnegative(),
              nvmlPeakProcessBytes: bytes().optional(),
              nvmlPeakDeviceBytes: bytes().optional(),
              energyJoules: z.number().nonnegative().nullable().optional(),
            })
            .strict(),
        ),
        maxPeakAllocatedBytes: bytes(),
        maxPeakHostRssBytes: z.number().int().nonnegative(),
        maxNvmlPeakDeviceBytes: bytes().optional(),
      })
      .strict()
      .optional(),
    /** NVML peaks sampled by the engine over the run (process and device level). */
    nvmlPeakProcessBytes: WithReason(z.number().nonnegative()),
    nvmlPeakDeviceBytes: WithReason(z.number().nonnegative()),
    /** NVML cumulative energy counter delta over the measured window (summed over a data-parallel run's GPUs). */
    energyJoules: WithReason(z.number().nonnegative()),
  })
  .strict();

export const ERROR_KINDS = ["oom", "cuda", "config", "data", "dependency", "disk", "internal"] as const;
export type ErrorKind = (typeof ERROR_KINDS)[number];

export const ErrorEventSchema = z
  .object({
    type: z.literal("error"),
    kind: z.enum(ERROR_KINDS),
    message: z.string(),
    hint: z.string().nullable(),
    /** Where the engine was: setup (imports, device), load (model), train (steps). */
    stage: z.enum(["setup", "load", "train"]),
    step: nonNegInt().nullable(),
    memory: MemorySnapshotSchema.nullable(),
    traceback: z.string().nullable(),
  })
  .strict();

export const EngineEventSchema = z.discriminatedUnion("type", [
  HelloEventSchema,
  LoadedEventSchema,
  StepEventSchema,
  WindowEventSchema,
  SummaryEventSchema,
  ErrorEventSchema,
]);
export type EngineEvent = z.infer<typeof EngineEventSchema>;
export type HelloEvent = z.infer<typeof HelloEventSchema>;
export type LoadedEvent = z.infer<typeof LoadedEventSchema>;
export type StepEvent = z.infer<typeof StepEventSchema>;
export type SummaryEvent = z.infer<typeof SummaryEventSchema>;
export type ErrorEvent = z.infer<typeof ErrorEventSchema>;
export type MemorySnapshot = z.infer<typeof MemorySnapshotSchema>;

/** JSON Schema documents for the engine's tests (draft 2020-12). */
export function protocolJsonSchemas(): { runSpec: unknown; event: unknown } {
  return {
    runSpec: z.toJSONSchema(RunSpecSchema, { target: "draft-2020-12" }),
    event: z.toJSONSchema(EngineEventSchema, { target: "draft-2020-12" }),
  };
}
