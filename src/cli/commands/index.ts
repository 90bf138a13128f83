import type { Command } from "commander";
import { registerCache } from "./cache.js";
import { registerData } from "./data.js";
import { registerModels } from "./models.js";
import { registerPlan } from "./plan.js";
import { registerSlurmTask } from "./slurm.js";
import { registerReport } from "./report.js";
import { registerStudy } from "./study.js";
import { registerSweep } from "./sweep.js";
import { registerTelemetry } from "./telemetry.js";
import { registerTune } from "./tune.js";
import { registerUi } from "./ui.js";

/** Commands beyond the core run loop. */
export function registerExtraCommands(program: Command): void {
  registerData(program);
  registerModels(program);
  registerPlan(program);
  registerSweep(program);
  registerTune(program);
  registerStudy(program);
  registerReport(program);
  registerTelemetry(program);
  registerUi(program);
  registerCache(program);
  registerSlurmTask(program);
}
