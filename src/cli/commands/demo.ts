import type { Command } from "commander";
import { loadRunConfig } from "../../config/load.js";
import { runAndReport } from "./run.js";

/**
 * The embedded default: a real fine-tuning run of a tiny Qwen2-architecture model (random weights)
 * on the built-in synthetic Alpaca-like dataset, on whatever device is present. About a minute on
 * two CPU cores. Nothing is downloaded.
 */
export const DEMO_CONFIG = {
  label: "demo",
  model: "tiny-qwen2",
  weights: "random",
  dataset: "synthetic",
  syntheticRecords: 2000,
  seqLen: 256,
  batchSize: 2,
  steps: 40,
  warmupSteps: 5,
  logEverySteps: 5,
} as const;

export function registerDemo(program: Command): void {
  program
    .command("demo")
    .description(
      "fine-tune a tiny Qwen2-architecture model on the built-in synthetic dataset (~1 min on a laptop CPU)",
    )
    .option("--device <device>", "auto|cpu|cuda|cuda:N", "auto")
    .option("--db <path>", "run database (default .loraprof/loraprof.db)")
    .option("--json", "print one JSON object instead of tables")
    .action(async (opts: { device: string; db?: string; json?: boolean }) => {
      const config = loadRunConfig({ document: { ...DEMO_CONFIG, device: opts.device } });
      process.exitCode = await runAndReport(config, {
        ...(opts.db ? { db: opts.db } : {}),
        json: Boolean(opts.json),
        quiet: false,
        title: "demo run",
      });
    });
}
