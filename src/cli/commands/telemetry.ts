import { existsSync, readFileSync } from "node:fs";
import type { Command } from "commander";
import { replayCsv, renderReplayText } from "../../telemetry/replay.js";
import { LoraprofError } from "../../util/errors.js";
import { printJson } from "../context.js";

export function registerTelemetry(program: Command): void {
  const t = program.command("telemetry").description("GPU telemetry tools");
  t.command("replay <file>")
    .description(
      "summarize an nvidia-smi CSV log (--query-gpu ... --format=csv, with header and units): duration, energy, power, memory",
    )
    .option("--json", "print JSON")
    .action((file: string, opts: { json?: boolean }) => {
      if (!existsSync(file)) {
        throw new LoraprofError("FLAG_INVALID", `no such file: ${file}`, {
          problems: [
            {
              field: "<file>",
              message: "not found",
              hint: "record one with: nvidia-smi --query-gpu=timestamp,index,power.draw,memory.used --format=csv -lms 100 > log.csv",
            },
          ],
        });
      }
      const result = replayCsv(readFileSync(file, "utf8"));
      if (opts.json) printJson({ ...result, samples: result.samples.length });
      else process.stdout.write(renderReplayText(result) + "\n");
    });
}
