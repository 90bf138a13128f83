/** The planner's public API: predict memory and speed of a run before running it. */
export { planRun, fitSearch, FIT_BATCH_SIZES, FIT_SEQ_LENS } from "./plan.js";
export type {
  PlanInput,
  PlanResult,
  FitVerdict,
  FitSearchResult,
  FitSearchOptions,
  FitChoice,
  FitGridRow,
} from "./plan.js";
export { calibrate, evaluatePredictions, CONSTANT_RANGES } from "./calibrate.js";
export type { MeasuredRun, CalibrateOptions, Evaluation, RunPrediction } from "./calibrate.js";
export { DEFAULT_CONSTANTS, MEMORY_CONSTANTS, TIME_CONSTANTS, resolveConstants } from "./constants.js";
export type { PlannerConstants, Calibration, CalibrationError, ErrorStats } from "./constants.js";
export { flopsPerToken } from "./flops.js";
export type { FlopsPerToken, FlopsOptions, FlopsBreakdown } from "./flops.js";
export { estimateMemory, layerActivationBytesPerToken, optimizerStateBytes } from "./memory.js";
export type { MemoryEstimate, MemoryItem, LayerActivationBytes } from "./memory.js";
export { estimateThroughput, peakFlopsFor } from "./throughput.js";
export type { ThroughputEstimate, EnergyEstimate } from "./throughput.js";
export {
  expectedMaxLength,
  expectedPaddedLength,
  expectedTruncatedLength,
  DEFAULT_LENGTH_SIGMA,
} from "./lengths.js";
export type { LengthStats } from "./lengths.js";
