import type { Command } from "commander";
import { registerData } from "./data.js";
import { registerModels } from "./models.js";

/** Commands beyond the core run loop. */
export function registerExtraCommands(program: Command): void {
  registerData(program);
  registerModels(program);
}
