import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { buildReportModel, type BuildReportInput } from "../report/model.js";
import { run } from "../report/testing.js";
import { paperComparison } from "./claims.js";
import { syntheticStudyRuns } from "./fixture.js";
import { readReference } from "./reference.js";

const reference = readReference(
  resolve(import.meta.dirname, "../../../shared/reference/paper-2509.12229.json"),
);

/** The report's model with the paper beside the runs, as `loraprof report` and `study` build it. */
const buildPaperModel = (input: BuildReportInput) =>
  buildReportModel({ ...input, comparison: paperComparison });

describe("the paper beside runs that reproduce none of its configurations", () => {
  it("leaves out a reference none of whose runs was measured, and says so", () => {
    const m = buildPaperModel({ runs: [run({}, 100)], reference });
    expect(m.study).toHaveLength(0);
    expect(m.claims).toHaveLength(0);
    expect(m.notes.join(" ")).toMatch(/No run here reproduces/);
  });
});

describe("the study's claims, on synthetic runs (toy cost model, not measurements)", () => {
  it("matches each published run to its preset configuration, not to an ablation point tagged with the same preset", () => {
    const m = buildPaperModel({ runs: syntheticStudyRuns(), reference });
    const run2 = m.study.find((s) => s.reference.id === "run2")!.condition!;
    expect(run2.config["padding"]).toBe("max_length");
    expect(run2.config["batchSize"]).toBe(2);
    expect(m.study.every((s) => s.condition !== null)).toBe(true);
  });

  it("finds the paged-optimizer claim confounded and attributes the difference to batch × sequence", () => {
    const m = buildPaperModel({ runs: syntheticStudyRuns(), reference });
    const claim = m.claims.find((c) => c.claim.startsWith("PagedAdamW"))!;
    expect(claim.changed.map((c) => c.factor)).toEqual(["optimizer", "batch × sequence"]);
    expect(claim.claimedFactor).toBe("optimizer");
    expect(claim.verdict).toBe("confounded");
    const optimizer = claim.attribution.find((a) => a.factor === "optimizer")!;
    expect(optimizer.pair?.from.config["batchSize"]).toBe(1);
    expect(optimizer.processed?.distinguishable).toBe(false);
    expect(claim.summary).toMatch(
      /not distinguishable from noise; batch × sequence \(1×512 → 2×2048\) explains the difference/,
    );
  });

  it("credits the optimizer with its share when it has a real effect", () => {
    const m = buildPaperModel({ runs: syntheticStudyRuns({ pagedSpeedup: 1.3 }), reference });
    const claim = m.claims.find((c) => c.claim.startsWith("PagedAdamW"))!;
    const optimizer = claim.attribution.find((a) => a.factor === "optimizer")!;
    expect(optimizer.processed!.distinguishable).toBe(true);
    expect(optimizer.processed!.estimate).toBeGreaterThan(1.2);
    expect(claim.summary).toMatch(/accounts for \+\d/);
  });

  it("finds the bf16 claim confounded by the halved sequence length", () => {
    const m = buildPaperModel({ runs: syntheticStudyRuns(), reference });
    const claim = m.claims.find((c) => c.claim.startsWith("bf16"))!;
    expect(claim.verdict).toBe("confounded");
    const shape = claim.attribution.find((a) => a.factor === "batch × sequence")!;
    expect(shape.from).toBe("2×2048");
    expect(shape.to).toBe("2×1024");
    expect(shape.processed!.estimate).toBeLessThan(1);
  });

  it("matches run 2 to its preset's recipe when the study ran fewer steps and that configuration ran out of memory", () => {
    // As on the H200: `--steps 16` and run 2 (2 × 2048, max_length) out of memory; the padding
    // ablation's `longest` point completed. Run 2 is still the max_length configuration.
    const m = buildPaperModel({ runs: syntheticStudyRuns({ steps: 16, oomAboveGiB: 6 }), reference });
    const run2 = m.study.find((s) => s.reference.id === "run2")!.condition!;
    expect(run2.config["padding"]).toBe("max_length");
    expect(run2.completed).toHaveLength(0);
    expect(run2.counts.oom).toBe(3);
  });

  it("says which setting makes a configuration that ran out of memory fit, and finds the claim confounded", () => {
    const m = buildPaperModel({ runs: syntheticStudyRuns({ steps: 16, oomAboveGiB: 6 }), reference });
    const claim = m.claims.find((c) => c.kind === "memory")!;
    expect(claim.verdict).toBe("confounded");
    expect(claim.summary).toMatch(/max_length padding\) with a budget of 8\.0 GiB: 0\/3 completed, 3 OOM/);
    expect(claim.summary).toMatch(
      /with only padding changed \(max_length → longest\) it fits: 3\/3 completed/,
    );
    // Changing the sequence length the claim is about does not count as making it fit.
    expect(claim.summary).not.toMatch(/seqLen changed/);
    const paged = m.claims.find((c) => c.claim.startsWith("PagedAdamW"))!;
    expect(paged.measured).toBeNull();
    expect(paged.unmeasured).toMatch(/^run2 ran out of memory \(3\/3 runs, .* under the 8\.0 GiB budget\)$/);
  });

  it("checks the memory claim against the budgeted run", () => {
    const m = buildPaperModel({ runs: syntheticStudyRuns(), reference });
    const claim = m.claims.find((c) => c.kind === "memory")!;
    expect(claim.verdict).toBe("supported");
    expect(claim.explanation).toMatch(/run2 .*budget of 8\.0 GiB: 3\/3 completed, 0 OOM/);
  });
});
