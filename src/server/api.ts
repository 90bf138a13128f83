/**
 * The dashboard's API: one zod schema per document, imported by the server (whose answers are typed
 * by them, and checked by them except on the paths that run at every commit of a training run) and
 * by the browser (which parses every answer with them), so the two sides cannot drift. Units are in
 * the names; bytes, seconds and watts are base units, formatted only in the browser.
 */
import { z } from "zod";

const num = z.number().nullable();

export const RunStatusSchema = z.enum(["pending", "running", "completed", "oom", "failed", "cancelled"]);
export type RunStatusName = z.infer<typeof RunStatusSchema>;

export const RunErrorSchema = z.object({
  kind: z.string(),
  message: z.string(),
  hint: z.string().nullable(),
  stderrTail: z.string().optional(),
  step: z.number().nullable().optional(),
});

/** One row of the runs table. */
export const RunRowSchema = z.object({
  id: z.string(),
  status: RunStatusSchema,
  label: z.string().nullable(),
  sweepId: z.string().nullable(),
  createdAt: z.string(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  model: z.string(),
  weights: z.string(),
  method: z.string(),
  precision: z.string(),
  optimizer: z.string(),
  batchSize: num,
  seqLen: num,
  gradAccum: num,
  padding: z.string(),
  device: z.string(),
  /** Steps stored so far; in the runs list, counted for unfinished runs only (null for the others). */
  stepsDone: z.number().nullable(),
  stepsTotal: num,
  realTokensPerSecond: num,
  processedTokensPerSecond: num,
  peakDeviceBytes: num,
  peakAllocatedBytes: num,
  joulesPerRealToken: num,
  error: RunErrorSchema.nullable(),
});
export type RunRow = z.infer<typeof RunRowSchema>;
export const RunListSchema = z.array(RunRowSchema);
export type RunList = z.infer<typeof RunListSchema>;

export const StepPointSchema = z.object({
  step: z.number(),
  phase: z.enum(["warmup", "measure"]),
  realTokens: z.number(),
  processedTokens: z.number(),
  loss: num,
  stepSeconds: num,
  allocatedBytes: num,
  unixMs: num,
});
export type StepPoint = z.infer<typeof StepPointSchema>;

export const SamplePointSchema = z.object({
  tMs: z.number(),
  gpuIndex: z.number(),
  phase: z.enum(["idle", "warmup", "measure"]),
  powerWatts: num,
  memoryUsedBytes: num,
  utilizationGpuPercent: num,
});
export type SamplePoint = z.infer<typeof SamplePointSchema>;

/** Where a client's view of a run ends: SSE sends only rows after these. */
export const CursorSchema = z.object({ stepRowid: z.number(), sampleRowid: z.number() });
export type Cursor = z.infer<typeof CursorSchema>;

export const RunDetailSchema = z.object({
  run: RunRowSchema,
  config: z.record(z.string(), z.unknown()),
  environment: z.record(z.string(), z.unknown()).nullable(),
  metrics: z.record(z.string(), z.unknown()).nullable(),
  steps: z.array(StepPointSchema),
  samples: z.array(SamplePointSchema),
  cursor: CursorSchema,
  logPath: z.string().nullable(),
});
export type RunDetail = z.infer<typeof RunDetailSchema>;

export const IntervalSchema = z.object({
  median: z.number(),
  low: num,
  high: num,
  n: z.number(),
});

/** Two or more runs side by side: the settings that differ, and each headline metric per run. */
export const CompareSchema = z.object({
  runs: z.array(RunDetailSchema),
  /** Dotted config fields whose values differ between the runs, with each run's value as text. */
  differences: z.array(z.object({ field: z.string(), values: z.array(z.string()) })),
  /** Fields all runs share, for context. */
  same: z.array(z.object({ field: z.string(), value: z.string() })),
  /** Headline metrics; with repeats (same config, several runs) the median and 95% interval. */
  metrics: z.array(
    z.object({
      key: z.string(),
      label: z.string(),
      unit: z.string(),
      perRun: z.array(IntervalSchema.nullable()),
    }),
  ),
});
export type Compare = z.infer<typeof CompareSchema>;

export const SweepCountsSchema = z.object({
  queued: z.number(),
  running: z.number(),
  completed: z.number(),
  oom: z.number(),
  failed: z.number(),
  cancelled: z.number(),
});

export const SweepRowSchema = z.object({
  id: z.string(),
  name: z.string(),
  status: z.enum(["planned", "running", "interrupted", "finished"]),
  createdAt: z.string(),
  updatedAt: z.string(),
  total: z.number(),
  counts: SweepCountsSchema,
  /** Remaining entries × the median wall time of the finished ones; null before one has finished. */
  etaSeconds: num,
});
export type SweepRow = z.infer<typeof SweepRowSchema>;
export const SweepListSchema = z.array(SweepRowSchema);

export const SweepDetailSchema = z.object({
  sweep: SweepRowSchema,
  entries: z.array(
    z.object({
      key: z.string(),
      label: z.string(),
      repeat: z.number(),
      status: RunStatusSchema,
      runId: z.string().nullable(),
      attempts: z.number(),
      wallSeconds: num,
      error: RunErrorSchema.nullable(),
    }),
  ),
});
export type SweepDetail = z.infer<typeof SweepDetailSchema>;

export const PlanOptionsSchema = z.object({
  models: z.array(z.object({ id: z.string(), name: z.string() })),
  gpus: z.array(z.object({ id: z.string(), name: z.string(), memoryBytes: z.number() })),
  presets: z.array(z.string()),
  recipes: z.array(z.string()),
  methods: z.array(z.string()),
  precisions: z.array(z.string()),
  optimizers: z.array(z.string()),
  paddings: z.array(z.string()),
});
export type PlanOptions = z.infer<typeof PlanOptionsSchema>;

/** The plan form. Unknown keys are errors; each bad field comes back named, with its fix. */
export const PlanRequestSchema = z
  .object({
    model: z.string().min(1).max(200),
    gpu: z.string().min(1).max(100),
    /** A smaller card emulated on the GPU, e.g. "8GiB"; empty for the whole card. */
    vramBudget: z.string().max(20).nullable().default(null),
    preset: z.string().max(40).nullable().default(null),
    /** reference (plain PEFT) or fast (packing and fused kernels): the run config's `recipe`. */
    recipe: z.string().max(20).default("reference"),
    method: z.string().max(20).default("lora"),
    precision: z.string().max(20).default("auto"),
    optimizer: z.string().max(40).default("adamw_torch"),
    /** null: the recipe's own (longest for reference, packed for fast). */
    padding: z.string().max(20).nullable().default(null),
    batchSize: z.number().int().min(1).max(4096).default(1),
    seqLen: z.number().int().min(1).max(1_048_576).default(512),
    gradAccum: z.number().int().min(1).max(4096).default(1),
    loraR: z.number().int().min(1).max(4096).default(16),
    gradCheckpointing: z.boolean().default(false),
  })
  .strict();
export type PlanRequest = z.input<typeof PlanRequestSchema>;

export const PlanAnswerSchema = z.object({
  gpu: z.object({ id: z.string(), name: z.string(), usableBytes: z.number() }),
  model: z.string(),
  shape: z.string(),
  fits: z
    .object({
      verdict: z.boolean(),
      limitBytes: z.number(),
      limitSource: z.string(),
      marginBytes: z.number(),
      /** Within the planner's device-peak error of the limit: the run may go either way. */
      tight: z.boolean(),
    })
    .nullable(),
  memory: z.object({
    breakdown: z.array(
      z.object({ name: z.string(), bytes: z.number(), counted: z.string(), note: z.string() }),
    ),
    allocatorPeakBytes: z.number(),
    devicePeakBytes: z.number(),
  }),
  speed: z
    .object({
      realTokensPerSecond: z.number(),
      processedTokensPerSecond: z.number(),
      stepSeconds: z.number(),
      bound: z.string(),
      mfu: z.number(),
      /** From the calibration's held-out error; null when the planner runs on uncalibrated defaults. */
      interval: z
        .object({
          low: z.number(),
          high: z.number(),
          errorPct: z.number(),
          /** The host's spread where it widened the interval (the step waits on the host), else null. */
          hostSpread: z.number().nullable(),
          runs: z.number(),
          method: z.string(),
        })
        .nullable(),
    })
    .nullable(),
  calibration: z.string(),
  assumptions: z.array(z.string()),
});
export type PlanAnswer = z.infer<typeof PlanAnswerSchema>;

export const ApiErrorSchema = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    hint: z.string().optional(),
    problems: z.array(z.object({ field: z.string(), message: z.string(), hint: z.string().optional() })),
  }),
});
export type ApiError = z.infer<typeof ApiErrorSchema>;

export const HealthSchema = z.object({
  ok: z.boolean(),
  dbPath: z.string(),
  error: ApiErrorSchema.shape.error.nullable(),
});
export type Health = z.infer<typeof HealthSchema>;

/** Server-sent events. `store`: something changed (lists refetch); `run`: new rows of the watched run. */
export const StoreEventSchema = z.object({ version: z.number() });
export const RunEventSchema = z.object({
  run: RunRowSchema,
  steps: z.array(StepPointSchema),
  samples: z.array(SamplePointSchema),
  cursor: CursorSchema,
});
export type RunEvent = z.infer<typeof RunEventSchema>;
