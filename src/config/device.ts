/**
 * Device support, one owner: which settings need a CUDA GPU (each with its CPU alternative, in the
 * user's flag vocabulary) and what `precision: auto` becomes on a device. `run` (run/resolve.ts), the
 * config's validation (schema.ts), `sweep` and the planner (plan/config.ts) all ask here.
 */
import { CUDA_ONLY_OPTIMIZERS, type Method, type OptimizerName, type Precision } from "../protocol/index.js";
import type { Problem } from "../util/errors.js";

/** The settings the rules read (a RunConfig, before or after resolution). */
export interface DeviceSettings {
  method: Method;
  precision: Precision | "auto";
  optimizer: { name: OptimizerName };
  vramBudget?: string | number | null;
}

/**
 * `precision: auto` on a device: fp32 on the CPU (`computeCapability` null), bf16 on a GPU from
 * compute capability 8.0 (Ampere), else fp16. An explicit precision is kept as it is.
 */
export function resolvePrecision(requested: Precision | "auto", computeCapability: string | null): Precision {
  if (requested !== "auto") return requested;
  if (computeCapability === null) return "fp32";
  return Number(computeCapability) >= 8 ? "bf16" : "fp16";
}

/** The settings of `config` that cannot run on the CPU, each with the CPU alternative. */
export function cudaOnlySettings(config: DeviceSettings): Problem[] {
  const problems: Problem[] = [];
  if (config.method === "qlora") {
    problems.push({
      field: "method",
      message: "qlora needs a CUDA GPU (bitsandbytes' 4-bit kernels)",
      hint: "use --method lora on the CPU",
    });
  }
  if (config.precision === "fp16") {
    problems.push({
      field: "precision",
      message: "fp16 training is not supported on the CPU",
      hint: "use --precision fp32 or bf16 on the CPU",
    });
  }
  if (CUDA_ONLY_OPTIMIZERS.includes(config.optimizer.name)) {
    problems.push({
      field: "optimizer.name",
      message: `${config.optimizer.name} is a bitsandbytes optimizer: it needs a CUDA GPU`,
      hint: "use --optimizer adamw_torch on the CPU",
    });
  }
  if (config.vramBudget !== null && config.vramBudget !== undefined) {
    problems.push({
      field: "vramBudget",
      message: "a VRAM budget emulates a smaller GPU: there is no GPU memory to budget on the CPU",
      hint: "drop --vram-budget (or pass --vram-budget none) on the CPU",
    });
  }
  return problems;
}

/**
 * The GPU-only settings a config that says `device: cpu` is refused for at validation: the method and
 * the precision. (The optimizer and the VRAM budget are named at resolution, with everything else a
 * CPU run cannot use, where a CPU chosen by `device: auto` is caught too.)
 */
export function cpuConfigProblems(config: DeviceSettings): Problem[] {
  return cudaOnlySettings(config).filter((p) => p.field === "method" || p.field === "precision");
}
