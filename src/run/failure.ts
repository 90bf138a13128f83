/**
 * A failed run in the user's words, one owner: which text means out of memory, the OOM hint, the
 * engine's RunSpec paths put as the flags the user typed, and the short reason a report prints.
 * `run/outcome.ts` classifies a finished engine process with these; `report/tables.ts` shortens.
 */

/**
 * Substrings (lower-cased) that mean an allocation failed, whoever raised it: the PyTorch caching
 * allocator, the CUDA runtime or driver, cuBLAS/cuDNN/cuSOLVER workspace allocation, the CPU allocator.
 * The engine classifies its exceptions by the same list (`_OOM_MARKERS` in engine/src/loraprof_engine/
 * errors.py; a unit test fails when the two differ); here it reads the stderr of an engine that native
 * code killed before Python saw the failure (bitsandbytes' paged allocator prints "Error out of memory"
 * and exits).
 */
export const OOM_MARKERS = [
  "out of memory",
  "cublas_status_alloc_failed",
  "cudnn_status_alloc_failed",
  "cusolver_status_alloc_failed",
  "cudaerrormemoryallocation",
  "cuda_error_out_of_memory",
  "failed to allocate",
  "memory allocation failed",
  "not enough memory",
] as const;

export function isOutOfMemoryText(text: string): boolean {
  const lowered = text.toLowerCase();
  return OOM_MARKERS.some((m) => lowered.includes(m));
}

/** The fix for an out-of-memory run, in flags (the engine's own hint, when it sends one, is put in flags too). */
export const OOM_HINT =
  "lower --batch-size or --seq-len, turn on --grad-checkpointing, or use --method qlora / a paged optimizer";

/**
 * The engine speaks RunSpec (`data.batchSize`); the user typed flags (`--batch-size`). Its messages
 * and hints are put in the user's words here, where its error event becomes the run's error, so the
 * engine keeps one vocabulary and the user never sees a path they cannot type. A unit test pins every
 * flag below to the CLI's own flag list.
 */
export const SPEC_PATH_FLAGS: Record<string, string> = {
  "data.batchSize": "--batch-size",
  "data.seqLen": "--seq-len",
  "data.gradAccum": "--grad-accum",
  "data.padding": "--padding",
  "data.seed": "--seed",
  "train.steps": "--steps",
  "train.warmupSteps": "--warmup-steps",
  "train.precision": "--precision",
  "train.method": "--method",
  "train.gradCheckpointing": "--grad-checkpointing",
  "train.attnImplementation": "--attn",
  "train.logEverySteps": "--log-every",
  "train.lossImplementation": "--loss",
  "train.lossChunkTokens": "--loss-chunk-tokens",
  "optimizer.name": "--optimizer",
  "optimizer.lr": "--lr",
  "optimizer.maxGradNorm": "--max-grad-norm",
  "lora.r": "--lora-r",
  "lora.alpha": "--lora-alpha",
  "lora.targetModules": "--lora-targets",
  "quant.type": "--quant-type",
};

/** `lower data.batchSize, use method qlora or optimizer adamw_torch` → `lower --batch-size, use --method qlora …`. */
export function inUserWords(text: string): string {
  return text
    .replace(/\b(data|train|optimizer|lora|quant)\.[A-Za-z]+\b/g, (path) => SPEC_PATH_FLAGS[path] ?? path)
    .replace(
      /(^|[^-\w])(method|optimizer) (qlora|lora|adamw_torch\w*|adamw_8bit|paged_adamw_\w+)\b/g,
      "$1--$2 $3",
    );
}

/** PyTorch's OOM message is a paragraph; its three figures are what a reader needs. */
export function shortReason(error: { kind: string; message: string }): string {
  if (error.kind === "oom") {
    const tried = /Tried to allocate ([\d.]+ [KMG]iB)/.exec(error.message)?.[1];
    const inUse = /this process has ([\d.]+ [KMG]iB) memory in use/.exec(error.message)?.[1];
    const allowed = /([\d.]+ [KMG]iB) allowed/.exec(error.message)?.[1];
    if (tried)
      return `out of memory: tried to allocate ${tried}${inUse ? ` with ${inUse} in use` : ""}${allowed ? ` (${allowed} allowed)` : ""}`;
  }
  const m = error.message.replace(/\s+/g, " ");
  return `${error.kind}: ${m.length > 240 ? `${m.slice(0, 239)}…` : m}`;
}
