/**
 * loraprof as a library: the functions the CLI, the dashboard and the benchmarks call, and their
 * types. `import { loadRunConfig, executeRun, planRun, runSweep, buildReport } from "loraprof"`.
 * Library functions return data and never print; rendering is the caller's.
 */
export { loadRunConfig, type LoadConfigOptions } from "./config/load.js";
export { RunConfigSchema, type RunConfig, type RunConfigInput } from "./config/schema.js";
export { RECIPE_DEFAULTS } from "./config/recipes.js";
export {
  executeRun,
  type RunContext,
  type RunResult,
  type RunObserver,
  type RunProgress,
} from "./run/run.js";
export {
  PROTOCOL_VERSION,
  RunSpecSchema,
  OPTIMIZERS,
  PRECISIONS,
  PADDING_MODES,
  LOSS_IMPLEMENTATIONS,
  KERNELS,
  RECIPES,
  type RunSpec,
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
export { paperStudy, type StudyOptions } from "./study/sweep.js";
export {
  buildReport,
  writeReport,
  buildReportModel,
  type BuildReportOptions,
  type WrittenReport,
  type ReportModel,
  type ReportRun,
} from "./report/index.js";
export { openStore, type Db } from "./store/db.js";
export { LoraprofError, type Problem } from "./util/errors.js";
