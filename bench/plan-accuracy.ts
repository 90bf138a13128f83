/**
 * The planner's accuracy against measured GPU runs: predicted vs measured device-level peak memory
 * (NVML) and real tokens/s for every measured run in bench/results/*.json (and, with --db, every GPU
 * run in a store), uncalibrated and calibrated with the error taken on runs the calibration did not
 * see, plus the fit/OOM classification under an 8 GiB budget.
 *
 *   npm run bench:build && node dist-bench/plan-accuracy.mjs [--results bench/results] [--db PATH]
 *     [--data-dir ../shared/data/alpaca] [--out bench/results/plan-accuracy.json]
 *
 * Runs are found by shape in the result files: `loraprof run --json` objects (anything with
 * `result.config`), OOM runs recorded only by their command line and status (the config is rebuilt
 * from the command with the CLI's own flag parser), and engine rows of the Trainer comparison
 * (`rows[].engine`, config rebuilt from the preset and the file's command). The Trainer's own rows
 * are left out: the planner models loraprof's engine, not transformers' Trainer.
 *
 * Record lengths: each run's dataset tokenized as the run did (subset and template from its config).
 * Result files name the dataset by the path it had on the GPU host; a path that does not exist here
 * is looked up by file name in --data-dir (default ../shared/data/alpaca, where the H200 runs' file
 * came from).
 *
 * Held-out error, two ways: leave-one-out (each run predicted by a calibration on all the others)
 * and leave-one-shape-out (runs grouped by batch × seq × precision × checkpointing; a shape's runs
 * predicted by a calibration on the other shapes: repeats of one shape cannot vouch for each other).
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { performance } from "node:perf_hooks";
import * as plan from "../src/index.js";
import {
  RUN_FLAGS,
  cacheDir,
  findGpu,
  flagsToOverrides,
  listRuns,
  loadRunConfig,
  openStore,
} from "../src/index.js";
import { repoRoot } from "./lib/common.js";

// The result files are walked by shape, untyped (see the module comment).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

const root = repoRoot();

const { values: args } = parseArgs({
  options: {
    results: { type: "string", default: join(root, "bench", "results") },
    db: { type: "string" },
    "data-dir": { type: "string", multiple: true, default: [resolve(root, "../shared/data/alpaca")] },
    out: { type: "string", default: join(root, "bench", "results", "plan-accuracy.json") },
    budget: { type: "string", default: "8GiB" },
  },
});
const OUT_NAME = basename(args.out);
const GiB = 2 ** 30;
const BUDGET = (() => {
  const m = /^(\d+(?:\.\d+)?)GiB$/i.exec(args.budget);
  if (!m) throw new Error(`--budget must look like 8GiB, got ${args.budget}`);
  return Number(m[1]) * GiB;
})();

// ---- collecting runs ---------------------------------------------------------------------------

const camel = (f: string) => f.replace(/-([a-z])/g, (_: string, c: string) => c.toUpperCase());
const FLAG_KIND = new Map(RUN_FLAGS.map((f) => [f.flag, f.kind]));

/** `loraprof run --preset x --no-grad-checkpointing ...` → commander-like options for flagsToOverrides. */
function optsFromArgs(tokens: string[]): Record<string, unknown> {
  const opts: Record<string, unknown> = {};
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (!t.startsWith("--")) continue;
    const name = t.slice(2);
    if (name.startsWith("no-") && FLAG_KIND.get(name.slice(3)) === "bool") opts[camel(name.slice(3))] = false;
    else if (FLAG_KIND.get(name) === "bool") opts[camel(name)] = true;
    else if (FLAG_KIND.has(name)) opts[camel(name)] = tokens[++i];
    else if (name === "config") opts["config"] = tokens[++i];
    // --json, --quiet, --no-telemetry, --db, --label values etc. do not change the config
  }
  return opts;
}

function configFromArgs(tokens: string[]) {
  const opts = optsFromArgs(tokens);
  return loadRunConfig({ overrides: flagsToOverrides(opts) });
}

const runs: Json[] = [];
const excluded: { name: string; reason: string }[] = [];
const seen = new Set();
function addRun(r: Json) {
  if (r.id && seen.has(r.id)) return;
  if (r.id) seen.add(r.id);
  runs.push(r);
}

for (const file of readdirSync(args.results)
  .filter((f) => f.endsWith(".json") && f !== OUT_NAME)
  .sort()) {
  const doc: Json = JSON.parse(readFileSync(join(args.results, file), "utf8"));
  const fileGpu = doc?.environment?.gpu ?? null;
  const fileArgs = typeof doc?.command === "string" ? doc.command.split(/\s+/) : [];
  const afterDashes = fileArgs.includes("--") ? fileArgs.slice(fileArgs.indexOf("--") + 1) : [];
  const visit = (node: Json, name: string): void => {
    if (Array.isArray(node)) return node.forEach((x, i) => visit(x, `${name}[${i}]`));
    if (!node || typeof node !== "object") return;
    const label = node.name ?? node.preset ?? name;
    if (node.result && typeof node.result === "object" && node.result.config) {
      addRun({ ...node.result, name: label, file });
      return;
    }
    if (typeof node.command === "string" && node.command.startsWith("loraprof run") && node.status) {
      addRun({
        id: null,
        name: label,
        file,
        status: node.status,
        config: configFromArgs(node.command.split(/\s+/).slice(2)),
        environment: fileGpu ? { device: { kind: "cuda", name: fileGpu } } : null,
        metrics: null,
        error: node.status === "oom" ? { kind: "oom" } : null,
        note: node.note ?? null,
      });
      return;
    }
    if (node.engine && node.preset) {
      addRun({
        id: node.engineRunId ?? null,
        name: `${node.preset} (${file.replace(/\.json$/, "")})`,
        file,
        status: "completed",
        config: configFromArgs(["--preset", node.preset, ...afterDashes]),
        environment: fileGpu ? { device: { kind: "cuda", name: fileGpu } } : null,
        // Only allocator peaks and rates were kept for these rows: no device peak.
        metrics: node.engine,
      });
      if (node.trainer)
        excluded.push({
          name: `${node.preset} trainer (${file})`,
          reason: "HF Trainer run, not loraprof's engine",
        });
      return;
    }
    for (const [k, v] of Object.entries(node)) if (k !== "environment") visit(v, k);
  };
  visit(doc, file);
}

if (args.db) {
  const db = openStore(args.db);
  for (const r of listRuns(db)) {
    if (r.status !== "completed" && r.status !== "oom") continue;
    addRun({ ...r, name: r.label ?? r.id, file: args.db });
  }
  db.close();
}

// ---- predicting ------------------------------------------------------------------------------

function localDataset(config: Json): Json {
  const d = config.dataset;
  if (d === "synthetic" || d === "alpaca" || existsSync(d)) return config;
  for (const dir of args["data-dir"]) {
    const p = join(dir, basename(d));
    if (existsSync(p)) return { ...config, dataset: p };
  }
  return null;
}

const items: Json[] = [];
const lengthMemo = new Map<string, Json>();
for (const r of runs) {
  const gpu = plan.runGpu(r) ?? (r.environment?.device?.name ? findGpu(r.environment.device.name) : null);
  if (!gpu) {
    excluded.push({ name: r.name, reason: "not a catalogued GPU run" });
    continue;
  }
  const measured = plan.measuredFromRun(r);
  if (!measured) {
    excluded.push({ name: r.name, reason: `status ${r.status}` });
    continue;
  }
  const config = localDataset(r.config);
  if (!config) {
    excluded.push({ name: r.name, reason: `dataset ${r.config.dataset} not found here` });
    continue;
  }
  const model = plan.planModel(config);
  const key = JSON.stringify([
    config.dataset,
    config.subset,
    config.subsetMode,
    config.seed,
    config.template,
    model.tokenizer,
    config.syntheticRecords,
  ]);
  if (!lengthMemo.has(key))
    lengthMemo.set(key, await plan.datasetLengths(config, model, { cacheDir: cacheDir() }));
  const lengths = lengthMemo.get(key);
  const input = plan.planInputFromConfig(config, { gpu, lengthStats: lengths.stats });
  const budgeted = input.vramBudgetBytes !== null;
  // Fit/OOM under the budget: a budget run's own outcome when it ran under this budget, else
  // whether its NVML device peak stayed within it; unknown without either.
  const fitsBudget =
    budgeted && input.vramBudgetBytes === BUDGET
      ? !measured.oom
      : measured.devicePeakBytes !== null
        ? measured.devicePeakBytes <= BUDGET
        : measured.oom && !budgeted
          ? false
          : null;
  items.push({
    run: r,
    gpu,
    lengths,
    measuredRun: { input, measured },
    budgetRun:
      fitsBudget === null
        ? null
        : { input: { ...input, vramBudgetBytes: BUDGET }, measured: { ...measured, oom: !fitsBudget } },
    shape: `b${input.batchSize}×s${input.seqLen} ${input.precision}${input.gradCheckpointing ? "" : " no-ckpt"} ${input.method}`,
  });
}

const measuredRuns = items.map((i) => i.measuredRun);
const uncal = plan.evaluatePredictions(measuredRuns);
const t0 = performance.now();
const full = plan.calibrate(measuredRuns);
const loo = plan.crossValidate(measuredRuns);
const shapeOut = plan.crossValidate(measuredRuns, (_, i) => items[i].shape);
const fitSeconds = (performance.now() - t0) / 1000;

/** Fit/OOM under the budget, each run judged with the given constants (one set, or one per run). */
function classify(calFor: (i: number) => Json) {
  const perRun = items.map((it, i) => {
    if (!it.budgetRun) return null;
    const cal = calFor(i);
    if (cal === undefined) return null;
    return plan.evaluatePredictions([it.budgetRun], cal ?? plan.DEFAULT_CONSTANTS).perRun[0];
  });
  const judged = perRun.filter((x): x is NonNullable<typeof x> => Boolean(x));
  return { perRun, summary: plan.summarizePredictions(judged).fitAccuracy };
}
const budgetUncal = classify(() => null);
const budgetLoo = classify((i) => loo.calibrations[i] ?? undefined);
const budgetShape = classify((i) => shapeOut.calibrations[i] ?? undefined);

// ---- output ----------------------------------------------------------------------------------

const pct = (x: number | null | undefined) =>
  x === null || x === undefined ? "—" : `${x >= 0 ? "+" : ""}${(x * 100).toFixed(1)}%`;
const gib = (b: number | null | undefined) => (b === null || b === undefined ? "—" : (b / GiB).toFixed(2));
const tps = (x: number | null | undefined) => (x === null || x === undefined ? "—" : x.toFixed(0));
const fitsMark = (f: boolean | null | undefined) =>
  f === null || f === undefined ? "—" : f ? "fits" : "OOM";

const rows = items.map((it: Json, i: number) => {
  const u = uncal.perRun[i]!;
  const l = loo.predictions[i];
  const s = shapeOut.predictions[i];
  return {
    name: it.run.name,
    id: it.run.id ?? null,
    file: it.run.file,
    gpu: it.gpu.id,
    shape: it.shape,
    optimizer: it.measuredRun.input.optimizer,
    vramBudgetBytes: it.measuredRun.input.vramBudgetBytes,
    status: it.run.status,
    lengths: it.lengths.kind,
    measured: it.measuredRun.measured,
    predicted: {
      uncalibrated: u.predicted,
      leaveOneOut: l?.predicted ?? null,
      leaveOneShapeOut: s?.predicted ?? null,
    },
    relativeError: {
      uncalibrated: u.relativeError,
      leaveOneOut: l?.relativeError ?? null,
      leaveOneShapeOut: s?.relativeError ?? null,
    },
    budget: it.budgetRun
      ? {
          measuredFits: !it.budgetRun.measured.oom,
          predictedFits: {
            uncalibrated: budgetUncal.perRun[i]?.predicted.fits ?? null,
            leaveOneOut: budgetLoo.perRun[i]?.predicted.fits ?? null,
            leaveOneShapeOut: budgetShape.perRun[i]?.predicted.fits ?? null,
          },
        }
      : null,
  };
});

const table = [
  [
    "run",
    "shape",
    "optimizer",
    "dev GiB",
    "uncal",
    "LOO",
    "shape-out",
    "tok/s",
    "uncal",
    "LOO",
    "shape-out",
    `≤${args.budget}`,
    "uncal",
    "LOO",
    "shape-out",
  ],
  ...rows.map((r: Json) => [
    r.name,
    r.shape,
    r.optimizer,
    gib(r.measured.devicePeakBytes),
    pct(r.relativeError.uncalibrated.devicePeakBytes),
    pct(r.relativeError.leaveOneOut?.devicePeakBytes),
    pct(r.relativeError.leaveOneShapeOut?.devicePeakBytes),
    tps(r.measured.realTokensPerSecond),
    pct(r.relativeError.uncalibrated.realTokensPerSecond),
    pct(r.relativeError.leaveOneOut?.realTokensPerSecond),
    pct(r.relativeError.leaveOneShapeOut?.realTokensPerSecond),
    fitsMark(r.budget?.measuredFits),
    fitsMark(r.budget?.predictedFits.uncalibrated),
    fitsMark(r.budget?.predictedFits.leaveOneOut),
    fitsMark(r.budget?.predictedFits.leaveOneShapeOut),
  ]),
];
const widths = table[0]!.map((_: unknown, c: number) =>
  Math.max(...table.map((row: Json[]) => String(row[c]).length)),
);
const line = (row: Json[]) =>
  row.map((v, c) => (c < 3 ? String(v).padEnd(widths[c]!) : String(v).padStart(widths[c]!))).join("  ");
console.log("predicted vs measured (errors are (predicted − measured) / measured)");
console.log(line(table[0]!));
console.log(widths.map((w) => "─".repeat(w)).join("  "));
for (const row of table.slice(1)) console.log(line(row));

const summary = (ev: Json) => ({
  devicePeakBytes: ev.error.devicePeakBytes,
  allocatorPeakBytes: ev.error.allocatorPeakBytes,
  realTokensPerSecond: ev.error.realTokensPerSecond,
});
const figures: Record<string, Json> = {
  uncalibrated: { ...summary(uncal), fitAccuracyBudget: budgetUncal.summary },
  leaveOneOut: { ...summary(loo.heldOut), fitAccuracyBudget: budgetLoo.summary },
  leaveOneShapeOut: {
    ...summary(shapeOut.heldOut),
    groups: shapeOut.groups,
    fitAccuracyBudget: budgetShape.summary,
  },
  inSample: { ...full.error, runs: full.runs, oomRuns: full.oomRuns ?? 0 },
};
const s = (e: Json) =>
  e ? `median ${e.medianAbsPct.toFixed(1)}%, max ${e.maxAbsPct.toFixed(1)}% (${e.runs} runs)` : "—";
const acc = (a: Json) => (a ? `${a.correct}/${a.runs} (${(a.accuracy * 100).toFixed(0)}%)` : "—");
console.log("");
for (const [k, v] of Object.entries(figures)) {
  console.log(
    `${k.padEnd(17)} device peak ${s(v.devicePeakBytes)} | real tokens/s ${s(v.realTokensPerSecond)}` +
      (v.fitAccuracyBudget !== undefined ? ` | fit/OOM ≤${args.budget} ${acc(v.fitAccuracyBudget)}` : ""),
  );
}
console.log(
  `\ncalibration on all ${full.runs} measured runs (+${full.oomRuns ?? 0} OOM): ` +
    full.fitted.map((k) => `${k}=${Number(full.constants[k].toPrecision(4))}`).join(", "),
);
console.log(`fits: ${fitSeconds.toFixed(1)} s for ${1 + measuredRuns.length + shapeOut.groups} calibrations`);
if (excluded.length) console.log(`left out: ${excluded.map((e) => `${e.name} (${e.reason})`).join("; ")}`);

const sources = [...new Set(items.map((i) => i.run.file))];
const envs = sources
  .filter((f) => f.endsWith(".json"))
  .map((f) => JSON.parse(readFileSync(join(args.results, f), "utf8")).environment)
  .filter(Boolean);
writeFileSync(
  args.out,
  JSON.stringify(
    {
      what: "the planner's predictions (src/plan) vs measured GPU runs: NVML device peak and real tokens/s, uncalibrated and held-out after calibration; fit/OOM under a budget",
      command: `node dist-bench/plan-accuracy.mjs${process.argv.slice(2).length ? " " + process.argv.slice(2).join(" ") : ""}`,
      date: new Date().toISOString().slice(0, 10),
      sources,
      environment: envs[0] ?? null,
      methods: {
        uncalibrated: "DEFAULT_CONSTANTS (src/plan/constants.ts), no fit",
        leaveOneOut:
          "each run predicted by a calibration fitted on all the other runs (OOM runs enter fits as lower bounds)",
        leaveOneShapeOut:
          "runs grouped by batch × seq × precision × checkpointing × method; each group predicted by a calibration fitted on the other groups",
        inSample:
          "one calibration on every run, errors on the same runs (what `loraprof plan calibrate` saves; not a held-out figure)",
        budget: `fit/OOM under ${args.budget}: measured = the run's status when it ran under --vram-budget ${args.budget}, else NVML device peak ≤ ${args.budget}; predicted = predicted device peak ≤ ${args.budget}`,
        lengths:
          "each run's dataset tokenized with its subset and template (the H200 runs' dataset: ../shared/data/alpaca/alpaca_random_9k.json, first 5000 records)",
      },
      targets: {
        devicePeakMedianPct: 5,
        devicePeakMaxPct: 10,
        realTokensPerSecondMedianPct: 15,
        fitAccuracy: 0.95,
      },
      figures,
      calibration: {
        constants: full.constants,
        fitted: full.fitted,
        runs: full.runs,
        oomRuns: full.oomRuns ?? 0,
      },
      runs: rows,
      excluded,
    },
    null,
    2,
  ) + "\n",
);
console.log(`wrote ${args.out}`);
