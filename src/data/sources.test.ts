/**
 * Every container the readers accept, each written by the test itself (no downloads): CSV, TSV,
 * Parquet, an Arrow `save_to_disk` folder, a DatasetDict and a hub dataset in a Hugging Face cache.
 */
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Field, List, Struct, Table, tableToIPC, Utf8, vectorFromArray } from "apache-arrow";
import { parquetWriteBuffer } from "hyparquet-writer";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LoraprofError } from "../util/errors.js";
import { loadDataset } from "./readers.js";
import { resolveDataset } from "./resolve.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "loraprof-sources-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const sharegpt = [
  {
    conversations: [
      { from: "human", value: "Hi" },
      { from: "gpt", value: "Hello!" },
    ],
    source: "a",
  },
  {
    conversations: [
      { from: "system", value: "Be brief." },
      { from: "human", value: "2+2?" },
      { from: "gpt", value: "4" },
    ],
    source: "b",
  },
];

const turn = new Struct([new Field("from", new Utf8(), true), new Field("value", new Utf8(), true)]);

/** What Dataset.save_to_disk writes for one split: an Arrow stream plus state.json. */
async function saveToDisk(folder: string, columns: Record<string, unknown[]>): Promise<void> {
  await mkdir(folder, { recursive: true });
  const vectors = Object.fromEntries(
    Object.entries(columns).map(([name, data]) => [
      name,
      name === "conversations"
        ? vectorFromArray(data, new List(new Field("item", turn, true)))
        : vectorFromArray(data as string[], new Utf8()),
    ]),
  );
  await writeFile(join(folder, "data-00000-of-00001.arrow"), tableToIPC(new Table(vectors), "stream"));
  await writeFile(join(folder, "dataset_info.json"), JSON.stringify({ features: {} }));
  await writeFile(
    join(folder, "state.json"),
    JSON.stringify({ _data_files: [{ filename: "data-00000-of-00001.arrow" }], _split: null }),
  );
}

describe("dataset containers", () => {
  it("reads CSV with a quoted multi-line cell and LLaMA-Factory history as JSON text", async () => {
    const path = join(dir, "a.csv");
    await writeFile(
      path,
      'instruction,input,output,history\n"Write, then stop.",,"Line 1\nLine 2","[[""q"",""a""]]"\nSay hi,,Hi,\n',
    );
    const d = await loadDataset(path);
    expect(d.container).toBe("csv");
    expect(d.format).toBe("alpaca");
    expect(d.records).toEqual([
      {
        kind: "instruction",
        instruction: "Write, then stop.",
        input: "",
        output: "Line 1\nLine 2",
        history: [["q", "a"]],
      },
      { kind: "instruction", instruction: "Say hi", input: "", output: "Hi" },
    ]);
  });

  it("reads TSV", async () => {
    const path = join(dir, "a.tsv");
    await writeFile(path, "prompt\tcompletion\n2+2=\t4\n");
    const d = await loadDataset(path);
    expect(d.container).toBe("tsv");
    expect(d.records).toEqual([{ kind: "completion", prompt: "2+2=", completion: "4" }]);
  });

  it("reads Parquet, nested JSON columns included", async () => {
    const path = join(dir, "a.parquet");
    const buf = parquetWriteBuffer({
      columnData: [
        { name: "conversations", data: sharegpt.map((r) => r.conversations), type: "JSON" },
        { name: "source", data: sharegpt.map((r) => r.source), type: "STRING" },
      ],
    });
    await writeFile(path, Buffer.from(buf));
    const d = await loadDataset(path);
    expect(d.container).toBe("parquet");
    expect(d.format).toBe("sharegpt");
    expect(d.records).toHaveLength(2);
    expect(d.records[1]).toEqual({
      kind: "chat",
      messages: [
        { role: "system", content: "Be brief." },
        { role: "user", content: "2+2?" },
        { role: "assistant", content: "4" },
      ],
    });
    expect(d.unusedFields).toEqual([{ field: "source", records: 2 }]);
  });

  it("reads a save_to_disk folder (Arrow stream with list<struct> columns)", async () => {
    const folder = join(dir, "saved");
    await saveToDisk(folder, {
      conversations: sharegpt.map((r) => r.conversations),
      source: sharegpt.map((r) => r.source),
    });
    const d = await loadDataset(folder);
    expect(d.folder).toBe("save_to_disk");
    expect(d.container).toBe("arrow");
    expect(d.records.map((r) => (r.kind === "chat" ? r.messages.length : 0))).toEqual([2, 3]);
  });

  it("reads the train split of a DatasetDict", async () => {
    const folder = join(dir, "dict");
    await saveToDisk(join(folder, "train"), { text: ["train text"] });
    await saveToDisk(join(folder, "test"), { text: ["test text"] });
    await writeFile(join(folder, "dataset_dict.json"), JSON.stringify({ splits: ["train", "test"] }));
    const d = await loadDataset(folder);
    expect(d.folder).toBe("dataset_dict");
    expect(d.records).toEqual([{ kind: "text", text: "train text" }]);
  });

  it("finds a hub dataset in the Hugging Face cache and reads its train files", async () => {
    const hub = join(dir, "hub");
    const repo = join(hub, "datasets--acme--tiny-chat");
    const snap = join(repo, "snapshots", "0123abcd");
    await mkdir(join(snap, "data"), { recursive: true });
    await mkdir(join(repo, "refs"), { recursive: true });
    await writeFile(join(repo, "refs", "main"), "0123abcd\n");
    const rows = (text: string) =>
      JSON.stringify({
        messages: [
          { role: "user", content: text },
          { role: "assistant", content: "ok" },
        ],
      });
    await writeFile(join(snap, "data", "train-00000-of-00001.jsonl"), rows("train question") + "\n");
    await writeFile(join(snap, "data", "test-00000-of-00001.jsonl"), rows("test question") + "\n");
    await writeFile(join(snap, "README.md"), "# card\n");

    const resolved = await resolveDataset("acme/tiny-chat", { cacheDir: dir, env: { HF_HUB_CACHE: hub } });
    expect(resolved).toMatchObject({ kind: "file", origin: "hub", path: snap });
    const d = await loadDataset(snap);
    expect(d.folder).toBe("data files");
    expect(d.files).toEqual([join(snap, "data", "train-00000-of-00001.jsonl")]);
    expect(d.records).toHaveLength(1);

    const missing = await resolveDataset("acme/absent", { cacheDir: dir, env: { HF_HUB_CACHE: hub } }).catch(
      (e: unknown) => e,
    );
    expect((missing as LoraprofError).code).toBe("DATASET_NOT_FOUND");
  });

  it("refuses a .parquet file that is not Parquet, naming the likely cause", async () => {
    const path = join(dir, "lfs.parquet");
    await writeFile(path, "version https://git-lfs.github.com/spec/v1\n");
    const err = (await loadDataset(path).catch((e: unknown) => e)) as LoraprofError;
    expect(err.exitCode).toBe(2);
    expect(err.message).toMatch(/not a Parquet file/);
  });
});
