import { createHash } from "node:crypto";
import { createServer } from "node:http";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { prepareData, type PrepareDataOptions } from "./prepare.js";
import { readShard } from "./shard.js";

const ALPACA = resolve(import.meta.dirname, "../../../shared/data/alpaca/alpaca_random_9k.json");
let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), "loraprof-prepare-"));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

const base = (cacheDir: string): PrepareDataOptions => ({
  dataset: "synthetic",
  syntheticRecords: 300,
  subset: null,
  subsetMode: "first",
  seed: 0,
  template: "alpaca",
  seqLen: 512,
  maskPrompt: false,
  tokenizer: { family: "qwen2" },
  cacheDir,
});

describe("prepareData", { timeout: 60_000 }, () => {
  it("prepares a synthetic dataset into a shard the engine can read, then reuses it", async () => {
    const cacheDir = join(tmp, "synthetic");
    const messages: string[] = [];
    const first = await prepareData({ ...base(cacheDir), onProgress: (m) => messages.push(m) });
    expect(first.padTokenId).toBe(151643);
    expect(first.shardDir).toBe(first.shard.dir);
    expect(first.summary).toMatchObject({
      dataset: "synthetic",
      path: null,
      sourceRecords: 300,
      records: 300,
      template: "alpaca",
      seqLen: 512,
      maskPrompt: false,
      tokenizer: { name: "qwen2.5", padId: 151643 },
      shardReused: false,
    });
    expect(first.summary.meanTokens).toBeCloseTo(first.summary.tokens / 300, 9);
    // Alpaca-like lengths: the mean of 300 stratified synthetic records is near Alpaca's ~104.
    expect(first.summary.meanTokens).toBeGreaterThan(95);
    expect(first.summary.meanTokens).toBeLessThan(113);
    expect(messages.some((m) => m.startsWith("tokenizing with qwen2.5"))).toBe(true);
    expect((await readShard(first.shardDir)).meta.records).toBe(300);

    const again = await prepareData(base(cacheDir));
    expect(again.summary.shardReused).toBe(true);
    expect(again.shardDir).toBe(first.shardDir);
  });

  it("reads a file and takes a seeded random subset, describing it in the shard", async () => {
    const all = JSON.parse(await readFile(ALPACA, "utf8")) as unknown[];
    const file = join(tmp, "part.jsonl");
    await writeFile(
      file,
      all
        .slice(0, 60)
        .map((r) => JSON.stringify(r))
        .join("\n") + "\n",
    );
    const prepared = await prepareData({
      ...base(join(tmp, "file")),
      dataset: file,
      subset: 12,
      subsetMode: "random",
      seed: 3,
      maskPrompt: true,
    });
    expect(prepared.summary).toMatchObject({
      path: file,
      sourceRecords: 60,
      records: 12,
      subset: 12,
      subsetMode: "random",
    });
    expect(prepared.summary.labelTokens).toBeLessThan(prepared.summary.tokens);
    expect(prepared.shard.meta.dataset).toMatchObject({
      source: file,
      sourceRecords: 60,
      subset: 12,
      mode: "random",
      seed: 3,
    });
    const other = await prepareData({
      ...base(join(tmp, "file")),
      dataset: file,
      subset: 12,
      subsetMode: "random",
      seed: 4,
      maskPrompt: true,
    });
    expect(other.summary.datasetKey).not.toBe(prepared.summary.datasetKey);
  });

  it("downloads alpaca through resolveDataset and reports the download", async () => {
    const body = Buffer.from(
      JSON.stringify([
        { instruction: "Name a color.", input: "", output: "Blue." },
        { instruction: "Add.", input: "2 3", output: "5" },
      ]),
    );
    const server = createServer((_req, res) => res.writeHead(200).end(body));
    await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
    try {
      const messages: string[] = [];
      const prepared = await prepareData({
        ...base(join(tmp, "alpaca")),
        dataset: "alpaca",
        onProgress: (m) => messages.push(m),
        resolve: {
          url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/alpaca_data.json`,
          expectedBytes: body.length,
          expectedSha256: createHash("sha256").update(body).digest("hex"),
        },
      });
      expect(prepared.summary).toMatchObject({ dataset: "alpaca", sourceRecords: 2, records: 2 });
      expect(messages.some((m) => m.startsWith("downloading alpaca_data.json"))).toBe(true);
    } finally {
      await new Promise((ok) => server.close(ok));
    }
  });

  it("passes on a subset larger than the dataset as a clear error", async () => {
    await expect(
      prepareData({ ...base(join(tmp, "err")), syntheticRecords: 10, subset: 11 }),
    ).rejects.toMatchObject({
      code: "DATASET_INVALID",
      message: expect.stringContaining("holds only 10"),
    });
  });
});
