import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { notForFitting, readResultRuns } from "./measured-runs.js";

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

  it("rebuilds a peers run's config with the allocator its engine reported and without graphs before they existed", () => {
    const peers = (versions: unknown) => ({
      gpu: "NVIDIA H200",
      versions,
      shapes: [
        {
          name: "run1",
          runs: [
            {
              tool: "loraprof",
              repeat: 1,
              command: "loraprof run --preset paper-run1 --recipe fast --lora-dropout 0 --json",
              figures: {
                deviceBytes: 3e9,
                peakAllocatedBytes: 2e9,
                realTokensPerSecond: 1000,
                measuredSteps: 12,
              },
            },
          ],
        },
      ],
    });
    const sub = mkdtempSync(join(dir, "peers-"));
    writeFileSync(join(sub, "h200-peers-fast.json"), JSON.stringify(peers({})));
    writeFileSync(
      join(sub, "h200-peers-later.json"),
      JSON.stringify(
        peers({ loraprof: { allocator: { settings: "expandable_segments:True", source: "runspec" } } }),
      ),
    );
    const { runs } = readResultRuns(sub);
    const byFile = Object.fromEntries(runs.map((r) => [r.file, r.config]));
    expect(byFile["h200-peers-fast.json"]).toMatchObject({
      recipe: "fast",
      cudaGraphs: false,
      cudaAllocator: "default",
    });
    expect(byFile["h200-peers-later.json"]).toMatchObject({
      recipe: "fast",
      cudaGraphs: true,
      cudaAllocator: "expandable",
    });
  });
});

describe("holdout checks", () => {
  it("keeps unspent checks and spent checks marked unfit out of the fits, and spent ones in", () => {
    expect(notForFitting("h200-plan-holdout4-holdout.json")).toBe(true); // not yet spent
    expect(notForFitting("h200-plan-holdout3-holdout.json")).toBe(false); // spent and fitted (session 21)
    expect(notForFitting("h100-plan-holdout4-exhaustive.json")).toBe(true); // spent, but not fitted
    expect(notForFitting("h100-plan-holdout3-tune.json")).toBe(true); // spent, but not fitted
    expect(notForFitting("h100-plan-holdout2-holdout.json")).toBe(true); // spent, but not fitted
    expect(notForFitting("h200-plan-holdout-holdout.json")).toBe(false); // spent and fitted
    expect(notForFitting("h999-plan-holdout9-holdout.json")).toBe(true); // a check nobody listed
    expect(notForFitting("h200-peers-fast.json")).toBe(false);
  });
});
