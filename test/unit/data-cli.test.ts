/**
 * `loraprof data stats --model <catalog id>` for a family with no offline tokenizer (Mistral, Gemma,
 * Phi): the built CLI as a user runs it (needs `npm run build` first; `npm test` builds before testing).
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { fakeHubCache } from "../../src/catalog/fixtures/hf-cache.js";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const cli = join(repoRoot, "bin/loraprof.js");

function runCli(args: string[], env: NodeJS.ProcessEnv) {
  if (!existsSync(join(repoRoot, "dist/cli/main.js"))) throw new Error("build first: npm run build");
  const home = mkdtempSync(join(tmpdir(), "lp-data-cli-"));
  const r = spawnSync(process.execPath, [cli, ...args], {
    encoding: "utf8",
    env: {
      ...process.env,
      LORAPROF_HOME: home,
      LORAPROF_CACHE: join(home, "cache"),
      NO_COLOR: "1",
      ...env,
    },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

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
