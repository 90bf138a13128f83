import { describe, expect, it } from "vitest";
import { median } from "../util/stats.js";
import { choosePowerField, crossCheck, idleBaselineWatts, integrateEnergyJoules } from "./energy.js";
import { emptyReadings, type TelemetrySample } from "./parse.js";

function sample(
  tMs: number,
  powerWatts: number | null,
  extra: Partial<TelemetrySample> = {},
): TelemetrySample {
  return { ...emptyReadings(0), tMs, powerWatts, ...extra };
}
/** Samples every `stepMs` from `fromMs` to `toMs` inclusive, power given by `f(t)`. */
function series(fromMs: number, toMs: number, stepMs: number, f: (t: number) => number, gpuIndex = 0) {
  const out: TelemetrySample[] = [];
  for (let t = fromMs; t <= toMs; t += stepMs) out.push(sample(t, f(t), { gpuIndex }));
  return out;
}

describe("integrateEnergyJoules", () => {
  it("gives power × time for constant power", () => {
    const r = integrateEnergyJoules(
      series(0, 10_000, 100, () => 300),
      { fromMs: 1000, toMs: 6000, field: "powerWatts" },
    );
    expect(r.energyJoules).toBeCloseTo(1500, 9);
    expect(r.averagePowerWatts).toBeCloseTo(300, 9);
    expect(r.gaps).toEqual([]);
    expect(r.coveredFraction).toBe(1);
  });

  it("clips a linear ramp at edges that fall between samples, exactly", () => {
    // P(t) = 100 + 0.1·t W (t in ms); ∫ from 50 to 950 ms = [100t + 0.05t²]/1000.
    const f = (t: number) => 100 + 0.1 * t;
    const r = integrateEnergyJoules(series(0, 1000, 100, f), { fromMs: 50, toMs: 950, field: "powerWatts" });
    const exact = (100 * 950 + 0.05 * 950 ** 2 - (100 * 50 + 0.05 * 50 ** 2)) / 1000;
    expect(r.energyJoules).toBeCloseTo(exact, 9);
  });

  it("reports a gap longer than a second and still bridges it with a straight line", () => {
    const samples = [...series(0, 2000, 100, () => 200), ...series(4000, 6000, 100, () => 200)];
    const r = integrateEnergyJoules(samples, { fromMs: 0, toMs: 6000, field: "powerWatts" });
    expect(r.energyJoules).toBeCloseTo(1200, 9);
    expect(r.gaps).toEqual([{ gpuIndex: 0, fromMs: 2000, toMs: 4000, spanMs: 2000 }]);
    expect(r.coveredFraction).toBeCloseTo(4 / 6, 9);
  });

  it("does not report spacing up to the gap threshold", () => {
    const r = integrateEnergyJoules(
      series(0, 6000, 1000, () => 200),
      { fromMs: 0, toMs: 6000, field: "powerWatts" },
    );
    expect(r.gaps).toEqual([]);
  });

  it("reports an edge of the window with no sample beyond it", () => {
    const r = integrateEnergyJoules(
      series(3000, 6000, 100, () => 100),
      { fromMs: 0, toMs: 6000, field: "powerWatts" },
    );
    expect(r.gaps).toEqual([{ gpuIndex: 0, fromMs: 0, toMs: 3000, spanMs: 3000 }]);
    // The first reading is held back to the edge.
    expect(r.energyJoules).toBeCloseTo(600, 9);
  });

  it("sums the GPUs, or integrates one when asked", () => {
    const samples = [...series(0, 1000, 100, () => 100, 0), ...series(0, 1000, 100, () => 300, 1)];
    expect(
      integrateEnergyJoules(samples, { fromMs: 0, toMs: 1000, field: "powerWatts" }).energyJoules,
    ).toBeCloseTo(400);
    const one = integrateEnergyJoules(samples, { fromMs: 0, toMs: 1000, field: "powerWatts", gpuIndex: 1 });
    expect(one.energyJoules).toBeCloseTo(300);
    expect(one.perGpu.map((g) => g.gpuIndex)).toEqual([1]);
  });

  it("skips samples without the chosen reading", () => {
    const samples = series(0, 1000, 100, () => 100);
    (samples[5] as TelemetrySample).powerWatts = null;
    const r = integrateEnergyJoules(samples, { fromMs: 0, toMs: 1000, field: "powerWatts" });
    expect(r.energyJoules).toBeCloseTo(100, 9);
  });

  it("refuses a window with fewer samples than it needs to be trusted", () => {
    const r = integrateEnergyJoules(
      series(0, 1000, 100, () => 100),
      { fromMs: 420, toMs: 480, field: "powerWatts" },
    );
    expect(r.energyJoules).toBeNull();
    expect(r.reason).toMatch(/0 powerWatts reading\(s\) inside the window/);
  });

  it("refuses an empty window", () => {
    const r = integrateEnergyJoules(
      series(0, 1000, 100, () => 100),
      { fromMs: 500, toMs: 500 },
    );
    expect(r.energyJoules).toBeNull();
    expect(r.reason).toMatch(/empty/);
  });

  it("is null for a GPU that has no power reading at all", () => {
    const samples = [...series(0, 1000, 100, () => 100, 0), ...series(0, 1000, 100, () => 100, 1)];
    for (const s of samples) if (s.gpuIndex === 1) s.powerWatts = null;
    const r = integrateEnergyJoules(samples, { fromMs: 0, toMs: 1000, field: "powerWatts" });
    expect(r.energyJoules).toBeNull();
    expect(r.reason).toMatch(/GPU 1/);
  });
});

describe("choosePowerField", () => {
  it("prefers the instant reading when nearly every sample has one", () => {
    const withInstant = series(0, 1000, 100, () => 100).map((s) => ({ ...s, powerInstantWatts: 90 }));
    expect(choosePowerField(withInstant)).toBe("powerInstantWatts");
    expect(choosePowerField(series(0, 1000, 100, () => 100))).toBe("powerWatts");
  });
});

describe("crossCheck", () => {
  it("flags a difference above 10%", () => {
    expect(crossCheck(1000, 1150)).toMatchObject({ flagged: true, relativeDifference: 0.15 });
    expect(crossCheck(1000, 880)).toMatchObject({ flagged: true });
  });

  it("does not flag a difference within 10%", () => {
    const c = crossCheck(1000, 1050);
    expect(c.flagged).toBe(false);
    expect(c.relativeDifference).toBeCloseTo(0.05, 12);
  });

  it("says why when a figure is missing", () => {
    expect(crossCheck(null, 1000)).toMatchObject({
      relativeDifference: null,
      flagged: false,
      reason: expect.stringMatching(/counter/),
    });
    expect(crossCheck(1000, null)).toMatchObject({
      relativeDifference: null,
      reason: expect.stringMatching(/integrated/),
    });
  });
});

describe("idleBaselineWatts", () => {
  it("takes the median of the readings in the lookback before the given time", () => {
    const samples = [
      ...series(0, 900, 100, () => 60),
      sample(950, 400),
      ...series(1000, 3000, 100, () => 500),
    ];
    const b = idleBaselineWatts(samples, { beforeMs: 1000, lookbackMs: 1000 });
    expect(b.watts).toBe(60);
    expect(b.perGpu).toEqual([{ gpuIndex: 0, watts: 60, samples: 11 }]);
  });

  it("is null with a reason when too few idle readings came", () => {
    const b = idleBaselineWatts(
      series(0, 200, 100, () => 60),
      { beforeMs: 250 },
    );
    expect(b.watts).toBeNull();
    expect(b.reason).toMatch(/3 idle reading/);
  });
});

describe("median", () => {
  it("averages the middle two of an even count", () => {
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([5, 1, 3])).toBe(3);
  });
});
