import { describe, expect, it } from "vitest";
import type { DatasetRecord } from "./records.js";
import { renderRecord } from "./templates.js";

const EOS = "<|endoftext|>";
const ins = (instruction: string, input: string, output: string): DatasetRecord => ({
  kind: "instruction",
  instruction,
  input,
  output,
});

describe("the alpaca template", () => {
  it("renders Stanford Alpaca's prompt without input", () => {
    const r = renderRecord(ins("Name a color.", "", "Blue."), "alpaca", EOS);
    expect(r.prompt).toBe(
      "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n" +
        "### Instruction:\nName a color.\n\n### Response:",
    );
    expect(r.response).toBe("Blue.<|endoftext|>");
  });

  it("renders Stanford Alpaca's prompt with input", () => {
    const r = renderRecord(ins("Add the numbers.", "2 and 3", "5"), "alpaca", EOS);
    expect(r.prompt).toBe(
      "Below is an instruction that describes a task, paired with an input that provides further context. " +
        "Write a response that appropriately completes the request.\n\n" +
        "### Instruction:\nAdd the numbers.\n\n### Input:\n2 and 3\n\n### Response:",
    );
    expect(r.response).toBe("5<|endoftext|>");
  });

  it("uses the input form for any non-empty input, as train.py does", () => {
    expect(renderRecord(ins("a", " ", "b"), "alpaca", EOS).prompt).toContain("### Input:\n \n\n");
  });

  it("keeps replacement patterns and placeholders inside records literal", () => {
    const r = renderRecord(ins("Explain $& and {input}.", "$1 {instruction}", "ok"), "alpaca", EOS);
    expect(r.prompt).toContain(
      "### Instruction:\nExplain $& and {input}.\n\n### Input:\n$1 {instruction}\n\n",
    );
  });

  it("splits into a masked prompt and a target response", () => {
    const r = renderRecord(ins("a", "", "b"), "alpaca", "</s>");
    expect(r.segments).toEqual([
      { text: r.prompt, target: false },
      { text: "b</s>", target: true },
    ]);
  });

  it("refuses chat records and points to chatml", () => {
    const chat: DatasetRecord = {
      kind: "chat",
      messages: [
        { role: "user", content: "hi" },
        { role: "assistant", content: "hello" },
      ],
    };
    expect(() => renderRecord(chat, "alpaca", EOS)).toThrow(/cannot use the alpaca template/);
    try {
      renderRecord(chat, "alpaca", EOS);
    } catch (e) {
      expect((e as { problems: { hint: string }[] }).problems[0]?.hint).toMatch(/--template chatml/);
    }
  });
});

describe("the chatml template", () => {
  it("renders an instruction record as one Qwen-style turn with the default system prompt", () => {
    const r = renderRecord(ins("Add the numbers.", "2 and 3", "5"), "chatml", EOS);
    expect(r.prompt).toBe(
      "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n" +
        "<|im_start|>user\nAdd the numbers.\n\n2 and 3<|im_end|>\n" +
        "<|im_start|>assistant\n",
    );
    expect(r.response).toBe("5<|im_end|>\n");
  });

  it("keeps a chat record's own system prompt and targets every assistant turn", () => {
    const r = renderRecord(
      {
        kind: "chat",
        messages: [
          { role: "system", content: "Be brief." },
          { role: "user", content: "Hi" },
          { role: "assistant", content: "Hello" },
          { role: "user", content: "Bye" },
          { role: "assistant", content: "Bye!" },
        ],
      },
      "chatml",
      EOS,
    );
    expect(r.segments).toEqual([
      {
        text: "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
        target: false,
      },
      { text: "Hello<|im_end|>\n", target: true },
      { text: "<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n", target: false },
      { text: "Bye!<|im_end|>\n", target: true },
    ]);
    expect(r.response).toBe("Bye!<|im_end|>\n");
    expect(r.prompt + r.response).toBe(r.segments.map((s) => s.text).join(""));
  });

  it("refuses a chat record that does not end with the assistant", () => {
    const chat: DatasetRecord = { kind: "chat", messages: [{ role: "user", content: "hi" }] };
    expect(() => renderRecord(chat, "chatml", EOS)).toThrow(/must end with an assistant message/);
  });
});
