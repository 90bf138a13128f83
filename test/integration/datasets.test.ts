/**
 * Datasets as users have them, through the real CLI: one fixture per format and container (written
 * here, nothing downloaded) goes through `data stats` and a short CPU `run` on tiny-qwen2; LLaMA-
 * Factory's `system` and `history` reach the tokens; a mixed file and an unknown shape fail with one
 * clear error and exit code 2; worker threads count exactly what one thread counts.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Field, List, Struct, Table, tableToIPC, Utf8, vectorFromArray } from "apache-arrow";
import { parquetWriteBuffer } from "hyparquet-writer";
import { describe, expect, it } from "vitest";
import type { DatasetRecord } from "../../src/data/records.js";
import { renderRecord } from "../../src/data/templates.js";
import { loadTokenizer } from "../../src/data/tokenizer.js";
import { alpacaPath, cli, json, makeEnv } from "./helpers.js";

const dir = mkdtempSync(join(tmpdir(), "loraprof-datasets-"));
const hub = join(dir, "hub");
const { env: baseEnv } = makeEnv();
const env = { ...baseEnv, HF_HUB_CACHE: hub };

const QA = [
  ["Name a primary colour.", "Red."],
  ["What is 2 + 2?", "4."],
  ["Translate 'cat' to French.", "Chat."],
  ["Give a synonym for 'quick'.", "Fast."],
  ["Capital of Norway?", "Oslo."],
  ["Opposite of 'hot'?", "Cold."],
] as const;

const lines = (rows: unknown[]) => rows.map((r) => JSON.stringify(r)).join("\n") + "\n";
const write = (name: string, text: string | Uint8Array) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

const alpacaPlain = QA.map(([q, a]) => ({ instruction: q, input: "", output: a }));
const alpacaLf = QA.map(([q, a], i) => ({
  instruction: q,
  input: "",
  output: a,
  system: "You are a quiz master who answers in one or two words.",
  history: [[QA[(i + 1) % QA.length]![0], QA[(i + 1) % QA.length]![1]]],
}));
const turns = (i: number) =>
  [QA[i % QA.length]!, QA[(i + 1) % QA.length]!].flatMap(([q, a]) => [
    { from: "human", value: q },
    { from: "gpt", value: a },
  ]);

const files = {
  alpacaPlain: write("alpaca-plain.json", JSON.stringify(alpacaPlain)),
  alpacaLf: write("alpaca-llamafactory.json", JSON.stringify(alpacaLf)),
  sharegpt: write(
    "sharegpt.jsonl",
    lines(QA.map((_, i) => ({ id: `c${i}`, system: "Be brief.", conversations: turns(i) }))),
  ),
  openai: write(
    "openai.jsonl",
    lines(
      QA.map(([q, a]) => ({
        messages: [
          { role: "system", content: "You can call tools." },
          { role: "user", content: q },
          {
            role: "assistant",
            content: "",
            tool_calls: [
              { type: "function", function: { name: "lookup", arguments: JSON.stringify({ q }) } },
            ],
          },
          { role: "tool", content: a },
          { role: "assistant", content: a },
        ],
      })),
    ),
  ),
  text: write("text.jsonl", lines(QA.map(([q, a]) => ({ text: `${q} The answer is ${a} `.repeat(3) })))),
  completion: write("completion.jsonl", lines(QA.map(([q, a]) => ({ prompt: q, completion: ` ${a}` })))),
  csv: write(
    "alpaca.csv",
    "instruction,input,output\n" + QA.map(([q, a]) => `"${q.replace(/"/g, '""')}",,"${a}"`).join("\n") + "\n",
  ),
  tsv: write("completion.tsv", "prompt\tcompletion\n" + QA.map(([q, a]) => `${q}\t${a}`).join("\n") + "\n"),
  parquet: write(
    "alpaca.parquet",
    new Uint8Array(
      parquetWriteBuffer({
        columnData: [
          { name: "instruction", data: QA.map(([q]) => q), type: "STRING" },
          { name: "output", data: QA.map(([, a]) => a), type: "STRING" },
        ],
      }),
    ),
  ),
  saveToDisk: (() => {
    const folder = join(dir, "saved");
    mkdirSync(folder);
    const turn = new Struct([new Field("from", new Utf8(), true), new Field("value", new Utf8(), true)]);
    const table = new Table({
      conversations: vectorFromArray(
        QA.map((_, i) => turns(i)),
        new List(new Field("item", turn, true)),
      ),
    });
    writeFileSync(join(folder, "data-00000-of-00001.arrow"), tableToIPC(table, "stream"));
    writeFileSync(
      join(folder, "state.json"),
      JSON.stringify({ _data_files: [{ filename: "data-00000-of-00001.arrow" }] }),
    );
    writeFileSync(join(folder, "dataset_info.json"), "{}");
    return folder;
  })(),
  hubId: (() => {
    const snap = join(hub, "datasets--acme--quiz", "snapshots", "feedc0de");
    mkdirSync(join(snap, "data"), { recursive: true });
    mkdirSync(join(hub, "datasets--acme--quiz", "refs"), { recursive: true });
    writeFileSync(join(hub, "datasets--acme--quiz", "refs", "main"), "feedc0de");
    writeFileSync(
      join(snap, "data", "train-00000-of-00001.jsonl"),
      lines(
        QA.map(([q, a]) => ({
          messages: [
            { role: "user", content: q },
            { role: "assistant", content: a },
          ],
        })),
      ),
    );
    return "acme/quiz";
  })(),
};

interface Report {
  format: string;
  formatDetected: boolean;
  template: string;
  container: string | null;
  unusedFields: { field: string; records: number }[];
  stats: {
    records: number;
    targetTokens: number;
    tokens: { total: number };
    roleTokens: Record<string, number>;
    packing: { seqLen: number; rows: number; efficiency: number }[];
    truncated: { seqLen: number; records: number; tokensCut: number }[];
  };
}

const stats = (dataset: string, ...extra: string[]) => {
  const r = cli(
    ["data", "stats", dataset, "--model", "tiny-qwen2", "--seq-len", "128", "--json", ...extra],
    env,
  );
  expect(r.code, r.stderr).toBe(0);
  return json<Report>(r);
};

const CASES: [string, string, string, string][] = [
  // name, dataset, expected format, expected template
  ["LLaMA-Factory Alpaca JSON", files.alpacaLf, "alpaca", "alpaca"],
  ["ShareGPT JSONL", files.sharegpt, "sharegpt", "qwen2.5"],
  ["OpenAI messages with tool calls", files.openai, "openai", "qwen2.5"],
  ["plain text", files.text, "text", "raw"],
  ["prompt/completion", files.completion, "completion", "raw"],
  ["Alpaca CSV", files.csv, "alpaca", "alpaca"],
  ["prompt/completion TSV", files.tsv, "completion", "raw"],
  ["Alpaca Parquet", files.parquet, "alpaca", "alpaca"],
  ["ShareGPT save_to_disk folder", files.saveToDisk, "sharegpt", "qwen2.5"],
  ["hub dataset in the HF cache", files.hubId, "openai", "qwen2.5"],
];

describe("datasets through the CLI (tiny-qwen2, CPU)", () => {
  for (const [name, dataset, format, template] of CASES) {
    it(`${name}: data stats detects ${format} and a CPU run trains on it`, () => {
      const s = stats(dataset);
      expect(s.format).toBe(format);
      expect(s.formatDetected).toBe(true);
      expect(s.template).toBe(template);
      expect(s.stats.records).toBe(QA.length);
      expect(s.stats.targetTokens).toBeGreaterThan(0);
      expect(s.stats.targetTokens).toBeLessThanOrEqual(s.stats.tokens.total);
      expect(s.stats.packing[0]?.rows).toBeGreaterThan(0);

      const r = cli(
        [
          "run",
          "--model",
          "tiny-qwen2",
          "--weights",
          "random",
          "--dataset",
          dataset,
          "--steps",
          "2",
          "--warmup-steps",
          "1",
          "--seq-len",
          "128",
          "--mask-prompt",
          "--device",
          "cpu",
          "--json",
        ],
        env,
      );
      const run = json<{
        status: string;
        data: { format: string; template: string; records: number; labelTokens: number };
      }>(r);
      expect(run.status, r.stderr).toBe("completed");
      expect(run.data).toMatchObject({ format, template, records: QA.length });
      expect(run.data.labelTokens).toBe(format === "text" ? s.stats.tokens.total : s.stats.targetTokens);
    });
  }

  it("LLaMA-Factory system and history reach the tokens: counts rise by the rendered amount", async () => {
    const plain = stats(files.alpacaPlain);
    const lf = stats(files.alpacaLf);
    // The rise is what the system prompt and the history turn add to the rendered text, tokenized.
    const qwen = await loadTokenizer({ family: "qwen2" });
    const tokens = (r: DatasetRecord) =>
      renderRecord(r, "alpaca", qwen.eosText).segments.reduce(
        (n, seg) => n + qwen.encode(seg.text).length,
        0,
      );
    const rise = alpacaLf.reduce(
      (n, r, i) =>
        n +
        tokens({ kind: "instruction", ...r, history: r.history as [string, string][] }) -
        tokens({ kind: "instruction", ...alpacaPlain[i]! }),
      0,
    );
    expect(rise).toBeGreaterThan(0);
    expect(lf.stats.tokens.total - plain.stats.tokens.total).toBe(rise);
    expect(lf.stats.roleTokens["system"]).toBeGreaterThan(0);
    expect(plain.stats.roleTokens["system"]).toBe(0);
    expect(lf.stats.roleTokens["user"]).toBeGreaterThan(plain.stats.roleTokens["user"]!);
    // Every history answer is a training target too.
    expect(lf.stats.roleTokens["assistant"]).toBeGreaterThan(plain.stats.roleTokens["assistant"]!);
    expect(lf.unusedFields).toEqual([]);
  });

  it("reports fields it does not read, never dropping them silently", () => {
    const s = stats(files.sharegpt);
    expect(s.unusedFields).toEqual([{ field: "id", records: QA.length }]);
    const text = cli(["data", "stats", files.sharegpt, "--model", "tiny-qwen2"], env);
    expect(text.stdout).toMatch(/not used\s+id \(6 records\)/);
    expect(text.stdout).toMatch(/format\s+sharegpt \(detected/);
  });

  it("--columns maps other names and --format overrides detection", () => {
    const path = write("qa.jsonl", lines(QA.map(([q, a]) => ({ question: q, answer: a }))));
    const s = stats(path, "--columns", "instruction=question,output=answer");
    expect(s.format).toBe("alpaca");
    const forced = stats(files.completion, "--format", "completion");
    expect(forced.formatDetected).toBe(false);
  });

  it("a mixed file gets one clear error and exit code 2", () => {
    const path = write(
      "mixed.jsonl",
      lines([alpacaPlain[0], { conversations: turns(0) }, alpacaPlain[1], { text: "pretraining text" }]),
    );
    const r = cli(["data", "stats", path, "--model", "tiny-qwen2"], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("mixes record formats: 2 alpaca, 1 sharegpt, 1 text");
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    const run = cli(
      ["run", "--dataset", path, "--steps", "2", "--warmup-steps", "0", "--device", "cpu"],
      env,
    );
    expect(run.code).toBe(2);
  });

  it("an unknown shape names the supported formats and the closest one, exit code 2", () => {
    const path = write("unknown.jsonl", lines(QA.map(([q, a]) => ({ question: q, answer: a }))));
    const r = cli(["data", "stats", path, "--model", "tiny-qwen2"], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("no supported format fits its records (fields: question, answer)");
    expect(r.stderr).toContain("closest is alpaca");
    expect(r.stderr).toContain("--columns instruction=question,output=answer");
    expect(r.stderr.match(/error\[/g)).toHaveLength(1);
  });

  it("counts the same tokens on two threads as on one, and serves a repeat from the cache", () => {
    const one = cli(["data", "stats", alpacaPath, "--json", "--no-cache"], {
      ...env,
      LORAPROF_DATA_THREADS: "1",
    });
    const two = cli(["data", "stats", alpacaPath, "--json", "--no-cache"], {
      ...env,
      LORAPROF_DATA_THREADS: "2",
    });
    const a = json<Report>(one);
    const b = json<Report>(two);
    expect(b.stats).toEqual(a.stats);
    cli(["data", "stats", alpacaPath, "--json"], env);
    const cached = json<Report & { cached: boolean }>(cli(["data", "stats", alpacaPath, "--json"], env));
    expect(cached.cached).toBe(true);
    expect(cached.stats).toEqual(a.stats);
  });
});
