import { describe, expect, it } from "vitest";
import { errorOf } from "../util/testing.js";
import { convertRows, parseColumns, type ColumnMap, type DatasetFormat } from "./formats.js";

const at = (i: number) => `f.jsonl:record[${i}]`;
const convert = (rows: unknown[], opts: { format?: DatasetFormat; columns?: ColumnMap } = {}) =>
  convertRows(rows, { ...opts, source: "f.jsonl", locate: at });

describe("format detection and conversion", () => {
  it("reads LLaMA-Factory Alpaca with system and history, keeping both", () => {
    const out = convert([
      {
        instruction: "And 3+3?",
        input: "",
        output: "6",
        system: "You are a calculator.",
        history: [
          ["1+1?", "2"],
          ["2+2?", "4"],
        ],
      },
      { instruction: "Hi", output: "Hello", system: null, history: null },
    ]);
    expect(out.format).toBe("alpaca");
    expect(out.detected).toBe(true);
    expect(out.unusedFields).toEqual([]);
    expect(out.records[0]).toEqual({
      kind: "instruction",
      instruction: "And 3+3?",
      input: "",
      output: "6",
      system: "You are a calculator.",
      history: [
        ["1+1?", "2"],
        ["2+2?", "4"],
      ],
    });
    expect(out.records[1]).toEqual({ kind: "instruction", instruction: "Hi", input: "", output: "Hello" });
  });

  it("reads ShareGPT with human/gpt roles, a system column and a function call", () => {
    const out = convert([
      {
        id: "x1",
        system: "Be brief.",
        conversations: [
          { from: "human", value: "Weather in Oslo?" },
          { from: "function_call", value: '{"name": "weather", "arguments": {"city": "Oslo"}}' },
          { from: "observation", value: "3°C" },
          { from: "gpt", value: "It is 3°C." },
        ],
      },
    ]);
    expect(out.format).toBe("sharegpt");
    expect(out.records[0]).toEqual({
      kind: "chat",
      messages: [
        { role: "system", content: "Be brief." },
        { role: "user", content: "Weather in Oslo?" },
        { role: "assistant", content: '{"name": "weather", "arguments": {"city": "Oslo"}}' },
        { role: "tool", content: "3°C" },
        { role: "assistant", content: "It is 3°C." },
      ],
    });
    expect(out.unusedFields).toEqual([{ field: "id", records: 1 }]);
  });

  it("reads OpenAI messages: text parts joined, tool calls kept as JSON text, extra keys reported", () => {
    const out = convert([
      {
        messages: [
          {
            role: "user",
            content: [
              { type: "text", text: "Add " },
              { type: "text", text: "2 and 3" },
            ],
          },
          {
            role: "assistant",
            content: null,
            tool_calls: [{ type: "function", function: { name: "add", arguments: '{"a": 2, "b": 3}' } }],
          },
          { role: "tool", content: "5", tool_call_id: "c1" },
          { role: "assistant", content: "5", weight: 1 },
        ],
        tools: [{ type: "function" }],
      },
    ]);
    expect(out.format).toBe("openai");
    const msgs = out.records[0]!.kind === "chat" ? out.records[0]!.messages : [];
    expect(msgs[0]).toEqual({ role: "user", content: "Add 2 and 3" });
    expect(msgs[1]).toEqual({ role: "assistant", content: '{"name":"add","arguments":{"a":2,"b":3}}' });
    expect(out.unusedFields.map((u) => u.field).sort()).toEqual([
      "messages[].tool_call_id",
      "messages[].weight",
      "tools",
    ]);
  });

  it("reads plain text and prompt/completion pairs, conversational pairs as chats", () => {
    expect(convert([{ text: "Once upon a time." }]).records).toEqual([
      { kind: "text", text: "Once upon a time." },
    ]);
    expect(convert([{ prompt: "2+2=", completion: "4" }]).records).toEqual([
      { kind: "completion", prompt: "2+2=", completion: "4" },
    ]);
    const chat = convert([
      { prompt: [{ role: "user", content: "Hi" }], completion: [{ role: "assistant", content: "Hello" }] },
    ]);
    expect(chat.format).toBe("completion");
    expect(chat.records[0]).toEqual({
      kind: "chat",
      messages: [
        { role: "user", content: "Hi" },
        { role: "assistant", content: "Hello" },
      ],
    });
  });

  it("maps other column names with --columns, and the mapping decides between formats", () => {
    const rows = [{ prompt: "Say hi", completion: "Hi", category: "greeting" }];
    expect(convert(rows).format).toBe("completion");
    const mapped = convert(rows, { columns: parseColumns("instruction=prompt,output=completion") });
    expect(mapped.format).toBe("alpaca");
    expect(mapped.records[0]).toEqual({
      kind: "instruction",
      instruction: "Say hi",
      input: "",
      output: "Hi",
    });
    expect(mapped.unusedFields).toEqual([{ field: "category", records: 1 }]);
  });

  it("reads every row as the format --format names, reporting rows that do not fit", () => {
    const err = errorOf(() =>
      convert([{ text: "a" }, { instruction: "b", output: "c" }], { format: "text" }),
    );
    expect(err.message).toContain("1 of 2 records in f.jsonl are invalid text records");
    expect(err.problems[0]?.field).toBe("f.jsonl:record[1].text");
    expect(err.exitCode).toBe(2);
  });

  it("refuses an unknown shape with one error naming the closest format and a --columns fix", () => {
    const err = errorOf(() =>
      convert([
        { question: "2+2?", answer: "4" },
        { question: "3+3?", answer: "6" },
      ]),
    );
    expect(err.exitCode).toBe(2);
    expect(err.message).toContain("no supported format fits its records (fields: question, answer)");
    expect(err.problems).toHaveLength(1);
    expect(err.problems[0]?.message).toMatch(/closest is alpaca/);
    expect(err.problems[0]?.hint).toContain("--columns instruction=question,output=answer");
    expect(err.hint).toMatch(
      /alpaca.*openai.*sharegpt.*text.*completion|openai.*sharegpt.*alpaca.*completion.*text/,
    );
  });

  it("names the closest format when a required field is missing everywhere", () => {
    const err = errorOf(() => convert([{ instruction: "a", input: "b" }]));
    expect(err.problems[0]?.message).toMatch(/closest is alpaca .* needs "output"/);
  });

  it("refuses --columns naming a field no format has", () => {
    const err = errorOf(() => convert([{ text: "a" }], { columns: { question: "q" } }));
    expect(err.problems[0]?.message).toMatch(/"question" is not a field/);
    expect(errorOf(() => parseColumns("instruction")).problems[0]?.hint).toMatch(/instruction=prompt/);
  });

  it("refuses unknown roles, a late system turn and a system prompt given twice", () => {
    expect(
      errorOf(() =>
        convert([
          {
            messages: [
              { role: "narrator", content: "x" },
              { role: "assistant", content: "y" },
            ],
          },
        ]),
      ).problems[0]?.message,
    ).toMatch(/"narrator" is not a known role/);
    expect(
      errorOf(() =>
        convert([
          {
            messages: [
              { role: "user", content: "x" },
              { role: "system", content: "late" },
              { role: "assistant", content: "y" },
            ],
          },
        ]),
      ).problems[0]?.message,
    ).toMatch(/system message may only come first/);
    expect(
      errorOf(() =>
        convert([
          {
            system: "A",
            conversations: [
              { from: "system", value: "B" },
              { from: "human", value: "x" },
              { from: "gpt", value: "y" },
            ],
          },
        ]),
      ).problems[0]?.message,
    ).toMatch(/given twice/);
  });
});
