/**
 * The CLI: parses flags, calls one library function per command, renders. Errors are printed here,
 * in one place, with the exit codes of the one policy (EXIT in util/errors.ts).
 */
import { Command, CommanderError } from "commander";
import pc from "picocolors";
import { EXIT, EXIT_CODES_TEXT, LoraprofError } from "../util/errors.js";
import { storeFailure } from "../store/db.js";
import { packageVersion } from "../util/paths.js";
import { registerDemo } from "./commands/demo.js";
import { registerDoctor } from "./commands/doctor.js";
import { registerRun } from "./commands/run.js";
import { registerRuns } from "./commands/runs.js";
import { registerSetup } from "./commands/setup.js";
import { registerExtraCommands } from "./commands/index.js";
import { registerPaperPresets } from "../study/presets.js";

// The composition root: the presets `--preset` and config files name (config/presets.ts).
registerPaperPresets();

/**
 * Commander with one message of its own: a flag that takes no value, given one (`--cuda-graphs=maybe`), is
 * named with its two forms instead of being reported as unknown. Every subcommand is one of these.
 */
class LoraprofCommand extends Command {
  override createCommand(name?: string): Command {
    return new LoraprofCommand(name);
  }

  /** Commander's hook for an option it could not match (`Command.unknownOption`, undocumented). */
  unknownOption(flag: string): void {
    const m = /^(--(?:no-)?([^=]+))=/.exec(flag);
    if (m) {
      const [, typed, name] = m as unknown as [string, string, string];
      const takesNoValue = (long: string) =>
        this.options.some((o) => o.long === long && !o.required && !o.optional);
      const forms = [`--${name}`, `--no-${name}`].filter(takesNoValue);
      if (forms.length)
        this.error(`error: ${typed} takes no value (got '${flag}'): use ${forms.join(" or ")}`, {
          code: "commander.unknownOption",
        });
    }
    (Command.prototype as unknown as { unknownOption(flag: string): void }).unknownOption.call(this, flag);
  }
}

export function buildProgram(): Command {
  const program = new LoraprofCommand("loraprof")
    .description(
      "Plan, run and profile LoRA/QLoRA fine-tuning on NVIDIA GPUs (and on the CPU, for trying it out).",
    )
    .version(packageVersion())
    .showHelpAfterError()
    .exitOverride();
  registerSetup(program);
  registerDoctor(program);
  registerDemo(program);
  registerRun(program);
  registerRuns(program);
  registerExtraCommands(program);
  // Every command's --help ends with the same exit-code policy.
  const withHelp = (cmd: Command): void => {
    cmd.addHelpText("after", "\n" + EXIT_CODES_TEXT + "\n");
    cmd.commands.forEach(withHelp);
  };
  withHelp(program);
  return program;
}

/**
 * A reader that goes away (`loraprof runs list --json | head -1`) closes the pipe: further output is
 * dropped, and the command finishes what it was doing (a run still gets stored) instead of dying on
 * an unhandled EPIPE.
 */
export function tolerateClosedPipes(streams: NodeJS.WriteStream[] = [process.stdout, process.stderr]): void {
  for (const stream of streams) {
    if (stream.listenerCount("error") > 0) continue;
    stream.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code === "EPIPE" || err.code === "ERR_STREAM_DESTROYED") return;
      throw err;
    });
  }
}

export async function main(argv: string[]): Promise<number> {
  tolerateClosedPipes();
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (caught) {
    let err = caught;
    if (err instanceof CommanderError) {
      // Help and version exit 0; usage errors were already printed by commander.
      return err.exitCode === 0 ? EXIT.ok : EXIT.badInput;
    }
    // The store failing under a command (disk full, locked past the busy timeout, I/O error) is not
    // a bug: said with what to do, and nothing finished is lost (each run's state is one transaction).
    if (
      typeof (err as { code?: unknown })?.code === "string" &&
      /^SQLITE_/.test((err as { code: string }).code)
    )
      err = storeFailure(err, "the run database");
    if (err instanceof LoraprofError) {
      const wantsJson = argv.includes("--json");
      if (wantsJson) process.stdout.write(JSON.stringify({ error: err.toJSON() }, null, 2) + "\n");
      process.stderr.write(pc.red(err.format()) + "\n");
      return err.exitCode;
    }
    // A bug, not the user's doing: one line, the stack only on request.
    const e = err as Error;
    process.stderr.write(
      pc.red(`internal error: ${e?.message ?? String(err)}`) +
        "\n" +
        (process.env["LORAPROF_DEBUG"]
          ? `${e?.stack ?? ""}\n`
          : "  hint: this is a loraprof bug; run again with LORAPROF_DEBUG=1 for the stack and report it\n"),
    );
    return EXIT.failed;
  }
}
