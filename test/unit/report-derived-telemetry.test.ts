/**
 * A GPU run stored without telemetry metrics (the record below is a real H200 run of `loraprof study
 * paper` from before sweeps sampled telemetry) still gets MFU and HFU in a report, derived from its
 * RunSpec, hello and summary.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { findGpu } from "../../src/catalog/gpus.js";
import type { ModelArchitecture } from "../../src/catalog/types.js";
import { flopsPerToken } from "../../src/plan/flops.js";
import { loadReportTargets } from "../../src/report/load.js";
import { openStore } from "../../src/store/db.js";
import { createRun, finishRun, markRunning, setRunFields } from "../../src/store/runs.js";

const record = JSON.parse(
  readFileSync(new URL("../fixtures/h200-run-record.json", import.meta.url), "utf8"),
) as {
  config: Record<string, unknown>;
  spec: {
    model: { architecture: ModelArchitecture };
    data: { batchSize: number; gradAccum: number };
    lora: { r: number; targetModules: string[] | "all-linear" };
    train: { gradCheckpointing: boolean; method: "qlora" };
  };
  environment: unknown;
  summary: { realTokens: number; processedTokens: number; measuredSeconds: number; measuredSteps: number };
  metrics: Record<string, unknown>;
};

function store(metrics: Record<string, unknown>) {
  const db = openStore(":memory:");
  const id = createRun(db, { config: record.config as never });
  markRunning(db, id, record.spec);
  setRunFields(db, id, { environment: record.environment, summary: record.summary });
  finishRun(db, id, { status: "completed", metrics });
  return { db, id };
}

describe("report: telemetry derived for runs stored without it", () => {
  it("computes MFU and HFU from the stored spec, hello and summary", () => {
    expect(record.metrics["telemetry"]).toBeUndefined();
    const { db, id } = store(record.metrics);
    const run = loadReportTargets(db, [id]).runs[0]!;
    const telemetry = run.metrics!["telemetry"] as Record<
      string,
      { value: number | null; reason: string | null }
    >;

    // Independently: model FLOPs per token at the run's mean padded length, times real tokens/s,
    // over the H200's dense bf16 peak.
    const s = record.summary;
    const seqLen =
      s.processedTokens / (s.measuredSteps * record.spec.data.batchSize * record.spec.data.gradAccum);
    const flops = flopsPerToken(record.spec.model.architecture, {
      seqLen,
      loraR: record.spec.lora.r,
      targetModules: record.spec.lora.targetModules,
      gradCheckpointing: record.spec.train.gradCheckpointing,
      method: record.spec.train.method,
    });
    const peak = findGpu("NVIDIA H200")!.peakFlops.bf16;
    const expected = (flops.modelFlopsPerToken * (s.realTokens / s.measuredSeconds)) / peak;
    expect(telemetry["mfu"]!.value).toBeCloseTo(expected, 10);
    expect(telemetry["hfu"]!.value).toBeGreaterThan(telemetry["mfu"]!.value!);
    // Average power from the engine's energy counter over the window; what needs samples says why it is missing.
    const energy = (record.summary as unknown as { energyJoules: { value: number } }).energyJoules.value;
    expect(telemetry["averagePowerWatts"]!.value).toBeCloseTo(energy / s.measuredSeconds, 6);
    expect(telemetry["meanSmClockHz"]!.value).toBeNull();
    expect(telemetry["meanSmClockHz"]!.reason).toMatch(/without telemetry sampling/);
  });

  it("keeps a run's own telemetry when it has some", () => {
    const own = { mfu: { value: 0.5, reason: null } };
    const { db, id } = store({ ...record.metrics, telemetry: own });
    expect(loadReportTargets(db, [id]).runs[0]!.metrics!["telemetry"]).toEqual(own);
  });
});
