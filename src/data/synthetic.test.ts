import { beforeAll, describe, expect, it } from "vitest";
import { lengthStats, recordTokenLengths } from "./stats.js";
import { syntheticDataset, syntheticDatasetWithPlans, WORDS } from "./synthetic.js";
import { loadTokenizer, type Tokenizer } from "./tokenizer.js";

// Alpaca's facts from shared/data/alpaca/SOURCE.md (Qwen2.5 tokenizer, Alpaca template, no EOS).
// Our records end with the EOS token, so every length is one more.
const SOURCE = { mean: 103, median: 88, p90: 169, p99: 305 };
const EOS = 1;

let qwen: Tokenizer;
const N = 5000;
const generated = syntheticDatasetWithPlans({ records: N, seed: 0 });
let lengths: Uint32Array;

beforeAll(async () => {
  qwen = await loadTokenizer({ family: "qwen2" });
  lengths = await recordTokenLengths(
    generated.map((g) => g.record),
    qwen,
    "alpaca",
  );
}, 60_000);

describe("syntheticDataset", () => {
  it("builds text only from words that are single Qwen2.5 tokens", () => {
    const capitalized = new Set<string>([
      ...WORDS.openers,
      ...WORDS.imperatives,
      ...WORDS.questions,
      ...WORDS.singles,
    ]);
    for (const list of Object.values(WORDS)) {
      for (const w of list) {
        expect(qwen.encode(` ${w}`), w).toHaveLength(1);
        if (capitalized.has(w)) {
          const c = w.charAt(0).toUpperCase() + w.slice(1);
          expect(qwen.encode(c), c).toHaveLength(1);
          expect(qwen.encode(` ${c}`), c).toHaveLength(1);
        }
      }
    }
  });

  it("gives every record exactly its planned token count under the alpaca template", () => {
    const mismatches = generated
      .map((g, i) => ({ i, planned: g.plan.totalTokens, actual: lengths[i] }))
      .filter((m) => m.planned !== m.actual);
    expect(mismatches.slice(0, 5)).toEqual([]);
  });

  it("matches Alpaca's token-length distribution on 5,000 records", () => {
    const s = lengthStats(lengths);
    const near = (actual: number, expected: number, tolerance: number) =>
      expect(Math.abs(actual - expected) / expected, `${actual} vs ${expected}`).toBeLessThanOrEqual(
        tolerance,
      );
    near(s.tokens.mean, SOURCE.mean + EOS, 0.02);
    near(s.tokens.median, SOURCE.median + EOS, 0.05);
    near(s.tokens.p90, SOURCE.p90 + EOS, 0.05);
    near(s.tokens.p99, SOURCE.p99 + EOS, 0.05);
    expect(s.tokens.max).toBeLessThanOrEqual(925);
  });

  it("stays close to Alpaca's distribution for other seeds and only 1,000 records", async () => {
    for (const seed of [1, 2, 3]) {
      const s = lengthStats(
        await recordTokenLengths(syntheticDataset({ records: 1000, seed }), qwen, "alpaca"),
      );
      expect(Math.abs(s.tokens.mean - (SOURCE.mean + EOS)) / (SOURCE.mean + EOS)).toBeLessThanOrEqual(0.02);
      expect(Math.abs(s.tokens.median - (SOURCE.median + EOS)) / (SOURCE.median + EOS)).toBeLessThanOrEqual(
        0.05,
      );
      expect(Math.abs(s.tokens.p90 - (SOURCE.p90 + EOS)) / (SOURCE.p90 + EOS)).toBeLessThanOrEqual(0.05);
    }
  }, 60_000);

  it("gives about 40% of records an input, as Alpaca does", () => {
    const withInput = generated.filter(
      (g) => g.record.kind === "instruction" && g.record.input !== "",
    ).length;
    expect(withInput / N).toBeGreaterThan(0.37);
    expect(withInput / N).toBeLessThan(0.43);
  });

  it("writes readable sentences", () => {
    const rec = generated[1]?.record;
    expect(rec?.kind).toBe("instruction");
    if (rec?.kind !== "instruction") return;
    expect(rec.instruction).toMatch(/^[A-Z][a-z]+( [a-z]+|,)*[.?]( [A-Z][a-z]+( [a-z]+|,)*\.)*$/);
    expect(rec.output).toMatch(/^[A-Z][a-z]+(( [a-z]+|,)*\.( [A-Z][a-z]+)?)*$/);
  });

  it("is the same for the same seed, different for another, and a prefix of a longer run", () => {
    const a = syntheticDataset({ records: 50, seed: 7 });
    expect(syntheticDataset({ records: 50, seed: 7 })).toEqual(a);
    expect(syntheticDataset({ records: 50, seed: 8 })).not.toEqual(a);
    expect(syntheticDataset({ records: 80, seed: 7 }).slice(0, 50)).toEqual(a);
  });

  it("rejects a record count that is not a positive whole number", () => {
    expect(() => syntheticDataset({ records: 0, seed: 0 })).toThrow(/positive whole number/);
  });
});
