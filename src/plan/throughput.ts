/**
 * Time per step as a roofline with a host-side roof. A micro-step takes the longest of:
 *  - compute: hardware FLOPs ÷ (peak FLOP/s for the precision × efficiency), where efficiency
 *    falls for small micro-batches (few tokens under-fill the GPU's GEMM tiles);
 *  - memory: bytes moved ÷ (bandwidth × efficiency): the frozen weights read once per pass (and
 *    for 4-bit weights: packed codes + quantization state read, a dequantized copy written and read
 *    by the GEMM, every pass), activations written and read back, and the fp32 loss buffers;
 *  - host: operations issued × host seconds per operation + a fixed per-micro-step cost. Eager
 *    PyTorch launches asynchronously, so small models on fast GPUs wait on Python, not the GPU.
 * With activation offload, bringing each checkpointed layer input back from host memory in the backward
 * (on the compute stream, before the layer's recompute) adds its transfer time to the micro-step.
 * An optimizer step (every gradAccum micro-steps) adds the larger of its state traffic and its
 * launches. Tokens/s follow from the tokens of a step: real (non-padding, after truncation) and
 * processed (padded width × batch), from the length statistics and the padding mode.
 */
import {
  countParameters,
  decoderLinearShapes,
  hasQkNorm,
  loraShapes,
  normsPerLayer,
} from "../catalog/params.js";
import type { GpuEntry } from "../catalog/gpus.js";
import { peakFlopsFor } from "../catalog/peak.js";
import type { OptimizerName } from "../protocol/index.js";
import type { PlannerConstants } from "./constants.js";
import { flopsPerToken, type FlopsPerToken } from "./flops.js";
import { runWidths } from "./lengths.js";
import {
  BNB_4BIT_BLOCKSIZE,
  BNB_DOUBLE_QUANT_BLOCKSIZE,
  eagerAttention,
  runLayerActivations,
} from "./memory.js";
import { architectureOf, computeBytes, offloadsActivations, type PlanInput } from "./types.js";

/**
 * Whether PyTorch's SDPA tries cuDNN attention first on this GPU: on data-centre Hopper and Blackwell
 * (compute capability 9.0 and 10.0; PyTorch's `check_prefer_cudnn_attention`, cuDNN ≥ 9.15), not on
 * consumer cards (8.x, 12.0), where masked batches run memory-efficient attention.
 */
export function cudnnAttentionPreferred(gpu: Pick<GpuEntry, "computeCapability"> | null): boolean {
  return gpu !== null && (gpu.computeCapability === "9.0" || gpu.computeCapability === "10.0");
}

export interface EnergyEstimate {
  joulesPerRealToken: number;
  boardPowerWatts: number;
  /** Always an estimate: board power × boardPowerFraction ÷ tokens/s, never a measurement. */
  method: string;
}

export interface ThroughputEstimate {
  /** Expected padded width of a micro-batch. */
  paddedSeqLen: number;
  realTokensPerMicroStep: number;
  processedTokensPerMicroStep: number;
  flopsPerToken: FlopsPerToken;
  flopsPerMicroStep: number;
  bytesPerMicroStep: number;
  opsPerMicroStep: number;
  peakFlopsPerSecond: number;
  computeSeconds: number;
  memorySeconds: number;
  hostSeconds: number;
  /** CUDA graphs: the GPU's own cost of running the replayed graph's kernels one after another. */
  launchSeconds: number;
  /** Activation offload: the layer inputs' way back from host memory, serial with compute (0 without). */
  hostLinkSeconds: number;
  microStepSeconds: number;
  /** What bounds a micro-step. */
  bound: "compute" | "memory" | "host" | "launch";
  optimizerStepSeconds: number;
  /** One optimizer step: gradAccum micro-steps + the optimizer. */
  stepSeconds: number;
  gradAccum: number;
  realTokensPerSecond: number;
  /**
   * Real tokens/s of the same step on a host HOST_SPREAD× slower (low) and faster (high) per operation,
   * everything else equal: the same as realTokensPerSecond where the GPU bounds the step.
   */
  hostRange: { low: number; high: number };
  processedTokensPerSecond: number;
  secondsPer10kRealTokens: number;
  /** Model FLOPs of the real tokens × real tokens/s ÷ peak. */
  mfu: number;
  energy: EnergyEstimate;
}

/** Operations the optimizer issues per step over `tensors` trainable tensors. */
function optimizerOps(optimizer: OptimizerName, tensors: number): number {
  // foreach AdamW: ~12 multi-tensor kernels, each over chunks of the tensor list; fused: one pass.
  // bitsandbytes: one kernel per tensor. Gradient clipping adds a foreach norm and scale (~4).
  const clip = 4;
  switch (optimizer) {
    case "adamw_torch":
      return 12 * Math.ceil(tensors / 24) + clip;
    case "adamw_torch_fused":
      return 2 + clip;
    default:
      return tensors + clip;
  }
}

/** Bytes the optimizer step streams per trainable parameter (param, grad, states; read+write). */
function optimizerBytesPerParam(optimizer: OptimizerName): number {
  const common = 4 * 2 + 4; // fp32 param read + write, fp32 grad read
  return optimizer.includes("8bit") ? common + 2 * 2 : common + 8 * 2;
}

export interface ThroughputComponents {
  paddedSeqLen: number;
  realTokensPerMicroStep: number;
  processedTokensPerMicroStep: number;
  flopsPerToken: FlopsPerToken;
  flopsPerMicroStep: number;
  /** Model FLOPs per real token at the mean truncated length (for MFU). */
  modelFlopsPerRealToken: number;
  /** The decoder's hidden size (the GPU's non-GEMM share of a step falls as it grows: widthHalfEfficiency). */
  hiddenSize: number;
  bytesPerMicroStep: number;
  opsPerMicroStep: number;
  /**
   * Every micro-batch a new shape while LoRA dropout draws a random mask on every adapted input
   * (PlannerConstants.variableShapeHostFactor applies).
   */
  variableShapes: boolean;
  /** Kernels a replayed CUDA graph runs per micro-step (the eager decoder's operations); 0 without graphs. */
  graphNodes: number;
  /** Activation offload: seconds to copy the checkpointed layer inputs back to the device per micro-step. */
  hostLinkSeconds: number;
  optimizerBytes: number;
  optimizerOps: number;
  gradAccum: number;
  peakFlopsPerSecond: number;
  bandwidthBytesPerSecond: number;
  boardPowerWatts: number;
}

export function throughputComponents(input: PlanInput, gpu: GpuEntry): ThroughputComponents {
  const arch = architectureOf(input.model);
  const c = computeBytes(input.precision);
  const B = input.batchSize;
  const { padded: S, real: realPerRecord, attentionSpan } = runWidths(input);
  const P = B * S;
  const realTokens = B * realPerRecord;

  const flopOpts = {
    loraR: input.lora.r,
    targetModules: input.lora.targetModules,
    gradCheckpointing: input.gradCheckpointing,
    method: input.method,
  };
  // Packed rows: attention stays inside each record, so it spans a record, not the row.
  const fl = flopsPerToken(arch, { ...flopOpts, seqLen: attentionSpan ?? S });
  const flModelReal = flopsPerToken(arch, { ...flopOpts, seqLen: attentionSpan ?? realPerRecord });

  // ---- bytes ------------------------------------------------------------------------------
  const counts = countParameters(arch);
  const shapes = decoderLinearShapes(arch);
  const passes = 2 + (input.gradCheckpointing ? 1 : 0);
  let weightBytesPerPass: number;
  if (input.method === "qlora") {
    const dq = input.quant?.doubleQuant ?? false;
    const stateBytesPerWeight = dq
      ? 1 / BNB_4BIT_BLOCKSIZE + 4 / (BNB_4BIT_BLOCKSIZE * BNB_DOUBLE_QUANT_BLOCKSIZE)
      : 4 / BNB_4BIT_BLOCKSIZE;
    // read packed codes + state, write the dequantized matrix, the GEMM reads it back.
    weightBytesPerPass = counts.decoderLinearWeights * (0.5 + stateBytesPerWeight + 2 * c);
  } else {
    weightBytesPerPass = counts.decoderLinearWeights * c;
  }
  const lmHeadBytes = 2 * c * arch.vocabSize * arch.hiddenSize; // forward + backward GEMM reads
  const layer = runLayerActivations(arch, input, { computeBytes: c, span: S });
  // Saved tensors are written in the forward and read in the backward; about as much again moves
  // through the elementwise kernels that make and consume them. Recompute repeats the forward half.
  const activationIo = (input.gradCheckpointing ? 6 : 4) * layer.total * arch.numLayers * P;
  // Loss: logits written and read (compute dtype), fp32 upcast, log-softmax and gradients (~6 fp32 passes).
  // Soft-capped logits (Gemma 2): divided, tanh, multiplied, and the same back: ~3 more compute-dtype passes.
  const softcapIo = arch.finalLogitSoftcapping ? 3 * c : 0;
  const lossIo = P * arch.vocabSize * (2 * c + 6 * 4 + softcapIo);
  const bytesPerMicroStep = passes * weightBytesPerPass + lmHeadBytes + activationIo + lossIo;

  // ---- host operations ----------------------------------------------------------------------
  const adapted = loraShapes(arch, input.lora.targetModules);
  const baseOpsPerLinear = input.method === "qlora" ? (input.quant?.doubleQuant ? 3 : 2) : 1;
  const loraOps = 6 + (input.lora.dropout > 0 ? 1 : 0);
  // RMSNorm in eager PyTorch: fp32 cast, square, mean, add, rsqrt, two multiplies, cast back (~8 ops);
  // Gemma 2/3 norm before and after attention and MLP, Qwen3 and Gemma 3 queries and keys too.
  const norms = normsPerLayer(arch) + (hasQkNorm(arch) ? 2 : 0);
  // Eager attention instead of one SDPA call: repeat K and V, QKᵀ, scale, (soft-cap: divide, tanh,
  // multiply), mask, softmax, dropout, the product with V.
  const eagerOps = eagerAttention(input) ? 7 + (arch.attnLogitSoftcapping != null ? 3 : 0) : 0;
  const layerForwardOps =
    shapes.length * baseOpsPerLinear +
    adapted.length * loraOps +
    NORM_OPS * norms +
    10 /* RoPE */ +
    2 /* sdpa, output layout */ +
    eagerOps +
    2 /* SwiGLU */ +
    2; /* residuals */
  const passesOfForward = 1 + 2 /* backward ≈ 2 ops per forward op */ + (input.gradCheckpointing ? 1 : 0);
  const headOps = 3 * 12; // final norm, LM head, fp32 cast, cross-entropy: forward and backward
  // CUDA graphs (packed rows): the decoder's forward and backward are two graph replays, plus copying
  // the three inputs in and the autograd function around them; only the head and the loss stay eager.
  const decoderOps = arch.numLayers * layerForwardOps * passesOfForward;
  // Activation offload: per layer a copy out (side stream, its event and stream waits) and a copy back.
  const offload = offloadsActivations(input);
  const offloadOps = offload ? arch.numLayers * OFFLOAD_OPS_PER_LAYER : 0;
  const opsPerMicroStep =
    (input.cudaGraphs ? GRAPHED_DECODER_OPS + headOps : decoderOps + headOps) + offloadOps;
  const hostLinkSeconds = offload
    ? (arch.numLayers * c * arch.hiddenSize * P) / HOST_LINK_BYTES_PER_SECOND
    : 0;

  const loraTensors = 2 * adapted.length * arch.numLayers;
  return {
    paddedSeqLen: S,
    realTokensPerMicroStep: realTokens,
    processedTokensPerMicroStep: P,
    flopsPerToken: fl,
    flopsPerMicroStep: fl.hardwareFlopsPerToken * P,
    modelFlopsPerRealToken: flModelReal.modelFlopsPerToken,
    hiddenSize: arch.hiddenSize,
    bytesPerMicroStep,
    opsPerMicroStep,
    // A new shape each micro-batch (`longest` rows, or packed rows of varying width; graphs fix one shape),
    // with dropout masks drawn on it: only together do they cost the host more (see the constant). Padded
    // rows only where SDPA runs them on cuDNN attention (packed rows never do: varlen flash attention).
    variableShapes:
      input.padding !== "max_length" &&
      !input.cudaGraphs &&
      input.lora.dropout > 0 &&
      (input.padding === "packed" || (input.cudnnAttention !== false && cudnnAttentionPreferred(gpu))),
    // The host launches two graphs, but the GPU still runs every kernel in them, each with a fixed cost.
    graphNodes: input.cudaGraphs ? decoderOps : 0,
    hostLinkSeconds,
    optimizerBytes: fl.loraParams * optimizerBytesPerParam(input.optimizer),
    optimizerOps: optimizerOps(input.optimizer, loraTensors),
    gradAccum: input.gradAccum,
    peakFlopsPerSecond: peakFlopsFor(gpu.peakFlops, input.precision),
    bandwidthBytesPerSecond: gpu.bandwidthBytesPerSecond,
    boardPowerWatts: gpu.boardPowerWatts,
  };
}

/** Host operations of one RMSNorm's forward in eager PyTorch. */
const NORM_OPS = 8;

/** Host operations of a graphed decoder per micro-step: 2 replays, 3 input copies, the autograd wrapper. */
const GRAPHED_DECODER_OPS = 10;

/** Activation offload's host operations per layer and micro-step: pinned buffer, stream wait, copy, event; wait, copy back. */
const OFFLOAD_OPS_PER_LAYER = 8;

/**
 * Host ↔ device copy rate for offloaded activations: PCIe 4.0 × 16's ~25 GB/s in practice. Assumed, not
 * measured (the GPU catalog has no host-link figure; an H200 SXM's PCIe 5.0 link is about twice that).
 */
export const HOST_LINK_BYTES_PER_SECOND = 25e9;

/** Host seconds of one micro-step: its operations (dearer on changing shapes with dropout) and a fixed cost. */
function hostSecondsOf(t: ThroughputComponents, k: PlannerConstants): number {
  return (
    t.opsPerMicroStep * k.cpuSecondsPerOp * (t.variableShapes ? k.variableShapeHostFactor : 1) +
    k.microStepFixedSeconds
  );
}

/** GPU time of a replayed graph's kernels at their fixed per-kernel cost (small steps are bound by it). */
function launchSecondsOf(t: ThroughputComponents, k: PlannerConstants): number {
  return t.graphNodes * k.graphKernelSeconds;
}

/**
 * The share of the dense peak a micro-step's FLOPs get: GEMM efficiency, lower for few tokens (tiles
 * under-filled), and lower for narrow models, whose elementwise kernels, norms and LoRA's thin matrices
 * (work ∝ width per token, against the GEMMs' width²) take a larger share of the GPU's time.
 */
function computeEfficiencyOf(t: ThroughputComponents, k: PlannerConstants): number {
  const P = t.processedTokensPerMicroStep;
  return (
    ((k.computeEfficiency * P) / (P + k.tokensHalfEfficiency)) *
    (t.hiddenSize / (t.hiddenSize + k.widthHalfEfficiency))
  );
}

/** Real tokens/s alone (no breakdown): what calibration evaluates thousands of times. */
export function realTokensPerSecondOf(t: ThroughputComponents, k: PlannerConstants): number {
  const micro =
    Math.max(
      t.flopsPerMicroStep / (t.peakFlopsPerSecond * computeEfficiencyOf(t, k)),
      t.bytesPerMicroStep / (t.bandwidthBytesPerSecond * k.memoryEfficiency),
      hostSecondsOf(t, k),
      launchSecondsOf(t, k),
    ) + t.hostLinkSeconds;
  const opt = Math.max(
    t.optimizerBytes / (t.bandwidthBytesPerSecond * k.memoryEfficiency),
    t.optimizerOps * k.cpuSecondsPerOp,
  );
  return (t.gradAccum * t.realTokensPerMicroStep) / (t.gradAccum * micro + opt);
}

/**
 * How far host speed moves between machines of one GPU kind: two H100 leases ran the same probe step in
 * 1,252 and 591 ms (2.1×, bench/results/h100-cudnn-attention.json `hosts`), and check 7's host-bound runs
 * on a third measured up to 2.1× the tokens/s the H100 calibration predicted (h100-plan-holdout7-holdout.json).
 * The planner cannot see the host it will run on, so a step that waits on the host gets this in its interval.
 */
export const HOST_SPREAD = 2.1;

/** Real tokens/s of an estimated step on a host `scale`× slower per operation (below 1: faster). */
export function tokensPerSecondOnHost(
  e: Pick<
    ThroughputEstimate,
    | "computeSeconds"
    | "memorySeconds"
    | "hostSeconds"
    | "launchSeconds"
    | "hostLinkSeconds"
    | "optimizerStepSeconds"
    | "gradAccum"
    | "realTokensPerMicroStep"
  >,
  scale: number,
): number {
  const micro =
    Math.max(e.computeSeconds, e.memorySeconds, e.hostSeconds * scale, e.launchSeconds) + e.hostLinkSeconds;
  return (e.gradAccum * e.realTokensPerMicroStep) / (e.gradAccum * micro + e.optimizerStepSeconds);
}

export function combineThroughput(t: ThroughputComponents, k: PlannerConstants): ThroughputEstimate {
  const P = t.processedTokensPerMicroStep;
  const computeSeconds = t.flopsPerMicroStep / (t.peakFlopsPerSecond * computeEfficiencyOf(t, k));
  const memorySeconds = t.bytesPerMicroStep / (t.bandwidthBytesPerSecond * k.memoryEfficiency);
  const hostSeconds = hostSecondsOf(t, k);
  const launchSeconds = launchSecondsOf(t, k);
  const boundSeconds = Math.max(computeSeconds, memorySeconds, hostSeconds, launchSeconds);
  const microStepSeconds = boundSeconds + t.hostLinkSeconds;
  const bound =
    boundSeconds === computeSeconds
      ? "compute"
      : boundSeconds === memorySeconds
        ? "memory"
        : boundSeconds === hostSeconds
          ? "host"
          : "launch";
  const optimizerStepSeconds = Math.max(
    t.optimizerBytes / (t.bandwidthBytesPerSecond * k.memoryEfficiency),
    t.optimizerOps * k.cpuSecondsPerOp,
  );
  const stepSeconds = t.gradAccum * microStepSeconds + optimizerStepSeconds;
  const realTokensPerSecond = (t.gradAccum * t.realTokensPerMicroStep) / stepSeconds;
  const processedTokensPerSecond = (t.gradAccum * P) / stepSeconds;
  const watts = t.boardPowerWatts * k.boardPowerFraction;
  const estimate: Omit<ThroughputEstimate, "hostRange"> = {
    paddedSeqLen: t.paddedSeqLen,
    realTokensPerMicroStep: t.realTokensPerMicroStep,
    processedTokensPerMicroStep: P,
    flopsPerToken: t.flopsPerToken,
    flopsPerMicroStep: t.flopsPerMicroStep,
    bytesPerMicroStep: t.bytesPerMicroStep,
    opsPerMicroStep: t.opsPerMicroStep,
    peakFlopsPerSecond: t.peakFlopsPerSecond,
    computeSeconds,
    memorySeconds,
    hostSeconds,
    launchSeconds,
    hostLinkSeconds: t.hostLinkSeconds,
    microStepSeconds,
    bound,
    optimizerStepSeconds,
    stepSeconds,
    gradAccum: t.gradAccum,
    realTokensPerSecond,
    processedTokensPerSecond,
    secondsPer10kRealTokens: 10_000 / realTokensPerSecond,
    mfu: (t.modelFlopsPerRealToken * realTokensPerSecond) / t.peakFlopsPerSecond,
    energy: {
      joulesPerRealToken: watts / realTokensPerSecond,
      boardPowerWatts: t.boardPowerWatts,
      method: `estimate: ${Math.round(watts)} W (board power${k.boardPowerFraction === 1 ? "" : ` × ${k.boardPowerFraction}`}) ÷ real tokens/s, not a measurement`,
    },
  };
  const hostRange = {
    low: tokensPerSecondOnHost(estimate, HOST_SPREAD),
    high: tokensPerSecondOnHost(estimate, 1 / HOST_SPREAD),
  };
  return { ...estimate, hostRange };
}

export function estimateThroughput(input: PlanInput, gpu: GpuEntry, k: PlannerConstants): ThroughputEstimate {
  return combineThroughput(throughputComponents(input, gpu), k);
}
