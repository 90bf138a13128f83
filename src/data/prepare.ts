/**
 * The data stage in one call, for the run orchestrator: resolve the dataset name → read or synthesize
 * the records → choose the subset → load the tokenizer → write (or reuse) the token shard.
 *
 * Everything the engine needs is in the shard folder and `padTokenId`; `summary` is the small record
 * of what was prepared that a run stores with its results (and reports print).
 */
import { readDataset } from "./readers.js";
import { recordsContentKey, type DatasetRecord } from "./records.js";
import { resolveDataset, type ResolveOptions } from "./resolve.js";
import { buildShard, type BuiltShard, type DatasetDescription } from "./shard.js";
import { selectSubset, type SubsetMode } from "./subset.js";
import { syntheticDataset } from "./synthetic.js";
import type { TemplateName } from "./templates.js";
import { loadTokenizer, type Tokenizer, type TokenizerSpec } from "./tokenizer.js";

export const DEFAULT_SYNTHETIC_RECORDS = 5000;

export interface PrepareDataOptions {
  /** "synthetic", "alpaca" or a path to an Alpaca JSON / JSONL file. */
  dataset: string;
  /** Records generated for `synthetic` (default 5,000, the seed paper's subset size). */
  syntheticRecords?: number;
  /** Use only this many records (null: all). */
  subset: number | null;
  subsetMode: SubsetMode;
  /** Seeds the synthetic records and the random subset. */
  seed: number;
  template: TemplateName;
  seqLen: number;
  maskPrompt: boolean;
  /** A tokenizer spec, or an already loaded tokenizer. */
  tokenizer: TokenizerSpec | Tokenizer;
  cacheDir: string;
  /** Human-readable progress lines (download, tokenizing). */
  onProgress?: (message: string) => void;
  /** Passed to resolveDataset (tests: a local server instead of GitHub). */
  resolve?: Omit<ResolveOptions, "cacheDir" | "onProgress">;
}

export interface DataSummary {
  dataset: string;
  /** The file read, or null for synthetic data. */
  path: string | null;
  sourceRecords: number;
  records: number;
  subset: number | null;
  subsetMode: SubsetMode;
  seed: number;
  template: TemplateName;
  seqLen: number;
  maskPrompt: boolean;
  /** Tokens in the shard (after truncation to seqLen) and those counted in the loss. */
  tokens: number;
  labelTokens: number;
  meanTokens: number;
  truncatedRecords: number;
  recordsWithoutTargets: number;
  tokenizer: {
    name: string;
    hash: string;
    vocabSize: number;
    eosId: number;
    padId: number;
    bosId: number | null;
  };
  datasetKey: string;
  shardKey: string;
  shardReused: boolean;
}

export interface PreparedData {
  shardDir: string;
  padTokenId: number;
  shard: BuiltShard;
  tokenizer: Tokenizer;
  summary: DataSummary;
}

export async function prepareData(opts: PrepareDataOptions): Promise<PreparedData> {
  const say = opts.onProgress ?? (() => {});
  const resolved = await resolveDataset(opts.dataset, {
    ...opts.resolve,
    cacheDir: opts.cacheDir,
    onProgress: progressPrinter(say),
  });

  let all: DatasetRecord[];
  let path: string | null = null;
  if (resolved.kind === "synthetic") {
    const n = opts.syntheticRecords ?? DEFAULT_SYNTHETIC_RECORDS;
    say(`generating ${n} synthetic records (seed ${opts.seed})`);
    all = syntheticDataset({ records: n, seed: opts.seed });
  } else {
    path = resolved.path;
    say(`reading ${path}`);
    all = await readDataset(path);
  }
  const records = selectSubset(all, opts.subset, opts.subsetMode, opts.seed);

  const tokenizer = isTokenizer(opts.tokenizer) ? opts.tokenizer : await loadTokenizer(opts.tokenizer);
  const datasetKey = recordsContentKey(records);
  const description: DatasetDescription = {
    source: opts.dataset,
    path,
    sourceRecords: all.length,
    subset: opts.subset,
    mode: opts.subsetMode,
    seed: opts.seed,
  };
  let lastShown = 0;
  const shard = await buildShard({
    records,
    datasetKey,
    dataset: description,
    tokenizer,
    template: opts.template,
    seqLen: opts.seqLen,
    maskPrompt: opts.maskPrompt,
    cacheDir: opts.cacheDir,
    onProgress: (done, total) => {
      if (done === total || done - lastShown >= total / 10) {
        lastShown = done;
        say(`tokenizing with ${tokenizer.name}: ${done}/${total} records`);
      }
    },
  });
  say(
    shard.reused
      ? `reusing token shard ${shard.meta.key.slice(0, 12)}`
      : `wrote token shard ${shard.meta.key.slice(0, 12)}`,
  );

  const m = shard.meta;
  return {
    shardDir: shard.dir,
    padTokenId: tokenizer.padId,
    shard,
    tokenizer,
    summary: {
      dataset: opts.dataset,
      path,
      sourceRecords: all.length,
      records: m.records,
      subset: opts.subset,
      subsetMode: opts.subsetMode,
      seed: opts.seed,
      template: opts.template,
      seqLen: opts.seqLen,
      maskPrompt: opts.maskPrompt,
      tokens: m.tokens,
      labelTokens: m.labelTokens,
      meanTokens: m.tokens / m.records,
      truncatedRecords: m.truncatedRecords,
      recordsWithoutTargets: m.recordsWithoutTargets,
      tokenizer: m.tokenizer,
      datasetKey,
      shardKey: m.key,
      shardReused: shard.reused,
    },
  };
}

function isTokenizer(t: TokenizerSpec | Tokenizer): t is Tokenizer {
  return typeof (t as Tokenizer).encode === "function";
}

/** Download progress as a line every 10%. */
function progressPrinter(say: (message: string) => void): ResolveOptions["onProgress"] {
  let lastTenth = -1;
  return ({ receivedBytes, totalBytes }) => {
    const tenth = Math.floor((10 * receivedBytes) / totalBytes);
    if (tenth === lastTenth) return;
    lastTenth = tenth;
    say(
      `downloading alpaca_data.json: ${(receivedBytes / 1e6).toFixed(1)} / ${(totalBytes / 1e6).toFixed(1)} MB`,
    );
  };
}
