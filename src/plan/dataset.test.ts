import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { LoraprofError } from "../util/errors.js";
import { datasetLengths } from "./dataset.js";
import { ALPACA_PUBLISHED_LENGTHS } from "./lengths.js";
import { model, tinyAlpacaFile } from "./testing.js";

const qwen = model("qwen2.5-1.5b-instruct");
const base = {
  syntheticRecords: 300,
  subset: null,
  subsetMode: "first" as const,
  seed: 0,
  template: "alpaca" as const,
};

describe("datasetLengths", () => {
  it("uses Alpaca's published facts for an alpaca dataset that is not downloaded", async () => {
    const cacheDir = mkdtempSync(join(tmpdir(), "lp-plan-"));
    const src = await datasetLengths({ ...base, dataset: "alpaca" }, qwen, { cacheDir });
    expect(src.kind).toBe("published");
    expect(src.stats).toEqual(ALPACA_PUBLISHED_LENGTHS);
    expect(src.description).toMatch(/not downloaded/);
  });

  it("counts synthetic records from the generator's plans, subset applied", async () => {
    const cacheDir = mkdtempSync(join(tmpdir(), "lp-plan-"));
    const src = await datasetLengths({ ...base, dataset: "synthetic", subset: 200 }, qwen, { cacheDir });
    expect(src.kind).toBe("synthetic-plan");
    expect(src.records).toBe(200);
    expect(src.stats.lengths).toHaveLength(200);
    // Alpaca-like by construction: mean near 104 tokens.
    expect(src.stats.meanTokens).toBeGreaterThan(90);
    expect(src.stats.meanTokens).toBeLessThan(120);
  });

  it("tokenizes a local file once and reads the lengths back from the cache", async () => {
    const { dir, file } = tinyAlpacaFile("lp-plan-");
    const first = await datasetLengths({ ...base, dataset: file }, qwen, { cacheDir: dir });
    expect(first.kind).toBe("tokenized");
    expect(first.records).toBe(3);
    const again = await datasetLengths({ ...base, dataset: file }, qwen, { cacheDir: dir });
    expect(again.kind).toBe("cached");
    expect(again.stats).toEqual(first.stats);
    const subset = await datasetLengths({ ...base, dataset: file, subset: 2 }, qwen, { cacheDir: dir });
    expect(subset.kind).toBe("tokenized");
    expect(subset.stats.lengths).toEqual(first.stats.lengths!.slice(0, 2));
  });

  it("measures a model with no offline tokenizer with Qwen2.5's as a length proxy, and says so", async () => {
    const mistral = model("mistral-7b-v0.3");
    const { dir, file } = tinyAlpacaFile("lp-plan-", 2);
    const first = await datasetLengths({ ...base, dataset: file }, mistral, { cacheDir: dir });
    expect(first.kind).toBe("tokenized");
    expect(first.description).toMatch(
      /tokenized with the qwen2 tokenizer \(the Qwen2\.5 tokenizer is a length proxy/,
    );
    expect(first.description).toContain("Mistral-7B-v0.3");
    // The proxy's lengths are Qwen's own, so Qwen's plans and this one share the cache.
    const qwenLengths = await datasetLengths({ ...base, dataset: file }, qwen, { cacheDir: dir });
    expect(qwenLengths.kind).toBe("cached");
    expect(qwenLengths.stats).toEqual(first.stats);
    const again = await datasetLengths({ ...base, dataset: file }, mistral, { cacheDir: dir });
    expect(again.kind).toBe("cached");
    expect(again.description).toMatch(/length proxy/);
    const synthetic = await datasetLengths({ ...base, dataset: "synthetic" }, model("gemma-2-2b-it"), {
      cacheDir: dir,
    });
    expect(synthetic.kind).toBe("synthetic-plan");
    expect(synthetic.description).toMatch(/length proxy: no tokenizer for gemma-2-2b-it ships/);
    const published = await datasetLengths({ ...base, dataset: "alpaca" }, model("phi-4"), { cacheDir: dir });
    expect(published.description).toMatch(/length proxy/);
  });

  it("names the dataset field when the file does not exist", async () => {
    const cacheDir = mkdtempSync(join(tmpdir(), "lp-plan-"));
    await expect(
      datasetLengths({ ...base, dataset: join(cacheDir, "missing.json") }, qwen, { cacheDir }),
    ).rejects.toSatisfy((e) => e instanceof LoraprofError && e.problems[0]?.field === "dataset");
  });
});
