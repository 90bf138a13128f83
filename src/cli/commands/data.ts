import type { Command } from "commander";
import { findModel } from "../../catalog/models.js";
import {
  datasetStats,
  loadTokenizer,
  readDataset,
  resolveDataset,
  selectSubset,
  syntheticDataset,
} from "../../data/index.js";
import type { DatasetRecord, PaddingWaste, TemplateName } from "../../data/index.js";
import { LoraprofError } from "../../util/errors.js";
import { cacheDir } from "../../util/paths.js";
import { printJson } from "../context.js";
import { formatNumber, renderPairs, renderTable } from "../render.js";

function intList(flag: string, s: string, min = 1): number[] {
  const out = s.split(",").map((x) => Number(x.trim()));
  if (out.some((n) => !Number.isInteger(n) || n < min)) {
    throw new LoraprofError("FLAG_INVALID", `invalid ${flag}`, {
      problems: [
        {
          field: flag,
          message: `"${s}" is not a comma-separated list of whole numbers ≥ ${min}`,
          hint: `e.g. ${flag} 512,1024,2048`,
        },
      ],
    });
  }
  return out;
}

export function registerData(program: Command): void {
  const data = program.command("data").description("inspect datasets");
  data
    .command("stats <dataset>")
    .description(
      "record count, token-length percentiles and padding waste (Alpaca JSON/JSONL path, alpaca or synthetic)",
    )
    .option("--model <id>", "catalog model whose tokenizer counts the tokens", "qwen2.5-1.5b-instruct")
    .option("--template <name>", "alpaca|chatml", "alpaca")
    .option("--seq-lens <list>", "sequence lengths for truncation and padding figures", "512,1024,2048")
    .option("--subset <n>", "only the first N records")
    .option("--seed <n>", "seed for the synthetic dataset", "0")
    .option("--json", "print JSON")
    .action(
      async (
        dataset: string,
        opts: {
          model: string;
          template: string;
          seqLens: string;
          subset?: string;
          seed: string;
          json?: boolean;
        },
      ) => {
        const entry = findModel(opts.model);
        if (!entry) {
          throw new LoraprofError("FLAG_INVALID", `unknown model "${opts.model}"`, {
            problems: [{ field: "--model", message: "not a catalog id", hint: "see `loraprof models`" }],
          });
        }
        if (opts.template !== "alpaca" && opts.template !== "chatml") {
          throw new LoraprofError("FLAG_INVALID", "invalid --template", {
            problems: [
              {
                field: "--template",
                message: `"${opts.template}" is not a template`,
                hint: "use alpaca or chatml",
              },
            ],
          });
        }
        const seqLens = intList("--seq-lens", opts.seqLens);
        const subset = opts.subset === undefined ? null : intList("--subset", opts.subset)[0]!;
        const seed = intList("--seed", opts.seed, 0)[0]!;
        const resolved = await resolveDataset(dataset, { cacheDir: cacheDir() });
        const all: DatasetRecord[] =
          resolved.kind === "synthetic"
            ? syntheticDataset({ records: 5000, seed })
            : await readDataset(resolved.path);
        const records = selectSubset(all, subset, "first", seed);
        const tokenizer = await loadTokenizer({ family: entry.tokenizer });
        const stats = datasetStats({ records, tokenizer, template: opts.template as TemplateName, seqLens });
        const result = { dataset, tokenizer: tokenizer.name, template: opts.template, ...stats };
        if (opts.json) return printJson(result);
        const t = stats.tokens;
        process.stdout.write(
          renderPairs([
            ["dataset", `${dataset} (${stats.records} records)`],
            ["tokenizer", `${tokenizer.name}, template ${opts.template}`],
            [
              "tokens per record",
              `mean ${formatNumber(t.mean)}, median ${t.median}, p90 ${t.p90}, p99 ${t.p99}, min ${t.min}, max ${t.max}`,
            ],
          ]) +
            "\n\n" +
            renderTable(stats.paddingWaste, [
              { header: "seq len", value: (w) => String(w.seqLen), align: "right" },
              {
                header: "truncated",
                value: (w) =>
                  `${formatNumber((stats.truncated.find((x) => x.seqLen === w.seqLen)?.fraction ?? 0) * 100)}%`,
                align: "right",
              },
              {
                header: "padding @max_length",
                value: (w) => `${formatNumber(w.maxLengthFraction * 100)}%`,
                align: "right",
              },
              ...[1, 2, 4, 8, 16].map((b) => ({
                header: `@longest b=${b}`,
                value: (w: PaddingWaste) =>
                  `${formatNumber(w[`longestFractionBatch${b}` as `longestFractionBatch${1 | 2 | 4 | 8 | 16}`] * 100)}%`,
                align: "right" as const,
              })),
            ]) +
            "\n",
        );
      },
    );
}
