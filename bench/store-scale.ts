#!/usr/bin/env node
/**
 * The store and the report at sweep scale, on the CPU: writes N synthetic runs of one sweep into a
 * real store (the real write path, one run at a time: createRun, markRunning, setRunFields, steps,
 * finishRun, linkRun, as a sweep or a Slurm gather writes them), then times the queries a sweep and
 * the dashboard make and the report's build and write. Nothing is trained: each run's rows are a real
 * H200 run record (test/fixtures/h200-run-record.json) with its shape and figures varied.
 *
 *   npm run bench:build && node dist-bench/store-scale.mjs [--runs 10000] [--steps 16] [--out results.json] [--keep DIR]
 *
 * Prints one JSON object: seconds per phase, rows, the store's size, the report's size.
 */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import type { Json } from "./lib/common.js";
import { openStore } from "../src/store/db.js";
import { createRun, finishRun, insertSteps, listRuns, markRunning, setRunFields } from "../src/store/runs.js";
import { listRunRows } from "../src/store/dashboard.js";
import { parseSweepSpec } from "../src/sweep/spec.js";
import { planSweep, prepareSweep } from "../src/sweep/run.js";
import { linkRun, listEntries, noteAttempt } from "../src/sweep/store.js";
import { buildReport, writeReport } from "../src/report/index.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "10000" },
    steps: { type: "string", default: "16" },
    out: { type: "string" },
    keep: { type: "string" },
  },
});
const N = Number(values.runs);
const STEPS = Number(values.steps);
const record: Json = JSON.parse(readFileSync(join(root, "test/fixtures/h200-run-record.json"), "utf8"));

// A grid of 2,000 configurations × 5 repeats = 10,000 planned runs (fewer repeats/values for smaller N).
const grid = {
  batchSize: [1, 2, 4, 8, 16],
  seqLen: [256, 512, 1024, 2048, 4096],
  "optimizer.name": ["adamw_torch", "adamw_8bit", "paged_adamw_8bit", "paged_adamw_32bit"],
  precision: ["fp16", "bf16"],
  "lora.r": [4, 8, 16, 32, 64, 128, 256, 512, 8 * 3, 8 * 5],
};
const configs = Object.values(grid).reduce((a, v) => a * v.length, 1);
const repeats = Math.max(1, Math.ceil(N / configs));
const dir = values.keep ? resolve(values.keep) : mkdtempSync(join(tmpdir(), "loraprof-store-scale-"));
const dbPath = join(dir, "loraprof.db");
const db = openStore(dbPath);
const t: Record<string, number> = {};
const time = <T>(name: string, fn: () => T): T => {
  const t0 = performance.now();
  const r = fn();
  t[name] = (performance.now() - t0) / 1000;
  return r;
};

const base = { ...record.config };
delete base.label;
delete base.preset;
const spec = parseSweepSpec({ name: "scale", base, grid, repeats });
const prepared = time("plan (expand + store the planned runs)", () => prepareSweep(db, spec));
const entries = listEntries(db, prepared.sweep.id).slice(0, N);

// Deterministic noise.
let seed = 1;
const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;

const insertRuns = (from: number, to: number): void => {
  for (let i = from; i < to; i++) {
    const e = entries[i]!;
    const config = { ...e.config, label: e.label };
    noteAttempt(db, prepared.sweep.id, e.key);
    const id = createRun(db, { config, label: e.label, sweepId: prepared.sweep.id });
    markRunning(db, id, record.spec);
    setRunFields(db, id, {
      environment: record.environment,
      loaded: { type: "loaded" },
      data: { records: 5000 },
    });
    const oom = i % 20 === 7;
    const failed = i % 50 === 11;
    const steps: Json[] = [];
    for (let s = 1; s <= (oom ? 2 : STEPS); s++) {
      steps.push({
        type: "step",
        step: s,
        phase: s <= 3 ? "warmup" : "measure",
        realTokens: 200 + Math.floor(rand() * 100),
        processedTokens: 2048,
        labelTokens: 190,
        loss: 11 - s * 0.1 + rand() * 0.1,
        stepSeconds: 0.6 + rand() * 0.1,
        lr: 2e-4,
        gradNorm: 1 + rand(),
        allocatedBytes: 5e9,
        unixMs: Date.now() + s * 600,
      });
    }
    insertSteps(db, id, steps);
    if (oom) {
      finishRun(db, id, {
        status: "oom",
        error: { kind: "oom", message: "CUDA out of memory (synthetic)", hint: null, step: 2 },
      });
    } else if (failed) {
      finishRun(db, id, {
        status: "failed",
        error: { kind: "crash", message: "synthetic crash", hint: null },
      });
    } else {
      const f = 0.5 + rand();
      const m = record.metrics;
      finishRun(db, id, {
        status: "completed",
        summary: record.summary,
        metrics: {
          ...m,
          realTokensPerSecond: m.realTokensPerSecond * f,
          processedTokensPerSecond: m.processedTokensPerSecond * f,
          secondsPer10kRealTokens: m.secondsPer10kRealTokens / f,
          peakDeviceBytes: m.peakDeviceBytes * (0.5 + rand()),
          joulesPerRealToken: m.joulesPerRealToken / f,
        },
      });
    }
    linkRun(db, prepared.sweep.id, e.key, id);
  }
};
const INSERT = `insert ${N} runs (${STEPS} steps each), one run at a time`;
const half = Math.floor(entries.length / 2);
time("insert, first half", () => insertRuns(0, half));
// A sweep resumed half-way: half its runs stored, half to estimate from them.
time("sweep resume half-way: plan what is left (adopt orphans, estimate)", () =>
  planSweep(db, prepared.sweep.id),
);
time("insert, second half", () => insertRuns(half, entries.length));
t[INSERT] = t["insert, first half"]! + t["insert, second half"]!;
delete t["insert, first half"];
delete t["insert, second half"];

const counts = db
  .prepare(`SELECT (SELECT count(*) FROM runs) AS runs, (SELECT count(*) FROM steps) AS steps`)
  .get() as { runs: number; steps: number };
time("sweeps show: every planned run with its latest run", () => listEntries(db, prepared.sweep.id));
time("sweep resume at the end: plan what is left", () => planSweep(db, prepared.sweep.id));
time("runs list --limit 50", () => listRuns(db, { limit: 50 }));
time("runs of the sweep, every row parsed", () => listRuns(db, { sweepId: prepared.sweep.id }));
time("dashboard: run list (1,000 rows)", () => listRunRows(db, 1000));
const model = time("report: build the model", () =>
  buildReport(db, { targets: [prepared.sweep.id], title: "store-scale bench" }),
);
const reportDir = join(dir, "report");
const written = time("report: write HTML, Markdown and charts", () => writeReport(model, reportDir));
db.close();

const size = (p: string): number => statSync(p).size;
const walSize = (() => {
  try {
    return size(`${dbPath}-wal`);
  } catch {
    return 0;
  }
})();
const out = {
  runs: counts.runs,
  steps: counts.steps,
  plannedRuns: listEntriesCount(),
  seconds: t,
  runsPerSecondInsert: N / t[INSERT]!,
  storeBytes: size(dbPath) + walSize,
  report: {
    htmlBytes: size(written.html),
    markdownBytes: size(written.markdown),
    charts: readdirSync(join(reportDir, "charts")).length,
  },
  node: process.version,
  cpus: (await import("node:os")).cpus().length,
};
function listEntriesCount() {
  const d = openStore(dbPath);
  const n = (d.prepare(`SELECT count(*) AS n FROM sweep_runs`).get() as { n: number }).n;
  d.close();
  return n;
}
const text = JSON.stringify(out, null, 2);
process.stdout.write(text + "\n");
if (values.out) writeFileSync(values.out, text + "\n");
if (!values.keep) rmSync(dir, { recursive: true, force: true });
