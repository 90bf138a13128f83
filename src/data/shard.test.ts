import { mkdtemp, readdir, readFile, rm, stat, truncate } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DatasetRecord } from "./records.js";
import { buildShard, readShard, ShardMetaSchema } from "./shard.js";
import { renderRecord } from "./templates.js";
import { loadTokenizer, type Tokenizer } from "./tokenizer.js";

let qwen: Tokenizer;
let cacheDir: string;
beforeAll(async () => {
  qwen = await loadTokenizer({ family: "qwen2" });
  cacheDir = await mkdtemp(join(tmpdir(), "loraprof-shard-"));
}, 60_000);
afterAll(async () => {
  await rm(cacheDir, { recursive: true, force: true });
});

const records: DatasetRecord[] = [
  { kind: "instruction", instruction: "Name a color.", input: "", output: "Blue." },
  { kind: "instruction", instruction: "Add the numbers.", input: "2 and 3", output: "The sum is 5." },
  {
    kind: "chat",
    messages: [
      { role: "user", content: "Hi" },
      { role: "assistant", content: "Hello there" },
    ],
  },
];
const alpacaRecords = records.slice(0, 2);

/** A character-level tokenizer with a BOS, standing in for Llama-like tokenizers. */
const charTokenizer: Tokenizer = {
  bosText: "<s>",
  chatTemplate: null,
  defaultChatTemplate: null,
  spec: { dir: "/nonexistent" },
  pieceBytes: () => 1,
  name: "chars",
  hash: "c".repeat(64),
  vocabSize: 1000,
  eosId: 2,
  eosText: "</s>",
  padId: 0,
  bosId: 1,
  encode: (text) => {
    const ids: number[] = [];
    for (let i = 0; i < text.length; i++) {
      if (text.startsWith("</s>", i)) {
        ids.push(2);
        i += 3;
      } else ids.push((text.charCodeAt(i) % 900) + 10);
    }
    return ids;
  },
  decode: () => "",
  addedTokenId: (c) => (c === "</s>" ? 2 : null),
};

describe("buildShard", () => {
  it("writes the documented little-endian layout: uint32 tokens, uint8 labels, uint64 offsets", async () => {
    const { dir, meta, reused } = await buildShard({
      records: alpacaRecords,
      tokenizer: qwen,
      template: "alpaca",
      seqLen: 512,
      maskPrompt: true,
      cacheDir,
    });
    expect(reused).toBe(false);
    expect(dir).toBe(join(cacheDir, "shards", meta.key));
    const tokensBin = await readFile(join(dir, "tokens.bin"));
    const labelsBin = await readFile(join(dir, "labels.bin"));
    const offsetsBin = await readFile(join(dir, "offsets.bin"));
    expect(tokensBin.length).toBe(4 * meta.tokens);
    expect(labelsBin.length).toBe(meta.tokens);
    expect(offsetsBin.length).toBe(8 * 3);

    // Decode by hand, independently of readShard.
    const view = new DataView(tokensBin.buffer, tokensBin.byteOffset, tokensBin.byteLength);
    const offs = [0, 1, 2].map((i) => Number(offsetsBin.readBigUInt64LE(8 * i)));
    expect(offs[0]).toBe(0);
    expect(offs[2]).toBe(meta.tokens);
    for (let r = 0; r < 2; r++) {
      const ids: number[] = [];
      for (let i = offs[r]!; i < offs[r + 1]!; i++) ids.push(view.getUint32(4 * i, true));
      const rendered = renderRecord(alpacaRecords[r]!, "alpaca", qwen.eosText);
      expect(qwen.decode(ids)).toBe(rendered.prompt + rendered.response);
      // Prompt tokens masked, response tokens (EOS included) are targets.
      const promptLen = qwen.encode(rendered.prompt).length;
      const labels = [...labelsBin.subarray(offs[r]!, offs[r + 1]!)];
      expect(labels).toEqual(ids.map((_, j) => (j < promptLen ? 0 : 1)));
      expect(ids[ids.length - 1]).toBe(151643);
    }
    expect(meta.labelTokens).toBe([...labelsBin].filter((b) => b === 1).length);
  });

  it("records tokenizer, template and dataset description in a schema-valid meta.json", async () => {
    const { dir } = await buildShard({
      records: alpacaRecords,
      dataset: { source: "test.json", sourceRecords: 2, subset: null, mode: "first", seed: 0 },
      tokenizer: qwen,
      template: "alpaca",
      seqLen: 256,
      maskPrompt: false,
      cacheDir,
    });
    const meta = ShardMetaSchema.parse(JSON.parse(await readFile(join(dir, "meta.json"), "utf8")));
    expect(meta).toMatchObject({
      formatVersion: 1,
      records: 2,
      seqLen: 256,
      template: "alpaca",
      maskPrompt: false,
      truncatedRecords: 0,
      tokenizer: {
        name: "qwen2.5",
        hash: qwen.hash,
        vocabSize: 151665,
        eosId: 151643,
        padId: 151643,
        bosId: null,
      },
      dataset: { source: "test.json", sourceRecords: 2 },
    });
    expect(meta.dataset.key).toMatch(/^[0-9a-f]{64}$/);
  });

  it("makes every token a target when the prompt is not masked", async () => {
    const { dir, meta } = await buildShard({
      records: alpacaRecords,
      tokenizer: qwen,
      template: "alpaca",
      seqLen: 512,
      maskPrompt: false,
      cacheDir,
    });
    const shard = await readShard(dir);
    expect(shard.labels.every((b) => b === 1)).toBe(true);
    expect(meta.labelTokens).toBe(meta.tokens);
  });

  it("encodes chatml markers as their single special ids", async () => {
    const { dir } = await buildShard({
      records,
      tokenizer: qwen,
      template: "chatml",
      seqLen: 512,
      maskPrompt: true,
      cacheDir,
    });
    const shard = await readShard(dir);
    const chat = Array.from(shard.tokens.subarray(shard.offsets[2], shard.offsets[3]));
    const labels = Array.from(shard.labels.subarray(shard.offsets[2], shard.offsets[3]));
    expect(chat[0]).toBe(151644);
    expect(chat.filter((t) => t === 151645)).toHaveLength(3);
    const target = chat.filter((_, i) => labels[i] === 1);
    expect(qwen.decode(target)).toBe("Hello there<|im_end|>\n");
  });

  it("truncates records to seqLen and counts those cut, and those left without a target", async () => {
    const { dir, meta } = await buildShard({
      records: alpacaRecords,
      tokenizer: qwen,
      template: "alpaca",
      seqLen: 30,
      maskPrompt: true,
      cacheDir,
    });
    const shard = await readShard(dir);
    const lengths = [0, 1].map((i) => shard.offsets[i + 1]! - shard.offsets[i]!);
    expect(lengths).toEqual([30, 30]);
    expect(meta.truncatedRecords).toBe(2);
    // Record 1's prompt alone is longer than 30 tokens, so none of its response survives.
    expect(meta.recordsWithoutTargets).toBe(1);
  });

  it("puts a BOS first when the tokenizer has one", async () => {
    const { dir } = await buildShard({
      records: alpacaRecords,
      tokenizer: charTokenizer,
      template: "alpaca",
      seqLen: 1000,
      maskPrompt: true,
      cacheDir,
    });
    const shard = await readShard(dir);
    for (let r = 0; r < 2; r++) {
      expect(shard.tokens[shard.offsets[r]!]).toBe(1);
      expect(shard.labels[shard.offsets[r]!]).toBe(0);
      expect(shard.tokens[shard.offsets[r + 1]! - 1]).toBe(2);
    }
    expect(shard.meta.tokenizer.bosId).toBe(1);
  });

  it("refuses chatml with a tokenizer that has no <|im_start|>", async () => {
    await expect(
      buildShard({
        records,
        tokenizer: charTokenizer,
        template: "chatml",
        seqLen: 64,
        maskPrompt: true,
        cacheDir,
      }),
    ).rejects.toMatchObject({ code: "TOKENIZER", message: expect.stringContaining("<|im_start|>") });
  });

  it("reuses a shard for the same records and settings, whatever the description says", async () => {
    const opts = {
      records: alpacaRecords,
      tokenizer: qwen,
      template: "alpaca" as const,
      seqLen: 128,
      maskPrompt: true,
      cacheDir,
    };
    const first = await buildShard(opts);
    const before = (await stat(join(first.dir, "tokens.bin"))).mtimeMs;
    const again = await buildShard({
      ...opts,
      records: alpacaRecords.map((r) => ({ ...r })),
      dataset: { source: "elsewhere.jsonl", sourceRecords: 99, subset: 2, mode: "random", seed: 3 },
    });
    expect(again.reused).toBe(true);
    expect(again.dir).toBe(first.dir);
    expect((await stat(join(first.dir, "tokens.bin"))).mtimeMs).toBe(before);
    const other = await buildShard({ ...opts, seqLen: 129 });
    expect(other.dir).not.toBe(first.dir);
  });

  it("survives two writers racing for the same shard and leaves no temporary folders", async () => {
    const opts = {
      records: alpacaRecords,
      tokenizer: qwen,
      template: "alpaca" as const,
      seqLen: 77,
      maskPrompt: true,
      cacheDir,
    };
    const [a, b] = await Promise.all([buildShard(opts), buildShard(opts)]);
    expect(a.dir).toBe(b.dir);
    expect([a.reused, b.reused].sort()).toEqual([false, true]);
    const leftovers = (await readdir(join(cacheDir, "shards"))).filter((n) => n.startsWith(".tmp"));
    expect(leftovers).toEqual([]);
    await readShard(a.dir);
  });

  it("refuses a seqLen so short that no response survives the masking", async () => {
    await expect(
      buildShard({
        records: alpacaRecords,
        tokenizer: qwen,
        template: "alpaca",
        seqLen: 10,
        maskPrompt: true,
        cacheDir,
      }),
    ).rejects.toMatchObject({
      code: "DATASET_INVALID",
      message: expect.stringContaining("nothing to train on"),
    });
  });

  it("refuses an empty record list and a bad seqLen", async () => {
    const base = { tokenizer: qwen, template: "alpaca" as const, maskPrompt: true, cacheDir };
    await expect(buildShard({ ...base, records: [], seqLen: 8 })).rejects.toMatchObject({
      code: "DATASET_INVALID",
    });
    await expect(buildShard({ ...base, records: alpacaRecords, seqLen: 0 })).rejects.toMatchObject({
      code: "DATASET_INVALID",
      problems: [expect.objectContaining({ field: "seqLen" })],
    });
  });
});

describe("readShard", () => {
  it("detects a damaged tokens.bin", async () => {
    const { dir } = await buildShard({
      records: alpacaRecords,
      tokenizer: qwen,
      template: "alpaca",
      seqLen: 99,
      maskPrompt: false,
      cacheDir,
    });
    await truncate(join(dir, "tokens.bin"), 8);
    await expect(readShard(dir)).rejects.toMatchObject({
      code: "DATASET_INVALID",
      message: expect.stringContaining("tokens.bin has 8 bytes"),
    });
  });
});
