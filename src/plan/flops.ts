/**
 * FLOPs per token of one LoRA/QLoRA training step (forward + backward), shared by the planner
 * (time = FLOPs ÷ achievable FLOP/s) and telemetry (MFU = model FLOPs × tokens/s ÷ peak).
 *
 * Terms, per token (a multiply-add counts 2 FLOPs):
 *
 * - Frozen base matmuls, N_matmul = every decoder linear weight plus the LM head matrix (the LM
 *   head multiplies whether or not it is tied to the embedding; the embedding lookup is not a
 *   matmul). Forward 2·N_matmul; backward only propagates activation gradients through the frozen
 *   weights, 2·N_matmul, and computes no weight gradients: 4·N_matmul in all (not the 6·N of full
 *   fine-tuning). Biases, norms, RoPE, activations and the loss are elementwise and not counted.
 * - Attention scores and values, counted causally: the token at position p attends to p keys, so a
 *   sequence of S tokens does S(S+1)/2 query-key pairs, (S+1)/2 per token. Per layer and pair, QKᵀ
 *   costs 2·d and AV 2·d FLOPs (d = heads × head_dim, query heads: grouped KV heads share keys but
 *   every query head does its own products). Forward per token: 2·d·(S+1) per layer; backward
 *   twice the forward (gradients for both operands of both products): 3× forward in all.
 *   `seqLen` is the length the sequences actually have (the padded width when batches are padded:
 *   padded positions are computed too).
 * - LoRA: N_lora = Σ r·(in + out) over adapted projections. Forward 2·N_lora; backward 4·N_lora
 *   (gradients of the adapter weights and of their input): 6·N_lora.
 *
 * Model FLOPs are the sum above. Hardware FLOPs add what gradient checkpointing executes again: the
 * forward of every decoder layer (its base matmuls, adapters and attention; the LM head is outside
 * the checkpointed layers). Work that kernels waste is not modelled: a masked (padded) batch runs
 * the memory-efficient SDPA kernel over the full S×S square rather than the causal triangle, and
 * flash-attention's backward recomputes the scores; both make real hardware FLOPs somewhat higher.
 * 4-bit dequantization is elementwise (bytes, not FLOPs) and is accounted for in the time model.
 */
import { countLoraParameters, countParameters } from "../catalog/params.js";
import type { ModelArchitecture } from "../catalog/types.js";

export interface FlopsOptions {
  seqLen: number;
  loraR: number;
  targetModules: "all-linear" | string[];
  gradCheckpointing: boolean;
  method: "lora" | "qlora";
}

export interface FlopsBreakdown {
  /** 2·N_matmul. */
  baseForward: number;
  /** 2·N_matmul (activation gradients only). */
  baseBackward: number;
  /** 2·N_lora. */
  loraForward: number;
  /** 4·N_lora. */
  loraBackward: number;
  /** Causal QKᵀ and AV, all layers. */
  attentionForward: number;
  /** 2× attentionForward. */
  attentionBackward: number;
  /** Forward of the decoder layers again (gradient checkpointing); hardware FLOPs only. */
  recompute: number;
}

export interface FlopsPerToken {
  /** Decoder linear weights + LM head matrix. */
  matmulParams: number;
  loraParams: number;
  modelFlopsPerToken: number;
  hardwareFlopsPerToken: number;
  breakdown: FlopsBreakdown;
}

export function flopsPerToken(arch: ModelArchitecture, opts: FlopsOptions): FlopsPerToken {
  const counts = countParameters(arch);
  const lmHeadMatmul = arch.vocabSize * arch.hiddenSize;
  const matmulParams = counts.decoderLinearWeights + lmHeadMatmul;
  const loraParams = countLoraParameters(arch, opts.loraR, opts.targetModules);

  const queryDim = arch.numHeads * arch.headDim;
  const attentionForward = 2 * queryDim * (opts.seqLen + 1) * arch.numLayers;

  const breakdown: FlopsBreakdown = {
    baseForward: 2 * matmulParams,
    baseBackward: 2 * matmulParams,
    loraForward: 2 * loraParams,
    loraBackward: 4 * loraParams,
    attentionForward,
    attentionBackward: 2 * attentionForward,
    recompute: opts.gradCheckpointing
      ? 2 * counts.decoderLinearWeights + 2 * loraParams + attentionForward
      : 0,
  };
  const modelFlopsPerToken =
    breakdown.baseForward +
    breakdown.baseBackward +
    breakdown.loraForward +
    breakdown.loraBackward +
    breakdown.attentionForward +
    breakdown.attentionBackward;
  return {
    matmulParams,
    loraParams,
    modelFlopsPerToken,
    hardwareFlopsPerToken: modelFlopsPerToken + breakdown.recompute,
    breakdown,
  };
}
