/**
 * Within-run on/off comparison for bench/sampler-overhead.ts's paired design: during one run the
 * sampler is paused and resumed every few seconds, each measured step is labelled by the sampler's
 * state while it ran, and neighbouring on/off segments are compared. Slow drifts of the host (the
 * H200 VM's steps shift between speed regimes within a run) hit both sides of a pair alike, so the
 * comparison needs far fewer steps than comparing whole runs.
 */

import { readdirSync, readFileSync } from "node:fs";
import { median } from "./common.js";

/** Pids of the processes named `comm` whose parent is `ppid` (Linux /proc): e.g. the CLI's nvidia-smi. */
export function childProcesses(ppid: number, comm: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      // pid (comm) state ppid …; comm may hold spaces and parentheses, so cut at the last ")".
      const c = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const parent = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (parent === ppid && c === comm) pids.push(Number(name));
    } catch {
      /* the process ended while we looked */
    }
  }
  return pids;
}

export interface StepRow {
  step: number;
  phase: string;
  unixMs: number | null;
  stepSeconds: number | null;
}
export interface Toggle {
  t: number;
  on: boolean;
}
export interface LabelledStep {
  step: number;
  seconds: number;
  on: boolean;
}
export interface PairedEffect {
  stepsOn: number;
  stepsOff: number;
  pairs: number;
  medianStepSecondsOn?: number;
  medianStepSecondsOff?: number;
  relativeStepTime: number | null;
  ci95: [number, number] | null;
  relativeThroughput?: number;
}

/**
 * Labels each measured step with the sampler state it ran under; a step that spans a toggle (or has
 * no start time or duration) is left out.
 * `toggles`: state changes in time order; the first sets the initial state.
 */
export function labelSteps(steps: readonly StepRow[], toggles: readonly Toggle[]): LabelledStep[] {
  const out: LabelledStep[] = [];
  if (toggles.length === 0) return out;
  for (const s of steps) {
    if (s.phase !== "measure" || s.unixMs === null || s.stepSeconds === null) continue;
    const start = s.unixMs;
    const end = start + s.stepSeconds * 1000;
    let state: boolean | null = null;
    for (const tg of toggles) {
      if (tg.t <= start) state = tg.on;
      else break;
    }
    if (state === null) continue; // before the experiment began
    const straddles = toggles.some((tg) => tg.t > start && tg.t < end);
    if (!straddles) out.push({ step: s.step, seconds: s.stepSeconds, on: state });
  }
  return out;
}

const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

/**
 * Runs of consecutive steps under one state, then non-overlapping neighbour pairs (segments 0–1,
 * 2–3, …) of opposite states. The effect is the mean over pairs of (on mean − off mean) step time,
 * with a 95% interval from the pairs' spread (normal approximation; null below 3 pairs).
 * `labelled`: in step order.
 */
export function pairedEffect(labelled: readonly LabelledStep[]): PairedEffect {
  const segments: { on: boolean; seconds: number[]; lastStep: number }[] = [];
  for (const s of labelled) {
    const last = segments.at(-1);
    if (last && last.on === s.on && s.step === last.lastStep + 1) {
      last.seconds.push(s.seconds);
      last.lastStep = s.step;
    } else segments.push({ on: s.on, seconds: [s.seconds], lastStep: s.step });
  }
  const diffs: number[] = [];
  for (let i = 0; i + 1 < segments.length; i += 2) {
    const a = segments[i]!;
    const b = segments[i + 1]!;
    if (a.on === b.on) continue;
    const on = a.on ? a : b;
    const off = a.on ? b : a;
    diffs.push(mean(on.seconds) - mean(off.seconds));
  }
  const on = labelled.filter((s) => s.on).map((s) => s.seconds);
  const off = labelled.filter((s) => !s.on).map((s) => s.seconds);
  if (!on.length || !off.length || !diffs.length) {
    return {
      stepsOn: on.length,
      stepsOff: off.length,
      pairs: diffs.length,
      relativeStepTime: null,
      ci95: null,
    };
  }
  const meanOff = mean(off);
  const d = mean(diffs);
  let ci95: [number, number] | null = null;
  if (diffs.length >= 3) {
    const sd = Math.sqrt(diffs.reduce((a, x) => a + (x - d) ** 2, 0) / (diffs.length - 1));
    const half = (1.96 * sd) / Math.sqrt(diffs.length);
    ci95 = [(d - half) / meanOff, (d + half) / meanOff];
  }
  return {
    stepsOn: on.length,
    stepsOff: off.length,
    pairs: diffs.length,
    medianStepSecondsOn: median(on),
    medianStepSecondsOff: median(off),
    /** (on − off) / off step time from the paired segments: +0.01 = steps 1% slower with the sampler. */
    relativeStepTime: d / meanOff,
    ci95,
    /** The same as a change of tokens/s (constant work per step): −0.0099 for +0.01 step time. */
    relativeThroughput: meanOff / (meanOff + d) - 1,
  };
}
