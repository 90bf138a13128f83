/**
 * The data stage's public API: dataset files and names → records → templates → tokens → shards the
 * engine memory-maps, plus the length statistics reports show. `prepareData` runs the whole stage.
 */
export { prepareData, DEFAULT_SYNTHETIC_RECORDS } from "./prepare.js";
export type { PrepareDataOptions, PreparedData, DataSummary } from "./prepare.js";

export { parseRecord, recordsContentKey } from "./records.js";
export type { DatasetRecord, InstructionRecord, ChatRecord, ChatMessage, ChatRole } from "./records.js";
export { readDataset, parseDataset, MAX_REPORTED } from "./readers.js";
export { selectSubset } from "./subset.js";
export type { SubsetMode } from "./subset.js";
export { createRng, permutation } from "./random.js";
export type { Rng } from "./random.js";

export {
  renderRecord,
  TEMPLATES,
  ALPACA_PROMPT_WITH_INPUT,
  ALPACA_PROMPT_NO_INPUT,
  CHATML_DEFAULT_SYSTEM,
} from "./templates.js";
export type { TemplateName, RenderedRecord, Segment } from "./templates.js";

export { loadTokenizer } from "./tokenizer.js";
export type { Tokenizer, TokenizerSpec, TokenizerFamily } from "./tokenizer.js";

export {
  buildShard,
  readShard,
  encodeRecord,
  shardKey,
  checkTemplateSupport,
  ShardMetaSchema,
  SHARD_FORMAT_VERSION,
} from "./shard.js";
export type {
  ShardMeta,
  BuiltShard,
  BuildShardOptions,
  ShardContents,
  DatasetDescription,
  EncodedRecord,
} from "./shard.js";

export { syntheticDataset, ALPACA_TOTAL_QUANTILES } from "./synthetic.js";

export {
  datasetStats,
  lengthStats,
  recordTokenLengths,
  percentile,
  DEFAULT_STAT_SEQ_LENS,
  PADDING_BATCH_SIZES,
} from "./stats.js";
export type { DatasetStats, TokenLengthSummary, PaddingWaste } from "./stats.js";

export { resolveDataset, ALPACA_URL, ALPACA_BYTES, ALPACA_SHA256, DATASET_NAMES } from "./resolve.js";
export type { ResolvedDataset, ResolveOptions, DownloadProgress } from "./resolve.js";
