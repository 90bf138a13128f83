import { spawn, execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import pc from "picocolors";
import { writeEngineState } from "../../run/engine.js";
import { DEV_EXTRAS, GPU_EXTRAS, REQUIRED, probePython, type ProbeResult } from "../../run/probe.js";
import { LoraprofError } from "../../util/errors.js";
import { listGpus } from "../../util/gpu.js";
import { loraprofHome } from "../../util/paths.js";
import { printJson } from "../context.js";
import { renderTable } from "../render.js";

/** The torch release loraprof is tested with; `--torch` picks another (e.g. a CUDA-specific wheel spec). */
export const DEFAULT_TORCH_SPEC = "torch==2.13.0";

function sh(cmd: string, args: string[], quiet: boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      stdio: ["ignore", quiet ? "ignore" : process.stderr, quiet ? "pipe" : process.stderr],
    });
    let err = "";
    child.stderr?.on("data", (d: Buffer) => (err += d.toString()));
    child.on("error", reject);
    child.on("close", (code) =>
      code === 0
        ? resolve()
        : reject(
            new Error(
              `${cmd} ${args.join(" ")} exited with ${code}${err ? `: ${err.trim().split("\n").slice(-5).join("\n")}` : ""}`,
            ),
          ),
    );
  });
}

function basePython(): string {
  for (const cand of ["python3", "python"]) {
    try {
      const v = execFileSync(cand, ["-c", "import sys; print('%d.%d' % sys.version_info[:2])"], {
        encoding: "utf8",
      }).trim();
      const [maj, min] = v.split(".").map(Number);
      if ((maj ?? 0) === 3 && (min ?? 0) >= 10) return cand;
    } catch {
      /* try the next */
    }
  }
  throw new LoraprofError("ENGINE_MISSING", "no Python ≥ 3.10 found on PATH", {
    hint: "install Python 3.10+ (e.g. apt-get install python3 python3-venv), or pass --python /path/to/python",
  });
}

export interface SetupResult {
  python: string;
  mode: "venv" | "reuse";
  installed: string[];
  probe: ProbeResult;
  missing: string[];
}

export async function setup(opts: {
  python?: string;
  torch: string;
  dev: boolean;
  quiet: boolean;
  gpu?: boolean;
}): Promise<SetupResult> {
  const home = loraprofHome();
  let python: string;
  let mode: SetupResult["mode"];
  if (opts.python) {
    python = opts.python;
    mode = "reuse";
  } else {
    const venv = join(home, "venv");
    python = join(venv, "bin", "python");
    mode = "venv";
    if (!existsSync(python)) {
      if (!opts.quiet) process.stderr.write(`· creating the engine environment in ${venv}\n`);
      await sh(basePython(), ["-m", "venv", venv], opts.quiet);
    }
  }
  const first = await probePython(python);
  if (!first.ok) {
    throw new LoraprofError("ENGINE_MISSING", `cannot run ${python}: ${first.reason}`, {
      hint: opts.python ? "check the --python path" : `delete ${join(home, "venv")} and run setup again`,
    });
  }
  const gpu = opts.gpu ?? (await listGpus()).ok;
  const wanted: Record<string, string> = {
    ...REQUIRED,
    ...(gpu ? GPU_EXTRAS : {}),
    ...(opts.dev ? DEV_EXTRAS : {}),
  };
  const missingNow = Object.keys(wanted).filter((k) => !first.probe.libraries[k]);
  const installed: string[] = [];
  if (missingNow.length) {
    if (!opts.quiet) process.stderr.write(`· installing: ${missingNow.join(", ")}\n`);
    const pip = [python, "-m", "pip", "install", "--disable-pip-version-check"];
    if (missingNow.includes("torch")) {
      await sh(pip[0]!, [...pip.slice(1), opts.torch], opts.quiet);
      installed.push(opts.torch);
    }
    const rest = missingNow.filter((k) => k !== "torch").map((k) => wanted[k]!);
    if (rest.length) {
      await sh(pip[0]!, [...pip.slice(1), ...rest], opts.quiet);
      installed.push(...rest);
    }
  }
  const final = installed.length ? await probePython(python) : first;
  if (!final.ok)
    throw new LoraprofError("ENGINE_MISSING", `the engine environment broke during setup: ${final.reason}`);
  const missing = Object.keys(wanted).filter((k) => !final.probe.libraries[k]);
  // Record the absolute interpreter (a bare `python3` would depend on PATH at run time).
  python = final.probe.executable || python;
  writeEngineState({ python, found: final.probe.libraries, createdAt: new Date().toISOString() }, home);
  return { python, mode, installed, probe: final.probe, missing };
}

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
