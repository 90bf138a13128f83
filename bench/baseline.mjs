// Side-by-side on one GPU, in one invocation: loraprof's engine vs the study's own method (HF Trainer
// + PEFT + bitsandbytes) at each of the study's presets, same records, tokenization and padding.
// Prints real tokens/s, processed tokens/s and peak memory of both and their ratio (engine ÷ Trainer).
//
//   node bench/baseline.mjs [--presets paper-run1,paper-run2,paper-run3] [--cli "node bin/loraprof.js"]
//        [--out results.json] -- [extra run flags, e.g. --weights random --dataset PATH]
//
// Needs a CUDA GPU with bitsandbytes; the engine's Python (LORAPROF_PYTHON or `loraprof setup`)
// also runs the Trainer.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";

const argv = process.argv.slice(2);
const dash = argv.indexOf("--");
const own = dash >= 0 ? argv.slice(0, dash) : argv;
const extra = dash >= 0 ? argv.slice(dash + 1) : [];
const opt = (name, def) => {
  const i = own.indexOf(name);
  return i >= 0 ? own[i + 1] : def;
};
const root = resolve(new URL("..", import.meta.url).pathname);
const cli = opt("--cli", `node ${join(root, "bin/loraprof.js")}`).split(" ");
const presets = opt("--presets", "paper-run1,paper-run2,paper-run3").split(",");
const out = opt("--out", null);
const home = resolve(process.env.LORAPROF_HOME ?? ".loraprof");
const python =
  process.env.LORAPROF_PYTHON ?? JSON.parse(readFileSync(join(home, "engine.json"), "utf8")).python;

const fmt = (n, d = 1) => (n === null || n === undefined ? "—" : Number(n).toFixed(d));
const gib = (b) => (b === null || b === undefined ? "—" : (b / 2 ** 30).toFixed(2));
const rows = [];
for (const preset of presets) {
  const args = ["run", "--preset", preset, ...extra, "--json", "--quiet"];
  process.stderr.write(`· engine: loraprof ${args.join(" ")}\n`);
  const r = spawnSync(cli[0], [...cli.slice(1), ...args], { encoding: "utf8", maxBuffer: 64 << 20 });
  const engine = JSON.parse(r.stdout);
  if (engine.status !== "completed") {
    rows.push({
      preset,
      engine,
      trainer: null,
      error: `engine run ${engine.status}: ${engine.error?.message}`,
    });
    continue;
  }
  const spec = join(home, "runs", engine.id, "spec.json");
  if (!existsSync(spec)) throw new Error(`no spec at ${spec}`);
  process.stderr.write(`· trainer: ${python} bench/trainer_baseline.py --spec ${spec}\n`);
  const t = spawnSync(python, [join(root, "bench/trainer_baseline.py"), "--spec", spec], {
    encoding: "utf8",
    maxBuffer: 64 << 20,
    env: { ...process.env, PYTHONUNBUFFERED: "1" },
  });
  const last = t.stdout.trim().split("\n").pop();
  let trainer = null;
  try {
    trainer = JSON.parse(last);
  } catch {
    rows.push({
      preset,
      engine,
      trainer: null,
      error: `trainer failed (exit ${t.status}): ${t.stderr.split("\n").slice(-8).join("\n")}`,
    });
    continue;
  }
  const m = engine.metrics;
  rows.push({
    preset,
    engineRunId: engine.id,
    engine: {
      realTokensPerSecond: m.realTokensPerSecond,
      processedTokensPerSecond: m.processedTokensPerSecond,
      peakAllocatedBytes: m.peakAllocatedBytes,
      peakReservedBytes: m.peakReservedBytes,
      measuredSteps: m.measuredSteps,
      measuredSeconds: m.measuredSeconds,
    },
    trainer,
    ratio: {
      realTokensPerSecond: m.realTokensPerSecond / trainer.realTokensPerSecond,
      processedTokensPerSecond: m.processedTokensPerSecond / trainer.processedTokensPerSecond,
      peakAllocatedBytes: m.peakAllocatedBytes / trainer.peakAllocatedBytes,
      peakReservedBytes: m.peakReservedBytes / trainer.peakReservedBytes,
    },
    config: engine.config,
    environment: engine.environment,
  });
}

let gpu = null;
try {
  gpu = execFileSync("nvidia-smi", ["--query-gpu=name,driver_version", "--format=csv,noheader"], {
    encoding: "utf8",
  }).trim();
} catch {
  /* no nvidia-smi */
}
const result = {
  benchmark: "baseline: loraprof engine vs HF Trainer (study's method)",
  command: `node bench/baseline.mjs ${process.argv.slice(2).join(" ")}`,
  gpu,
  libraries: rows.find((r) => r.environment)?.environment?.libraries ?? null,
  date: new Date().toISOString(),
  rows,
};
if (out) writeFileSync(out, JSON.stringify(result, null, 2) + "\n");
console.log(
  `preset       engine real/s  trainer real/s  ratio | engine proc/s  trainer proc/s  ratio | engine peak GiB  trainer peak GiB  ratio`,
);
for (const r of rows) {
  if (r.error) {
    console.log(`${r.preset.padEnd(12)} ${r.error}`);
    continue;
  }
  console.log(
    `${r.preset.padEnd(12)} ${fmt(r.engine.realTokensPerSecond).padStart(13)} ${fmt(r.trainer.realTokensPerSecond).padStart(15)} ${fmt(r.ratio.realTokensPerSecond, 2).padStart(6)} |` +
      ` ${fmt(r.engine.processedTokensPerSecond).padStart(13)} ${fmt(r.trainer.processedTokensPerSecond).padStart(15)} ${fmt(r.ratio.processedTokensPerSecond, 2).padStart(6)} |` +
      ` ${gib(r.engine.peakAllocatedBytes).padStart(15)} ${gib(r.trainer.peakAllocatedBytes).padStart(17)} ${fmt(r.ratio.peakAllocatedBytes, 2).padStart(6)}`,
  );
}
