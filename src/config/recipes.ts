/**
 * Recipes: named sets of defaults for how the engine computes a step, layered between a preset and
 * the user's own file and flags (defaults < preset < recipe < file < flags), so `--recipe fast
 * --padding longest` is the fast recipe with padding taken back. What each recipe holds is what was
 * measured best on a GPU (README, "Train fast"); the engine falls back, with a note stored with the
 * run, where a kernel cannot run (no GPU, no Triton, no liger-kernel).
 */
import type { Recipe } from "../protocol/index.js";

export const RECIPE_DEFAULTS: Record<Recipe, Record<string, unknown>> = {
  /** Plain PEFT, as the study ran it: one record per row, the model's own ops, full logits. */
  reference: {},
  /**
   * packed: no padding computed, attention kept inside each record (varlen flash attention on CUDA).
   * fused: Liger's fused linear cross-entropy, no logits and no recompute. liger: fused RMSNorm,
   * SwiGLU and RoPE, fewer kernel launches and fewer saved activations. fusedLora: one addmm per LoRA
   * update. cudaGraphs: the decoder's forward and backward replayed as CUDA graphs (rows padded to seqLen),
   * which removes the per-kernel host cost that bounds small steps. LoRA dropout 0 (Unsloth's fast path
   * also assumes it): with checkpointing a graph cannot replay dropout's masks in the recompute, so a
   * `--lora-dropout` above 0 turns the graphs off, with a note. cudnnAttention off: where rows are padded
   * (`--padding longest`, or a model packing cannot serve), SDPA skips cuDNN's per-shape plans (a Qwen2.5-1.5B
   * QLoRA step at b8 × s1024 `longest`: 1,097 and 953 ms with cuDNN, 629 and 658 ms without, on an H100).
   */
  fast: {
    padding: "packed",
    loss: "fused",
    kernels: "liger",
    fusedLora: true,
    cudaGraphs: true,
    cudnnAttention: false,
    lora: { dropout: 0 },
  },
};
