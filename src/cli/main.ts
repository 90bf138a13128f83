/**
 * The CLI: parses flags, calls one library function per command, renders. Errors are printed here,
 * in one place, with their exit codes (2 for invalid config or flags, 1 otherwise).
 */
import { Command, CommanderError } from "commander";
import pc from "picocolors";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { LoraprofError } from "../util/errors.js";
import { packageRoot } from "../util/paths.js";
import { registerDemo } from "./commands/demo.js";
import { registerDoctor } from "./commands/doctor.js";
import { registerRun } from "./commands/run.js";
import { registerRuns } from "./commands/runs.js";
import { registerSetup } from "./commands/setup.js";
import { registerExtraCommands } from "./commands/index.js";

function version(): string {
  try {
    return (JSON.parse(readFileSync(join(packageRoot(), "package.json"), "utf8")) as { version: string })
      .version;
  } catch {
    return "unknown";
  }
}

export function buildProgram(): Command {
  const program = new Command("loraprof")
    .description(
      "Plan, run and profile LoRA/QLoRA fine-tuning on NVIDIA GPUs (and on the CPU, for trying it out).",
    )
    .version(version())
    .showHelpAfterError()
    .exitOverride();
  registerSetup(program);
  registerDoctor(program);
  registerDemo(program);
  registerRun(program);
  registerRuns(program);
  registerExtraCommands(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version exit 0; usage errors were already printed by commander.
      return err.exitCode === 0 ? 0 : 2;
    }
    if (err instanceof LoraprofError) {
      const wantsJson = argv.includes("--json");
      if (wantsJson) process.stdout.write(JSON.stringify({ error: err.toJSON() }, null, 2) + "\n");
      process.stderr.write(pc.red(err.format()) + "\n");
      return err.exitCode;
    }
    process.stderr.write(pc.red(`internal error: ${(err as Error)?.stack ?? String(err)}`) + "\n");
    return 1;
  }
}
