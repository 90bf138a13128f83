/** The planner's public API: predict memory and speed of a run before running it. */
export { planRun, fitSearch, FIT_BATCH_SIZES, FIT_SEQ_LENS, DEFAULT_MARGIN_FRACTION } from "./plan.js";
export type {
  PlanInput,
  PlanResult,
  FitVerdict,
  FitSearchResult,
  FitSearchOptions,
  FitChoice,
  FitGridRow,
} from "./plan.js";
export {
  calibrate,
  errorStats,
  evaluatePredictions,
  summarizePredictions,
  crossValidate,
  CONSTANT_RANGES,
} from "./calibrate.js";
export type {
  MeasuredRun,
  CalibrateOptions,
  Evaluation,
  RunPrediction,
  CrossValidation,
} from "./calibrate.js";
export { DEFAULT_CONSTANTS, MEMORY_CONSTANTS, TIME_CONSTANTS, resolveConstants } from "./constants.js";
export type { PlannerConstants, Calibration, CalibrationError, ErrorStats } from "./constants.js";
export { flopsPerToken } from "./flops.js";
export type { FlopsPerToken, FlopsOptions, FlopsBreakdown } from "./flops.js";
export { estimateMemory, layerActivationBytesPerToken, optimizerStateBytes } from "./memory.js";
export type { MemoryEstimate, MemoryItem, LayerActivationBytes } from "./memory.js";
export { estimateThroughput } from "./throughput.js";
export { peakFlopsFor } from "../catalog/peak.js";
export type { ThroughputEstimate, EnergyEstimate } from "./throughput.js";
export {
  expectedMaxLength,
  expectedPaddedLength,
  expectedTruncatedLength,
  DEFAULT_LENGTH_SIGMA,
  ALPACA_PUBLISHED_LENGTHS,
} from "./lengths.js";
export type { LengthStats } from "./lengths.js";
export {
  planInputFromConfig,
  planModel,
  planPrecision,
  planBudgetBytes,
  requirePlanGpu,
  customGpu,
  gpuFromProbe,
} from "./config.js";
export type { PlannableConfig, PlanInputOptions, SeenGpu } from "./config.js";
export { datasetLengths, statsFromLengths } from "./dataset.js";
export type { LengthSource, LengthSourceKind } from "./dataset.js";
export { measuredFromRun, measuredRun, runDevice, runGpu } from "./measured.js";
export type { RunLike } from "./measured.js";
export {
  calibrationsPath,
  loadCalibration,
  saveCalibration,
  toCalibration,
  SavedCalibrationSchema,
  CALIBRATIONS_FILE,
} from "./calibrations.js";
export type { SavedCalibration } from "./calibrations.js";
export { planForConfig, predictForRun, calibrateFromRuns, gpusOfRuns } from "./predict.js";
export type {
  ConfigPlan,
  PlanForConfigOptions,
  PredictForRunOptions,
  StoredRunLike,
  CalibrateFromRunsResult,
} from "./predict.js";
export {
  chooseConstants,
  constantsForInput,
  takesReferenceLossConstants,
  recipeClass,
  shippedCalibration,
  transferCalibration,
  speedInterval,
  ShippedCalibrationSchema,
  RECIPE_CLASSES,
  TRANSFER_FACTOR,
  DEFAULTS_FACTOR,
  DEFAULTS_SOURCE,
} from "./shipped.js";
export type { ConstantsSource, ChosenConstants, RecipeClass, ShippedCalibration } from "./shipped.js";
export { deviceOverheadFor, H200_DEVICE_OVERHEAD_BYTES } from "./device-overhead.js";
export type { DeviceOverhead } from "./device-overhead.js";
export {
  recommend,
  candidateSettings,
  applySettings,
  spaceFor,
  settingsToConfig,
  DEFAULT_SPACE,
} from "./recommend.js";
export type {
  Candidate,
  CandidateSettings,
  RecommendSpace,
  RecommendOptions,
  Recommendation,
} from "./recommend.js";
