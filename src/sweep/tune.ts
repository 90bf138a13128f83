/**
 * `loraprof tune`: the planner's top candidates, measured. The candidates become a sweep (stored
 * like any other: every outcome a row, an OOM a data point, resumable), each run short (a few
 * steps after a warmup); the fastest completed run's settings, merged into the user's own config,
 * are the config file `run --config` takes. Pure parts here; the CLI runs the sweep.
 */
import type { RunConfig } from "../config/schema.js";
import type { Candidate } from "../plan/recommend.js";
import { settingsToConfig } from "../plan/recommend.js";
import { cudaOnlySettings } from "../config/device.js";
import { canonicalJson } from "../config/identity.js";
import type { SweepSpec } from "./spec.js";

/** Steps of a tune run: enough for a steady rate after the warmup, few enough to try several configurations. */
export const TUNE_STEPS = 12;
export const TUNE_WARMUP_STEPS = 4;
export const DEFAULT_TUNE_TOP = 4;

export interface TuneCandidate {
  rank: number;
  candidate: Candidate;
  /** The RunConfig fields the candidate sets. */
  settings: Record<string, unknown>;
}

/**
 * The first `top` ranked candidates this machine can run (no CUDA-only setting on a CPU run),
 * each a distinct run configuration.
 */
export function pickCandidates(
  base: RunConfig,
  ranked: readonly Candidate[],
  top: number,
  opts: { cpu: boolean },
): TuneCandidate[] {
  const out: TuneCandidate[] = [];
  const seen = new Set<string>();
  for (const [i, c] of ranked.entries()) {
    if (out.length >= top) break;
    const settings = settingsToConfig(c.settings);
    const config = mergeSettings(base, settings);
    if (opts.cpu && cudaOnlySettings(config).length > 0) continue;
    const key = canonicalJson(settings);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ rank: i + 1, candidate: c, settings });
  }
  return out;
}

export function mergeSettings(base: RunConfig, settings: Record<string, unknown>): RunConfig {
  const opt = settings["optimizer"] as { name?: string } | undefined;
  const lora = settings["lora"] as Partial<RunConfig["lora"]> | undefined;
  return {
    ...base,
    ...settings,
    optimizer: { ...base.optimizer, ...(opt ?? {}) },
    lora: { ...base.lora, ...(lora ?? {}) },
  } as RunConfig;
}

/** The sweep that measures the candidates: the user's config as the base, one explicit run per candidate. */
export function tuneSweepSpec(
  name: string,
  base: RunConfig,
  candidates: readonly TuneCandidate[],
): SweepSpec {
  const { label: _label, ...doc } = base as RunConfig & { label?: unknown };
  return {
    name,
    description: `loraprof tune: the planner's top ${candidates.length} candidates, measured`,
    base: doc as Record<string, unknown>,
    runs: candidates.map((c) => c.settings),
    repeats: 1,
  };
}

export interface TuneResult {
  rank: number;
  settings: Record<string, unknown>;
  predictedRealTokensPerSecond: number | null;
  predictedDevicePeakBytes: number;
  status: string;
  runId: string | null;
  measuredRealTokensPerSecond: number | null;
  measuredDevicePeakBytes: number | null;
}

/** The fastest completed candidate, or null when none completed. */
export function tuneWinner(results: readonly TuneResult[]): TuneResult | null {
  let best: TuneResult | null = null;
  for (const r of results) {
    if (r.status !== "completed" || r.measuredRealTokensPerSecond === null) continue;
    if (!best || r.measuredRealTokensPerSecond > best.measuredRealTokensPerSecond!) best = r;
  }
  return best;
}

/** The config file to write: the user's config with the winner's settings (their own steps kept). */
export function winningConfig(base: RunConfig, winner: TuneResult): RunConfig {
  return mergeSettings(base, winner.settings);
}
