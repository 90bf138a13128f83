/**
 * Issue 13's tune check: `loraprof tune --top 2` against an exhaustive sweep (`tune --all`) of the same
 * space. Shared by bench/plan-holdout.ts (which measures both, possibly over several device calls) and
 * bench/plan-accuracy.ts (which reports them from the committed result files).
 */
import type { Json } from "./common.js";

/** One `tune` invocation as plan-holdout.ts records it (`out` is tune's --json, null when cut). */
export interface TunePart {
  name?: string;
  wallSeconds: number;
  out: Json | null;
  storedRuns?: Json[] | null;
}

const measured = (part: TunePart | null): Json[] =>
  (part?.out?.results ?? part?.storedRuns ?? []).filter(
    (r: Json) => typeof r.measuredRealTokensPerSecond === "number",
  );

/** The winner beside the exhaustive best, both configurations shown, and the wall-time ratio. */
export function tuneSummary(tune: TunePart | null, exhaustive: TunePart | null) {
  const winner = tune?.out?.winner ?? null;
  const candidates = measured(exhaustive);
  const best = candidates.reduce(
    (b: Json, r: Json) => (!b || r.measuredRealTokensPerSecond > b.measuredRealTokensPerSecond ? r : b),
    null,
  );
  const considered = exhaustive?.out?.considered ?? null;
  // Complete: tune --all returned its JSON with no candidate left pending.
  const exhaustiveComplete =
    exhaustive?.out != null && (exhaustive.out.results ?? []).every((r: Json) => r.status !== "pending");
  const picked = winner?.measuredRealTokensPerSecond ?? null;
  const bestTps = best?.measuredRealTokensPerSecond ?? null;
  return {
    tuneWinnerRealTokensPerSecond: picked,
    tuneWinnerSettings: winner?.settings ?? null,
    exhaustiveBestRealTokensPerSecond: bestTps,
    exhaustiveBestSettings: best?.settings ?? null,
    exhaustiveMeasured: candidates.length,
    exhaustiveConsidered: considered,
    withinPct: picked && bestTps ? (100 * (bestTps - picked)) / bestTps : null,
    tuneSeconds: tune?.wallSeconds ?? null,
    exhaustiveSeconds: exhaustive?.wallSeconds ?? null,
    timeRatio: tune && exhaustive?.wallSeconds ? tune.wallSeconds / exhaustive.wallSeconds : null,
    exhaustiveComplete,
  };
}
