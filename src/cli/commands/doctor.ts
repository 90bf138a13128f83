import type { Command } from "commander";
import pc from "picocolors";
import { resolvePython } from "../../run/engine.js";
import { probePython } from "../../run/probe.js";
import { listGpus } from "../../util/gpu.js";
import { EXIT } from "../../util/errors.js";
import { printJson } from "../context.js";
import { formatBytes, renderTable } from "../render.js";

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
