/**
 * Time estimates for a plan from runs already in the store: a planned config is matched with
 * completed runs of the same shape (every setting equal, `auto` matching whatever it resolved to,
 * the GPU index and the seed ignored), and its estimate is their median wall time.
 */
import type { Db } from "../store/db.js";
import { completedRunTimes } from "../store/runs.js";
import type { RunConfig } from "../config/schema.js";
import { median } from "../util/stats.js";
import { canonicalJson, flattenConfig, sameShape } from "../config/identity.js";

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
  const cache = new Map<string, number | null>();
  const perRun = configs.map((c) => {
    const flat = flattenConfig(c);
    const sig = canonicalJson(flat);
    if (!cache.has(sig)) {
      const matches = stored.filter((s) => sameShape(flat, s.flat)).map((s) => s.seconds);
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
