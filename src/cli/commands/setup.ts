import type { Command } from "commander";
import pc from "picocolors";
import { REQUIRED } from "../../run/probe.js";
import { DEFAULT_TORCH_SPEC, setup } from "../../run/environment.js";
import { printJson } from "../context.js";
import { renderTable } from "../render.js";

export function registerSetup(program: Command): void {
  program
    .command("setup")
    .description(
      "create the engine's Python environment (a venv in .loraprof/venv) and install what it needs",
    )
    .option(
      "--python <path>",
      "reuse this interpreter (installs only what it lacks; works offline when nothing is missing)",
    )
    .option("--torch <spec>", "pip requirement used when torch is missing", DEFAULT_TORCH_SPEC)
    .option("--dev", "also install the engine's test tools (pytest, jsonschema)")
    .option("--json", "print the result as JSON")
    .option("-q, --quiet", "no pip output")
    .action(
      async (opts: { python?: string; torch: string; dev?: boolean; json?: boolean; quiet?: boolean }) => {
        const res = await setup({
          ...(opts.python ? { python: opts.python } : {}),
          torch: opts.torch,
          dev: Boolean(opts.dev),
          quiet: Boolean(opts.quiet || opts.json),
        });
        if (opts.json) {
          printJson(res);
        } else {
          const libs = Object.entries(res.probe.libraries).filter(([k]) => k !== "loraprof_engine");
          process.stdout.write(
            `engine Python: ${res.python} (${res.mode === "venv" ? "loraprof venv" : "reused"}; Python ${res.probe.python})\n` +
              renderTable(libs, [
                { header: "package", value: ([k]) => k },
                { header: "version", value: ([, v]) => (v ? pc.green(v) : pc.dim("not installed")) },
              ]) +
              `\nCUDA: ${res.probe.cuda.available ? pc.green(`${res.probe.cuda.version} — ${res.probe.cuda.devices.map((d) => d.name).join(", ")}`) : pc.dim("not available (CPU runs only)")}\n` +
              (res.installed.length ? `installed: ${res.installed.join(", ")}\n` : "nothing to install\n") +
              (res.missing.length
                ? pc.red(`still missing: ${res.missing.join(", ")}\n`)
                : pc.green("ready: try `npx loraprof demo`\n")),
          );
        }
        process.exitCode = res.missing.some((m) => m in REQUIRED) ? 1 : 0;
      },
    );
}
