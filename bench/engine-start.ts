// Engine start time, plain process vs forked from the zygote, and a 12-run CPU sweep's overhead.
//
//   npm run build && npm run bench:build && node dist-bench/engine-start.mjs [--repeats 3] [--runs 12] [--steps 8] [--plain-sweep]
//     [--device cpu|cuda] [--cli "node /tmp/carry/cli/loraprof.mjs"] [--out FILE.json]
//
// On a GPU host (bench/gpu/engine-start.sh) the same runs go to --device cuda: each forked child then
// initializes its own CUDA context, which is part of the start it reports.
//
// Needs the built CLI (it runs sweeps through bin/loraprof.js) and the engine (`loraprof setup`). Runs tiny-qwen2 (random weights) on the CPU
// in a temporary LORAPROF_HOME. Prints, as medians of --repeats starts of the same RunSpec:
//   spawn → hello (the engine is up: imports, device) and spawn → loaded (model + LoRA + optimizer),
// for a plain `python -m loraprof_engine` and for a run forked from an already-ready zygote (plus the
// zygote's own one-off start). Then a --runs-run sweep (zygote on; --plain-sweep adds the same sweep
// with LORAPROF_ZYGOTE=0): wall time vs Σ measured windows + 3 s per run (issue 18's criterion).
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { performance } from "node:perf_hooks";
import { join, resolve } from "node:path";
import {
  findSweep,
  listRuns,
  openStore,
  resolvePython,
  RUN_PHASES,
  startEngine,
  startZygote,
  type RunSpec,
  type StoredMetrics,
} from "../src/index.js";
import { median, repoRoot } from "./lib/common.js";

const argv = process.argv.slice(2);
const opt = (name: string, def: string): string => {
  const i = argv.indexOf(name);
  return i >= 0 ? (argv[i + 1] ?? def) : def;
};
const repeats = Number(opt("--repeats", "3"));
const runs = Number(opt("--runs", "12"));
const steps = Number(opt("--steps", "8"));
const device = opt("--device", "cpu");
const out = opt("--out", "");
const root = repoRoot();
const cliCommand = opt("--cli", `node ${join(root, "bin/loraprof.js")}`).split(/\s+/);
const python = resolvePython(resolve(process.env.LORAPROF_HOME ?? join(root, ".loraprof")));
const home = mkdtempSync(join(tmpdir(), "loraprof-bench-start-"));
const env = { ...process.env, LORAPROF_HOME: home, LORAPROF_PYTHON: python };
const cli = (args: string[], extraEnv: Record<string, string> = {}) => {
  const t0 = performance.now();
  const r = spawnSync(cliCommand[0]!, [...cliCommand.slice(1), ...args], {
    env: { ...env, ...extraEnv },
    encoding: "utf8",
  });
  if (r.status !== 0)
    throw new Error(`loraprof ${args.join(" ")} failed (${r.status}): ${r.stderr.slice(-2000)}`);
  return { seconds: (performance.now() - t0) / 1000, stdout: r.stdout, stderr: r.stderr };
};

const sweepSpec = (name: string) => {
  const path = join(home, `${name}.yaml`);
  const lines = [
    `name: ${name}`,
    "base:",
    "  model: tiny-qwen2",
    "  weights: random",
    "  dataset: synthetic",
    "  syntheticRecords: 64",
    `  device: ${device}`,
    `  steps: ${steps}`,
    "  warmupSteps: 2",
    "  seqLen: 64",
    "runs:",
    ...Array.from({ length: runs }, (_, i) => `  - { optimizer: { lr: ${(1 + i) * 1e-4} } }`),
    "",
  ];
  writeFileSync(path, lines.join("\n"));
  return path;
};

/** Wall time of a sweep vs Σ of its runs' measured windows (from the store) + 3 s per run. */
function timeSweep(name: string, extraEnv: Record<string, string>) {
  const { seconds, stderr } = cli(["sweep", sweepSpec(name)], extraEnv);
  const db = openStore(join(home, "loraprof.db"));
  const sweep = findSweep(db, name);
  const rows = sweep ? listRuns(db, { sweepId: sweep.id }) : [];
  db.close();
  const windows = rows.map((r) => (r.metrics as StoredMetrics | null)?.measuredSeconds ?? 0);
  const completed = rows.filter((r) => r.status === "completed").length;
  const budget = windows.reduce((a, b) => a + b, 0) + 3 * rows.length;
  const engineLine = stderr.split("\n").find((l) => l.startsWith("engine zygote")) ?? "(no engine line)";
  // Where each run's time went (src/run/phases.ts), as medians over the sweep's runs; what is left of
  // the wall time is the sweep's own between runs (its zygote's start included).
  const phased = rows.map((r) => (r.metrics as StoredMetrics | null)?.phases).filter((p) => p !== undefined);
  const phases = Object.fromEntries(
    [...RUN_PHASES, "total" as const].map((k) => [k, median(phased.map((p) => p[k] ?? 0))]),
  );
  const sumOfRuns = phased.reduce((a, p) => a + (p["total"] ?? 0), 0);
  return {
    seconds,
    completed,
    runs: rows.length,
    windows: budget - 3 * rows.length,
    budget,
    engineLine,
    phasesMedian: phased.length ? phases : null,
    betweenRunsSeconds: phased.length === rows.length ? seconds - sumOfRuns : null,
  };
}

/** spawn → hello and spawn → loaded of one engine start, in seconds. */
interface Marks {
  hello?: number;
  loaded?: number;
}

function startOnce(spec: RunSpec, runDir: string, zygote: string | undefined): Promise<Required<Marks>> {
  return new Promise((resolveStart, reject) => {
    const t0 = performance.now();
    const marks: Marks = {};
    const handle = startEngine({
      spec,
      python,
      runDir,
      ...(zygote ? { zygote } : {}),
      onEvent: (ev) => {
        if (ev.type === "hello" || ev.type === "loaded") marks[ev.type] = (performance.now() - t0) / 1000;
      },
    });
    void handle.done.then((outcome) => {
      if (outcome.exitCode !== 0 || !marks.hello || !marks.loaded)
        reject(new Error(`engine failed (${outcome.exitCode}): ${outcome.stderrTail.slice(-1500)}`));
      else resolveStart({ hello: marks.hello, loaded: marks.loaded });
    });
  });
}

async function startTimes(spec: RunSpec, zygote: string | undefined) {
  const marks: Required<Marks>[] = [];
  for (let i = 0; i < repeats; i++)
    marks.push(await startOnce(spec, join(home, "bench-runs", `r${i}`), zygote));
  return {
    hello: median(marks.map((m) => m.hello)),
    loaded: median(marks.map((m) => m.loaded)),
    all: marks,
  };
}

const fmt = (x: number) => x.toFixed(2);
try {
  // The sweep first: it prepares the token shard and the synthetic checkpoint the start timings reuse.
  const withZygote = timeSweep("bench-zygote", {});
  const plainSweep = argv.includes("--plain-sweep")
    ? timeSweep("bench-plain", { LORAPROF_ZYGOTE: "0" })
    : null;

  const runDir = readdirSync(join(home, "runs"))[0]!;
  const spec = JSON.parse(readFileSync(join(home, "runs", runDir, "spec.json"), "utf8")) as RunSpec;
  const plain = await startTimes(spec, undefined);
  const z0 = performance.now();
  const started = await startZygote({ python });
  const zygoteReady = (performance.now() - z0) / 1000;
  // A zygote that will not start is a finding (the sweep above fell back to plain processes): keep the plain figures.
  const zygoteRefused = started.ok ? null : started.reason;
  let forked = null;
  if (started.ok) {
    try {
      forked = await startTimes(spec, started.zygote.socket);
    } finally {
      started.zygote.stop();
    }
  }

  console.log(`engine start on this host, tiny-qwen2 on ${device}, median of ${repeats} (seconds):`);
  console.log(`  plain process      spawn→hello ${fmt(plain.hello)}  spawn→loaded ${fmt(plain.loaded)}`);
  if (forked) {
    console.log(`  forked (zygote)    spawn→hello ${fmt(forked.hello)}  spawn→loaded ${fmt(forked.loaded)}`);
    console.log(`  zygote's own start (once per sweep): ${fmt(zygoteReady)}`);
  } else console.log(`  zygote refused: ${zygoteRefused}`);
  for (const [label, s] of [
    ["zygote", withZygote],
    ["plain", plainSweep],
  ] as const) {
    if (!s) continue;
    console.log(
      `${s.runs}-run CPU sweep (${label}; ${s.completed} completed): wall ${fmt(s.seconds)} s; ` +
        `Σ windows ${fmt(s.windows)} s + 3 s/run = ${fmt(s.budget)} s; wall ÷ that = ${fmt(s.seconds / s.budget)}` +
        (label === "zygote" ? `  [${s.engineLine}]` : ""),
    );
    if (s.phasesMedian)
      console.log(
        `  per run (medians, s): ${Object.entries(s.phasesMedian)
          .map(([k, v]) => `${k} ${fmt(v as number)}`)
          .join(", ")}; outside the runs: ${fmt(s.betweenRunsSeconds ?? NaN)} s in all`,
      );
  }
  const doc = {
    device,
    repeats,
    runs,
    steps,
    plain,
    forked,
    zygoteReady,
    zygoteRefused,
    withZygote,
    plainSweep,
  };
  console.log(JSON.stringify(doc));
  if (out) writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), ...doc }, null, 2) + "\n");
} finally {
  rmSync(home, { recursive: true, force: true });
}
