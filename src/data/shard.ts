/**
 * Token shards: tokenized records on disk, the file contract between this stage and the Python engine.
 *
 * A shard is a folder `<cacheDir>/shards/<key>/` holding four files. All integers are little-endian.
 *
 *   meta.json    UTF-8 JSON, see ShardMetaSchema below:
 *                { formatVersion: 1, records, tokens, labelTokens, seqLen, template, maskPrompt,
 *                  truncatedRecords, recordsWithoutTargets,
 *                  tokenizer: { name, hash, vocabSize, eosId, padId, bosId },
 *                  dataset: { key, …description of source/subset/mode/seed when given },
 *                  key, createdAt }
 *   tokens.bin   uint32 × tokens: the token ids of all records, concatenated, no padding.
 *   labels.bin   uint8 × tokens: 1 = the token is a training target counted in the loss,
 *                0 = a masked prompt token. Aligned with tokens.bin byte for byte.
 *   offsets.bin  uint64 × (records + 1): record i is tokens[offsets[i] : offsets[i+1]];
 *                offsets[0] = 0 and offsets[records] = tokens.
 *
 * What a record holds: [BOS if the tokenizer has one] + the template's segments, each tokenized on its
 * own (templates.ts), truncated to its first `seqLen` tokens. No padding is stored: batches are padded
 * by the engine with `tokenizer.padId`, and padded positions are never targets. The engine derives
 * Hugging Face-style labels as `labels = ids where label byte is 1, else -100` and lets the model shift
 * them; so a label byte marks "this token is predicted", and the first token's label never counts.
 *
 * maskPrompt false: every token's label is 1 (plain causal LM on the whole text).
 * maskPrompt true: only the template's target segments are 1 (the Alpaca responses + EOS; for chatml
 * and chat templates each assistant turn + its end-of-turn marker; for text records every token).
 * A record whose response was cut off entirely by truncation has no target; it is kept (it still
 * costs compute) and counted in `recordsWithoutTargets`. Records are encoded by encode.ts, on every
 * core for large datasets.
 *
 * key = sha256 over (formatVersion, dataset key, tokenizer hash, template, seqLen, maskPrompt). The
 * dataset key is a content hash of the chosen records (records.ts), so the same records reach the same
 * shard whatever file or subset they came from; `meta.dataset` describes the build that wrote it.
 * A shard is written once, into a temporary folder renamed into place (atomic on one filesystem), and
 * reused afterwards; a concurrent writer that loses the rename race uses the winner's shard.
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { LoraprofError } from "../util/errors.js";
import { encodeAll } from "./encode.js";
import { recordsContentKey, type DatasetRecord } from "./records.js";
import { templateFromSpec, CHATML_END, CHATML_START, type Template } from "./templates.js";
import type { Tokenizer } from "./tokenizer.js";

export { encodeRecord } from "./encode.js";
export type { EncodedRecord } from "./encode.js";

/** A template, or the name of a fixed one. */
export type TemplateArg = Template | "alpaca" | "chatml" | "raw";

function asTemplate(t: TemplateArg): Template {
  return typeof t === "string" ? templateFromSpec({ kind: t }) : t;
}

export const SHARD_FORMAT_VERSION = 1;

export const ShardMetaSchema = z
  .object({
    formatVersion: z.literal(SHARD_FORMAT_VERSION),
    records: z.number().int().positive(),
    /** Tokens stored (after truncation), = offsets[records]. */
    tokens: z.number().int().nonnegative(),
    /** Tokens whose label byte is 1. */
    labelTokens: z.number().int().nonnegative(),
    seqLen: z.number().int().positive(),
    /** The template's key (templates.ts): "alpaca", "chatml", "raw" or "<name>:<sha16>" for Jinja. */
    template: z.string().min(1),
    maskPrompt: z.boolean(),
    /** Records longer than seqLen before truncation. */
    truncatedRecords: z.number().int().nonnegative(),
    /** Records with no label-1 token (only possible with maskPrompt). */
    recordsWithoutTargets: z.number().int().nonnegative(),
    tokenizer: z
      .object({
        name: z.string(),
        hash: z.string(),
        vocabSize: z.number().int().positive(),
        eosId: z.number().int().nonnegative(),
        padId: z.number().int().nonnegative(),
        bosId: z.number().int().nonnegative().nullable(),
      })
      .strict(),
    /** `key` is the content hash of the records; other fields describe where they came from. */
    dataset: z.looseObject({ key: z.string() }),
    key: z.string().regex(/^[0-9a-f]{64}$/),
    createdAt: z.string(),
  })
  .strict();
export type ShardMeta = z.infer<typeof ShardMetaSchema>;

/** How the records were chosen, stored in meta.json for people and reports (not part of the key). */
export interface DatasetDescription {
  /** "synthetic", "alpaca" or the file path. */
  source: string;
  /** Records in the source before the subset. */
  sourceRecords: number;
  subset: number | null;
  mode: "first" | "random";
  seed: number;
  [extra: string]: unknown;
}

/** Refuses template/tokenizer pairs that cannot work, before any tokenizing. */
export function checkTemplateSupport(tokenizer: Tokenizer, template: TemplateArg): void {
  if (asTemplate(template).key !== "chatml") return;
  const missing = [CHATML_START, CHATML_END].filter((t) => tokenizer.addedTokenId(t) === null);
  if (missing.length > 0) {
    throw new LoraprofError(
      "TOKENIZER",
      `the chatml template needs ${missing.join(" and ")} as special tokens, which tokenizer ${tokenizer.name} lacks`,
      {
        problems: [
          {
            field: "template",
            message: `chatml with ${tokenizer.name}`,
            hint: "use --template alpaca with this model",
          },
        ],
      },
    );
  }
}

export function shardKey(parts: {
  datasetKey: string;
  tokenizerHash: string;
  /** The template's key. */
  template: string;
  seqLen: number;
  maskPrompt: boolean;
}): string {
  return createHash("sha256")
    .update(
      JSON.stringify({
        formatVersion: SHARD_FORMAT_VERSION,
        datasetKey: parts.datasetKey,
        tokenizerHash: parts.tokenizerHash,
        template: parts.template,
        seqLen: parts.seqLen,
        maskPrompt: parts.maskPrompt,
      }),
    )
    .digest("hex");
}

export interface BuildShardOptions {
  records: readonly DatasetRecord[];
  /** Content hash of `records` (recordsContentKey); computed when left out. */
  datasetKey?: string;
  dataset?: DatasetDescription;
  tokenizer: Tokenizer;
  template: TemplateArg;
  seqLen: number;
  maskPrompt: boolean;
  cacheDir: string;
  /** Called every few hundred records while tokenizing (not called when the shard is reused). */
  onProgress?: (done: number, total: number) => void;
}

export interface BuiltShard {
  dir: string;
  meta: ShardMeta;
  /** True when an existing shard was found and nothing was tokenized. */
  reused: boolean;
}

export async function buildShard(opts: BuildShardOptions): Promise<BuiltShard> {
  const { records, tokenizer, seqLen, maskPrompt } = opts;
  const template = asTemplate(opts.template);
  if (!Number.isInteger(seqLen) || seqLen <= 0) {
    throw new LoraprofError(
      "DATASET_INVALID",
      `seqLen must be a positive whole number of tokens, got ${seqLen}`,
      {
        problems: [{ field: "seqLen", message: `got ${seqLen}`, hint: "use e.g. --seq-len 512" }],
      },
    );
  }
  if (records.length === 0) {
    throw new LoraprofError("DATASET_INVALID", "no records to write into a token shard", {
      hint: "check the dataset and the subset settings",
    });
  }
  checkTemplateSupport(tokenizer, template);
  const datasetKey = opts.datasetKey ?? recordsContentKey(records);
  const key = shardKey({
    datasetKey,
    tokenizerHash: tokenizer.hash,
    template: template.key,
    seqLen,
    maskPrompt,
  });
  const shardsDir = join(opts.cacheDir, "shards");
  const dir = join(shardsDir, key);

  const existing = await tryReadMeta(dir, key);
  if (existing) return { dir, meta: existing, reused: true };

  const enc = await encodeAll(records, tokenizer, template, {
    withRoles: false,
    onProgress: opts.onProgress,
  });
  // Truncate each record to seqLen into the shard's arrays.
  let totalCap = 0;
  for (let i = 0; i < records.length; i++) totalCap += Math.min(enc.lengths[i] as number, seqLen);
  const tokens = new Uint32Array(totalCap);
  const labels = new Uint8Array(totalCap);
  const offsets = Buffer.alloc(8 * (records.length + 1));
  let total = 0;
  let from = 0;
  let labelTokens = 0;
  let truncatedRecords = 0;
  let recordsWithoutTargets = 0;
  for (let i = 0; i < records.length; i++) {
    const full = enc.lengths[i] as number;
    const n = Math.min(full, seqLen);
    if (full > seqLen) truncatedRecords++;
    let targets = 0;
    for (let j = 0; j < n; j++) {
      const id = enc.ids[from + j] as number;
      if (id >= tokenizer.vocabSize) {
        throw new LoraprofError(
          "INTERNAL",
          `token id ${id} is outside the vocabulary (${tokenizer.vocabSize})`,
        );
      }
      tokens[total + j] = id;
      const label = maskPrompt ? (enc.targets[from + j] as number) : 1;
      labels[total + j] = label;
      targets += label;
    }
    if (targets === 0) recordsWithoutTargets++;
    labelTokens += targets;
    total += n;
    from += full;
    offsets.writeBigUInt64LE(BigInt(total), 8 * (i + 1));
  }

  if (recordsWithoutTargets === records.length) {
    throw new LoraprofError(
      "DATASET_INVALID",
      `no record keeps a response token within seqLen ${seqLen}: with the prompt masked there is nothing to train on`,
      {
        problems: [
          {
            field: "seqLen",
            message: `${seqLen} tokens cut every response`,
            hint: "raise --seq-len, or turn off prompt masking",
          },
        ],
      },
    );
  }

  const tokenBytes = Buffer.alloc(4 * total);
  for (let j = 0; j < total; j++) tokenBytes.writeUInt32LE(tokens[j] as number, 4 * j);
  const meta: ShardMeta = {
    formatVersion: SHARD_FORMAT_VERSION,
    records: records.length,
    tokens: total,
    labelTokens,
    seqLen,
    template: template.key,
    maskPrompt,
    truncatedRecords,
    recordsWithoutTargets,
    tokenizer: {
      name: tokenizer.name,
      hash: tokenizer.hash,
      vocabSize: tokenizer.vocabSize,
      eosId: tokenizer.eosId,
      padId: tokenizer.padId,
      bosId: tokenizer.bosId,
    },
    dataset: { ...(opts.dataset ?? {}), key: datasetKey },
    key,
    createdAt: new Date().toISOString(),
  };

  await mkdir(shardsDir, { recursive: true });
  const tmp = join(shardsDir, `.tmp-${key.slice(0, 16)}-${process.pid}-${randomBytes(4).toString("hex")}`);
  await mkdir(tmp);
  try {
    await Promise.all([
      writeFile(join(tmp, "tokens.bin"), tokenBytes),
      writeFile(join(tmp, "labels.bin"), labels.subarray(0, total)),
      writeFile(join(tmp, "offsets.bin"), offsets),
    ]);
    // meta.json last: a folder with meta.json is complete.
    await writeFile(join(tmp, "meta.json"), JSON.stringify(meta, null, 2) + "\n");
    try {
      await rename(tmp, dir);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== "ENOTEMPTY" && code !== "EEXIST") throw err;
      const winner = await tryReadMeta(dir, key);
      if (!winner) throw err;
      await rm(tmp, { recursive: true, force: true });
      return { dir, meta: winner, reused: true };
    }
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    if (err instanceof LoraprofError) throw err;
    throw new LoraprofError(
      "DATASET_INVALID",
      `cannot write the token shard in ${shardsDir}: ${(err as Error).message}`,
      {
        hint: "check that the cache folder is writable and has free space",
        cause: err,
      },
    );
  }
  return { dir, meta, reused: false };
}

async function tryReadMeta(dir: string, key: string): Promise<ShardMeta | null> {
  let text: string;
  try {
    text = await readFile(join(dir, "meta.json"), "utf8");
  } catch {
    return null;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = null;
  }
  const parsed = ShardMetaSchema.safeParse(value);
  if (!parsed.success || parsed.data.key !== key) {
    throw new LoraprofError("DATASET_INVALID", `the cached token shard ${dir} has an unreadable meta.json`, {
      hint: `delete ${dir}; it is rebuilt on the next run`,
    });
  }
  return parsed.data;
}

export interface ShardContents {
  meta: ShardMeta;
  tokens: Uint32Array;
  labels: Uint8Array;
  /** records + 1 entries (as numbers: a shard never approaches 2^53 tokens). */
  offsets: number[];
}

/** Reads a whole shard back and checks that its files agree with each other and with meta.json. */
export async function readShard(dir: string): Promise<ShardContents> {
  const fail = (message: string) =>
    new LoraprofError("DATASET_INVALID", `token shard ${dir}: ${message}`, {
      hint: `delete ${dir}; it is rebuilt on the next run`,
    });
  let metaText: string;
  try {
    metaText = await readFile(join(dir, "meta.json"), "utf8");
  } catch {
    throw fail("meta.json is missing");
  }
  let metaValue: unknown;
  try {
    metaValue = JSON.parse(metaText);
  } catch {
    throw fail("meta.json is not valid JSON");
  }
  const parsed = ShardMetaSchema.safeParse(metaValue);
  if (!parsed.success) throw fail(`meta.json does not match the format: ${parsed.error.issues[0]?.message}`);
  const meta = parsed.data;
  const [tokenBytes, labelBytes, offsetBytes] = await Promise.all(
    ["tokens.bin", "labels.bin", "offsets.bin"].map((f) => readFile(join(dir, f))),
  );
  if (!tokenBytes || !labelBytes || !offsetBytes) throw fail("files missing");
  if (tokenBytes.length !== 4 * meta.tokens)
    throw fail(`tokens.bin has ${tokenBytes.length} bytes, expected ${4 * meta.tokens}`);
  if (labelBytes.length !== meta.tokens)
    throw fail(`labels.bin has ${labelBytes.length} bytes, expected ${meta.tokens}`);
  if (offsetBytes.length !== 8 * (meta.records + 1))
    throw fail("offsets.bin does not hold records + 1 entries");
  const tokens = new Uint32Array(meta.tokens);
  for (let i = 0; i < meta.tokens; i++) tokens[i] = tokenBytes.readUInt32LE(4 * i);
  const offsets: number[] = [];
  for (let i = 0; i <= meta.records; i++) offsets.push(Number(offsetBytes.readBigUInt64LE(8 * i)));
  if (offsets[0] !== 0 || offsets[meta.records] !== meta.tokens) throw fail("offsets do not span tokens.bin");
  for (let i = 0; i < meta.records; i++) {
    if ((offsets[i + 1] as number) < (offsets[i] as number)) throw fail(`offsets decrease at record ${i}`);
    if ((offsets[i + 1] as number) - (offsets[i] as number) > meta.seqLen)
      throw fail(`record ${i} is longer than seqLen`);
  }
  return { meta, tokens, labels: new Uint8Array(labelBytes), offsets };
}
