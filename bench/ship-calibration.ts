/**
 * Writes the planner's shipped H200 calibration (src/plan/shipped/h200.json) from the committed
 * measured runs in bench/results: one calibration per recipe class (reference: PyTorch's and PEFT's
 * own ops; fast: Liger kernels, fused LoRA or the fused loss), each with its held-out error
 * (leave-one-out). The runs of holdout checks not yet spent (HOLDOUT_CHECKS in bench/lib/measured-runs.ts)
 * are never used: they exist to test it.
 *
 *   npm run bench:build && node dist-bench/ship-calibration.mjs [--results bench/results] [--out src/plan/shipped/h200.json]
 *   npm run build   # the shipped file is imported by the planner: rebuild to use the new one
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { measuredItems, readResultRuns, root } from "./lib/measured-runs.js";

import * as plan from "../src/index.js";
import type { Json } from "./lib/common.js";

const { values: args } = parseArgs({
  options: {
    results: { type: "string", default: join(root, "bench", "results") },
    out: { type: "string", default: join(root, "src", "plan", "shipped", "h200.json") },
  },
});

const { runs, excluded } = readResultRuns(args.results);
const { items, excluded: more } = await measuredItems(runs);
const h200 = items.filter((i) => i.gpu.id === "h200");
const recipes: Record<string, Json> = {};
for (const cls of plan.RECIPE_CLASSES) {
  const these = h200.filter((i) => i.recipeClass === cls);
  if (these.filter((i) => !i.measuredRun.measured.oom).length < 3) {
    recipes[cls] = null;
    continue;
  }
  const measured = these.map((i) => i.measuredRun);
  // The fast recipe runs the same GEMMs on the same GPU with other host costs and kernels: its fit starts
  // from the reference calibration, the centre of its prior, so it moves only what the fast runs measure.
  const start = cls === "reference" ? undefined : recipes.reference?.calibration.constants;
  const fitOptions = start ? { start } : {};
  const calibration = plan.calibrate(measured, fitOptions);
  const loo = plan.crossValidate(measured, undefined, fitOptions);
  recipes[cls] = {
    gpuId: "h200",
    gpuName: h200[0].gpu.name,
    createdAt: new Date().toISOString(),
    runIds: these.map((i) => i.run.id ?? i.run.name),
    calibration,
    heldOut: { method: "leave-one-out", error: loo.heldOut.error },
  };
  const e = loo.heldOut.error;
  const s = (x: Json) =>
    x ? `median ${x.medianAbsPct.toFixed(1)}%, max ${x.maxAbsPct.toFixed(1)}% (${x.runs})` : "—";
  console.log(
    `${cls}: ${calibration.runs} runs + ${calibration.oomRuns ?? 0} OOM; held-out device peak ${s(e.devicePeakBytes)}, tokens/s ${s(e.realTokensPerSecond)}`,
  );
  // The runs the held-out maxima come from, worst first.
  const worst = (key: "devicePeakBytes" | "realTokensPerSecond") =>
    these
      .map((it, i) => ({ it, err: loo.predictions[i]?.relativeError[key] ?? null }))
      .filter((x): x is { it: Json; err: number } => x.err !== null)
      .sort((a, b) => Math.abs(b.err) - Math.abs(a.err))
      .slice(0, 3)
      .map((x) => `${x.it.run.name} (${x.it.shape}) ${(x.err * 100).toFixed(1)}%`)
      .join("; ");
  console.log(`  worst held-out device peak: ${worst("devicePeakBytes")}`);
  console.log(`  worst held-out tokens/s: ${worst("realTokensPerSecond")}`);
}
const sources = [...new Set(h200.map((i) => i.run.file))].sort();
const env = (() => {
  for (const f of sources) {
    const doc = JSON.parse(readFileSync(join(args.results, f), "utf8"));
    if (doc.environment) return doc.environment;
  }
  return null;
})();
writeFileSync(
  args.out,
  JSON.stringify(
    {
      version: 1,
      gpuId: "h200",
      what: "the planner's constants fitted to the committed H200 runs in bench/results (not the runs of an unspent holdout check), one calibration per recipe class, with leave-one-out error",
      generatedBy: "node dist-bench/ship-calibration.mjs",
      sources,
      environment: env,
      recipes,
    },
    null,
    2,
  ) + "\n",
);
console.log(`wrote ${args.out} from ${h200.length} runs; left out: ${[...excluded, ...more].length}`);
