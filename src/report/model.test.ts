import { describe, expect, it } from "vitest";
import { buildReportModel } from "./model.js";
import { run } from "./testing.js";
import { decodeMetrics } from "../store/metrics.js";

describe("report model", () => {
  it("pools runs that differ only in label, preset tag and GPU index into one condition", () => {
    const m = buildReportModel({
      runs: [
        run({ label: "a", device: "cuda:0" }, 100),
        run({ label: "b", device: "cuda:1", preset: "paper-run1" }, 101),
      ],
    });
    expect(m.conditions).toHaveLength(1);
    expect(m.conditions[0]!.stats.realTokensPerSecond?.n).toBe(2);
  });

  it("calls a difference inside the noise not distinguishable from noise", () => {
    const runs = [
      ...[100, 103, 97].map((t) => run({}, t)),
      ...[101, 98, 102].map((t) => run({ optimizer: { name: "adamw_8bit" } }, t)),
    ];
    const m = buildReportModel({ runs });
    expect(m.comparisons).toHaveLength(1);
    expect(m.comparisons[0]!.factor).toBe("optimizer");
    const f = m.findings.find((x) => x.factor === "optimizer")!;
    expect(f.kind).toBe("noise");
    expect(f.text).toMatch(/adamw_8bit vs adamw_torch.*not distinguishable from noise/);
  });

  it("reports a real effect with its interval", () => {
    const runs = [
      ...[100, 101, 99].map((t) => run({}, t)),
      ...[130, 131, 129].map((t) => run({ precision: "fp16" }, t)),
    ];
    const f = buildReportModel({ runs }).findings[0]!;
    expect(f.kind).toBe("effect");
    expect(f.text).toMatch(/real tokens\/s \+30\.0% \(95% CI \+2\d\.\d% to \+3\d\.\d%\)/);
  });

  it("sets the fast recipe beside the reference at the shape both ran, and the fastest of each", () => {
    const fast = { recipe: "fast", padding: "packed", loss: "fused", kernels: "liger", fusedLora: true };
    const runs = [
      ...[100, 101, 99].map((t) => run({ padding: "longest" }, t)),
      ...[700, 720, 690].map((t) => run(fast, t)),
      ...[2000, 2050, 1990].map((t) => run({ ...fast, batchSize: 8 }, t)),
    ];
    const texts = buildReportModel({ runs })
      .findings.filter((f) => f.factor === "recipe")
      .map((f) => f.text);
    expect(texts).toHaveLength(2);
    expect(texts[0]).toMatch(
      /^recipe: fast vs reference at .*batch 1 × seq 64.*\(reference longest padding\): real tokens\/s ×7\.0\d/,
    );
    expect(texts[1]).toMatch(
      /^fastest configuration of each recipe: fast .* at 2000 real tokens\/s .* vs reference .* at 100 /,
    );
  });

  it("names what each recipe sets once, not in every configuration's name", () => {
    // As stored runs hold them: resolved configs name every setting.
    const fast = { recipe: "fast", padding: "packed", loss: "fused", kernels: "liger", fusedLora: true };
    const ref = { recipe: "reference", padding: "longest", loss: "full", kernels: "none", fusedLora: false };
    const model = buildReportModel({
      runs: [
        run(ref, 100),
        run({ ...ref, batchSize: 8 }, 300),
        run(fast, 700),
        run({ ...fast, batchSize: 8 }, 2000),
      ],
    });
    expect(model.conditions.map((c) => c.label)).toEqual([
      "recipe=reference · batch 1",
      "recipe=reference · batch 8",
      "recipe=fast · batch 1",
      "recipe=fast · batch 8",
    ]);
    expect(model.notes).toContain(
      "Configuration names leave out what each recipe sets here: recipe=reference: longest · fusedLora=false · kernels=none · loss=full; recipe=fast: packed · fusedLora=true · kernels=liger · loss=fused.",
    );
    expect(model.varying).toContain("padding"); // still a factor the comparisons see
  });

  it("keeps a recipe's setting in the names where it differs within one recipe", () => {
    const fast = { recipe: "fast", padding: "packed", loss: "fused" };
    const ref = { recipe: "reference", padding: "longest", loss: "full" };
    const model = buildReportModel({
      runs: [run(ref, 100), run(fast, 700), run({ ...fast, padding: "longest" }, 500)],
    });
    expect(model.conditions.map((c) => c.label)).toEqual([
      "longest · recipe=reference",
      "packed · recipe=fast",
      "longest · recipe=fast",
    ]);
    expect(model.notes.join(" ")).toContain("recipe=reference: loss=full; recipe=fast: loss=fused");
  });

  it("asks for repeats when a side has a single run", () => {
    const f = buildReportModel({ runs: [run({}, 100), run({ padding: "longest" }, 150)] }).findings[0]!;
    expect(f.kind).toBe("insufficient");
    expect(f.text).toMatch(/no interval.*repeat the runs/);
  });

  it("does not compare conditions that differ in two factors", () => {
    const m = buildReportModel({ runs: [run({}, 100), run({ precision: "fp16", batchSize: 2 }, 150)] });
    expect(m.comparisons.filter((c) => c.fields.includes("precision"))).toHaveLength(0);
  });

  it("marks out-of-memory configurations with their memory at failure", () => {
    const runs = [run({}, 100), run({}, 101), run({ batchSize: 8, seqLen: 64 }, null, "oom")];
    const m = buildReportModel({ runs });
    const ooms = m.findings.filter((f) => f.kind === "oom").map((f) => f.text);
    expect(ooms).toContainEqual(
      expect.stringMatching(/^batch size: out of memory at 8 \(1\/1 runs, 7\.45 GiB at failure\)/),
    );
    // No throughput effect against a configuration that never ran: what fits and what does not instead.
    expect(ooms).toContainEqual(
      expect.stringMatching(
        /^batch size: 1 fits where 8 runs out of memory: 1 2\/2 completed.*; 8 1\/1 out of memory/,
      ),
    );
    expect(m.findings.some((f) => f.kind === "insufficient")).toBe(false);
  });

  it("shows predicted beside measured when a run carries predictions", () => {
    const r = run({}, 100);
    r.metrics = decodeMetrics({
      ...r.metrics,
      predicted: { realTokensPerSecond: 80, peakAllocatedBytes: { value: 1.2e9, reason: null } },
    });
    const m = buildReportModel({ runs: [r] });
    expect(m.predicted.map((p) => [p.metric, p.predicted, p.measured, p.runs])).toEqual([
      ["realTokensPerSecond", 80, 100, 1],
      ["peakAllocatedBytes", 1.2e9, 1e9, 1],
    ]);
  });

  it("gives one predicted row per configuration and figure: the median of its runs", () => {
    const rs = [run({}, 100), run({}, 130), run({}, 90)];
    for (const r of rs) r.metrics!["predicted"] = { realTokensPerSecond: 80 };
    const m = buildReportModel({ runs: rs });
    expect(m.predicted).toEqual([
      expect.objectContaining({ metric: "realTokensPerSecond", predicted: 80, measured: 100, runs: 3 }),
    ]);
  });
});

describe("names of ad-hoc configurations", () => {
  it("leave out settings that do not matter: flush cadence, syntheticRecords of a file dataset, no subset", () => {
    const model = buildReportModel({
      runs: [
        run(
          { dataset: "synthetic", syntheticRecords: 5000, logEverySteps: 1, subset: null, seqLen: 32 },
          400,
        ),
        run(
          {
            dataset: "/data/alpaca_9k.json",
            syntheticRecords: 2000,
            logEverySteps: 10,
            subset: 100,
            seqLen: 48,
          },
          900,
        ),
      ],
    });
    const labels = model.conditions.map((c) => c.label);
    for (const l of labels) {
      expect(l).not.toMatch(/logEverySteps|syntheticRecords|null|\/data\//);
    }
    expect(labels[0]).toContain("subset=all");
    expect(labels[1]).toContain("dataset=alpaca_9k.json");
    expect(new Set(labels).size).toBe(2);
  });
});
