/**
 * The engine's Python environment: a venv under LORAPROF_HOME (or a given interpreter), filled with
 * what the engine needs (run/probe.ts lists it) and recorded for `run` (run/engine.ts), and the
 * checks of this machine (Node, Python, torch/CUDA, GPUs, bitsandbytes, NVML). The library side of
 * `loraprof setup` and `loraprof doctor`; the commands only parse flags and print.
 */
import { spawn, execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { LoraprofError } from "../util/errors.js";
import { listGpus } from "../util/gpu.js";
import { formatBytes } from "../util/format.js";
import { loraprofHome } from "../util/paths.js";
import { resolvePython, writeEngineState } from "./engine.js";
import { DEV_EXTRAS, GPU_EXTRAS, REQUIRED, probePython, type ProbeResult } from "./probe.js";

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

export interface Check {
  name: string;
  status: "ok" | "missing" | "warn";
  detail: string;
  fix?: string;
}

export async function doctor(): Promise<Check[]> {
  const checks: Check[] = [];
  const [maj, min] = process.versions.node.split(".").map(Number);
  checks.push({
    name: "node",
    status: (maj ?? 0) > 20 || ((maj ?? 0) === 20 && (min ?? 0) >= 10) ? "ok" : "missing",
    detail: process.versions.node,
    fix: "install Node.js 20.10 or newer",
  });
  let python: string | null = null;
  try {
    python = resolvePython();
  } catch (err) {
    checks.push({
      name: "python",
      status: "missing",
      detail: (err as Error).message,
      fix: "npx loraprof setup",
    });
  }
  const smi = await listGpus();
  checks.push(
    smi.ok
      ? {
          name: "nvidia-smi",
          status: "ok",
          detail: `${smi.gpus.length} GPU(s), driver ${smi.gpus[0]?.driver ?? "?"}`,
        }
      : {
          name: "nvidia-smi",
          status: "missing",
          detail: smi.reason,
          fix: "install the NVIDIA driver (CPU runs work without it)",
        },
  );
  for (const g of smi.ok ? smi.gpus : []) {
    checks.push({
      name: `gpu ${g.index}`,
      status: "ok",
      detail: `${g.name}, ${formatBytes(g.memoryTotalBytes)}, compute ${g.computeCapability ?? "?"}`,
    });
  }
  if (python) {
    const res = await probePython(python);
    if (!res.ok) {
      checks.push({ name: "python", status: "missing", detail: res.reason, fix: "npx loraprof setup" });
    } else {
      const p = res.probe;
      checks.push({ name: "python", status: "ok", detail: `${p.python} (${p.executable})` });
      for (const lib of ["torch", "transformers", "peft", "numpy", "accelerate"]) {
        const v = p.libraries[lib];
        checks.push(
          v
            ? { name: lib, status: "ok", detail: v }
            : {
                name: lib,
                status: "missing",
                detail: p.errors[lib] ?? "not installed",
                fix: "npx loraprof setup",
              },
        );
      }
      checks.push(
        p.cuda.available
          ? {
              name: "torch cuda",
              status: "ok",
              detail: `CUDA ${p.cuda.version}: ${p.cuda.devices.map((d) => `${d.name} (sm ${d.capability}${d.bf16 ? ", bf16" : ""})`).join(", ")}`,
            }
          : {
              name: "torch cuda",
              status: smi.ok ? "missing" : "warn",
              detail: p.cuda.version
                ? `torch built for CUDA ${p.cuda.version} but no device is usable`
                : "CPU-only torch build",
              fix: smi.ok
                ? "install a CUDA build of torch matching the driver: loraprof setup --torch 'torch --index-url https://download.pytorch.org/whl/cu128'"
                : "CPU runs only; QLoRA and GPU metrics need an NVIDIA GPU",
            },
      );
      const bnb = p.libraries["bitsandbytes"];
      checks.push(
        bnb
          ? { name: "bitsandbytes", status: "ok", detail: bnb }
          : {
              name: "bitsandbytes",
              status: smi.ok ? "missing" : "warn",
              detail: p.errors["bitsandbytes"] ?? "not installed",
              fix: "pip install bitsandbytes (needed for --method qlora and 8-bit/paged optimizers)",
            },
      );
      const nvml = p.nvml;
      checks.push(
        nvml.energyCounter
          ? { name: "nvml energy counter", status: "ok", detail: `driver ${nvml.driver}` }
          : {
              name: "nvml energy counter",
              status: "warn",
              detail:
                nvml.reason ??
                (nvml.available ? "not supported by this GPU/driver" : "nvidia-ml-py not installed"),
              fix: nvml.available
                ? "energy figures will be null (power integration still works with nvidia-smi)"
                : "pip install nvidia-ml-py",
            },
      );
    }
  }
  return checks;
}

/** What runs need; a missing GPU, driver or bitsandbytes only limits what can run (CPU runs work). */
const REQUIRED_CHECKS = ["node", "python", "torch", "transformers", "peft", "numpy", "accelerate"];

/** One verdict for the exit code and for `--json`'s `ok`: they used to disagree. */
export function doctorOk(checks: Check[]): boolean {
  return !checks.some((c) => c.status === "missing" && REQUIRED_CHECKS.includes(c.name));
}
