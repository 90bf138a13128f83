import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { clearCache, summarizeCache } from "./cache.js";

/** A cache folder with two checkpoints, one being written, a shard and a lengths file. */
function fixture(): string {
  const dir = mkdtempSync(join(tmpdir(), "lp-cache-"));
  const file = (path: string, bytes: number) => {
    mkdirSync(join(path, ".."), { recursive: true });
    writeFileSync(path, Buffer.alloc(bytes));
  };
  file(join(dir, "checkpoints", "qwen3-14b-abc-seed0", "part-00001.safetensors"), 3000);
  file(join(dir, "checkpoints", "qwen3-14b-abc-seed0", "config.json"), 100);
  file(join(dir, "checkpoints", "tiny-qwen2-def-seed0", "part-00001.safetensors"), 500);
  file(join(dir, "checkpoints", ".llama-x-seed0.tmp-123-abcd", "part-00001.safetensors"), 7000);
  file(join(dir, "shards", "0123abcd", "records.bin"), 200);
  file(join(dir, "plan-lengths", "k.json"), 10);
  return dir;
}

describe("the cache", () => {
  it("counts each kind's complete entries and their bytes, not folders being written", () => {
    const s = summarizeCache(fixture());
    expect(s.kinds).toEqual([
      { kind: "checkpoints", entries: 2, bytes: 3600 },
      { kind: "shards", entries: 1, bytes: 200 },
      { kind: "datasets", entries: 0, bytes: 0 },
      { kind: "lengths", entries: 1, bytes: 10 },
    ]);
    expect(s.totalBytes).toBe(3810);
    expect(s.entries.map((e) => e.name)).toContain("qwen3-14b-abc-seed0");
    expect(s.freeBytes).toBeGreaterThan(0);
  });

  it("clears the kinds named and leaves the rest, and a temporary folder being written", () => {
    const dir = fixture();
    const removed = clearCache(dir, ["checkpoints"]);
    expect(removed.map((e) => e.name).sort()).toEqual(["qwen3-14b-abc-seed0", "tiny-qwen2-def-seed0"]);
    expect(existsSync(join(dir, "checkpoints", ".llama-x-seed0.tmp-123-abcd"))).toBe(true);
    expect(summarizeCache(dir).kinds.map((k) => k.entries)).toEqual([0, 1, 0, 1]);
    clearCache(dir, ["shards", "datasets", "lengths"]);
    expect(summarizeCache(dir).totalBytes).toBe(0);
  });

  it("reports a cache folder that does not exist yet as empty", () => {
    const s = summarizeCache(join(tmpdir(), "lp-cache-missing-" + process.pid));
    expect(s.totalBytes).toBe(0);
    expect(s.freeBytes).toBeNull();
  });
});
