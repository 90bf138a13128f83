import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LoraprofError } from "../util/errors.js";
import { errorOf } from "../util/testing.js";
import { findJsonSyntaxError, parseDataset, readDataset } from "./readers.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "loraprof-read-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("readDataset", () => {
  it("reads an Alpaca JSON array, treating a missing or null input as empty", async () => {
    const path = join(dir, "a.json");
    await writeFile(
      path,
      JSON.stringify([
        { instruction: "Say hi.", input: "", output: "Hi" },
        { instruction: "Add.", input: "1 2", output: "3", category: "math" },
        { instruction: "No input key.", output: "ok" },
        { instruction: "Null input.", input: null, output: "ok" },
      ]),
    );
    const records = await readDataset(path);
    expect(records).toEqual([
      { kind: "instruction", instruction: "Say hi.", input: "", output: "Hi" },
      { kind: "instruction", instruction: "Add.", input: "1 2", output: "3" },
      { kind: "instruction", instruction: "No input key.", input: "", output: "ok" },
      { kind: "instruction", instruction: "Null input.", input: "", output: "ok" },
    ]);
  });

  it("reads chat JSON Lines, skipping blank lines", async () => {
    const path = join(dir, "b.jsonl");
    await writeFile(
      path,
      [
        "",
        JSON.stringify({
          messages: [
            { role: "system", content: "Be brief." },
            { role: "user", content: "Hi" },
            { role: "assistant", content: "Hello" },
          ],
        }),
        "   ",
      ].join("\r\n"),
    );
    const records = await readDataset(path);
    expect(records).toEqual([
      {
        kind: "chat",
        messages: [
          { role: "system", content: "Be brief." },
          { role: "user", content: "Hi" },
          { role: "assistant", content: "Hello" },
        ],
      },
    ]);
  });

  it("refuses a file mixing instruction and chat records with one error naming both", async () => {
    const path = join(dir, "mixed.jsonl");
    await writeFile(
      path,
      [
        JSON.stringify({ instruction: "Say hi.", output: "Hi" }),
        JSON.stringify({
          messages: [
            { role: "user", content: "Hi" },
            { role: "assistant", content: "Hello" },
          ],
        }),
        JSON.stringify({ instruction: "Add.", output: "2" }),
      ].join("\n"),
    );
    const err = (await readDataset(path).catch((e: unknown) => e)) as LoraprofError;
    expect(err).toBeInstanceOf(LoraprofError);
    expect(err.exitCode).toBe(2);
    expect(err.message).toContain("mixes record formats: 2 alpaca, 1 openai");
    expect(err.problems.map((p) => p.field)).toEqual([
      `${path}:line 1:record[0]`,
      `${path}:line 2:record[1]`,
    ]);
  });

  it("detects the format by content, not by file name", () => {
    const asArray = parseDataset('\uFEFF  \n[{"instruction":"a","output":"b"}]', "data.jsonl");
    const asLines = parseDataset('{"instruction":"a","output":"b"}\n', "data.json");
    expect(asArray).toEqual(asLines);
  });

  it("reads the shared 9k Alpaca sample", async () => {
    const records = await readDataset(
      resolve(import.meta.dirname, "../../../shared/data/alpaca/alpaca_random_9k.json"),
    );
    expect(records).toHaveLength(9229);
    expect(records.every((r) => r.kind === "instruction")).toBe(true);
  });

  it("names the file, record and field of a record without output", () => {
    const err = errorOf(() =>
      parseDataset('[{"instruction":"a","output":"b"},{"instruction":"c","output":null}]', "d.json"),
    );
    expect(err.code).toBe("DATASET_INVALID");
    expect(err.message).toContain("1 of 2 records in d.json are invalid");
    expect(err.problems).toHaveLength(1);
    expect(err.problems[0]?.field).toBe("d.json:record[1].output");
    expect(err.problems[0]?.message).toMatch(/missing/);
    expect(err.problems[0]?.hint).toMatch(/instruction.*output/);
  });

  it("gives the JSONL line number of bad records and reports several at once", () => {
    const lines = [
      '{"instruction":"ok","output":"ok"}',
      '{"instruction":5,"output":"x"}',
      "",
      '{"instruction":"a","output":"b","history":[["q"]]}',
      "[1, 2]",
    ];
    const err = errorOf(() => parseDataset(lines.join("\n"), "d.jsonl"));
    expect(err.message).toContain("3 of 4 records in d.jsonl are invalid alpaca records");
    expect(err.exitCode).toBe(2);
    expect(err.problems.map((p) => p.field)).toEqual([
      "d.jsonl:line 2:record[1].instruction",
      "d.jsonl:line 4:record[2].history[0]",
      "d.jsonl:line 5:record[3]",
    ]);
    expect(err.problems[1]?.message).toMatch(/\[query, response\] pair/);
    expect(err.problems[2]?.message).toMatch(/must be an object, got an array/);
  });

  it("reports JSON syntax errors by line before looking at records", () => {
    const lines = ['{"instruction":"ok","output":"ok"}', '{"instruction":"a", "output": }', '{"x":'];
    const err = errorOf(() => parseDataset(lines.join("\n"), "d.jsonl"));
    expect(err.message).toContain("2 of 3 records");
    expect(err.problems.map((p) => p.field)).toEqual([
      "d.jsonl:line 2:record[1]",
      "d.jsonl:line 3:record[2]",
    ]);
    expect(err.problems[0]?.message).toMatch(/invalid JSON at column 31/);
  });

  it("refuses a chat record whose last turn is not the assistant's", () => {
    const err = errorOf(() =>
      parseDataset(
        '{"messages":[{"role":"assistant","content":"a"}]}\n{"messages":[{"role":"user","content":"hi"}]}',
        "c.jsonl",
      ),
    );
    expect(err.problems[0]?.field).toBe("c.jsonl:line 2:record[1].messages[0]");
    expect(err.problems[0]?.message).toMatch(/last message must come from the assistant/);
  });

  it("lists at most 20 problems but counts every bad record", () => {
    const lines = Array.from({ length: 30 }, () => '{"instruction":"a","output":5}');
    const err = errorOf(() => parseDataset(lines.join("\n"), "many.jsonl"));
    expect(err.problems).toHaveLength(20);
    expect(err.message).toContain("30 of 30 records");
    expect(err.message).toContain("first 20 problems listed");
  });

  it("gives line and column of invalid JSON in an array file", () => {
    const text = '[\n  {"instruction": "a", "output": "b"},\n  {"instruction": "c", "output": "d",}\n]';
    const err = errorOf(() => parseDataset(text, "bad.json"));
    expect(err.code).toBe("DATASET_INVALID");
    expect(err.message).toMatch(/line 3, column 38/);
    expect(err.problems[0]?.field).toBe("bad.json:line 3:column 38");
  });

  it("locates errors V8 reports without a position", () => {
    const text = '[{"instruction": tru}]';
    expect(findJsonSyntaxError(text)).toBe(17);
    const err = errorOf(() => parseDataset(text, "v8.json"));
    expect(err.message).toMatch(/line 1, column 18/);
    expect(findJsonSyntaxError('[{"a": [1, 2.5e3, "x\\u00e9"]}, null]')).toBeNull();
  });

  it("explains a pretty-printed single object", () => {
    const err = errorOf(() =>
      parseDataset('{\n  "data": [{"instruction": "a", "output": "b"}]\n}\n', "obj.json"),
    );
    expect(err.message).toMatch(/one JSON object spread over several lines/);
  });

  it("refuses an empty file, an empty array and a file that is not JSON", () => {
    expect(errorOf(() => parseDataset("  \n", "e.json")).message).toMatch(/empty/);
    expect(errorOf(() => parseDataset("[]", "e.json")).message).toMatch(/no records/);
    expect(errorOf(() => parseDataset("instruction,output\n", "e.csv")).message).toMatch(
      /neither a JSON array nor JSON Lines/,
    );
  });

  it("reports a missing file as DATASET_NOT_FOUND with a hint", async () => {
    const err = await readDataset(join(dir, "missing.json")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LoraprofError);
    expect((err as LoraprofError).code).toBe("DATASET_NOT_FOUND");
    expect((err as LoraprofError).hint).toMatch(/--dataset alpaca/);
  });
});
