import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadTokenizer } from "../data/tokenizer.js";
import { LoraprofError } from "../util/errors.js";
import { fakeHubCache } from "./fixtures/hf-cache.js";
import { findModel } from "./models.js";
import { catalogTokenizerSpec, planLengthTokenizer } from "./tokenizer.js";

const mistral = findModel("mistral-7b-v0.3")!;

describe("catalogTokenizerSpec", () => {
  it("gives a family's offline tokenizer without looking anywhere", () => {
    expect(catalogTokenizerSpec(findModel("qwen2.5-1.5b")!, { env: {} })).toEqual({ family: "qwen2" });
    expect(catalogTokenizerSpec(findModel("llama-3.2-1b")!, { env: {} })).toEqual({ family: "llama3" });
  });

  it("fails, naming the field and the download that fixes it, when no snapshot is cached", () => {
    const empty = mkdtempSync(join(tmpdir(), "lp-hfhome-"));
    let err: unknown;
    try {
      catalogTokenizerSpec(mistral, { env: { HF_HOME: empty } });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(LoraprofError);
    const e = err as LoraprofError;
    expect(e.code).toBe("TOKENIZER");
    expect(e.exitCode).toBe(2);
    expect(e.message).toMatch(/mistral-7b-v0\.3.*not in the Hugging Face cache/);
    expect(e.problems[0]?.field).toBe("model");
    expect(e.problems[0]?.message).toContain(join(empty, "hub"));
    expect(e.problems[0]?.hint).toContain(
      "huggingface-cli download mistralai/Mistral-7B-v0.3 tokenizer.json tokenizer_config.json config.json --local-dir ./Mistral-7B-v0.3",
    );
    expect(e.problems[0]?.hint).toContain("--model ./Mistral-7B-v0.3");
  });

  it("names the flag the caller passes as the field", () => {
    const env = { HF_HUB_CACHE: mkdtempSync(join(tmpdir(), "lp-hfcache-")) };
    expect(() => catalogTokenizerSpec(findModel("gemma-2-2b-it")!, { env, field: "--model" })).toThrow(
      expect.objectContaining({ problems: [expect.objectContaining({ field: "--model" })] }),
    );
  });

  it("reads tokenizer.json from the model's cached hub snapshot when there is one", async () => {
    const { cache, snapshot } = fakeHubCache("mistralai/Mistral-7B-v0.3");
    const spec = catalogTokenizerSpec(mistral, { env: { HF_HUB_CACHE: cache } });
    expect(spec).toEqual({ dir: snapshot });
    // Found by catalog id and by hub id alike (both name the same entry).
    expect(
      catalogTokenizerSpec(findModel("mistralai/mistral-7b-v0.3")!, { env: { HF_HUB_CACHE: cache } }),
    ).toEqual({ dir: snapshot });
    const tok = await loadTokenizer(spec);
    expect(tok.name).toBe("0123abc");
    expect(tok.encode("hello world").length).toBeGreaterThan(0);
  });

  it("ignores a snapshot without tokenizer.json (a config-only download)", () => {
    const cache = join(mkdtempSync(join(tmpdir(), "lp-hfcache-")), "hub");
    mkdirSync(join(cache, "models--microsoft--phi-4", "snapshots", "abc"), { recursive: true });
    expect(() => catalogTokenizerSpec(findModel("phi-4")!, { env: { HF_HUB_CACHE: cache } })).toThrow(
      /not in the Hugging Face cache/,
    );
  });
});

describe("planLengthTokenizer", () => {
  it("measures with the family's tokenizer, or with Qwen2's as a proxy that it names", () => {
    expect(planLengthTokenizer(findModel("llama-3.1-8b")!)).toEqual({ family: "llama3", proxyNote: null });
    const proxy = planLengthTokenizer(mistral);
    expect(proxy.family).toBe("qwen2");
    expect(proxy.proxyNote).toMatch(/length proxy: no tokenizer for Mistral-7B-v0\.3 ships/);
  });
});
