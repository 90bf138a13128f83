import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { prepareData } from "../data/index.js";
import { LoraprofError } from "../util/errors.js";
import { checkPreparedData } from "./data-checks.js";

async function prepared(seqLen: number) {
  return prepareData({
    dataset: "synthetic",
    syntheticRecords: 40,
    subset: null,
    subsetMode: "first",
    seed: 0,
    template: "alpaca",
    seqLen,
    maskPrompt: false,
    tokenizer: { family: "qwen2" },
    cacheDir: await mkdtemp(join(tmpdir(), "loraprof-checks-")),
  });
}

describe("checkPreparedData", { timeout: 60_000 }, () => {
  it("names --seq-len when records of one token leave nothing to train on (the shard is fine)", async () => {
    const err = await checkPreparedData(await prepared(1)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LoraprofError);
    const e = err as LoraprofError;
    expect(e.exitCode).toBe(2);
    expect(e.problems[0]).toMatchObject({ field: "seqLen", hint: expect.stringMatching(/raise --seq-len/) });
    expect(e.format()).not.toMatch(/rebuild the shard/i);
  });

  it("warns that every record was cut by a short --seq-len", async () => {
    const warnings = await checkPreparedData(await prepared(10));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/cut to it \(40 of 40, 100%, at seqLen 10\)/);
  });

  it("says nothing when every record fits", async () => {
    expect(await checkPreparedData(await prepared(2048))).toEqual([]);
  });
});
