/**
 * Peak device memory of a LoRA/QLoRA training step, as the engine runs it: base weights loaded in
 * the run's precision (or bitsandbytes 4-bit for the decoder's linear layers), embeddings, LM head
 * and norms left in that precision (no prepare_model_for_kbit_training upcast), PEFT adapters in
 * fp32, torch.autocast for fp16/bf16, sdpa attention, non-reentrant gradient checkpointing per
 * decoder layer, and a loss computed in fp32 from the logits (all of them, or one chunk of target
 * rows at a time with the chunked loss).
 *
 * The peak is the largest of two moments, both with the static memory (weights, adapters, their
 * gradients, optimizer state) resident:
 *  - the loss: every saved activation is alive and the fp32 [tokens × vocab] loss buffers peak
 *    (Qwen's 152k vocabulary makes these the largest single item for long sequences); with the
 *    chunked loss, [chunk × vocab] instead, plus the gathered hidden rows and their gradient;
 *  - the backward of one decoder layer: saved activations, plus (with checkpointing) that layer's
 *    recomputed activations, plus the gradient workspace of its backward and a dequantized weight.
 *
 * Two figures come out: the caching allocator's peak (torch.cuda.max_memory_allocated) and the
 * device-level peak NVML reports, which adds the allocator's reserve (fragmentation), the CUDA
 * context and CUDA managed memory (bitsandbytes' paged optimizer state lives there: NVML sees it,
 * the allocator does not).
 */
import {
  countLoraParameters,
  countParameters,
  decoderLinearShapes,
  hasQkNorm,
  normsPerLayer,
  loraShapes,
} from "../catalog/params.js";
import type { ModelArchitecture } from "../catalog/types.js";
import { DEFAULT_LOSS_CHUNK_TOKENS, type OptimizerName } from "../protocol/index.js";
import type { PlannerConstants } from "./constants.js";
import { runWidths } from "./lengths.js";
import { formatBytes } from "../util/format.js";
import { architectureOf, computeBytes, offloadsActivations, type PlanInput } from "./types.js";

/** bitsandbytes 4-bit: 64 weights per quantization block (transformers' default). */
export const BNB_4BIT_BLOCKSIZE = 64;
/** Double quantization: the fp32 absmax values are themselves 8-bit quantized in blocks of 256. */
export const BNB_DOUBLE_QUANT_BLOCKSIZE = 256;
/** bitsandbytes' 8-bit optimizers quantize their two states in blocks of 256 with an fp32 absmax. */
export const BNB_OPTIMIZER_BLOCKSIZE = 256;
/** bitsandbytes keeps 32-bit optimizer state for tensors smaller than this (min_8bit_size). */
export const BNB_MIN_8BIT_SIZE = 4096;

export interface MemoryItem {
  name: string;
  bytes: number;
  note: string;
  /** allocator: through PyTorch's caching allocator; device: seen by NVML only. */
  counted: "allocator" | "device";
}

export interface MemoryEstimate {
  /** Items at the peak; they sum to devicePeakBytes. */
  breakdown: MemoryItem[];
  /** Predicted torch.cuda.max_memory_allocated. */
  allocatorPeakBytes: number;
  /** Predicted torch.cuda.max_memory_reserved. */
  allocatorReservedPeakBytes: number;
  /** Predicted peak of NVML's device memory used. */
  devicePeakBytes: number;
  /** Which moment of the step is the peak. */
  peakPhase: "loss" | "layer-backward";
  /** Allocator bytes at each candidate moment. */
  phases: { lossBytes: number; layerBackwardBytes: number };
  /** The padded sequence width the peak was computed for. */
  peakSeqLen: number;
}

export interface LayerActivationOptions {
  /** Bytes per element of the compute dtype (2 for fp16/bf16 autocast, 4 for fp32). */
  computeBytes: number;
  loraR: number;
  loraDropout: number;
  targetModules: "all-linear" | string[];
  /**
   * Fused LoRA (the engine's one addmm per layer): the adapters read the layer's compute-dtype input
   * as it is, without PEFT's fp32 cast, so adapters on one input share its saved tensor.
   */
  fusedLora?: boolean;
  /**
   * Liger's kernels (RunConfig `kernels: liger`, on a family the engine patches): its RMSNorm saves its
   * input in the compute dtype where the model's own norm saves an fp32 copy, and its SwiGLU saves two
   * [tokens × intermediate] tensors where the model's MLP saves three.
   */
  ligerKernels?: boolean;
  /**
   * Eager attention (RunConfig `attnImplementation: eager`, which Gemma 2's soft-capped scores need): the
   * keys each query attends over, as materialized (the padded row width); absent: SDPA/flash attention.
   */
  eagerAttentionSpan?: number;
}

/** Saved-for-backward bytes per token of one decoder layer, by where they come from. */
export interface LayerActivationBytes {
  /**
   * RMSNorm ×2 (×4 in Gemma 2/3: before and after attention and MLP): the fp32 upcast of the input
   * (saved by pow and mul), plus the fp32 rsqrt; under Liger the input in the compute dtype.
   */
  norms: number;
  /**
   * LoRA inputs: under autocast each adapter casts its input to fp32 (PEFT) and autocast casts it
   * back to the compute dtype for lora_A, so every adapter saves its own compute-dtype copy; with
   * dropout it also saves a 1-byte mask. In plain fp32 without dropout, adapters on the same input
   * share one saved tensor. Frozen base projections (4-bit or 16-bit) save no input.
   */
  loraInputs: number;
  /** lora_B's input, the rank-r output of lora_A, per adapter. */
  loraRank: number;
  /**
   * sdpa: query, key, value (native GQA: the engine passes no attention mask, padded or not, so the
   * causal kernels run and K/V are not repeated to every query head), output, and the fp32
   * log-sum-exp per head. Eager: query, and key and value repeated to every query head, and per head
   * and key the fp32 softmax output and its compute-dtype copy (plus the tanh output where scores are
   * soft-capped): transformers' eager_attention_forward, measured on the CPU (bench/saved_activations.py).
   */
  attention: number;
  /**
   * Per-head query and key RMSNorm (Qwen3, Gemma 3): each saves its input, [tokens × (q + kv dim)],
   * in the compute dtype under Liger or as the eager norm's fp32 copy, and an fp32 inverse RMS per
   * head. 0 for models without them.
   */
  qkNorm: number;
  /**
   * SwiGLU/GeGLU: the activation's input, its output and up_proj's output, all [tokens × intermediate];
   * under Liger's SwiGLU the first and last only.
   */
  mlp: number;
  total: number;
}

/**
 * Saved bytes per head, query and key of eager attention: the fp32 softmax output, its compute-dtype
 * copy (the input of probs @ V), and where scores are soft-capped (Gemma 2) the tanh output.
 */
export function eagerScoreBytes(arch: Pick<ModelArchitecture, "attnLogitSoftcapping">, c: number): number {
  return 4 + c + (arch.attnLogitSoftcapping ? c : 0);
}

/** Whether a run's attention is transformers' eager path: asked for, and not packed rows (their own kernel). */
export function eagerAttention(input: Pick<PlanInput, "attnImplementation" | "padding">): boolean {
  return input.attnImplementation === "eager" && input.padding !== "packed";
}

/**
 * A run's per-layer saved activations per token: its LoRA settings, at the given compute dtype; `span`,
 * the padded row width, sizes eager attention's scores.
 */
export function runLayerActivations(
  arch: ModelArchitecture,
  input: Pick<PlanInput, "lora" | "fusedLora" | "kernels" | "attnImplementation" | "padding">,
  at: { computeBytes: number; span: number },
): LayerActivationBytes {
  return layerActivationBytesPerToken(arch, {
    computeBytes: at.computeBytes,
    // Packed rows run the engine's packed attention (varlen flash or SDPA) whatever the setting.
    ...(eagerAttention(input) ? { eagerAttentionSpan: at.span } : {}),
    fusedLora: input.fusedLora === true,
    ligerKernels: input.kernels === "liger",
    loraR: input.lora.r,
    loraDropout: input.lora.dropout,
    targetModules: input.lora.targetModules,
  });
}

export function layerActivationBytesPerToken(
  arch: ModelArchitecture,
  opts: LayerActivationOptions,
): LayerActivationBytes {
  const c = opts.computeBytes;
  const h = arch.hiddenSize;
  const qDim = arch.numHeads * arch.headDim;
  const kvDim = arch.numKvHeads * arch.headDim;
  const adapted = loraShapes(arch, opts.targetModules);

  // Liger's RMSNorm saves its input as it is (compute dtype) and an fp32 inverse RMS per row; the model's
  // own norm saves an fp32 upcast (liger_kernel/ops/rms_norm.py, save_for_backward(X, RSTD)).
  const norms = normsPerLayer(arch) * ((opts.ligerKernels ? c : 4) * h + 4);

  const perAdapterCopy = (c < 4 && !opts.fusedLora) || opts.loraDropout > 0;
  let loraInputs = 0;
  if (perAdapterCopy) {
    const perElement = c + (opts.loraDropout > 0 ? 1 : 0);
    loraInputs = adapted.reduce((s, m) => s + perElement * m.inFeatures, 0);
  } else {
    // One saved tensor per distinct input: the attention-norm output (q/k/v), the attention output
    // (o), the MLP-norm output (gate/up) and the SwiGLU product (down).
    const groups = new Map<string, number>();
    for (const m of adapted) {
      const key =
        m.name === "q_proj" || m.name === "k_proj" || m.name === "v_proj"
          ? "attn_in"
          : m.name === "gate_proj" || m.name === "up_proj"
            ? "mlp_in"
            : m.name;
      groups.set(key, m.inFeatures);
    }
    for (const inFeatures of groups.values()) loraInputs += c * inFeatures;
  }
  const loraRank = adapted.length * c * opts.loraR;

  const attention =
    opts.eagerAttentionSpan === undefined
      ? c * (qDim + 2 * kvDim + qDim) + 4 * arch.numHeads
      : c * 3 * qDim + arch.numHeads * opts.eagerAttentionSpan * eagerScoreBytes(arch, c);
  const qkNorm = hasQkNorm(arch)
    ? (opts.ligerKernels ? c : 4) * (qDim + kvDim) + 4 * (arch.numHeads + arch.numKvHeads)
    : 0;
  // Liger's SwiGLU saves gate and up alone (ops/swiglu.py, save_for_backward(a, b)); the eager MLP
  // also keeps the activation's output for the product's backward.
  const mlp = (opts.ligerKernels ? 2 : 3) * c * arch.intermediateSize;
  return {
    norms,
    loraInputs,
    loraRank,
    attention,
    qkNorm,
    mlp,
    total: norms + loraInputs + loraRank + attention + qkNorm + mlp,
  };
}

/**
 * Gradient workspace while one layer runs backward, per token: the gradients of the three
 * [tokens × intermediate] MLP tensors and two hidden-size gradients (the incoming one and the one
 * being accumulated for the residual stream).
 */
export function layerBackwardWorkspacePerToken(
  arch: ModelArchitecture,
  computeBytesPerElement: number,
): number {
  return computeBytesPerElement * (3 * arch.intermediateSize + 2 * arch.hiddenSize);
}

export interface OptimizerStateBytes {
  bytes: number;
  /** Lives in CUDA managed memory (bitsandbytes paged optimizers). */
  paged: boolean;
  description: string;
}

/** Optimizer state for the trainable tensors (element counts), by optimizer. */
export function optimizerStateBytes(
  optimizer: OptimizerName,
  tensorSizes: readonly number[],
): OptimizerStateBytes {
  const n = tensorSizes.reduce((s, x) => s + x, 0);
  switch (optimizer) {
    case "adamw_torch":
    case "adamw_torch_fused":
      return { bytes: 8 * n, paged: false, description: "AdamW exp_avg + exp_avg_sq, fp32 (8 B/param)" };
    case "paged_adamw_32bit":
      return {
        bytes: 8 * n,
        paged: true,
        description:
          "paged AdamW 32-bit: 8 B/param in CUDA managed memory (NVML sees it, the allocator does not)",
      };
    case "adamw_8bit":
    case "paged_adamw_8bit": {
      let bytes = 2 * 256 * 4; // the two 256-entry fp32 quantization maps
      for (const size of tensorSizes) {
        if (size < BNB_MIN_8BIT_SIZE) bytes += 8 * size;
        else bytes += 2 * size + 2 * 4 * Math.ceil(size / BNB_OPTIMIZER_BLOCKSIZE);
      }
      const paged = optimizer === "paged_adamw_8bit";
      return {
        bytes,
        paged,
        description:
          "8-bit blockwise AdamW: two uint8 states + fp32 absmax per 256 (≈2.03 B/param)" +
          (paged ? ", in CUDA managed memory (NVML sees it, the allocator does not)" : ""),
      };
    }
  }
}

/** Constant-independent parts of the memory estimate (what calibration recombines). */
export interface MemoryComponents {
  /** Weights, adapters, gradients, non-paged optimizer state. */
  staticItems: MemoryItem[];
  /** Paged optimizer state (device-only). */
  managedItem: MemoryItem | null;
  /** Saved activations at the loss moment, before activationScale. */
  savedActivationBytes: number;
  savedActivationNote: string;
  /** Recomputed layer + backward workspace, before activationScale. */
  layerWorkspaceBytes: number;
  layerWorkspaceNote: string;
  /** One dequantized weight matrix (4-bit base), alive during a layer's backward. */
  dequantBufferBytes: number;
  /** tokens × vocab at the peak width; with the chunked loss, one chunk's rows × vocab. */
  lossElements: number;
  /** Target rows per LM-head chunk with the chunked loss; null for the full loss. */
  lossChunkRows: number | null;
  /**
   * Beyond the fp32 copies. Chunked loss: the hidden states gathered at the target rows (at most every
   * token) and their gradient, both in the compute dtype, alive while the chunks run backward. Full loss
   * of soft-capped logits (Gemma 2's `final_logit_softcapping`): the tanh output it saves, tokens × vocab
   * in the compute dtype.
   */
  lossRowBytes: number;
  peakSeqLen: number;
  /** Which reserve-over-allocated the run has: expandable segments, or PyTorch's default with fixed or varying shapes. */
  reserve: "expandable" | "default-fixed" | "default-variable";
  /**
   * The decoder replays as CUDA graphs out of their own memory pool while a full or chunked loss runs eagerly
   * beside it: the loss's buffers and the recorded backward's workspace cannot reuse each other's blocks, so
   * both stay reserved (`memoryPeaks`). The fused loss is left out: the fast class's constants are fitted to
   * fused, graphed runs, so its small chunks are in them already.
   */
  lossBesideGraphPool: boolean;
}

/**
 * Rows per chunk of Liger's fused linear cross-entropy: it sizes chunks so that one chunk's logits
 * (rows × vocab) are about as large as the hidden states (tokens × hidden), rounded up to a power of
 * two (liger_kernel/ops/fused_linear_cross_entropy.py: next_power_of_2(cdiv(BT, cdiv(V, H)))).
 */
export function fusedLossChunkRows(tokens: number, vocab: number, hidden: number): number {
  const rows = Math.ceil(tokens / Math.ceil(vocab / hidden));
  return Math.min(tokens, 2 ** Math.ceil(Math.log2(Math.max(1, rows))));
}

export function memoryComponents(input: PlanInput): MemoryComponents {
  const arch = architectureOf(input.model);
  const c = computeBytes(input.precision);
  const dtype = input.precision;
  const counts = countParameters(arch);
  const L = arch.numLayers;
  const items: MemoryItem[] = [];

  if (input.method === "qlora") {
    const dq = input.quant?.doubleQuant ?? false;
    const qtype = input.quant?.type ?? "nf4";
    let stateBytes = 0;
    for (const s of decoderLinearShapes(arch)) {
      const blocks = Math.ceil((s.inFeatures * s.outFeatures) / BNB_4BIT_BLOCKSIZE);
      const perTensor = dq
        ? blocks * 1 + Math.ceil(blocks / BNB_DOUBLE_QUANT_BLOCKSIZE) * 4 + 256 * 4 + 4 + 16 * 4
        : blocks * 4 + 16 * 4;
      stateBytes += perTensor * L;
    }
    items.push({
      name: `base linear weights (4-bit ${qtype}, packed)`,
      bytes: counts.decoderLinearWeights / 2,
      note: "two 4-bit codes per byte, every decoder projection",
      counted: "allocator",
    });
    items.push({
      name: "quantization state",
      bytes: stateBytes,
      note: dq
        ? "double quant: uint8 absmax per 64 weights + fp32 absmax per 256 blocks + 1 KiB code table per tensor"
        : "fp32 absmax per 64 weights",
      counted: "allocator",
    });
  } else {
    items.push({
      name: `base linear weights (${dtype})`,
      bytes: c * counts.decoderLinearWeights,
      note: "frozen decoder projections",
      counted: "allocator",
    });
  }
  items.push({
    name: `embedding (${dtype})`,
    bytes: c * counts.embedding,
    note: `${arch.vocabSize} × ${arch.hiddenSize}${arch.tieWordEmbeddings ? ", also the LM head (tied)" : ""}`,
    counted: "allocator",
  });
  if (!arch.tieWordEmbeddings) {
    items.push({
      name: `LM head (${dtype})`,
      bytes: c * counts.lmHead,
      note: "untied: a second vocab × hidden matrix, never quantized",
      counted: "allocator",
    });
  }
  items.push({
    name: `norms and biases (${dtype})`,
    bytes: c * (counts.norms + counts.decoderBiases),
    note: arch.qkvBias ? "RMSNorm weights and q/k/v biases" : "RMSNorm weights",
    counted: "allocator",
  });

  const adapted = loraShapes(arch, input.lora.targetModules);
  const nLora = countLoraParameters(arch, input.lora.r, input.lora.targetModules);
  items.push({
    name: "LoRA adapters (fp32)",
    bytes: 4 * nLora,
    note: `${nLora.toLocaleString("en-US")} parameters, r=${input.lora.r} on ${adapted.map((m) => m.name).join(", ")}`,
    counted: "allocator",
  });
  items.push({
    name: "LoRA gradients (fp32)",
    bytes: 4 * nLora,
    note: "counted whole; zero_grad(set_to_none) frees them between steps, so the peak is slightly lower",
    counted: "allocator",
  });

  const tensorSizes: number[] = [];
  for (let l = 0; l < L; l++) {
    for (const m of adapted) tensorSizes.push(input.lora.r * m.inFeatures, input.lora.r * m.outFeatures);
  }
  const opt = optimizerStateBytes(input.optimizer, tensorSizes);
  const optItem: MemoryItem = {
    name: `optimizer state (${input.optimizer})`,
    bytes: opt.bytes,
    note: opt.description,
    counted: opt.paged ? "device" : "allocator",
  };
  if (!opt.paged) items.push(optItem);

  // ---- activations at the peak width -------------------------------------------------------
  // Under `longest`, the longest record the run meets.
  const widths = runWidths(input);
  const S = widths.peak;
  const B = input.batchSize;
  const T = B * S;
  const finalNorm = 4 * arch.hiddenSize + 4;
  const layer = runLayerActivations(arch, input, { computeBytes: c, span: S });
  // Eager attention's backward: per head and key, the fp32 softmax gradient and the compute-dtype one.
  const workspace =
    layerBackwardWorkspacePerToken(arch, c) + (eagerAttention(input) ? arch.numHeads * S * (4 + c) : 0);
  let savedActivationBytes: number;
  let savedActivationNote: string;
  let layerWorkspaceBytes: number;
  let layerWorkspaceNote: string;
  if (input.gradCheckpointing) {
    // With offload each layer's input goes to host memory as the forward passes it (the copy of one
    // overlaps the next layer) and comes back just before its recompute: at most two on the device.
    const offload = offloadsActivations(input);
    savedActivationBytes = T * ((offload ? 2 : L) * c * arch.hiddenSize + finalNorm);
    savedActivationNote = offload
      ? `checkpointing with offload: ${L} layer inputs (${c} B × hidden per token each) in pinned host memory, ≤ 2 on the device`
      : `checkpointing: each layer's input (${c} B × hidden per token) × ${L} layers`;
    layerWorkspaceBytes = T * (layer.total + workspace);
    layerWorkspaceNote = `one layer recomputed (${Math.round(layer.total)} B/token) + its backward workspace`;
  } else {
    savedActivationBytes = T * (L * layer.total + finalNorm);
    savedActivationNote = `${Math.round(layer.total)} B/token/layer × ${L} layers (norms ${layer.norms}, LoRA inputs ${layer.loraInputs + layer.loraRank}, attention ${layer.attention}, MLP ${layer.mlp})`;
    layerWorkspaceBytes = T * workspace;
    layerWorkspaceNote = "backward workspace of one layer";
  }
  const maxWeight = Math.max(...decoderLinearShapes(arch).map((s) => s.inFeatures * s.outFeatures));
  // The chunked loss sees only target rows, one chunk of them at a time: at most the real tokens of the
  // run's fullest micro-batch when its records are walked (the planner does not know the label mask, so
  // prompts count as targets), else T.
  // The fused loss (Liger) runs over every row, one chunk of rows × vocab at a time, never the whole logits.
  const chunked = input.lossImplementation === "chunked" || input.lossImplementation === "fused";
  const targetRows = Math.min(T, widths.peakRealTokens ?? T);
  const lossChunkRows =
    input.lossImplementation === "fused"
      ? fusedLossChunkRows(T, arch.vocabSize, arch.hiddenSize)
      : chunked
        ? Math.min(input.lossChunkTokens ?? DEFAULT_LOSS_CHUNK_TOKENS, targetRows)
        : null;
  return {
    staticItems: items,
    managedItem: opt.paged ? optItem : null,
    savedActivationBytes,
    savedActivationNote: `${B} × ${S} tokens; ${savedActivationNote}`,
    layerWorkspaceBytes,
    layerWorkspaceNote,
    dequantBufferBytes: input.method === "qlora" ? c * maxWeight : 0,
    lossElements: (lossChunkRows ?? T) * arch.vocabSize,
    lossChunkRows,
    lossRowBytes: chunked
      ? 2 * c * (input.lossImplementation === "chunked" ? targetRows : T) * arch.hiddenSize
      : arch.finalLogitSoftcapping
        ? c * T * arch.vocabSize
        : 0,
    peakSeqLen: S,
    lossBesideGraphPool: input.cudaGraphs === true && input.lossImplementation !== "fused",
    reserve:
      input.cudaAllocator === "expandable"
        ? "expandable"
        : input.padding === "max_length"
          ? "default-fixed"
          : "default-variable",
  };
}

/** The share of a step's transient memory the allocator keeps reserved beyond it, by allocator mode. */
export function reserveFraction(m: Pick<MemoryComponents, "reserve">, k: PlannerConstants): number {
  switch (m.reserve) {
    case "expandable":
      return k.expandableFragmentation;
    case "default-fixed":
      return k.allocatorFragmentation;
    case "default-variable":
      return k.allocatorFragmentation + k.variableShapeFragmentation;
  }
}

/**
 * Reserved over allocated at the peak: a fixed part per allocator mode, and a share of what comes and
 * goes within the step, the peak over its base of weights, optimizer state and saved activations
 * (loss buffers, a layer's backward workspace), which is what leaves freed blocks behind. In the committed
 * H200 runs reserved over allocated stayed 0.3–0.6 GiB with expandable segments from a 1.6 GiB QLoRA step
 * to a 17.5 GiB one (bench/results/h200-plan-holdout-holdout.json: 21% and 2%), 0.75 GiB with PyTorch's
 * default allocator at 71.6 GiB (h200-mfu-lora-bf16.json), and grew with the full loss's fp32 logits.
 */
export function reserveBytes(
  m: Pick<MemoryComponents, "reserve">,
  k: PlannerConstants,
  allocatorPeakBytes: number,
  baseBytes: number,
): number {
  const fixed = m.reserve === "expandable" ? k.expandableReserveBytes : k.allocatorReserveBytes;
  return fixed + reserveFraction(m, k) * (allocatorPeakBytes - baseBytes);
}

/** The peak figures alone (no breakdown): what calibration evaluates thousands of times. */
export function memoryPeaks(m: MemoryComponents, k: PlannerConstants) {
  let staticBytes = 0;
  for (const i of m.staticItems) staticBytes += i.bytes;
  const saved = k.activationScale * m.savedActivationBytes;
  const lossBuffers = 4 * k.lossFp32Copies * m.lossElements + m.lossRowBytes;
  const layerPhase = k.activationScale * m.layerWorkspaceBytes + m.dequantBufferBytes;
  const base = staticBytes + k.allocatorFixedBytes + saved;
  const lossBytes = base + lossBuffers;
  const layerBackwardBytes = base + layerPhase;
  const allocatorPeakBytes = Math.max(lossBytes, layerBackwardBytes);
  // Two pools (`lossBesideGraphPool`): the smaller phase is held beside the larger one. Check 14 on an H100
  // (session 28): Qwen2.5 1.5B LoRA `--recipe fast --loss chunked` b8 × s2048 reserved 2.63 GiB beyond its
  // allocated peak, where one pool gave 0.68; with its 1.83 GiB of loss chunks held apart, 2.50 (refitted).
  const heldApart = m.lossBesideGraphPool ? Math.min(lossBuffers, layerPhase) : 0;
  const allocatorReservedPeakBytes =
    allocatorPeakBytes + heldApart + reserveBytes(m, k, allocatorPeakBytes, base);
  const devicePeakBytes = allocatorReservedPeakBytes + k.cudaContextBytes + (m.managedItem?.bytes ?? 0);
  return {
    saved,
    lossBuffers,
    layerPhase,
    lossBytes,
    layerBackwardBytes,
    allocatorPeakBytes,
    heldApart,
    allocatorReservedPeakBytes,
    devicePeakBytes,
  };
}

export function combineMemory(m: MemoryComponents, k: PlannerConstants): MemoryEstimate {
  const {
    saved,
    lossBuffers,
    layerPhase,
    lossBytes,
    layerBackwardBytes,
    allocatorPeakBytes,
    heldApart,
    allocatorReservedPeakBytes,
    devicePeakBytes,
  } = memoryPeaks(m, k);
  const peakPhase = lossBytes >= layerBackwardBytes ? "loss" : "layer-backward";

  const breakdown: MemoryItem[] = [...m.staticItems];
  breakdown.push({
    name: "saved activations",
    bytes: saved,
    note: m.savedActivationNote,
    counted: "allocator",
  });
  if (peakPhase === "loss") {
    breakdown.push({
      name: "logits and loss buffers (fp32)",
      bytes: lossBuffers,
      note:
        m.lossChunkRows === null
          ? `${k.lossFp32Copies.toFixed(2)} fp32 copies of tokens × vocab (${m.lossElements.toLocaleString("en-US")} elements) at the loss` +
            (m.lossRowBytes > 0 ? "; + the soft-capped logits' saved tanh output" : "")
          : `chunked loss: ${k.lossFp32Copies.toFixed(2)} fp32 copies of one ${m.lossChunkRows}-row chunk × vocab (${m.lossElements.toLocaleString("en-US")} elements), recomputed in backward; + the gathered hidden rows and their gradient`,
      counted: "allocator",
    });
  } else {
    breakdown.push({
      name: "layer backward",
      bytes: layerPhase,
      note: m.layerWorkspaceNote + (m.dequantBufferBytes > 0 ? "; + one dequantized weight" : ""),
      counted: "allocator",
    });
  }
  breakdown.push({
    name: "allocator fixed",
    bytes: k.allocatorFixedBytes,
    note: "cuBLAS workspaces, RoPE tables, batch tensors, small temporaries",
    counted: "allocator",
  });
  if (heldApart > 0)
    breakdown.push({
      name: peakPhase === "loss" ? "graphs' pool (layer backward)" : "loss buffers beside the graphs' pool",
      bytes: heldApart,
      note: `the decoder's CUDA graphs keep their own memory pool; the eager ${m.lossChunkRows === null ? "full" : "chunked"} loss cannot reuse it, so the ${peakPhase === "loss" ? "recorded layer backward's workspace stays" : "loss's fp32 buffers stay"} reserved beside the peak`,
      counted: "device",
    });
  breakdown.push({
    name: "allocator reserve",
    bytes: allocatorReservedPeakBytes - allocatorPeakBytes - heldApart,
    note:
      m.reserve === "expandable"
        ? `expandable segments: ${formatBytes(k.expandableReserveBytes)} whatever the run, and ${Math.round(reserveFraction(m, k) * 100)}% of what is allocated and freed within a step (freed-but-mapped memory)`
        : `PyTorch's default caching allocator: ${formatBytes(k.allocatorReserveBytes)} whatever the run, and ${Math.round(reserveFraction(m, k) * 100)}% of what is allocated and freed within a step (rounding, cached blocks${m.reserve === "default-variable" ? " of batch shapes that vary" : ""})`,
    counted: "device",
  });
  breakdown.push({
    name: "CUDA context and driver",
    bytes: k.cudaContextBytes,
    note: "CUDA context, loaded kernels (PyTorch, cuBLAS, bitsandbytes) and the driver's reservation; outside the allocator",
    counted: "device",
  });
  if (m.managedItem) breakdown.push(m.managedItem);
  return {
    breakdown,
    allocatorPeakBytes,
    allocatorReservedPeakBytes,
    devicePeakBytes,
    peakPhase,
    phases: { lossBytes, layerBackwardBytes },
    peakSeqLen: m.peakSeqLen,
  };
}

export function estimateMemory(input: PlanInput, k: PlannerConstants): MemoryEstimate {
  return combineMemory(memoryComponents(input), k);
}
