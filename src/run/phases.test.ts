import { describe, expect, it } from "vitest";
import { renderPhases } from "../cli/commands/run.js";
import { phaseClock, RUN_PHASES } from "./phases.js";

describe("a run's phase clock", () => {
  it("gives each phase the time since the previous mark, adds repeats, and the total since it started", () => {
    let t = 1000;
    const clock = phaseClock(() => t);
    t += 500;
    clock.end("prepare");
    t += 2000;
    clock.end("telemetryStart");
    t += 250;
    clock.end("training");
    t += 250;
    clock.end("training");
    t += 100;
    expect(clock.phases()).toEqual({ prepare: 0.5, telemetryStart: 2, training: 0.5, total: 3.1 });
  });

  it("renders the phases in run order with the measured window beside the steps", () => {
    const phases = Object.fromEntries(RUN_PHASES.map((p, i) => [p, i + 1]));
    const text = renderPhases({ ...phases, total: 30 }, 2.5);
    expect(text).toMatch(
      /^30\.0 s in all: data and setup 1\.0 s, telemetry baseline 2\.0 s, engine start 3\.0 s/,
    );
    expect(text).toContain("steps 5.0 s (measured window 2.5 s)");
    expect(renderPhases(undefined, 2.5)).toMatch(/not recorded/);
  });
});
