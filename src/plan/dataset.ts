/**
 * The record lengths a plan is made with, from the dataset a config names, without running the data
 * stage's shard writer:
 *
 * - `synthetic` with the Alpaca template and a Qwen2.5-tokenizer model: the generator's planned
 *   totals, which are the exact token counts by construction (data/synthetic.ts; ~0.1 s for 5,000);
 * - a local file (or `synthetic` with another template or tokenizer): every record tokenized with
 *   the model's tokenizer, as the shard writer would (~2 s for 5,000 Alpaca records: the tokenizer
 *   takes ~0.8 s to load). The lengths are cached under the cache folder, keyed by the file's path,
 *   size and modification time, the subset and the template, so the next plan reads them back;
 * - `alpaca` when the upstream file is not in the cache: Alpaca's published length facts
 *   (ALPACA_PUBLISHED_LENGTHS), never a download: a plan must not wait on the network.
 *
 * The data stage is imported lazily, so a plan from published facts loads no tokenizer.
 *
 * "The model's tokenizer" is its family's offline one; a family none ships for (Mistral, Gemma, Phi)
 * is measured with Qwen2.5's as a length proxy, and every description then says so
 * (catalog/tokenizer.ts `planLengthTokenizer`): a plan never downloads a tokenizer.
 */
import { createHash } from "node:crypto";
import { mkdir, readFile, rename, stat, writeFile } from "node:fs/promises";
import { join, resolve as resolvePath } from "node:path";
import { planLengthTokenizer } from "../catalog/tokenizer.js";
import type { ModelEntry } from "../catalog/types.js";
import { LoraprofError } from "../util/errors.js";
import { ALPACA_PUBLISHED_LENGTHS, type LengthStats } from "./lengths.js";
import type { PlannableConfig } from "./config.js";

export type LengthSourceKind = "synthetic-plan" | "tokenized" | "cached" | "published";

export interface LengthSource {
  stats: LengthStats;
  kind: LengthSourceKind;
  /** One line for the plan's output: where the lengths came from. */
  description: string;
  /** Records the lengths cover (null for published facts). */
  records: number | null;
}

type DatasetFields = Pick<
  PlannableConfig,
  "dataset" | "syntheticRecords" | "subset" | "subsetMode" | "seed" | "template"
> &
  Partial<Pick<PlannableConfig, "format" | "columns">>;

/** Bumped whenever what is cached (or how it is counted) changes. */
const LENGTHS_CACHE_VERSION = 2;

/** Summary statistics plus every length (the planner's padding expectations are then exact). */
export async function statsFromLengths(lengths: ArrayLike<number>): Promise<LengthStats> {
  const { lengthStats } = await import("../data/stats.js");
  const s = lengthStats(lengths, []);
  return {
    meanTokens: s.tokens.mean,
    medianTokens: s.tokens.median,
    p90Tokens: s.tokens.p90,
    maxTokens: s.tokens.max,
    lengths: Array.from(lengths),
  };
}

function subsetNote(config: DatasetFields): string {
  return config.subset === null ? "all records" : `${config.subsetMode} ${config.subset} records`;
}

export async function datasetLengths(
  config: DatasetFields,
  model: ModelEntry,
  opts: { cacheDir: string },
): Promise<LengthSource> {
  // The model's own offline tokenizer, or Qwen2's as a length proxy (said in every description).
  const lengthTokenizer = planLengthTokenizer(model);
  const proxy = lengthTokenizer.proxyNote === null ? "" : ` (${lengthTokenizer.proxyNote})`;
  if (
    config.dataset === "synthetic" &&
    (config.template === "alpaca" || config.template === "auto") &&
    lengthTokenizer.family === "qwen2"
  ) {
    const { syntheticDatasetWithPlans } = await import("../data/synthetic.js");
    const { selectSubset } = await import("../data/subset.js");
    const all = syntheticDatasetWithPlans({ records: config.syntheticRecords, seed: config.seed });
    const chosen = selectSubset(all, config.subset, config.subsetMode, config.seed);
    return {
      stats: await statsFromLengths(chosen.map((r) => r.plan.totalTokens)),
      kind: "synthetic-plan",
      description: `synthetic dataset (seed ${config.seed}, ${subsetNote(config)}): exact token lengths of the generated records${proxy}`,
      records: chosen.length,
    };
  }

  let path: string;
  if (config.dataset === "alpaca") {
    const cached = join(opts.cacheDir, "datasets", "alpaca_data.json");
    const { ALPACA_BYTES } = await import("../data/resolve.js");
    const info = await stat(cached).catch(() => null);
    if (!info?.isFile() || info.size !== ALPACA_BYTES) {
      return {
        stats: { ...ALPACA_PUBLISHED_LENGTHS },
        kind: "published",
        description:
          "Alpaca's published length facts (mean 103, median 88, p90 169, max 924 tokens + EOS; Qwen2.5 tokenizer, Alpaca template): " +
          "the file is not downloaded, and a plan does not download it" +
          proxy,
        records: null,
      };
    }
    path = cached;
  } else if (config.dataset === "synthetic") {
    path = "";
  } else {
    path = resolvePath(config.dataset);
  }

  const info = path ? await stat(path).catch(() => null) : null;
  if (path && !info?.isFile() && !info?.isDirectory()) {
    throw new LoraprofError("DATASET_NOT_FOUND", `dataset file not found: ${path}`, {
      problems: [
        {
          field: "dataset",
          message: `"${config.dataset}" is neither a known name nor an existing file`,
          hint: "use `synthetic`, `alpaca` or a path to an Alpaca JSON / JSONL file",
        },
      ],
    });
  }
  const key = createHash("sha256")
    .update(
      JSON.stringify({
        v: LENGTHS_CACHE_VERSION,
        path,
        size: info?.size ?? null,
        mtimeMs: info?.mtimeMs ?? null,
        syntheticRecords: path ? null : config.syntheticRecords,
        subset: config.subset,
        subsetMode: config.subsetMode,
        seed: config.seed,
        template: config.template,
        format: config.format ?? "auto",
        columns: config.columns ?? {},
        tokenizer: lengthTokenizer.family,
      }),
    )
    .digest("hex");
  const cacheFile = join(opts.cacheDir, "plan-lengths", `${key}.json`);
  const where = path ? path : `synthetic dataset (seed ${config.seed})`;
  const cached = await readFile(cacheFile, "utf8")
    .then((t) => JSON.parse(t) as { lengths: number[]; template?: string })
    .catch(() => null);
  const cachedLengths = cached?.lengths;
  if (Array.isArray(cachedLengths) && cachedLengths.length > 0) {
    return {
      stats: await statsFromLengths(cachedLengths),
      kind: "cached",
      description: `${where} (${subsetNote(config)}, template ${cached?.template ?? config.template}): token lengths counted earlier with the ${lengthTokenizer.family} tokenizer (cached)${proxy}`,
      records: cachedLengths.length,
    };
  }

  const data = await import("../data/index.js");
  const loaded = await data.loadRecords({
    dataset: path ? path : "synthetic",
    format: config.format === "auto" ? null : (config.format ?? null),
    columns: config.columns,
    syntheticRecords: config.syntheticRecords,
    subset: config.subset,
    subsetMode: config.subsetMode,
    seed: config.seed,
    cacheDir: opts.cacheDir,
  });
  const tokenizer = await data.loadTokenizer({ family: lengthTokenizer.family });
  const template = data.resolveTemplate(
    config.template,
    new Set(loaded.records.map((r) => r.kind)),
    tokenizer,
  );
  const lengths = Array.from(await data.recordTokenLengths(loaded.records, tokenizer, template));
  // A cache that cannot be written (read-only folder, full disk) costs the next plan time, no more.
  const tmp = `${cacheFile}.tmp-${process.pid}`;
  await mkdir(join(opts.cacheDir, "plan-lengths"), { recursive: true })
    .then(() => writeFile(tmp, JSON.stringify({ lengths, template: template.name })))
    .then(() => rename(tmp, cacheFile))
    .catch(() => undefined);
  return {
    stats: await statsFromLengths(lengths),
    kind: "tokenized",
    description: `${where} (${subsetNote(config)}, template ${template.name}): every record tokenized with the ${lengthTokenizer.family} tokenizer${proxy}`,
    records: lengths.length,
  };
}
