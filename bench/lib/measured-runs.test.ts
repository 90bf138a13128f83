import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { readResultRuns } from "./measured-runs.js";

const dir = mkdtempSync(join(tmpdir(), "loraprof-measured-runs-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const variant = (name: string, device: number) => ({
  name,
  changes: { "data.batchSize": 2 },
  measuredSteps: 10,
  realTokensPerSecond: 1000,
  peakAllocatedBytes: 2 ** 30,
  nvmlPeakDeviceBytes: device,
});

describe("readResultRuns", () => {
  it("keeps a probe's NVML device peak for the first variant in its process only", () => {
    writeFileSync(
      join(dir, "h200-some-probe.json"),
      JSON.stringify({ gpu: "NVIDIA H200", results: [variant("a", 3 * 2 ** 30), variant("b", 4 * 2 ** 30)] }),
    );
    const { runs } = readResultRuns(dir);
    expect(runs.map((r) => [r.name, r.metrics.peakDeviceBytes, r.metrics.peakAllocatedBytes])).toEqual([
      ["probe a (h200-some-probe)", 3 * 2 ** 30, 2 ** 30],
      ["probe b (h200-some-probe)", null, 2 ** 30], // the allocator's own figure stays
    ]);
  });
});
