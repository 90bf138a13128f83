import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { LoraprofError } from "../util/errors.js";
import {
  RowParser,
  SAMPLER_FIELDS,
  layoutFromFields,
  layoutFromHeader,
  parseNvidiaSmiCsv,
  parseSmiTimestamp,
} from "./parse.js";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const FIXTURE = path.resolve(repoRoot, "../shared/fixtures/nvidia-smi/h200-lora-training-100ms.csv");
const MiB = 1024 ** 2;

describe("parseNvidiaSmiCsv", () => {
  it("reads the first row of the recorded H200 log into base units", () => {
    const { samples, issues, hasHeader } = parseNvidiaSmiCsv(readFileSync(FIXTURE, "utf8"), {
      timestampZone: "utc",
    });
    expect(hasHeader).toBe(true);
    expect(issues).toEqual([]);
    expect(samples).toHaveLength(505);
    // 2026/11/28 19:45:27.999, 131.04 W, 84.91 W, 131.04 W, 0 MiB, 0 %
    expect(samples[0]).toEqual({
      tMs: Date.UTC(2026, 10, 28, 19, 45, 27, 999),
      gpuIndex: 0,
      powerWatts: 131.04,
      powerInstantWatts: 84.91,
      memoryUsedBytes: 0,
      memoryTotalBytes: null,
      utilizationGpuPercent: 0,
      utilizationMemoryPercent: null,
      smClockHz: null,
      memClockHz: null,
      temperatureC: null,
      pstate: null,
    });
  });

  it("lists the readings a log did not record", () => {
    const { layout } = parseNvidiaSmiCsv(readFileSync(FIXTURE, "utf8"));
    expect(layout.missingReadings).toEqual(
      expect.arrayContaining(["memoryTotalBytes", "smClockHz", "memClockHz", "temperatureC", "pstate"]),
    );
    expect(layout.missingReadings).not.toContain("powerWatts");
  });

  it("reads loraprof's own noheader,nounits rows from the queried field list", () => {
    const line = "2025/11/03 12:00:01.123, 1, 250.50, 301.25, 40960, 143771, 97, 45, 1980, 3201, 61, P0";
    const { samples } = parseNvidiaSmiCsv(line, { fields: SAMPLER_FIELDS, timestampZone: "utc" });
    expect(samples).toEqual([
      {
        tMs: Date.UTC(2025, 10, 3, 12, 0, 1, 123),
        gpuIndex: 1,
        powerWatts: 250.5,
        powerInstantWatts: 301.25,
        memoryUsedBytes: 40960 * MiB,
        memoryTotalBytes: 143771 * MiB,
        utilizationGpuPercent: 97,
        utilizationMemoryPercent: 45,
        smClockHz: 1980e6,
        memClockHz: 3201e6,
        temperatureC: 61,
        pstate: "P0",
      },
    ]);
  });

  it("turns [N/A], [Not Supported], N/A and blank cells into nulls", () => {
    const text = [
      "timestamp, index, power.draw [W], power.draw.instant [W], memory.used [MiB], clocks.current.sm [MHz], pstate",
      "2025/11/03 12:00:01.123, 0, [N/A], [Not Supported], N/A, , [Unknown Error]",
    ].join("\n");
    const { samples, issues } = parseNvidiaSmiCsv(text);
    expect(issues).toEqual([]);
    expect(samples[0]).toMatchObject({
      powerWatts: null,
      powerInstantWatts: null,
      memoryUsedBytes: null,
      smClockHz: null,
      pstate: null,
    });
  });

  it("rejects a last line cut short by a missing cell and keeps the rows before it", () => {
    const text = [
      "timestamp, power.draw [W], memory.used [MiB]",
      "2025/11/03 12:00:01.100, 100.00 W, 10 MiB",
      "2025/11/03 12:00:01.200, 101.0",
    ].join("\n");
    const { samples, issues } = parseNvidiaSmiCsv(text);
    expect(samples).toHaveLength(1);
    expect(issues).toEqual([
      expect.objectContaining({ line: 3, message: expect.stringMatching(/expected 3 cells/) }),
    ]);
  });

  it("rejects a last line cut inside its final cell, where the unit is missing", () => {
    const text = [
      "timestamp, power.draw [W], utilization.gpu [%]",
      "2025/11/03 12:00:01.100, 100.00 W, 12 %",
      "2025/11/03 12:00:01.200, 101.00 W, 1",
    ].join("\n");
    const { samples, issues } = parseNvidiaSmiCsv(text);
    expect(samples).toHaveLength(1);
    expect(issues[0]?.message).toMatch(/some cells carry units and others do not/);
  });

  it("rejects a garbled number without losing the good rows", () => {
    const text = [
      "timestamp, power.draw [W]",
      "2025/11/03 12:00:01.100, 100.00 W",
      "2025/11/03 12:00:01.200, 1x0.00 W",
      "2025/11/03 12:00:01.300, 102.00 W",
    ].join("\n");
    const { samples, issues } = parseNvidiaSmiCsv(text);
    expect(samples.map((s) => s.powerWatts)).toEqual([100, 102]);
    expect(issues).toEqual([
      expect.objectContaining({ line: 3, message: expect.stringMatching(/not a number/) }),
    ]);
  });

  it("refuses a unit that contradicts the header", () => {
    const text = ["timestamp, memory.used [MiB]", "2025/11/03 12:00:01.100, 10 GiB"].join("\n");
    expect(parseNvidiaSmiCsv(text).issues[0]?.message).toMatch(/contradicts the header/);
  });

  it("attributes interleaved rows of several GPUs by their index column", () => {
    const text = [
      "timestamp, index, power.draw [W]",
      "2025/11/03 12:00:01.100, 0, 100.00 W",
      "2025/11/03 12:00:01.101, 1, 200.00 W",
      "2025/11/03 12:00:01.200, 0, 110.00 W",
      "2025/11/03 12:00:01.201, 1, 210.00 W",
    ].join("\n");
    const { samples } = parseNvidiaSmiCsv(text);
    expect(samples.map((s) => [s.gpuIndex, s.powerWatts])).toEqual([
      [0, 100],
      [1, 200],
      [0, 110],
      [1, 210],
    ]);
  });

  it("numbers GPUs by first appearance when only a uuid column was recorded", () => {
    const text = [
      "timestamp, uuid, power.draw [W]",
      "2025/11/03 12:00:01.100, GPU-bbbb-2222, 100.00 W",
      "2025/11/03 12:00:01.101, GPU-aaaa-1111, 200.00 W",
      "2025/11/03 12:00:01.200, GPU-bbbb-2222, 110.00 W",
    ].join("\n");
    expect(parseNvidiaSmiCsv(text).samples.map((s) => s.gpuIndex)).toEqual([0, 1, 0]);
  });

  it("takes power.draw.average as the power reading when power.draw was not recorded", () => {
    const text = ["timestamp, power.draw.average [W]", "2025/11/03 12:00:01.100, 99.50 W"].join("\n");
    expect(parseNvidiaSmiCsv(text).samples[0]?.powerWatts).toBe(99.5);
  });

  it("prefers power.draw over power.draw.average when both were recorded", () => {
    const text = [
      "timestamp, power.draw.average [W], power.draw [W]",
      "2025/11/03 12:00:01.100, 90.00 W, 95.00 W",
    ].join("\n");
    expect(parseNvidiaSmiCsv(text).samples[0]?.powerWatts).toBe(95);
  });

  it("converts milliwatts and gibibytes when the cells say so", () => {
    const text = ["timestamp, power.draw, memory.used", "2025/11/03 12:00:01.100, 95000 mW, 2 GiB"].join(
      "\n",
    );
    expect(parseNvidiaSmiCsv(text).samples[0]).toMatchObject({
      powerWatts: 95,
      memoryUsedBytes: 2 * 1024 ** 3,
    });
  });

  it("starts a new layout at a header repeated in the middle of appended logs", () => {
    const text = [
      "timestamp, power.draw [W]",
      "2025/11/03 12:00:01.100, 100.00 W",
      "timestamp, memory.used [MiB], power.draw [W]",
      "2025/11/03 12:00:02.100, 5 MiB, 120.00 W",
    ].join("\n");
    const { samples, issues } = parseNvidiaSmiCsv(text);
    expect(issues).toEqual([]);
    expect(samples.map((s) => s.powerWatts)).toEqual([100, 120]);
    expect(samples[1]?.memoryUsedBytes).toBe(5 * MiB);
  });

  it("throws a LoraprofError naming the fix for a log with no header and no field list", () => {
    const fn = () => parseNvidiaSmiCsv("2025/11/03 12:00:01.100, 100.00\n");
    expect(fn).toThrow(LoraprofError);
    expect(fn).toThrow(/no header/);
  });

  it("refuses a log without timestamps unless the sampling interval is given", () => {
    const text = "power.draw [W]\n100.00 W\n110.00 W\n";
    expect(() => parseNvidiaSmiCsv(text)).toThrow(/no timestamp column/);
    const { samples, timeSource } = parseNvidiaSmiCsv(text, { intervalMs: 100 });
    expect(timeSource).toBe("interval");
    expect(samples.map((s) => s.tMs)).toEqual([0, 100]);
  });

  it("accepts Windows line endings", () => {
    const text = "timestamp, power.draw [W]\r\n2025/11/03 12:00:01.100, 100.00 W\r\n";
    expect(parseNvidiaSmiCsv(text).samples).toHaveLength(1);
  });
});

describe("parseSmiTimestamp", () => {
  it("reads milliseconds and rejects what is not a timestamp", () => {
    expect(parseSmiTimestamp("2025/11/03 12:00:01.123", "utc")).toBe(Date.UTC(2025, 10, 3, 12, 0, 1, 123));
    expect(parseSmiTimestamp("2025/11/03 12:00:01", "utc")).toBe(Date.UTC(2025, 10, 3, 12, 0, 1, 0));
    expect(parseSmiTimestamp("2025/13/03 12:00:01.123")).toBeNull();
    expect(parseSmiTimestamp("yesterday")).toBeNull();
  });

  it("reads local time by default", () => {
    expect(parseSmiTimestamp("2025/11/03 12:00:01.500")).toBe(new Date(2025, 10, 3, 12, 0, 1, 500).getTime());
  });
});

describe("layouts", () => {
  it("maps nvidia-smi's long header names to the fields queried by short name", () => {
    const layout = layoutFromHeader("clocks.current.sm [MHz], clocks.current.memory [MHz], name");
    expect(layout?.columns.map((c) => c.key)).toEqual(["clocks.sm", "clocks.mem", null]);
    expect(layout?.ignoredColumns).toEqual(["name"]);
  });

  it("does not take a data row for a header", () => {
    expect(layoutFromHeader("2025/11/03 12:00:01.100, 0, 100.00")).toBeNull();
    expect(layoutFromHeader("P0, P0")).toBeNull();
  });

  it("rejects a row that switches from bare numbers to units midway through a stream", () => {
    const parser = new RowParser(layoutFromFields(["index", "power.draw"]));
    expect(parser.parse("0, 100.00").ok).toBe(true);
    expect(parser.parse("0, 100.00 W")).toEqual({
      ok: false,
      message: expect.stringMatching(/earlier rows had none/),
    });
  });
});
