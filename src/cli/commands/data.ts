import { existsSync, statSync } from "node:fs";
import type { Command } from "commander";
import { findModel } from "../../catalog/models.js";
import { catalogTokenizerSpec } from "../../catalog/tokenizer.js";
import {
  DATASET_FORMATS,
  describeDataset,
  parseColumns,
  TEMPLATE_NAMES,
  TOKEN_ROLES,
  type DatasetFormat,
  type PaddingWaste,
  type TemplateName,
  type TokenizerSpec,
} from "../../data/index.js";
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

function oneOf<T extends string>(flag: string, value: string, allowed: readonly T[]): T {
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new LoraprofError("FLAG_INVALID", `invalid ${flag}`, {
    problems: [{ field: flag, message: `"${value}" is not one of them`, hint: `use ${allowed.join("|")}` }],
  });
}

/**
 * A catalog id (its family's offline tokenizer, else tokenizer.json of its cached hub snapshot) or a
 * model folder (its tokenizer.json and chat template).
 */
function tokenizerOf(model: string): TokenizerSpec {
  const entry = findModel(model);
  if (entry) return catalogTokenizerSpec(entry, { field: "--model" });
  if (existsSync(model) && statSync(model).isDirectory()) return { dir: model };
  throw new LoraprofError("FLAG_INVALID", `unknown model "${model}"`, {
    problems: [
      {
        field: "--model",
        message: "not a catalog id nor a model folder",
        hint: "see `loraprof models`, or pass a folder holding tokenizer.json",
      },
    ],
  });
}

const pct = (x: number) => `${formatNumber(x * 100)}%`;

export function registerData(program: Command): void {
  const data = program.command("data").description("inspect datasets");
  data
    .command("stats <dataset>")
    .description(
      "format, token counts per role, length percentiles, truncation, padding waste and packing efficiency",
    )
    .option(
      "--model <id|folder>",
      "catalog model or model folder whose tokenizer (and chat template) counts the tokens",
      "qwen2.5-1.5b-instruct",
    )
    .option("--template <name>", TEMPLATE_NAMES.join("|"), "auto")
    .option("--format <name>", `auto|${DATASET_FORMATS.join("|")}`, "auto")
    .option("--columns <map>", "format fields → file columns, e.g. instruction=prompt,output=completion")
    .option("--seq-len <n>", "the run's sequence length (truncation and packing at that length only)")
    .option(
      "--seq-lens <list>",
      "sequence lengths for truncation, padding and packing figures",
      "512,1024,2048",
    )
    .option("--subset <n>", "only the first N records")
    .option("--seed <n>", "seed for the synthetic dataset", "0")
    .option("--no-cache", "recount instead of reading figures counted earlier")
    .option("--json", "print JSON")
    .action(
      async (
        dataset: string,
        opts: {
          model: string;
          template: string;
          format: string;
          columns?: string;
          seqLen?: string;
          seqLens: string;
          subset?: string;
          seed: string;
          cache: boolean;
          json?: boolean;
        },
      ) => {
        const template = oneOf<TemplateName>("--template", opts.template, TEMPLATE_NAMES);
        const format = oneOf<DatasetFormat | "auto">("--format", opts.format, ["auto", ...DATASET_FORMATS]);
        const seqLens =
          opts.seqLen !== undefined ? intList("--seq-len", opts.seqLen) : intList("--seq-lens", opts.seqLens);
        const subset = opts.subset === undefined ? null : intList("--subset", opts.subset)[0]!;
        const seed = intList("--seed", opts.seed, 0)[0]!;
        const report = await describeDataset({
          dataset,
          format: format === "auto" ? null : format,
          columns: opts.columns === undefined ? {} : parseColumns(opts.columns),
          syntheticRecords: 5000,
          subset,
          subsetMode: "first",
          seed,
          cacheDir: cacheDir(),
          tokenizer: tokenizerOf(opts.model),
          template,
          seqLens,
          useCache: opts.cache,
        });
        if (opts.json) return printJson(report);
        const s = report.stats;
        const t = s.tokens;
        const roles = TOKEN_ROLES.filter((r) => s.roleTokens[r] > 0)
          .map((r) => `${r} ${s.roleTokens[r]} (${pct(s.roleTokens[r] / t.total)})`)
          .join(", ");
        const pairs: [string, string][] = [
          [
            "dataset",
            `${dataset} (${s.records} records${report.sourceRecords !== s.records ? ` of ${report.sourceRecords}` : ""})`,
          ],
          [
            "format",
            `${report.format}${report.formatDetected ? " (detected; --format to override)" : ""}` +
              (report.container
                ? `, ${report.container}${report.files.length > 1 ? ` × ${report.files.length} files` : ""}`
                : ""),
          ],
        ];
        if (report.unusedFields.length > 0) {
          pairs.push([
            "not used",
            report.unusedFields.map((u) => `${u.field} (${u.records} records)`).join(", ") +
              " — map them with --columns if they matter",
          ]);
        }
        pairs.push(
          ["tokenizer", `${report.tokenizer}, template ${report.template}`],
          [
            "tokens per record",
            `mean ${formatNumber(t.mean)}, median ${t.median}, p90 ${t.p90}, p99 ${t.p99}, min ${t.min}, max ${t.max}`,
          ],
          [
            "tokens",
            `${t.total} in all; ${s.targetTokens} targets (${pct(s.targetTokens / t.total)}, trained on with --mask-prompt)`,
          ],
          ["tokens by role", roles],
        );
        if (report.cached) pairs.push(["figures", "counted earlier (cached; --no-cache recounts)"]);
        process.stdout.write(
          renderPairs(pairs) +
            "\n\n" +
            renderTable(s.paddingWaste, [
              { header: "seq len", value: (w) => String(w.seqLen), align: "right" },
              {
                header: "truncated",
                value: (w) => {
                  const x = s.truncated.find((y) => y.seqLen === w.seqLen);
                  return x ? `${x.records} (${pct(x.fraction)}), ${x.tokensCut} tok cut` : "";
                },
                align: "right",
              },
              {
                header: "padding @max_length",
                value: (w) => pct(w.maxLengthFraction),
                align: "right",
              },
              ...[1, 8, 16].map((b) => ({
                header: `@longest b=${b}`,
                value: (w: PaddingWaste) =>
                  pct(w[`longestFractionBatch${b}` as `longestFractionBatch${1 | 2 | 4 | 8 | 16}`]),
                align: "right" as const,
              })),
              {
                header: "packed rows (best fit)",
                value: (w) => {
                  const p = s.packing.find((y) => y.seqLen === w.seqLen);
                  return p ? `${p.rows} (${pct(p.efficiency)} full)` : "";
                },
                align: "right",
              },
            ]) +
            "\n",
        );
      },
    );
}
