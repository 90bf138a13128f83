// Side-by-side on one GPU, in one invocation: loraprof's engine vs the study's own method (HF Trainer
// + PEFT + bitsandbytes) at each of the study's presets, same records, tokenization and padding.
// Prints real tokens/s, processed tokens/s and peak memory of both and their ratio (engine ÷ Trainer).
//
//   node dist-bench/baseline.mjs (npm run bench:build; on a GPU host: $CARRY/cli/bench/baseline.mjs)
//        [--presets paper-run1,paper-run2,paper-run3] [--repeats N] [--cli "node bin/loraprof.js"]
//        [--out results.json] -- [extra run flags, e.g. --weights random --dataset PATH]
//
// Needs a CUDA GPU with bitsandbytes; the engine's Python (LORAPROF_PYTHON or `loraprof setup`)
// also runs the Trainer. bench/peers/compare.ts runs the same with Unsloth beside it, repeats in rotating order.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { median, repoRoot, runCliJson } from "./lib/common.js";
import type { RunResult } from "../src/index.js";

const FIGURES = [
  "realTokensPerSecond",
  "processedTokensPerSecond",
  "peakAllocatedBytes",
  "peakReservedBytes",
  "peakDeviceBytes", // NVML: the engine's metric; the Trainer's nvmlPeakDeviceBytes
] as const;
type Figure = (typeof FIGURES)[number];
type FigureValues = Record<Figure, number | null>;
interface Side extends Partial<Record<Figure, number | null>> {
  realTokens?: number | null;
  processedTokens?: number | null;
  [more: string]: unknown;
}
interface Pair {
  engine: Side;
  trainer: Side;
  sameTokens: boolean;
  ratio: Partial<Record<Figure, number>>;
}
interface Row {
  preset: string;
  repeats: number;
  error: string | null;
  engine: FigureValues;
  trainer: FigureValues;
  ratio: FigureValues;
  ratioRange: Record<Figure, [number, number] | null>;
  sameTokens: boolean;
  pairs: Pair[];
}

const argv = process.argv.slice(2);
const dash = argv.indexOf("--");
const own = dash >= 0 ? argv.slice(0, dash) : argv;
const extra = dash >= 0 ? argv.slice(dash + 1) : [];
function opt(name: string, def: string): string;
function opt(name: string, def: null): string | null;
function opt(name: string, def: string | null): string | null {
  const i = own.indexOf(name);
  return i >= 0 ? (own[i + 1] ?? def) : def;
}
const root = repoRoot();
const cli = opt("--cli", `node ${join(root, "bin/loraprof.js")}`).split(" ");
const presets = opt("--presets", "paper-run1,paper-run2,paper-run3").split(",");
const out = opt("--out", null);
const repeats = Number(opt("--repeats", "1"));
const home = resolve(process.env.LORAPROF_HOME ?? ".loraprof");
const python =
  process.env.LORAPROF_PYTHON ??
  (JSON.parse(readFileSync(join(home, "engine.json"), "utf8")) as { python: string }).python;

const fmt = (n: number | null | undefined, d = 1) =>
  n === null || n === undefined ? "—" : Number(n).toFixed(d);
const gib = (b: number | null | undefined) =>
  b === null || b === undefined ? "—" : (b / 2 ** 30).toFixed(2);
let environment: RunResult["environment"] = null; // the first engine run's (GPU, driver, libraries)
function runEngine(preset: string, repeat: number): RunResult {
  const args = [
    "run",
    "--preset",
    preset,
    ...extra,
    "--label",
    `baseline-${preset}-${repeat}`,
    "--json",
    "--quiet",
  ];
  process.stderr.write(`· engine: loraprof ${args.join(" ")}\n`);
  const engine = runCliJson<RunResult>(cli, args);
  if (engine.status !== "completed") throw new Error(`engine run ${engine.status}: ${engine.error?.message}`);
  environment ??= engine.environment ?? null;
  return engine;
}

function runTrainer(spec: string): Side {
  process.stderr.write(`· trainer: ${python} bench/peers/trainer_run.py --spec ${spec}\n`);
  const t = spawnSync(python, [join(root, "bench/peers/trainer_run.py"), "--spec", spec], {
    encoding: "utf8",
    maxBuffer: 64 << 20,
    // The Trainer peer imports loraprof_engine (record order, NVML watch) from this tree.
    env: {
      ...process.env,
      PYTHONUNBUFFERED: "1",
      PYTHONPATH: [process.env.PYTHONPATH, join(root, "engine/src")].filter(Boolean).join(":"),
    },
  });
  try {
    const r = JSON.parse(t.stdout.trim().split("\n").pop() ?? "") as Side;
    return { ...r, peakDeviceBytes: r["nvmlPeakDeviceBytes"] as number | null };
  } catch {
    throw new Error(`trainer failed (exit ${t.status}): ${t.stderr.split("\n").slice(-8).join("\n")}`);
  }
}

// Per preset and repeat, one engine run and one Trainer run on an engine RunSpec of that preset
// (written by the engine's first run); odd repeats run the engine first, even ones the Trainer, so
// that drift (clocks, temperature) favours neither.
function specOf(engine: RunResult): string {
  const spec = join(home, "runs", engine.id, "spec.json");
  if (!existsSync(spec)) throw new Error(`no spec at ${spec}`);
  return spec;
}
let gpu: string | null = null;
try {
  gpu = execFileSync("nvidia-smi", ["--query-gpu=name,driver_version", "--format=csv,noheader"], {
    encoding: "utf8",
  }).trim();
} catch {
  /* no nvidia-smi */
}
/** Writes the result so far (after every preset: a time limit that stops the benchmark keeps it). */
function save() {
  const result = {
    benchmark: "baseline: loraprof engine vs HF Trainer (study's method)",
    command: `node dist-bench/baseline.mjs ${process.argv.slice(2).join(" ")}`,
    gpu,
    repeats,
    environment,
    date: new Date().toISOString(),
    rows,
  };
  if (out) writeFileSync(out, JSON.stringify(result, null, 2) + "\n");
}
const rows: Row[] = [];
for (const preset of presets) {
  const pairs: Pair[] = [];
  let error: string | null = null;
  try {
    let spec: string | null = null;
    for (let i = 1; i <= repeats; i++) {
      let engine: RunResult, trainer: Side;
      if (spec === null || i % 2 === 1) {
        engine = runEngine(preset, i);
        spec = specOf(engine);
        trainer = runTrainer(spec);
      } else {
        trainer = runTrainer(spec); // the previous repeat's RunSpec: the same config and records
        engine = runEngine(preset, i);
      }
      const m = engine.metrics ?? {};
      const e: Side = {
        runId: engine.id,
        realTokens: m.realTokens,
        processedTokens: m.processedTokens,
        measuredSteps: m.measuredSteps,
        measuredSeconds: m.measuredSeconds,
        ...Object.fromEntries(FIGURES.map((f) => [f, m[f] ?? null])),
      };
      pairs.push({
        engine: e,
        trainer,
        sameTokens: e.realTokens === trainer.realTokens && e.processedTokens === trainer.processedTokens,
        ratio: Object.fromEntries(FIGURES.map((f) => [f, (e[f] ?? NaN) / (trainer[f] ?? NaN)])),
      });
      process.stderr.write(
        `  ${preset} #${i}: engine ${fmt(e.realTokensPerSecond)} real tok/s, trainer ${fmt(trainer.realTokensPerSecond)}\n`,
      );
    }
  } catch (err) {
    error = String((err as Error).message ?? err);
  }
  const med = (side: "engine" | "trainer" | "ratio", f: Figure) =>
    pairs.length ? median(pairs.map((p) => p[side][f] ?? NaN)) : null;
  rows.push({
    preset,
    repeats: pairs.length,
    error,
    engine: Object.fromEntries(FIGURES.map((f) => [f, med("engine", f)])) as FigureValues,
    trainer: Object.fromEntries(FIGURES.map((f) => [f, med("trainer", f)])) as FigureValues,
    // Median over repeats of each repeat's ratio, and the range.
    ratio: Object.fromEntries(FIGURES.map((f) => [f, med("ratio", f)])) as FigureValues,
    ratioRange: Object.fromEntries(
      FIGURES.map((f) => [
        f,
        pairs.length
          ? [
              Math.min(...pairs.map((p) => p.ratio[f] ?? NaN)),
              Math.max(...pairs.map((p) => p.ratio[f] ?? NaN)),
            ]
          : null,
      ]),
    ) as Row["ratioRange"],
    sameTokens: pairs.every((p) => p.sameTokens),
    pairs,
  });
  save();
}
console.log(
  `preset       engine real/s  trainer real/s  ratio | engine proc/s  trainer proc/s  ratio | engine peak GiB  trainer peak GiB  ratio`,
);
for (const r of rows) {
  if (r.error) console.log(`${r.preset.padEnd(12)} ${r.error}`);
  if (!r.repeats) continue;
  console.log(
    `${r.preset.padEnd(12)} ${fmt(r.engine.realTokensPerSecond).padStart(13)} ${fmt(r.trainer.realTokensPerSecond).padStart(15)} ${fmt(r.ratio.realTokensPerSecond, 2).padStart(6)} |` +
      ` ${fmt(r.engine.processedTokensPerSecond).padStart(13)} ${fmt(r.trainer.processedTokensPerSecond).padStart(15)} ${fmt(r.ratio.processedTokensPerSecond, 2).padStart(6)} |` +
      ` ${gib(r.engine.peakAllocatedBytes).padStart(15)} ${gib(r.trainer.peakAllocatedBytes).padStart(17)} ${fmt(r.ratio.peakAllocatedBytes, 2).padStart(6)}`,
  );
}
