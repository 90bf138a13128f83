// Does the nvidia-smi sampler slow training? Two designs, both on real runs of the CLI:
//
//   paired (default): each run keeps loraprof's own sampler, which this script pauses (SIGSTOP) and
//     resumes (SIGCONT) every --period-ms; every measured step is labelled by the sampler's state
//     while it ran (steps carry their start time), and neighbouring on/off segments are compared
//     (bench/lib/paired.ts). Host drift within and between runs cancels; the figure is the median
//     over runs of the relative change in tokens/s, with each run's 95% interval. Use a preset with
//     max_length padding (constant work per step) and enough steps for ~20 pairs.
//   runs: whole runs with the sampler on vs off (--no-telemetry), alternating; the median real
//     tokens/s of each arm. Simple, but only as sharp as the host's run-to-run spread.
//
//   node dist-bench/sampler-overhead.mjs (npm run bench:build; on a GPU host: $CARRY/cli/bench/sampler-overhead.mjs)
//        [--design paired|runs] [--repeats 3] [--period-ms 2000]
//        [--cli "node bin/loraprof.js"] [--out FILE] -- [run flags]
//
// Linux only for the paired design (it finds the sampler as the CLI's nvidia-smi child in /proc). The
// paired runs' telemetry has gaps where the sampler was paused: their energy cross-check is not meant
// to hold.
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { clearInterval, setInterval } from "node:timers";
import { median, repoRoot, runCliJson } from "./lib/common.js";
import {
  childProcesses,
  labelSteps,
  pairedEffect,
  type PairedEffect,
  type StepRow,
  type Toggle,
} from "./lib/paired.js";
import type { RunResult } from "../src/index.js";

interface ArmRun {
  id: string;
  realTokensPerSecond: number | null;
  stepSecondsMedian: number | null;
  samples: number | null;
  samplerUnavailable: unknown;
  energyCrossCheck: unknown;
}
interface PairedRun {
  id: string;
  realTokensPerSecond: number | null;
  toggles: number;
  effect: PairedEffect;
}

const argv = process.argv.slice(2);
const dash = argv.indexOf("--");
const own = dash >= 0 ? argv.slice(0, dash) : argv;
const extra = dash >= 0 ? argv.slice(dash + 1) : ["--preset", "paper-run1"];
function opt(name: string, def: string): string;
function opt(name: string, def: null): string | null;
function opt(name: string, def: string | null): string | null {
  return own.includes(name) ? (own[own.indexOf(name) + 1] ?? def) : def;
}
const root = repoRoot();
const cli = opt("--cli", `node ${join(root, "bin/loraprof.js")}`).split(" ");
const design = opt("--design", "paired");
const repeats = Number(opt("--repeats", "3"));
const periodMs = Number(opt("--period-ms", "2000"));
const out = opt("--out", null);
if (!["paired", "runs"].includes(design)) throw new Error(`--design ${design}: use paired or runs`);

const pct = (x: number | null | undefined) =>
  x === null || x === undefined ? "—" : `${(x * 100).toFixed(2)}%`;
const command = `node dist-bench/sampler-overhead.mjs ${process.argv.slice(2).join(" ")}`;
const write = (result: unknown) => {
  if (out) writeFileSync(out, JSON.stringify(result, null, 2) + "\n");
};

const runCli = <T>(args: string[]) => runCliJson<T>(cli, args);

// ---- runs design ---------------------------------------------------------------------------------
function runsDesign() {
  const runs: Record<"on" | "off", ArmRun[]> = { on: [], off: [] };
  const save = () => {
    const tps = (rs: ArmRun[]) => (rs.length ? median(rs.map((r) => r.realTokensPerSecond ?? NaN)) : null);
    const on = tps(runs.on);
    const off = tps(runs.off);
    const result = {
      benchmark: "sampler overhead (runs design): median real tokens/s with the sampler on vs off",
      command,
      design,
      repeats,
      completed: { on: runs.on.length, off: runs.off.length },
      medianOn: on,
      medianOff: off,
      relativeChange: on !== null && off !== null ? on / off - 1 : null,
      medianStepSeconds: {
        on: runs.on.length ? median(runs.on.map((r) => r.stepSecondsMedian ?? NaN)) : null,
        off: runs.off.length ? median(runs.off.map((r) => r.stepSecondsMedian ?? NaN)) : null,
      },
      runs,
    };
    write(result);
    return result;
  };
  for (let i = 0; i < repeats; i++) {
    // Alternate the order so that drift (clocks, temperature) does not favour one arm.
    for (const arm of i % 2 === 0 ? (["on", "off"] as const) : (["off", "on"] as const)) {
      const j = runCli<RunResult>([
        "run",
        ...extra,
        ...(arm === "off" ? ["--no-telemetry"] : []),
        "--label",
        `sampler-${arm}-${i + 1}`,
        "--json",
        "--quiet",
      ]);
      if (j.status !== "completed")
        throw new Error(`${arm} run ${i + 1}: ${j.status} ${j.error?.message ?? ""}`);
      const m = j.metrics ?? {};
      // Stored as the engine sent it (store/metrics.ts keeps fields it does not type).
      const health = m["telemetryHealth"] as { sampleCount?: number; unavailable?: unknown } | undefined;
      runs[arm].push({
        id: j.id,
        realTokensPerSecond: m.realTokensPerSecond ?? null,
        stepSecondsMedian: m.stepSecondsMedian ?? null,
        // Evidence the sampler ran (on) or did not (off): its sample count and the energy cross-check.
        samples: health?.sampleCount ?? null,
        samplerUnavailable: health?.unavailable ?? null,
        energyCrossCheck: m.telemetry?.energyCrossCheck ?? null,
      });
      save(); // after every run: a time limit that stops the benchmark keeps what it measured
      process.stderr.write(`${arm} #${i + 1}: ${m.realTokensPerSecond?.toFixed(1)} real tok/s\n`);
    }
  }
  const r = save();
  console.log(
    `sampler on ${r.medianOn?.toFixed(1)} vs off ${r.medianOff?.toFixed(1)} real tok/s: ${pct(r.relativeChange)} (median of ${repeats})`,
  );
}

// ---- paired design -------------------------------------------------------------------------------
/** One run with the sampler toggled every periodMs; resolves to the run JSON and the toggle log. */
function toggledRun(label: string): Promise<{ run: RunResult; toggles: Toggle[] }> {
  return new Promise((resolvePromise, reject) => {
    const args = [...cli.slice(1), "run", ...extra, "--label", label, "--json", "--quiet"];
    const child = spawn(cli[0]!, args, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const toggles: Toggle[] = [];
    let on = true;
    let started = false;
    const signal = (sig: NodeJS.Signals) => {
      for (const pid of childProcesses(child.pid ?? -1, "nvidia-smi")) {
        try {
          process.kill(pid, sig);
        } catch {
          /* gone */
        }
      }
    };
    // Stopped from outside (a time limit, Ctrl-C): never leave the sampler paused behind us. The run
    // itself got the signal with its process group and cancels on its own (a second one would force it).
    const abandon = () => {
      signal("SIGCONT");
      process.exit(130);
    };
    process.once("SIGTERM", abandon);
    process.once("SIGINT", abandon);
    const timer = setInterval(() => {
      if (!started) {
        if (childProcesses(child.pid ?? -1, "nvidia-smi").length === 0) return; // the sampler starts before the engine
        started = true;
        toggles.push({ t: Date.now(), on: true });
        return;
      }
      on = !on;
      signal(on ? "SIGCONT" : "SIGSTOP");
      toggles.push({ t: Date.now(), on });
    }, periodMs);
    child.on("error", reject);
    child.on("exit", (code) => {
      clearInterval(timer);
      process.off("SIGTERM", abandon);
      process.off("SIGINT", abandon);
      signal("SIGCONT");
      try {
        resolvePromise({ run: JSON.parse(stdout) as RunResult, toggles });
      } catch {
        reject(new Error(`run ${label}: no JSON (exit ${code}): ${stderr.slice(-2000)}`));
      }
    });
  });
}

async function pairedDesign() {
  const runs: PairedRun[] = [];
  const save = () => {
    const estimates = runs
      .map((r) => r.effect.relativeThroughput)
      .filter((x): x is number => x !== null && x !== undefined);
    const result = {
      benchmark:
        "sampler overhead (paired design): within each run, steps with loraprof's sampler running vs paused, neighbouring segments compared",
      command,
      design,
      repeats,
      periodMs,
      completed: runs.length,
      /** Median over runs of the relative change in tokens/s with the sampler running (−0.01: 1% slower). */
      medianRelativeThroughput: estimates.length ? median(estimates) : null,
      runs,
    };
    write(result);
    return result;
  };
  for (let i = 1; i <= repeats; i++) {
    const { run, toggles } = await toggledRun(`sampler-paired-${i}`);
    if (run.status !== "completed") throw new Error(`run ${i}: ${run.status} ${run.error?.message ?? ""}`);
    const shown = runCli<{ steps?: StepRow[] }>(["runs", "show", run.id, "--json"]);
    const labelled = labelSteps(shown.steps ?? [], toggles);
    const effect = pairedEffect(labelled);
    runs.push({
      id: run.id,
      realTokensPerSecond: run.metrics?.realTokensPerSecond ?? null,
      toggles: toggles.length,
      effect,
    });
    save();
    process.stderr.write(
      `run ${i}: ${effect.stepsOn} steps on, ${effect.stepsOff} off, ${effect.pairs} pairs: tokens/s ${pct(effect.relativeThroughput)} with the sampler` +
        (effect.ci95 ? ` (step time 95% CI ${pct(effect.ci95[0])} … ${pct(effect.ci95[1])})` : "") +
        "\n",
    );
  }
  const r = save();
  console.log(
    `sampler running vs paused: tokens/s ${pct(r.medianRelativeThroughput)} (median of ${r.completed} runs, paired within each run)`,
  );
}

if (design === "runs") runsDesign();
else await pairedDesign();
