/**
 * The data stage's public API: dataset files and names → records → templates → tokens → shards the
 * engine memory-maps, plus the length statistics reports show. `prepareData` runs the whole stage.
 */
export { prepareData, loadRecords, DEFAULT_SYNTHETIC_RECORDS } from "./prepare.js";
export type { PrepareDataOptions, PreparedData, DataSummary, LoadedRecords } from "./prepare.js";

export { recordsContentKey, instructionMessages, CHAT_ROLES } from "./records.js";
export type {
  DatasetRecord,
  InstructionRecord,
  ChatRecord,
  TextRecord,
  CompletionRecord,
  ChatMessage,
  ChatRole,
} from "./records.js";
export { readDataset, loadDataset, parseDataset, MAX_REPORTED } from "./readers.js";
export type { LoadedDataset, ReadOptions, Container } from "./readers.js";
export { DATASET_FORMATS, FORMAT_DEFS, convertRows, parseColumns, checkColumns } from "./formats.js";
export type { DatasetFormat, ColumnMap, UnusedField } from "./formats.js";
export { packingEfficiency } from "./packing.js";
export type { PackingSummary } from "./packing.js";
export { encodeAll, encodeBatch, TOKEN_ROLES } from "./encode.js";
export type { EncodedBatch, TokenRole } from "./encode.js";
export { BUILTIN_CHAT_TEMPLATES, BUILTIN_TEMPLATE_NAMES } from "./chat-templates.js";
export type { BuiltinTemplateName } from "./chat-templates.js";
export { selectSubset } from "./subset.js";
export type { SubsetMode } from "./subset.js";
export { createRng, permutation } from "./random.js";
export type { Rng } from "./random.js";

export {
  renderRecord,
  resolveTemplate,
  templateFromSpec,
  TEMPLATES,
  TEMPLATE_NAMES,
  ALPACA_PROMPT_WITH_INPUT,
  ALPACA_PROMPT_NO_INPUT,
  CHATML_DEFAULT_SYSTEM,
} from "./templates.js";
export type { TemplateName, RenderedRecord, Segment, Template, TemplateSpec, RoleSpan } from "./templates.js";

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
  batchStats,
  lengthStats,
  recordTokenLengths,
  percentile,
  DEFAULT_STAT_SEQ_LENS,
  PADDING_BATCH_SIZES,
} from "./stats.js";
export type { DatasetStats, DatasetTokenStats, TokenLengthSummary, PaddingWaste } from "./stats.js";

export { resolveDataset, ALPACA_URL, ALPACA_BYTES, ALPACA_SHA256, DATASET_NAMES } from "./resolve.js";
export type { ResolvedDataset, ResolveOptions, DownloadProgress } from "./resolve.js";
export { describeDataset } from "./describe.js";
export type { DescribeOptions, DatasetReport } from "./describe.js";
