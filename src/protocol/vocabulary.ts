/**
 * The project's vocabulary: the names a user, a config, the planner, the store and the engine share.
 * Adding an optimizer or a precision is a change here (plus the engine's `spec.py`); the wire union in
 * `wire.ts` takes its enums from these lists, `npm run schema` exports them to engine/schema/, and the
 * schema-drift tests (TypeScript and the engine's pytest) fail when either side misses one.
 */
/** The decoder-only families loraprof reads (transformers `model_type` values). */
export const MODEL_TYPES = ["qwen2", "llama", "mistral", "qwen3", "gemma2", "gemma3_text", "phi3"] as const;
export type ModelType = (typeof MODEL_TYPES)[number];

export const OPTIMIZERS = [
  "adamw_torch",
  "adamw_torch_fused",
  "adamw_8bit",
  "paged_adamw_8bit",
  "paged_adamw_32bit",
] as const;
export type OptimizerName = (typeof OPTIMIZERS)[number];
/** Optimizers from bitsandbytes: CUDA kernels only (the engine refuses them elsewhere too). */
export const CUDA_ONLY_OPTIMIZERS: readonly OptimizerName[] = [
  "adamw_8bit",
  "paged_adamw_8bit",
  "paged_adamw_32bit",
];
export const PRECISIONS = ["fp32", "fp16", "bf16"] as const;
export type Precision = (typeof PRECISIONS)[number];
/** longest / max_length: one record per row, right-padded; packed: whole records laid end to end in rows. */
export const PADDING_MODES = ["longest", "max_length", "packed"] as const;
export type PaddingMode = (typeof PADDING_MODES)[number];
export const LOSS_IMPLEMENTATIONS = ["full", "chunked", "fused"] as const;
export type LossImplementation = (typeof LOSS_IMPLEMENTATIONS)[number];
/** none: PyTorch's own ops; liger: Liger Kernel's fused RMSNorm, SwiGLU and RoPE (Triton, GPU only). */
export const KERNELS = ["none", "liger"] as const;
export type Kernels = (typeof KERNELS)[number];
/** reference: plain PEFT as the study ran it; fast: the measured-best settings (see config/recipes.ts). */
/** none: the decoder runs eagerly; layers: each decoder layer compiled on its own (regional torch.compile). */
export const COMPILE_MODES = ["none", "layers"] as const;
export type CompileMode = (typeof COMPILE_MODES)[number];

export const RECIPES = ["reference", "fast"] as const;
export type Recipe = (typeof RECIPES)[number];
/** PyTorch's CUDA caching allocator: expandable segments (the engine's default) or PyTorch's own default. */
export const CUDA_ALLOCATOR_MODES = ["expandable", "default"] as const;
export type CudaAllocatorMode = (typeof CUDA_ALLOCATOR_MODES)[number];
/** lora: a 16-bit base; qlora: a 4-bit quantized base (bitsandbytes, CUDA only). */
export const METHODS = ["lora", "qlora"] as const;
export type Method = (typeof METHODS)[number];
/** 4-bit data types for QLoRA base weights. */
export const QUANT_TYPES = ["nf4", "fp4"] as const;
export type QuantType = (typeof QUANT_TYPES)[number];
export const ATTN_IMPLEMENTATIONS = ["sdpa", "eager"] as const;
export type AttnImplementation = (typeof ATTN_IMPLEMENTATIONS)[number];
/** Learning-rate schedules after the linear warmup. */
export const LR_SCHEDULES = ["constant", "linear", "cosine"] as const;
export type LrSchedule = (typeof LR_SCHEDULES)[number];
/** Target rows per LM-head chunk unless the config says otherwise: 1024 × Qwen's 152k vocabulary is 0.6 GiB per fp32 copy. */
export const DEFAULT_LOSS_CHUNK_TOKENS = 1024;
