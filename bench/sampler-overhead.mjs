// Does the nvidia-smi sampler slow training? Alternates runs with the sampler on and off (same
// config), then prints the median real tokens/s of each and the relative difference.
//
//   node bench/sampler-overhead.mjs [--repeats 3] [--cli "node bin/loraprof.js"] [--out FILE] -- [run flags]
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";

const argv = process.argv.slice(2);
const dash = argv.indexOf("--");
const own = dash >= 0 ? argv.slice(0, dash) : argv;
const extra = dash >= 0 ? argv.slice(dash + 1) : ["--preset", "paper-run1"];
const opt = (name, def) => (own.includes(name) ? own[own.indexOf(name) + 1] : def);
const root = resolve(new URL("..", import.meta.url).pathname);
const cli = opt("--cli", `node ${join(root, "bin/loraprof.js")}`).split(" ");
const repeats = Number(opt("--repeats", "3"));
const out = opt("--out", null);

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const runs = { on: [], off: [] };
function save() {
  const on = runs.on.length ? median(runs.on.map((r) => r.realTokensPerSecond)) : null;
  const off = runs.off.length ? median(runs.off.map((r) => r.realTokensPerSecond)) : null;
  const stepOn = runs.on.length ? median(runs.on.map((r) => r.stepSecondsMedian)) : null;
  const stepOff = runs.off.length ? median(runs.off.map((r) => r.stepSecondsMedian)) : null;
  const result = {
    benchmark: "sampler overhead: median real tokens/s with the nvidia-smi sampler on vs off",
    command: `node bench/sampler-overhead.mjs ${process.argv.slice(2).join(" ")}`,
    repeats,
    completed: { on: runs.on.length, off: runs.off.length },
    medianOn: on,
    medianOff: off,
    relativeChange: on !== null && off !== null ? on / off - 1 : null,
    medianStepSeconds: { on: stepOn, off: stepOff },
    runs,
  };
  if (out) writeFileSync(out, JSON.stringify(result, null, 2) + "\n");
  return { on, off };
}

for (let i = 0; i < repeats; i++) {
  // Alternate the order so that drift (clocks, temperature) does not favour one arm.
  const order = i % 2 === 0 ? ["on", "off"] : ["off", "on"];
  for (const arm of order) {
    const args = [
      "run",
      ...extra,
      ...(arm === "off" ? ["--no-telemetry"] : []),
      "--label",
      `sampler-${arm}-${i + 1}`,
      "--json",
      "--quiet",
    ];
    const r = spawnSync(cli[0], [...cli.slice(1), ...args], { encoding: "utf8", maxBuffer: 64 << 20 });
    const j = JSON.parse(r.stdout);
    if (j.status !== "completed")
      throw new Error(`${arm} run ${i + 1}: ${j.status} ${j.error?.message ?? ""}`);
    runs[arm].push({
      id: j.id,
      realTokensPerSecond: j.metrics.realTokensPerSecond,
      stepSecondsMedian: j.metrics.stepSecondsMedian,
      samples: j.metrics.telemetryHealth?.samples ?? null,
    });
    save(); // after every run: a time limit that stops the benchmark keeps what it measured
    process.stderr.write(`${arm} #${i + 1}: ${j.metrics.realTokensPerSecond.toFixed(1)} real tok/s\n`);
  }
}
const { on, off } = save();
console.log(
  `sampler on ${on.toFixed(1)} vs off ${off.toFixed(1)} real tok/s: ${((on / off - 1) * 100).toFixed(2)}% (median of ${repeats})`,
);
