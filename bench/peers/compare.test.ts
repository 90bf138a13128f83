import { describe, expect, it } from "vitest";
import { DEFAULT_SHAPES, orderOf, parseArgs, parseShapes, summarize, type ToolRun } from "./compare.js";

describe("compare.mjs arguments", () => {
  it("splits own options from loraprof's flags at --", () => {
    const a = parseArgs(["--repeats", "4", "--peers", "unsloth", "--", "--recipe", "fast", "--packing"]);
    expect(a.repeats).toBe(4);
    expect(a.peers).toEqual(["unsloth"]);
    expect(a.extra).toEqual(["--recipe", "fast", "--packing"]);
    expect(a.shapes.map((s) => s.name)).toEqual(parseShapes(DEFAULT_SHAPES).map((s) => s.name));
  });
  it("rejects bad input with the option and a fix", () => {
    expect(() => parseArgs(["--repeats", "0"])).toThrow(/--repeats: 0: a whole number/);
    expect(() => parseArgs(["--peers", "axolotl"])).toThrow(/--peers: axolotl/);
    expect(() => parseArgs(["--peer-padding", "ragged"])).toThrow(/--peer-padding: ragged/);
    expect(parseArgs(["--peer-padding", "longest"]).peerPadding).toBe("longest");
    expect(() => parseArgs(["--bogus", "1"])).toThrow(/unknown option --bogus/);
    expect(() => parseArgs(["--deadline-s"])).toThrow(/needs a value/);
    expect(() => parseShapes("--preset paper-run1")).toThrow(/has no name/);
    expect(() => parseShapes("a:--x;a:--y")).toThrow(/a appears twice/);
  });
  it("parses shapes into names and flags", () => {
    expect(parseShapes(" r1:--preset paper-run1 ; big:--batch-size 32  --seq-len 512;")).toEqual([
      { name: "r1", flags: ["--preset", "paper-run1"] },
      { name: "big", flags: ["--batch-size", "32", "--seq-len", "512"] },
    ]);
  });
});

describe("compare.ts design", () => {
  it("rotates the order so each tool takes each position once in three repeats", () => {
    const tools = ["loraprof", "unsloth", "trainer"];
    const orders = [0, 1, 2].map((i) => orderOf(i, tools));
    for (const t of tools) expect(new Set(orders.map((o) => o.indexOf(t)))).toEqual(new Set([0, 1, 2]));
  });
  it("summarizes medians, ranges and loraprof ÷ peer ratios, leaving failed runs out", () => {
    const run = (tool: string, repeat: number, tps: number, dev: number): ToolRun => ({
      tool,
      repeat,
      figures: {
        realTokensPerSecond: tps,
        processedTokensPerSecond: tps,
        deviceBytes: dev,
        peakAllocatedBytes: null,
      },
    });
    const runs: ToolRun[] = [
      run("loraprof", 1, 300, 4e9),
      run("loraprof", 2, 200, 4e9),
      run("loraprof", 3, 250, 4e9),
      run("unsloth", 1, 150, 2e9),
      run("unsloth", 2, 100, 2e9),
      run("unsloth", 3, 125, 2e9),
      { tool: "unsloth", repeat: 4, error: "boom" },
    ];
    const s = summarize(runs, ["unsloth"]);
    expect(s.tools["loraprof"]!.realTokensPerSecond).toEqual({ median: 250, range: [200, 300] });
    expect(s.tools["unsloth"]!.runs).toBe(3);
    expect(s.tools["unsloth"]!.errors).toEqual(["boom"]);
    expect(s.ratios["unsloth"]!["realTokensPerSecond"]).toEqual({ ofMedians: 2, perRepeatRange: [2, 2] });
    expect(s.ratios["unsloth"]!["deviceBytes"]!.ofMedians).toBe(2);
    expect(s.tools["loraprof"]!.peakAllocatedBytes).toEqual({ median: null, range: null });
  });
});
