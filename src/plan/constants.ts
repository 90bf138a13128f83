/**
 * The planner's free constants: everything the memory and time models do not derive from the
 * architecture, the GPU's datasheet figures and the run config. Each is named, documented with
 * where its default comes from, overridable per call, and fitted by `calibrate` to measured runs.
 * The defaults are educated guesses, not measurements: a prediction made with them says
 * `calibrated: false`.
 */

const MiB = 2 ** 20;

export interface PlannerConstants {
  // ---- memory -------------------------------------------------------------------------------
  /**
   * What NVML's device-used figure holds beyond the allocator's reserve and paged state: the CUDA
   * context, the kernels PyTorch, cuBLAS and bitsandbytes load, and the driver's own reservation on
   * the device. Default per GPU family: `deviceOverheadBytesFor` (./device-overhead.ts).
   */
  cudaContextBytes: number;
  /**
   * Allocations outside the analytic model that live through the step: cuBLAS workspaces, RoPE
   * tables, input ids/labels, the loss scaler, small temporaries.
   */
  allocatorFixedBytes: number;
  /**
   * PyTorch's default caching allocator: reserved beyond the allocated peak, as a share of what a step
   * allocates and frees (its peak over the weights, optimizer state and saved activations): block
   * rounding and cached blocks no later request fits.
   */
  allocatorFragmentation: number;
  /**
   * With PyTorch's default allocator, extra reserve when batch shapes vary from step to step
   * (`longest` padding, packed rows): cached blocks of one shape that fit no later request. Added
   * to allocatorFragmentation for those runs.
   */
  variableShapeFragmentation: number;
  /** PyTorch's default allocator: reserved beyond the allocated peak that does not grow with the run. */
  allocatorReserveBytes: number;
  /**
   * Expandable segments (`cudaAllocator: expandable`, the engine's default): reserved beyond the
   * allocated peak as a share of what a step allocates and frees. Segments grow in place, so only
   * freed-but-mapped memory remains, whatever the shapes.
   */
  expandableFragmentation: number;
  /**
   * Reserved over allocated with expandable segments that does not grow with the run: the small pool's
   * 2 MiB segments, page rounding of each stream's segment, a CUDA graph pool's own rounding.
   */
  expandableReserveBytes: number;
  /** Multiplier on the analytic saved-activation and backward-workspace estimates. */
  activationScale: number;
  /**
   * fp32 [tokens × vocab] buffers alive at the loss peak: the log-softmax output saved for
   * backward, its gradient, and the fp32 gradient of the logits (3). The forward peak (compute-dtype
   * logits + fp32 upcast + log-softmax output) is no larger for 2- or 4-byte logits.
   */
  lossFp32Copies: number;

  // ---- time ---------------------------------------------------------------------------------
  /** Fraction of the dense peak FLOP/s that large GEMMs reach. */
  computeEfficiency: number;
  /**
   * Tokens per micro-batch at which GEMM efficiency is half of `computeEfficiency`: small matrices
   * under-fill the GPU (efficiency = computeEfficiency × T / (T + this)).
   */
  tokensHalfEfficiency: number;
  /**
   * Hidden size at which the decoder's GEMMs would get half of the GPU's compute time: the rest
   * (elementwise kernels, norms, RoPE, LoRA's rank-r matrices, memory-bound) grows with the width per
   * token while GEMM FLOPs grow with its square, so wide models run nearer the GEMMs' efficiency
   * (efficiency × h / (h + this)).
   */
  widthHalfEfficiency: number;
  /** Fraction of the datasheet memory bandwidth that streaming kernels reach. */
  memoryEfficiency: number;
  /**
   * Host time per launched GPU operation (Python, dispatcher, autograd, launch). Eager PyTorch
   * issues operations asynchronously, so a step takes the longer of the GPU's time and the host's.
   */
  cpuSecondsPerOp: number;
  /** Fixed host time per micro-step (batch transfer, loss bookkeeping, Python loop). */
  microStepFixedSeconds: number;
  /**
   * Host time per operation when every micro-batch has a new shape (`longest` padding, packed rows
   * without CUDA graphs) and LoRA dropout draws a random mask on every adapted input, as a multiple of
   * a fixed shape's. In the committed H200 runs neither alone costs more: the probe's `longest` and
   * packed runs at dropout 0 (bench/results/h200-fast-probe-1.json, the first in a fresh process
   * included) and the study's `max_length` runs at dropout 0.05 match a fixed-shape host model,
   * while the study's `longest` runs at dropout 0.05 (h200-study.json) took ~1.4× as long per
   * operation. GPU time is a tenth of those steps, so attention over the padded width cannot account
   * for it, nor can a per-new-shape cost (cuBLAS heuristics, kernel loading) that the dropout-free runs
   * would pay too. The mechanism is not isolated; a likely one is allocation churn: each adapted
   * module's dropout adds a mask and an output tensor whose sizes change with every width. One that is
   * (session 17, bench/results/h100-cudnn-attention.json): on Hopper, SDPA runs a padded batch on cuDNN
   * attention, which plans every new shape (1,059 ms of host time in its forward over two profiled steps);
   * with it off (`cudnnAttention: false`), a Qwen2.5-1.5B QLoRA `longest` step at dropout 0.05 took
   * 1.28-1.40x less (loraprof run, alternating) and 1.45-1.74x less (in-process probe), the size of this
   * factor. So padded rows without cuDNN attention are planned without it, and so are padded rows on GPUs
   * where SDPA does not try cuDNN first (throughput.ts `cudnnAttentionPreferred`: consumer cards).
   */
  variableShapeHostFactor: number;
  /**
   * GPU time per kernel of a replayed CUDA graph, whatever the kernel does: graphs take the host out of
   * a step, but the GPU still runs the decoder's tens of thousands of small kernels one after another.
   * Default from the H200: a graphed run-1 step took 59 ms (bench/results/h200-graphs-probe.json) for
   * ~10.7k decoder operations as the planner counts them.
   */
  graphKernelSeconds: number;
  /**
   * Share of board power drawn while training, for the J/token estimate (1 = the study's method:
   * the full board power divided by tokens/s).
   */
  boardPowerFraction: number;
}

export const DEFAULT_CONSTANTS: Readonly<PlannerConstants> = Object.freeze({
  // H200_DEVICE_OVERHEAD_BYTES (./device-overhead.ts): measured on the committed H200 runs.
  cudaContextBytes: 1382 * MiB,
  allocatorFixedBytes: 64 * MiB,
  allocatorFragmentation: 0.1,
  variableShapeFragmentation: 0.2,
  allocatorReserveBytes: 256 * MiB,
  expandableFragmentation: 0.03,
  expandableReserveBytes: 256 * MiB,
  activationScale: 1,
  lossFp32Copies: 3,
  computeEfficiency: 0.55,
  tokensHalfEfficiency: 256,
  // ~14 bytes per token per unit width for each adapted linear's LoRA (x read twice, the output and the
  // input gradient read and written) at the H200's 4.8 TB/s, against 4·h² GEMM FLOPs at 60% of 989 TFLOP/s,
  // plus the norms and SwiGLU: about a third of the GEMMs' time at h = 1536.
  widthHalfEfficiency: 512,
  memoryEfficiency: 0.75,
  cpuSecondsPerOp: 10e-6,
  microStepFixedSeconds: 0.005,
  variableShapeHostFactor: 1.5,
  graphKernelSeconds: 5e-6,
  boardPowerFraction: 1,
});

export const MEMORY_CONSTANTS = [
  "cudaContextBytes",
  "allocatorFixedBytes",
  "allocatorFragmentation",
  "variableShapeFragmentation",
  "allocatorReserveBytes",
  "expandableFragmentation",
  "expandableReserveBytes",
  "activationScale",
  "lossFp32Copies",
] as const satisfies readonly (keyof PlannerConstants)[];

export const TIME_CONSTANTS = [
  "computeEfficiency",
  "tokensHalfEfficiency",
  "widthHalfEfficiency",
  "memoryEfficiency",
  "cpuSecondsPerOp",
  "microStepFixedSeconds",
  "variableShapeHostFactor",
  "graphKernelSeconds",
] as const satisfies readonly (keyof PlannerConstants)[];

/** A fitted set of constants and how well it fit the runs it came from. */
export interface Calibration {
  constants: PlannerConstants;
  /** The constants the fit moved (others stayed at their defaults). */
  fitted: (keyof PlannerConstants)[];
  /** Measured runs the fit used. */
  runs: number;
  /** Runs that ran out of memory, used as lower bounds on the device peak (absent in older calibrations). */
  oomRuns?: number;
  /** In-sample error after the fit, per measured quantity (null where no run measured it). */
  error: CalibrationError;
}

export interface ErrorStats {
  runs: number;
  /** Median of |predicted − measured| / measured, in percent. */
  medianAbsPct: number;
  maxAbsPct: number;
}

export interface CalibrationError {
  devicePeakBytes: ErrorStats | null;
  allocatorPeakBytes: ErrorStats | null;
  realTokensPerSecond: ErrorStats | null;
}

export function resolveConstants(
  calibration: Calibration | undefined,
  overrides: Partial<PlannerConstants> | undefined,
): PlannerConstants {
  return { ...DEFAULT_CONSTANTS, ...(calibration?.constants ?? {}), ...(overrides ?? {}) };
}
