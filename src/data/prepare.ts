/**
 * The data stage in one call, for the run orchestrator: resolve the dataset name → read or synthesize
 * the records (format detected or given, columns mapped) → choose the subset → load the tokenizer →
 * choose the template → write (or reuse) the token shard. `loadRecords` is the first half, shared
 * with `data stats`.
 *
 * Everything the engine needs is in the shard folder and `padTokenId`; `summary` is the small record
 * of what was prepared that a run stores with its results (and reports print).
 */
import type { ColumnMap, DatasetFormat, UnusedField } from "./formats.js";
import { loadDataset, type Container } from "./readers.js";
import { recordsContentKey, type DatasetRecord } from "./records.js";
import { resolveDataset, type ResolveOptions } from "./resolve.js";
import { buildShard, type BuiltShard, type DatasetDescription } from "./shard.js";
import { selectSubset, type SubsetMode } from "./subset.js";
import { syntheticDataset } from "./synthetic.js";
import { resolveTemplate, type TemplateName } from "./templates.js";
import { loadTokenizer, type Tokenizer, type TokenizerSpec } from "./tokenizer.js";

export const DEFAULT_SYNTHETIC_RECORDS = 5000;

export interface PrepareDataOptions {
  /** "synthetic", "alpaca", a file or folder path, or a hub dataset id in the local HF cache. */
  dataset: string;
  /** Read every record as this format (null or absent: detect it). */
  format?: DatasetFormat | null;
  /** The format's field → the file's column. */
  columns?: ColumnMap;
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
  /** The template used (its name: alpaca, chatml, raw, qwen2.5, model…). */
  template: string;
  /** What identifies its rendering (templates.ts Template.key). */
  templateKey: string;
  /** The record format (detected unless given), or "synthetic". */
  format: DatasetFormat | "synthetic";
  formatDetected: boolean;
  /** Fields of the file the format does not read (never dropped silently: listed here). */
  unusedFields: UnusedField[];
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

export interface LoadedRecords {
  /** The records chosen (after the subset). */
  records: DatasetRecord[];
  sourceRecords: number;
  /** The file or folder read, or null for synthetic data. */
  path: string | null;
  files: string[];
  container: Container | null;
  format: DatasetFormat | "synthetic";
  formatDetected: boolean;
  unusedFields: UnusedField[];
}

export type LoadRecordsOptions = Pick<
  PrepareDataOptions,
  | "dataset"
  | "format"
  | "columns"
  | "syntheticRecords"
  | "subset"
  | "subsetMode"
  | "seed"
  | "cacheDir"
  | "onProgress"
  | "resolve"
>;

/** Resolves and reads the dataset, then takes the subset. */
export async function loadRecords(opts: LoadRecordsOptions): Promise<LoadedRecords> {
  const say = opts.onProgress ?? (() => {});
  const resolved = await resolveDataset(opts.dataset, {
    ...opts.resolve,
    cacheDir: opts.cacheDir,
    onProgress: progressPrinter(say),
  });
  if (resolved.kind === "synthetic") {
    const n = opts.syntheticRecords ?? DEFAULT_SYNTHETIC_RECORDS;
    say(`generating ${n} synthetic records (seed ${opts.seed})`);
    const all = syntheticDataset({ records: n, seed: opts.seed });
    return {
      records: selectSubset(all, opts.subset, opts.subsetMode, opts.seed),
      sourceRecords: all.length,
      path: null,
      files: [],
      container: null,
      format: "synthetic",
      formatDetected: false,
      unusedFields: [],
    };
  }
  say(`reading ${resolved.path}`);
  const loaded = await loadDataset(resolved.path, { format: opts.format ?? null, columns: opts.columns });
  say(
    `format ${loaded.format}${loaded.detected ? " (detected)" : ""}, ${loaded.records.length} records` +
      (loaded.unusedFields.length > 0
        ? `; fields not used: ${loaded.unusedFields.map((u) => `${u.field} (${u.records} records)`).join(", ")}`
        : ""),
  );
  return {
    records: selectSubset(loaded.records, opts.subset, opts.subsetMode, opts.seed),
    sourceRecords: loaded.records.length,
    path: resolved.path,
    files: loaded.files,
    container: loaded.container,
    format: loaded.format,
    formatDetected: loaded.detected,
    unusedFields: loaded.unusedFields,
  };
}

export async function prepareData(opts: PrepareDataOptions): Promise<PreparedData> {
  const say = opts.onProgress ?? (() => {});
  const loaded = await loadRecords(opts);
  const { records, path } = loaded;

  const tokenizer = isTokenizer(opts.tokenizer) ? opts.tokenizer : await loadTokenizer(opts.tokenizer);
  const template = resolveTemplate(opts.template, new Set(records.map((r) => r.kind)), tokenizer);
  const datasetKey = recordsContentKey(records);
  const description: DatasetDescription = {
    source: opts.dataset,
    path,
    sourceRecords: loaded.sourceRecords,
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
    template,
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
      sourceRecords: loaded.sourceRecords,
      records: m.records,
      subset: opts.subset,
      subsetMode: opts.subsetMode,
      seed: opts.seed,
      template: template.name,
      templateKey: template.key,
      format: loaded.format,
      formatDetected: loaded.formatDetected,
      unusedFields: loaded.unusedFields,
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
