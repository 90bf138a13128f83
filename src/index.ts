/**
 * loraprof as a library: the functions the CLI, the dashboard and the benchmarks call, and their
 * types. `import { loadRunConfig, executeRun, planRun, runSweep, buildReport } from "loraprof"`.
 * Library functions return data and never print; rendering is the caller's.
 *
 * Importing it registers the paper's presets (`preset: paper-run1` …) with the config loader.
 */
import { registerPaperPresets } from "./study/presets.js";

registerPaperPresets();

export { loadRunConfig, type LoadConfigOptions } from "./config/load.js";
export { RunConfigSchema, type RunConfig, type RunConfigInput } from "./config/schema.js";
export { RECIPE_DEFAULTS } from "./config/recipes.js";
export { registerPresets, presetNames, type Preset } from "./config/presets.js";
export {
  executeRun,
  type RunContext,
  type RunResult,
  type RunObserver,
  type RunProgress,
} from "./run/run.js";
export {
  setup,
  doctor,
  doctorOk,
  DEFAULT_TORCH_SPEC,
  type Check,
  type SetupResult,
} from "./run/environment.js";
export * from "./protocol/vocabulary.js";
export {
  PROTOCOL_VERSION,
  RunSpecSchema,
  EngineEventSchema,
  type RunSpec,
  type EngineEvent,
  type SummaryEvent,
} from "./protocol/index.js";
export * from "./plan/index.js";
export {
  prepareSweep,
  reopenSweep,
  planSweep,
  runSweep,
  type PreparedSweep,
  type SweepOutcome,
  type SweepRunOptions,
} from "./sweep/run.js";
export { parseSweepSpec, type SweepSpec } from "./sweep/spec.js";
export {
  paperComparison,
  paperStudy,
  plannedFastArm,
  planStudy,
  readReference,
  writeStudyReport,
  type Reference,
  type StudyOptions,
  type FastArm,
} from "./study/index.js";
export {
  runSlurmSweep,
  type SlurmOptions,
  type SlurmSweepOptions,
  type SlurmSweepEvent,
} from "./sweep/slurm/backend.js";
export { planRanks, DEFAULT_RANK_LINK, type RankPlan, type RankLink } from "./plan/ranks.js";
export {
  buildReport,
  writeReport,
  buildReportModel,
  type BuildReportInput,
  type BuildReportOptions,
  type ReferenceComparison,
  type WrittenReport,
  type ReportModel,
  type ReportRun,
} from "./report/index.js";
export { openStore, type Db } from "./store/db.js";
export { getRun, listRuns, type RunRecord, type RunStatus } from "./store/runs.js";
export { decodeMetrics, type StoredMetrics } from "./store/metrics.js";
export {
  exportRuns,
  importBundle,
  readImportSource,
  type ExportSelection,
  type ImportResult,
  type RunBundle,
} from "./store/transfer.js";
export { LoraprofError, type Problem } from "./util/errors.js";

// Lower-level pieces the benchmarks (bench/) and other tools build on: the engine process and its
// zygote, the sweep table lookup, the GPU catalog, the cache folder and the CLI's run flags.
export { startEngine, resolvePython } from "./run/engine.js";
export { startZygote, type ZygoteStart } from "./run/zygote.js";
export { RUN_PHASES, type RunPhase, type RunPhases } from "./run/phases.js";
export { MIN_TRUSTED_WINDOW_SECONDS } from "./run/metrics.js";
export { findSweep } from "./sweep/store.js";
export { findGpu } from "./catalog/gpus.js";
export { cacheDir, loraprofHome } from "./util/paths.js";
export { RUN_FLAGS, flagsToOverrides } from "./cli/flags.js";
