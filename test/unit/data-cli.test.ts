/**
 * `loraprof data stats --model <catalog id>` for a family with no offline tokenizer (Mistral, Gemma,
 * Phi): the built CLI as a user runs it (needs `npm run build` first; `npm test` builds before testing).
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runBuiltCli as runCli } from "./built-cli.js";
import { fakeHubCache } from "../../src/catalog/fixtures/hf-cache.js";

function tinyDataset(): string {
  const file = join(mkdtempSync(join(tmpdir(), "lp-data-cli-ds-")), "tiny.json");
  writeFileSync(
    file,
    JSON.stringify([
      { instruction: "Say hi.", input: "", output: "Hi." },
      { instruction: "Name a colour.", input: "", output: "Blue." },
    ]),
  );
  return file;
}

describe("loraprof data stats with a catalog model that ships no tokenizer", () => {
  it("exits 2 before reading anything, naming --model and the download that fixes it", () => {
    const hub = join(mkdtempSync(join(tmpdir(), "lp-empty-hub-")), "hub");
    const r = runCli(["data", "stats", tinyDataset(), "--model", "gemma-3-1b-it"], { HF_HUB_CACHE: hub });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("error[TOKENIZER]: no tokenizer for gemma-3-1b-it");
    expect(r.stderr).toContain(
      `--model: no snapshot of google/gemma-3-1b-it under ${hub} holds tokenizer.json`,
    );
    expect(r.stderr).toContain(
      "huggingface-cli download google/gemma-3-1b-it tokenizer.json tokenizer_config.json config.json --local-dir ./gemma-3-1b-it",
    );
  });

  it("counts with tokenizer.json of the model's snapshot in the Hugging Face cache", () => {
    const { cache } = fakeHubCache("google/gemma-3-1b-it", "f00dcafe");
    const r = runCli(["data", "stats", tinyDataset(), "--model", "gemma-3-1b-it", "--json"], {
      HF_HUB_CACHE: cache,
    });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as { tokenizer: string; stats: { records: number } };
    expect(report.tokenizer).toBe("f00dcafe");
    expect(report.stats.records).toBe(2);
  });
});
