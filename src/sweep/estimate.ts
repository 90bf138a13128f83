/**
 * Time estimates for a plan from runs already in the store: a planned config is matched with
 * completed runs of the same shape (every setting equal, `auto` matching whatever it resolved to,
 * the GPU index and the seed ignored), and its estimate is their median wall time.
 */
import type { Db } from "../store/db.js";
import { completedRunTimes } from "../store/runs.js";
import type { RunConfig } from "../config/schema.js";
import { median } from "../util/stats.js";
import { canonicalJson, flattenConfig, shapeKeys, shapeValue } from "../config/identity.js";

export interface PlanEstimate {
  /** Sum of the estimates that are known, in seconds; null when none is. */
  seconds: number | null;
  /** How many of the planned configs have an estimate. */
  known: number;
  total: number;
  /** Per planned config (same order), seconds or null. */
  perRun: (number | null)[];
}

export function estimatePlan(db: Db, configs: RunConfig[]): PlanEstimate {
  const stored = completedRunTimes(db)
    .map((r) => ({
      flat: flattenConfig(r.config),
      seconds: (Date.parse(r.finishedAt) - Date.parse(r.startedAt)) / 1000,
    }))
    .filter((r) => Number.isFinite(r.seconds) && r.seconds >= 0);
  // `sameShape` compares the planned config's settings that are neither ignored nor `auto`. Planned
  // configs that compare the same settings (a sweep's usually all do) share one index of the stored
  // runs by those settings' values, so a 10k-run sweep resumed half-way is not 5k × 5k comparisons.
  const cache = new Map<string, number | null>();
  const indexes = new Map<string, Map<string, number[]>>();
  const perRun = configs.map((c) => {
    const flat = flattenConfig(c);
    const sig = canonicalJson(flat);
    if (!cache.has(sig)) {
      const keys = shapeKeys(flat);
      const pattern = keys.join("\u0001");
      let index = indexes.get(pattern);
      if (!index) {
        index = new Map();
        for (const s of stored) {
          const key = keys.map((k) => shapeValue(s.flat, k)).join("\u0001");
          const list = index.get(key);
          if (list) list.push(s.seconds);
          else index.set(key, [s.seconds]);
        }
        indexes.set(pattern, index);
      }
      const matches = index.get(keys.map((k) => shapeValue(flat, k)).join("\u0001")) ?? [];
      cache.set(sig, matches.length ? median(matches) : null);
    }
    return cache.get(sig)!;
  });
  const known = perRun.filter((x): x is number => x !== null);
  return {
    seconds: known.length ? known.reduce((a, b) => a + b, 0) : null,
    known: known.length,
    total: configs.length,
    perRun,
  };
}
