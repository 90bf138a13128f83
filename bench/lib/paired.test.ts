import { spawn } from "node:child_process";
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout } from "node:timers";
import { describe, expect, it } from "vitest";
import { childProcesses, labelSteps, pairedEffect, type StepRow, type Toggle } from "./paired.js";

/** Steps of `base` seconds (× `slow` while the sampler is on), back to back from t=0, drifting. */
function simulate({
  steps,
  slow,
  drift,
  toggleMs,
}: {
  steps: number;
  slow: number;
  drift: number;
  toggleMs: number;
}): { steps: StepRow[]; toggles: Toggle[] } {
  const out: StepRow[] = [];
  let t = 1000;
  const toggles = [{ t: 0, on: true }];
  for (let k = 1; k * toggleMs < 200_000; k++) toggles.push({ t: k * toggleMs, on: k % 2 === 0 });
  const stateAt = (ms: number) => toggles.filter((x) => x.t <= ms).at(-1)!.on;
  for (let i = 1; i <= steps; i++) {
    const base = 0.4 * (1 + drift * Math.sin(i / 15)); // slow regime changes within the run
    const seconds = base * (stateAt(t) ? slow : 1);
    out.push({ step: i, phase: i <= 5 ? "warmup" : "measure", unixMs: t, stepSeconds: seconds });
    t += seconds * 1000 + 3; // a little host time between steps
  }
  return { steps: out, toggles };
}

describe("paired sampler-overhead analysis", () => {
  it("drops warmup steps, steps without a time and steps that span a toggle", () => {
    const toggles = [
      { t: 0, on: true },
      { t: 1000, on: false },
    ];
    const steps = [
      { step: 1, phase: "warmup", unixMs: 100, stepSeconds: 0.1 },
      { step: 2, phase: "measure", unixMs: 300, stepSeconds: 0.2 },
      { step: 3, phase: "measure", unixMs: 900, stepSeconds: 0.2 },
      { step: 4, phase: "measure", unixMs: null, stepSeconds: 0.2 },
      { step: 5, phase: "measure", unixMs: 1200, stepSeconds: 0.2 },
    ];
    expect(labelSteps(steps, toggles)).toEqual([
      { step: 2, seconds: 0.2, on: true },
      { step: 5, seconds: 0.2, on: false },
    ]);
  });

  it("recovers a 2% slowdown under a slow ±15% drift of the step time", () => {
    const { steps, toggles } = simulate({ steps: 300, slow: 1.02, drift: 0.15, toggleMs: 2000 });
    const r = pairedEffect(labelSteps(steps, toggles));
    expect(r.pairs).toBeGreaterThan(20);
    expect(r.relativeStepTime).toBeCloseTo(0.02, 2);
    expect(r.ci95![0]).toBeLessThan(0.02);
    expect(r.ci95![1]).toBeGreaterThan(0.02);
    expect(r.relativeThroughput).toBeCloseTo(1 / 1.02 - 1, 2);
  });

  it("finds no effect when there is none", () => {
    const { steps, toggles } = simulate({ steps: 300, slow: 1, drift: 0.15, toggleMs: 2000 });
    const r = pairedEffect(labelSteps(steps, toggles));
    expect(Math.abs(r.relativeStepTime!)).toBeLessThan(0.005);
    expect(r.ci95![0]).toBeLessThanOrEqual(0);
    expect(r.ci95![1]).toBeGreaterThanOrEqual(0);
  });

  it("reports no estimate without both states", () => {
    const r = pairedEffect([{ step: 1, seconds: 0.4, on: true }]);
    expect(r.relativeStepTime).toBeNull();
  });
});

describe("childProcesses", () => {
  it("finds a child by its process name, and only children of the given parent", async () => {
    const dir = mkdtempSync(join(tmpdir(), "lp-proc-"));
    const fake = join(dir, "nvidia-smi");
    writeFileSync(fake, "#!/bin/sh\nsleep 30\n");
    chmodSync(fake, 0o755);
    const child = spawn(fake, [], { stdio: "ignore" });
    try {
      await new Promise((r) => setTimeout(r, 300));
      expect(childProcesses(process.pid, "nvidia-smi")).toEqual([child.pid]);
      expect(childProcesses(child.pid!, "nvidia-smi")).toEqual([]);
      expect(childProcesses(process.pid, "nvidia")).toEqual([]);
    } finally {
      child.kill("SIGKILL");
    }
  });
});
