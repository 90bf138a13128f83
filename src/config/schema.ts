/**
 * RunConfig: what a user writes (run.json / run.yaml) or passes as flags. One zod schema gives the
 * type, the validation, the defaults (documented at each field) and the JSON Schema for editors.
 * Unknown keys are errors. Resolution into the engine's RunSpec happens in ./resolve.ts.
 */
import { z } from "zod";
import { TEMPLATE_NAMES } from "../data/chat-templates.js";
import { DATASET_FORMATS } from "../data/formats.js";
import { cpuConfigProblems } from "./device.js";
import { findPreset, presetNames } from "./presets.js";
import {
  ATTN_IMPLEMENTATIONS,
  DEFAULT_LOSS_CHUNK_TOKENS,
  LR_SCHEDULES,
  METHODS,
  QUANT_TYPES,
  KERNELS,
  COMPILE_MODES,
  LOSS_IMPLEMENTATIONS,
  OPTIMIZERS,
  PADDING_MODES,
  PRECISIONS,
  RECIPES,
  CUDA_ALLOCATOR_MODES,
} from "../protocol/index.js";

const posInt = () => z.number().int().positive();

/** "8GiB", "7.5 GB", "8192MiB" or a number of bytes. */
export const BYTE_SIZE_PATTERN = /^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)?\s*$/i;

export const LoraSchema = z
  .object({
    /** Adapter rank. */
    r: posInt().default(16),
    /** Scaling numerator: the update is scaled by alpha / r. */
    alpha: z.number().positive().default(32),
    dropout: z.number().min(0).lt(1).default(0.05),
    /** "all-linear": q,k,v,o,gate,up,down (never the LM head); or explicit module names. */
    targetModules: z
      .union([z.literal("all-linear"), z.array(z.string().min(1)).min(1)])
      .default("all-linear"),
  })
  .strict();

export const QuantSchema = z
  .object({
    /** 4-bit data type for QLoRA base weights. */
    type: z.enum(QUANT_TYPES).default("nf4"),
    /** Quantize the quantization constants too (saves ~0.37 bit/param). */
    doubleQuant: z.boolean().default(true),
  })
  .strict();

export const OptimizerSchema = z
  .object({
    name: z.enum(OPTIMIZERS).default("adamw_torch"),
    lr: z.number().positive().default(2e-4),
    weightDecay: z.number().min(0).default(0),
    betas: z.tuple([z.number().min(0).lt(1), z.number().min(0).lt(1)]).default([0.9, 0.999]),
    eps: z.number().positive().default(1e-8),
    /** Clip the global gradient norm; null turns clipping off. */
    maxGradNorm: z.number().positive().nullable().default(1.0),
    /** LR schedule after the linear warmup over `warmupSteps`. */
    schedule: z.enum(LR_SCHEDULES).default("constant"),
  })
  .strict();

/** A registered preset's name (config/presets.ts); the loader applies it. */
const PresetNameSchema = z.string().superRefine((name, ctx) => {
  if (findPreset(name)) return;
  const names = presetNames();
  ctx.addIssue({
    code: "custom",
    message: names.length
      ? `Invalid option: expected one of ${names.map((n) => JSON.stringify(n)).join("|")}`
      : "Invalid option: no presets are registered",
  });
});

export const RunConfigSchema = z
  .object({
    /** Start from one of the study's runs; the file and flags override it. */
    preset: PresetNameSchema.optional(),
    /** Free-text label stored with the run. */
    label: z.string().optional(),
    /** Catalog id (`qwen2.5-1.5b-instruct`), Hugging Face id (`Qwen/Qwen2.5-1.5B-Instruct`) or a local folder. */
    model: z.string().min(1).default("tiny-qwen2"),
    /**
     * random: a seeded synthetic checkpoint built from the catalog's exact architecture (same compute,
     * memory and energy as real weights; loss values meaningless). pretrained: the published weights.
     * auto: pretrained when the model has published weights, else random.
     */
    weights: z.enum(["auto", "random", "pretrained"]).default("auto"),
    /** Hub revision (branch, tag or commit) for pretrained weights. */
    revision: z.string().optional(),
    /**
     * A dataset file or folder (JSON, JSONL, CSV, TSV, Parquet, Arrow, a save_to_disk folder), a hub
     * dataset id already in the Hugging Face cache, `alpaca` (upstream file, downloaded once) or
     * `synthetic` (offline default).
     */
    dataset: z.string().min(1).default("synthetic"),
    /** Record format; auto: detected from the columns (and printed). */
    format: z.enum(["auto", ...DATASET_FORMATS]).default("auto"),
    /** The format's field → the file's column, e.g. {instruction: "prompt", output: "completion"}. */
    columns: z.record(z.string(), z.string()).default({}),
    /** Records generated for `--dataset synthetic`. */
    syntheticRecords: posInt().default(5000),
    /** Use only N records (null: all). */
    subset: posInt().nullable().default(null),
    /** first: the first N records; random: a seeded sample of N. */
    subsetMode: z.enum(["first", "random"]).default("first"),
    /** Seeds subset sampling, record order, synthetic weights and LoRA init. */
    seed: z.number().int().nonnegative().default(0),
    /**
     * auto: the Alpaca prompt for Alpaca records, the model's own chat template (else the built-in one
     * of its family) for chat records, none for text and prompt/completion records.
     */
    template: z.enum(TEMPLATE_NAMES).default("auto"),
    /** Exclude prompt tokens from the loss (train on responses only). */
    maskPrompt: z.boolean().default(false),
    /** Records are truncated to this many tokens. */
    seqLen: posInt().default(512),
    batchSize: posInt().default(1),
    gradAccum: posInt().default(1),
    /**
     * reference: plain PEFT, as the study ran it. fast: packed rows, Liger's fused kernels and fused
     * linear cross-entropy (defaults only: a padding, loss or kernels setting of your own wins).
     */
    recipe: z.enum(RECIPES).default("reference"),
    /**
     * longest: pad each batch to its longest record; max_length: pad every record to seqLen; packed:
     * whole records laid end to end into batchSize rows of up to seqLen tokens (no padding computed,
     * attention kept inside each record, positions restarting per record; `--packing`).
     */
    padding: z.enum(PADDING_MODES).default("longest"),
    /** auto: bf16 on GPUs that support it, fp16 on older GPUs, fp32 on the CPU. */
    precision: z.enum(["auto", ...PRECISIONS]).default("auto"),
    /** lora: 16-bit (or fp32) frozen base; qlora: 4-bit base through bitsandbytes. */
    method: z.enum(METHODS).default("lora"),
    lora: LoraSchema.default(LoraSchema.parse({})),
    quant: QuantSchema.default(QuantSchema.parse({})),
    optimizer: OptimizerSchema.default(OptimizerSchema.parse({})),
    /** Recompute activations in the backward pass (non-reentrant): less memory, ~1/3 more compute. */
    gradCheckpointing: z.boolean().default(false),
    attnImplementation: z.enum(ATTN_IMPLEMENTATIONS).default("sdpa"),
    /**
     * How the LM head and the loss are computed. full: the model returns tokens × vocab logits and the
     * loss upcasts them to fp32 (about 3 fp32 copies alive at once: 7 GiB for Qwen's 152k vocabulary at
     * 2 × 2048 tokens). chunked: `lossChunkTokens` target rows at a time, each chunk recomputed in
     * backward, so only one chunk's logits are alive; the loss and gradients are the same, the LM head
     * skips padding and masked prompt rows but runs twice on target rows. The study's GPU results were
     * measured with full.
     */
    loss: z.enum(LOSS_IMPLEMENTATIONS).default("full"),
    /** none: PyTorch's own ops; liger: Liger Kernel's fused RMSNorm, SwiGLU and RoPE (GPU + Triton). */
    kernels: z.enum(KERNELS).default("none"),
    /**
     * Add each LoRA adapter's update to its layer's output with one addmm (the same function and
     * gradients as PEFT's forward, without its dtype round trips and extra passes over the output).
     */
    fusedLora: z.boolean().default(false),
    /**
     * Replay the decoder's forward and backward as CUDA graphs (packed rows only, padded to seqLen so
     * every micro-batch has one shape; GPU only, falls back with a note elsewhere).
     */
    cudaGraphs: z.boolean().default(false),
    /**
     * Let PyTorch's SDPA pick cuDNN attention where it would (its default; Hopper GPUs). Off, SDPA runs
     * flash or memory-efficient attention: cuDNN builds a plan for each new shape, which costs padded
     * (`longest`) batches about half a second a step on an H100 (docs/fast-path.md, cuDNN attention). Packed rows run
     * varlen flash attention either way.
     */
    cudnnAttention: z.boolean().default(true),
    /**
     * Gradient checkpointing with each checkpointed layer's input copied to pinned host memory in the
     * forward pass (asynchronously) and back for its recompute: the device holds one layer's input at a
     * time instead of every layer's. Needs gradCheckpointing; GPU only, and not with CUDA graphs or
     * several ranks (the engine falls back with a note).
     */
    offloadActivations: z.boolean().default(false),
    /**
     * layers: each decoder layer compiled on its own (regional torch.compile, inductor), which fuses the
     * element-wise work between the GEMMs. For the eager decoder: not with CUDA graphs (they already
     * replay the whole decoder); GPU + Triton only, falls back with a note elsewhere. The first steps
     * carry the compilation: keep it in the warm-up steps.
     */
    compile: z.enum(COMPILE_MODES).default("none"),
    /** Target tokens per LM-head chunk with `loss: chunked` (1024 × 152k vocab ≈ 0.6 GiB per fp32 copy). */
    lossChunkTokens: posInt().default(DEFAULT_LOSS_CHUNK_TOKENS),
    /** Optimizer steps in all, warmup included. */
    steps: posInt().default(50),
    /** Steps excluded from the measured window (compilation, allocator growth, cache warmup). */
    warmupSteps: z.number().int().nonnegative().default(5),
    /** Steps between event flushes, the only mid-run device synchronizations. */
    logEverySteps: posInt().default(10),
    /** auto: cuda:0 when a CUDA GPU is present, else cpu. */
    device: z
      .string()
      .regex(/^(auto|cpu|cuda|cuda:\d+)$/, "expected auto, cpu, cuda or cuda:N")
      .default("auto"),
    /**
     * PyTorch's CUDA caching allocator. expandable (default): expandable segments, so the memory
     * the allocator reserves stays close to what tensors use when batch shapes vary (`longest`
     * padding, packed rows); default: PyTorch's own settings, as runs before this setting had. A
     * PYTORCH_ALLOC_CONF or PYTORCH_CUDA_ALLOC_CONF in the environment wins over both.
     */
    cudaAllocator: z.enum(CUDA_ALLOCATOR_MODES).default("expandable"),
    /** Emulate a smaller card on a larger GPU, e.g. "8GiB"; null: the whole GPU. */
    vramBudget: z
      .union([z.string().regex(BYTE_SIZE_PATTERN, 'expected a size like "8GiB" or "7.5GB"'), posInt()])
      .nullable()
      .default(null),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    // steps < 1 is already reported by its own check; a second problem about it would be noise.
    if (cfg.steps >= 1 && cfg.warmupSteps >= cfg.steps) {
      ctx.addIssue({
        code: "custom",
        path: ["warmupSteps"],
        message: `warmupSteps (${cfg.warmupSteps}) must be smaller than steps (${cfg.steps}) so that some steps are measured`,
      });
    }
    if (cfg.offloadActivations && !cfg.gradCheckpointing) {
      ctx.addIssue({
        code: "custom",
        path: ["offloadActivations"],
        message:
          "offloadActivations moves the checkpointed layers' inputs to host memory, so it needs gradCheckpointing: add --grad-checkpointing or drop --offload-activations",
      });
    }
    if (cfg.compile === "layers" && cfg.cudaGraphs) {
      ctx.addIssue({
        code: "custom",
        path: ["compile"],
        message:
          "compile: layers compiles the eager decoder, but cudaGraphs is on (the fast recipe turns it on), which replays the decoder instead: add --no-cuda-graphs or drop --compile",
      });
    }
    if (cfg.device === "cpu") {
      for (const problem of cpuConfigProblems(cfg)) {
        ctx.addIssue({ code: "custom", path: problem.field.split("."), message: problem.message });
      }
    }
  });

export type RunConfigInput = z.input<typeof RunConfigSchema>;
export type RunConfig = z.output<typeof RunConfigSchema>;

/** Fixes shown beside validation problems, by top-level field. */
export const FIELD_HINTS: Record<string, string> = {
  model:
    "use a catalog id (see `loraprof models`), a Hugging Face id like Qwen/Qwen2.5-1.5B-Instruct, or a local folder",
  weights: "use random, pretrained or auto",
  dataset: "use a dataset file or folder path, a hub id in the Hugging Face cache, `alpaca` or `synthetic`",
  format: `use auto or one of ${DATASET_FORMATS.join(", ")}`,
  columns: "map format fields to columns, e.g. {instruction: prompt}",
  seqLen: "use a positive whole number of tokens, e.g. 512",
  batchSize: "use a positive whole number, e.g. 1",
  gradAccum: "use a positive whole number, e.g. 1",
  padding: "use longest, max_length or packed (--packing)",
  recipe: "use reference or fast",
  kernels: "use none or liger",
  precision: "use auto, fp32, fp16 or bf16 (fp16 needs a GPU)",
  method: "use lora, or qlora on a CUDA GPU",
  optimizer: `optimizer.name is one of ${OPTIMIZERS.join(", ")}`,
  steps: "use a positive whole number larger than warmupSteps",
  warmupSteps: "use fewer warmup steps than steps",
  device: "use auto, cpu, cuda or cuda:N",
  vramBudget: 'use a size like "8GiB", or null for the whole GPU',
  template: `use one of ${TEMPLATE_NAMES.join(", ")}`,
  loss: "use full, chunked or fused (fused needs a GPU with liger-kernel; elsewhere chunked runs)",
  lossChunkTokens: "use a positive whole number of tokens, e.g. 1024",
  /** The presets registered when the hint is read (config/presets.ts). */
  get preset() {
    return `use one of ${presetNames().join(", ")}`;
  },
};

export function parseByteSize(value: string | number): number {
  if (typeof value === "number") return value;
  const m = BYTE_SIZE_PATTERN.exec(value);
  if (!m) throw new Error(`not a size: ${value}`);
  const n = Number(m[1]);
  const unit = (m[2] ?? "B").toLowerCase();
  const factor: Record<string, number> = {
    b: 1,
    kb: 1e3,
    mb: 1e6,
    gb: 1e9,
    tb: 1e12,
    kib: 2 ** 10,
    mib: 2 ** 20,
    gib: 2 ** 30,
    tib: 2 ** 40,
  };
  return Math.round(n * (factor[unit] ?? 1));
}
