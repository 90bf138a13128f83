import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { LoraprofError } from "../util/errors.js";
import { renderReplayText, replayCsv } from "./replay.js";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const FIXTURE = path.resolve(repoRoot, "../shared/fixtures/nvidia-smi/h200-lora-training-100ms.csv");
const text = readFileSync(FIXTURE, "utf8");

/**
 * The reference, written without the library: split the lines, read seconds from the clock part of
 * each timestamp (the log spans no midnight), read power.draw (the second column), sum trapezoids.
 */
function independentTrapezoid(csv: string): {
  joules: number;
  seconds: number;
  peakWatts: number;
  peakMiB: number;
} {
  const rows = csv
    .trim()
    .split("\n")
    .slice(1)
    .map((line) => line.split(", "));
  const t = rows.map((r) => {
    const [h, m, s] = (r[0] as string).split(" ")[1]!.split(":").map(Number) as [number, number, number];
    return h * 3600 + m * 60 + s;
  });
  const w = rows.map((r) => parseFloat(r[1] as string));
  let joules = 0;
  for (let i = 1; i < rows.length; i++) joules += (t[i]! - t[i - 1]!) * (w[i]! + w[i - 1]!) * 0.5;
  return {
    joules,
    seconds: t[t.length - 1]! - t[0]!,
    peakWatts: Math.max(...w),
    peakMiB: Math.max(...rows.map((r) => parseFloat(r[4] as string))),
  };
}

describe("replayCsv", () => {
  it("gives the recorded H200 log an energy within 0.5% of an independent trapezoidal integral", () => {
    const ref = independentTrapezoid(text);
    const r = replayCsv(text);
    expect(ref.joules).toBeGreaterThan(1000); // the reference itself read real numbers
    expect(Math.abs((r.energyJoules as number) - ref.joules) / ref.joules).toBeLessThan(0.005);
  });

  it("reports the log's duration, mean and peak power and peak memory.used", () => {
    const ref = independentTrapezoid(text);
    const r = replayCsv(text);
    expect(r.durationSeconds).toBeCloseTo(ref.seconds, 3);
    expect(r.meanPowerWatts).toBeCloseTo(ref.joules / ref.seconds, 1);
    expect(r.peakPowerWatts).toBe(ref.peakWatts);
    expect(r.peakMemoryUsedBytes).toBe(ref.peakMiB * 1024 ** 2);
    expect(r.powerField).toBe("powerWatts");
    expect(r.gpus).toHaveLength(1);
    expect(r.samples).toHaveLength(505);
    expect(r.issues).toEqual([]);
  });

  it("summarizes each GPU of an interleaved log and adds them up", () => {
    const csv = [
      "timestamp, index, power.draw [W], memory.used [MiB]",
      "2025/11/03 12:00:00.000, 0, 100.00 W, 1000 MiB",
      "2025/11/03 12:00:00.000, 1, 300.00 W, 3000 MiB",
      "2025/11/03 12:00:01.000, 0, 100.00 W, 1500 MiB",
      "2025/11/03 12:00:01.000, 1, 300.00 W, 2000 MiB",
      "2025/11/03 12:00:02.000, 0, 200.00 W, 1000 MiB",
      "2025/11/03 12:00:02.000, 1, 300.00 W, 2000 MiB",
    ].join("\n");
    const r = replayCsv(csv);
    expect(r.gpus.map((g) => [g.gpuIndex, g.energyJoules, g.peakPowerWatts])).toEqual([
      [0, 250, 200],
      [1, 600, 300],
    ]);
    expect(r.energyJoules).toBe(850);
    expect(r.meanPowerWatts).toBe(425);
    expect(r.peakMemoryUsedBytes).toBe(3000 * 1024 ** 2);
  });

  it("skips and reports a last line cut short", () => {
    const r = replayCsv(`${text.trimEnd()}\n2026/11/28 19:46:18.704, 131.5`);
    expect(r.samples).toHaveLength(505);
    expect(r.issues).toEqual([expect.objectContaining({ line: 507 })]);
  });

  it("reports a stretch of more than a second without readings", () => {
    const csv = [
      "timestamp, power.draw [W]",
      "2025/11/03 12:00:00.000, 100.00 W",
      "2025/11/03 12:00:05.000, 100.00 W",
    ].join("\n");
    const r = replayCsv(csv);
    expect(r.energyJoules).toBe(500);
    expect(r.gpus[0]?.gaps).toEqual([
      { gpuIndex: 0, fromMs: expect.any(Number), toMs: expect.any(Number), spanMs: 5000 },
    ]);
    expect(renderReplayText(r)).toMatch(/1 gap\(s\) over 1 s/);
  });

  it("has no energy, and says so, for a log without power readings", () => {
    const r = replayCsv(
      "timestamp, memory.used [MiB]\n2025/11/03 12:00:00.000, 5 MiB\n2025/11/03 12:00:01.000, 6 MiB\n",
    );
    expect(r.energyJoules).toBeNull();
    expect(r.notes.join(" ")).toMatch(/no power readings/);
    expect(r.peakMemoryUsedBytes).toBe(6 * 1024 ** 2);
  });

  it("throws a LoraprofError for text that is not an nvidia-smi CSV", () => {
    expect(() => replayCsv("hello, world\n1, 2\n")).toThrow(LoraprofError);
  });
});

describe("renderReplayText", () => {
  it("prints samples, duration, energy and power on a few lines", () => {
    const out = renderReplayText(replayCsv(text));
    expect(out).toMatch(/^505 samples, 1 GPU\(s\), 50\.6 s/);
    expect(out).toMatch(/energy 137\d\d\.\d J/);
    expect(out).toMatch(/peak power 675\.8 W/);
    expect(out.split("\n").length).toBeLessThanOrEqual(6);
  });
});
