import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { RunConfig } from "../config/schema.js";
import { openStore } from "../store/db.js";
import { createRun, finishRun } from "../store/runs.js";
import { flattenConfig, sameShape } from "../config/identity.js";
import { estimatePlan } from "./estimate.js";

/** The estimate by its definition: the median wall time of every stored run `sameShape` accepts. */
function reference(stored: { config: object; seconds: number }[], planned: object): number | null {
  const xs = stored
    .filter((s) => sameShape(flattenConfig(planned), flattenConfig(s.config)))
    .map((s) => s.seconds)
    .sort((a, b) => a - b);
  if (!xs.length) return null;
  const m = Math.floor(xs.length / 2);
  return xs.length % 2 ? xs[m]! : (xs[m - 1]! + xs[m]!) / 2;
}

describe("estimatePlan", () => {
  it("matches the pairwise definition (auto, ignored settings, device kinds, missing settings) through its index", () => {
    const db = openStore(join(mkdtempSync(join(tmpdir(), "loraprof-estimate-")), "s.db"));
    let seed = 7;
    const pick = <T>(xs: readonly T[]): T => xs[(seed = (seed * 48271) % 2147483647) % xs.length]!;
    const stored: { config: object; seconds: number }[] = [];
    for (let i = 0; i < 300; i++) {
      const config = {
        model: "tiny-qwen2",
        batchSize: pick([1, 2, 4]),
        seqLen: pick([64, 128]),
        precision: pick(["fp32", "bf16"]),
        device: pick(["cpu", "cuda:0", "cuda:1"]),
        seed: pick([0, 1, 2]),
        label: `r${i}`,
        optimizer: { name: pick(["adamw_torch", "adamw_8bit"]), lr: 1e-4 },
        ...(i % 17 === 0 ? {} : { gradAccum: pick([1, 2]) }),
      };
      const seconds = 1 + (i % 13);
      const id = createRun(db, { config });
      finishRun(db, id, { status: i % 11 === 0 ? "failed" : "completed" });
      db.prepare(`UPDATE runs SET started_at=?, finished_at=? WHERE id=?`).run(
        new Date(0).toISOString(),
        new Date(seconds * 1000).toISOString(),
        id,
      );
      if (i % 11 !== 0) stored.push({ config, seconds });
    }
    const planned = [];
    for (let i = 0; i < 120; i++) {
      planned.push({
        model: "tiny-qwen2",
        batchSize: pick([1, 2, 4, 8]),
        seqLen: pick([64, 128]),
        precision: pick(["fp32", "bf16", "auto"]),
        device: pick(["cpu", "cuda", "cuda:3", "auto"]),
        seed: pick([5, 6]),
        optimizer: { name: pick(["adamw_torch", "adamw_8bit"]), lr: 1e-4 },
        gradAccum: pick([1, 2]),
      });
    }
    const got = estimatePlan(db, planned as unknown as RunConfig[]);
    const want = planned.map((p) => reference(stored, p));
    expect(got.perRun).toEqual(want);
    expect(want.filter((x) => x !== null).length).toBeGreaterThan(30);
    expect(want.filter((x) => x === null).length).toBeGreaterThan(5);
    expect(got.known).toBe(want.filter((x) => x !== null).length);
  });
});
