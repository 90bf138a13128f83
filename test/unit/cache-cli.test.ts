/** `loraprof cache` and `cache clear` through the built CLI (`npm run build` first). */
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runBuiltCli } from "./built-cli.js";

function cacheWithCheckpoint(): string {
  const cache = mkdtempSync(join(tmpdir(), "lp-cache-cli-"));
  mkdirSync(join(cache, "checkpoints", "qwen3-14b-abc-seed0"), { recursive: true });
  writeFileSync(
    join(cache, "checkpoints", "qwen3-14b-abc-seed0", "part-00001.safetensors"),
    Buffer.alloc(4096),
  );
  mkdirSync(join(cache, "shards", "0123"), { recursive: true });
  writeFileSync(join(cache, "shards", "0123", "records.bin"), Buffer.alloc(100));
  return cache;
}

describe("loraprof cache", () => {
  it("lists what the cache holds, and clear removes only the kinds named", () => {
    const cache = cacheWithCheckpoint();
    const env = { LORAPROF_CACHE: cache };
    const shown = runBuiltCli(["cache"], env);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(/checkpoints\s+1\s+4\.00 KiB/);
    expect(shown.stdout).toMatch(/loraprof cache clear checkpoints/);
    const cleared = runBuiltCli(["cache", "clear", "checkpoints", "--json"], env);
    expect(cleared.code, cleared.stderr).toBe(0);
    expect(JSON.parse(cleared.stdout)).toMatchObject({ kinds: ["checkpoints"], bytes: 4096 });
    expect(existsSync(join(cache, "checkpoints", "qwen3-14b-abc-seed0"))).toBe(false);
    expect(existsSync(join(cache, "shards", "0123"))).toBe(true);
    const after = JSON.parse(runBuiltCli(["cache", "--json"], env).stdout) as { totalBytes: number };
    expect(after.totalBytes).toBe(100);
  });

  it("an unknown kind is exit 2 naming the kinds, and nothing is removed", () => {
    const cache = cacheWithCheckpoint();
    const r = runBuiltCli(["cache", "clear", "checkpoint"], { LORAPROF_CACHE: cache });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown: checkpoint/);
    expect(r.stderr).toMatch(/checkpoints, shards, datasets, lengths, or all/);
    expect(r.stderr).not.toMatch(/at .*\.js:\d+/);
    expect(existsSync(join(cache, "checkpoints", "qwen3-14b-abc-seed0"))).toBe(true);
  });
});
