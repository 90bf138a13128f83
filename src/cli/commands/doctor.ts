import type { Command } from "commander";
import pc from "picocolors";
import { doctor, doctorOk, type Check } from "../../run/environment.js";
import { EXIT } from "../../util/errors.js";
import { printJson } from "../context.js";
import { renderTable } from "../render.js";

export function registerDoctor(program: Command): void {
  program
    .command("doctor")
    .description(
      "check Node, the engine's Python, torch/CUDA, GPUs, bitsandbytes, nvidia-smi and the NVML energy counter",
    )
    .option("--json", "print the checks as JSON")
    .action(async (opts: { json?: boolean }) => {
      const checks = await doctor();
      const ok = doctorOk(checks);
      if (opts.json) printJson({ checks, ok });
      else {
        const mark = (s: Check["status"]) =>
          s === "ok" ? pc.green("ok") : s === "warn" ? pc.yellow("warn") : pc.red("missing");
        process.stdout.write(
          renderTable(checks, [
            { header: "check", value: (c) => c.name },
            { header: "status", value: (c) => mark(c.status) },
            { header: "detail", value: (c) => c.detail },
            { header: "fix", value: (c) => (c.status === "ok" ? "" : (c.fix ?? "")) },
          ]) + "\n",
        );
      }
      process.exitCode = ok ? EXIT.ok : EXIT.failed;
    });
}
