import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { loadRunConfig } from "../config/load.js";
import { openStore } from "../store/db.js";
import { listRuns } from "../store/runs.js";
import { LoraprofError } from "../util/errors.js";
import { executeRun } from "./run.js";

afterEach(() => {
  vi.unstubAllEnvs();
});

describe("executeRun", () => {
  it("refuses a catalog model with no offline tokenizer and no cached snapshot before anything runs", async () => {
    const root = mkdtempSync(join(tmpdir(), "lp-run-tok-"));
    vi.stubEnv("HF_HUB_CACHE", join(root, "empty-hub"));
    const dataset = join(root, "tiny.json");
    writeFileSync(dataset, JSON.stringify([{ instruction: "Say hi.", input: "", output: "Hi." }]));
    const db = openStore(join(root, "store.db"));
    const cacheDir = join(root, "cache");
    const config = loadRunConfig({
      overrides: { model: "mistral-7b-v0.3", weights: "random", device: "cpu", dataset },
    });
    const progress: string[] = [];
    try {
      const err = await executeRun(config, {
        db,
        home: join(root, "home"),
        cacheDir,
        python: "/nonexistent/python",
        onProgress: (p) => progress.push(p.stage),
      }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(LoraprofError);
      const e = err as LoraprofError;
      expect(e.code).toBe("TOKENIZER");
      expect(e.problems[0]?.field).toBe("model");
      expect(e.problems[0]?.hint).toContain(
        "huggingface-cli download mistralai/Mistral-7B-v0.3 tokenizer.json",
      );
      // Nothing ran: no data stage, no stored run, no shard or checkpoint written.
      expect(progress).toEqual([]);
      expect(listRuns(db)).toEqual([]);
      expect(existsSync(cacheDir)).toBe(false);
    } finally {
      db.close();
    }
  });
});
