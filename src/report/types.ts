/**
 * The report model's types and its table of figures (what a condition, a comparison, a finding and
 * a claim check are), and the plug-in a caller passes to compare the runs with published figures
 * (`ReferenceComparison`). Shared by the model (./model.ts), its renderers and the comparisons
 * that implement the plug-in (the paper's: study/claims.ts).
 */
import type { RunError, RunStatus } from "../store/runs.js";
import type { StoredFigure, StoredMetrics } from "../store/metrics.js";
import type { Reference, ReferenceRun } from "./reference.js";
import type { Effect, Summary } from "../util/stats.js";

/** One run as the report sees it. */
export interface ReportRun {
  id: string;
  label: string | null;
  status: RunStatus;
  createdAt: string;
  sweepId: string | null;
  /** Sweep groups the run was planned in. */
  groups: string[];
  /** The resolved config stored with the run. */
  config: Record<string, unknown>;
  /** Decoded by the store (store/metrics.ts). */
  metrics: StoredMetrics | null;
  error: RunError | null;
  device: { kind: string; name: string } | null;
  libraries: Record<string, string | null> | null;
  /** Loss by step (all steps, warmup included). */
  losses: { step: number; loss: number }[];
}

export const METRICS = {
  realTokensPerSecond: { label: "real tokens/s", unit: "tokens/s" },
  processedTokensPerSecond: { label: "processed tokens/s", unit: "tokens/s" },
  secondsPer10kRealTokens: { label: "s / 10k real tokens", unit: "s" },
  peakAllocatedBytes: { label: "peak allocated", unit: "bytes" },
  peakReservedBytes: { label: "peak reserved", unit: "bytes" },
  peakProcessBytes: { label: "peak process (NVML)", unit: "bytes" },
  peakDeviceBytes: { label: "peak device (NVML)", unit: "bytes" },
  joulesPerRealToken: { label: "J / real token", unit: "J/token" },
  joulesPerProcessedToken: { label: "J / processed token", unit: "J/token" },
  paperMethodJoulesPerToken: { label: "study's method J/token", unit: "J/token" },
  mfu: { label: "MFU", unit: "fraction" },
  hfu: { label: "HFU", unit: "fraction" },
} as const satisfies Partial<Record<StoredFigure, { label: string; unit: string }>>;
export type MetricName = keyof typeof METRICS;
export const MEMORY_METRICS = [
  "peakReservedBytes",
  "peakAllocatedBytes",
  "peakProcessBytes",
  "peakDeviceBytes",
] as const;
export type MemoryMetric = (typeof MEMORY_METRICS)[number];

/** A run's figure, as the store decoded it (telemetry headlines lifted, J/processed token derived). */
export function runMetric(run: ReportRun, name: MetricName): number | null {
  const v = run.metrics?.[name] ?? null;
  return v !== null && Number.isFinite(v) ? v : null;
}

/** Memory at failure (OOM rows): the engine's snapshot, largest figure it has. */
export function memoryAtFailure(run: ReportRun): number | null {
  const m = run.error?.memory;
  if (!m) return null;
  const order = [
    "peakReservedBytes",
    "reservedBytes",
    "peakAllocatedBytes",
    "allocatedBytes",
    "deviceUsedBytes",
  ];
  for (const k of order) {
    const v = m[k];
    if (typeof v === "number") return v;
  }
  return null;
}

export interface Condition {
  key: string;
  /** Name from the settings that vary in this report, e.g. "paged_adamw_8bit · fp16 · batch 2 × seq 2048". */
  label: string;
  /** The same, compact, for chart labels: "paged_adamw_8bit · fp16 · 2×2048". */
  shortLabel: string;
  /** Flattened settings (dotted path → canonical JSON). */
  settings: Record<string, string>;
  config: Record<string, unknown>;
  runs: ReportRun[];
  completed: ReportRun[];
  counts: Partial<Record<RunStatus, number>>;
  stats: Partial<Record<MetricName, Summary>>;
  /** Peak memory of OOM runs at failure. */
  oomMemoryBytes: number | null;
  /** Reference run this condition reproduces, when one matches. */
  referenceId: string | null;
  groups: string[];
  budgetBytes: number | null;
}

export interface FactorLevel {
  /** Display value, e.g. "paged_adamw_8bit" or "2×2048". */
  value: string;
  condition: Condition;
}

export interface LevelEffect {
  level: string;
  real: Effect | null;
  processed: Effect | null;
  memory: Effect | null;
  energy: Effect | null;
}

export interface Comparison {
  factor: string;
  fields: string[];
  /** The settings held fixed that vary elsewhere in the report, e.g. "paged_adamw_8bit · fp16". */
  context: string;
  levels: FactorLevel[];
  /** Effects of each level against the first (the baseline). */
  effects: LevelEffect[];
  memoryMetric: MemoryMetric | null;
}

export interface Finding {
  kind: "effect" | "noise" | "insufficient" | "range" | "oom" | "claim";
  factor: string;
  text: string;
}

export interface PairAttribution {
  factor: string;
  from: string;
  to: string;
  /** The two conditions that differ in this factor only, or null when the data has none. */
  pair: { from: Condition; to: Condition } | null;
  real: Effect | null;
  processed: Effect | null;
}

export interface ClaimCheck {
  kind: "throughput" | "memory" | "energy" | "other";
  claim: string;
  from: ReferenceRun | null;
  to: ReferenceRun | null;
  published: { from: number; to: number; ratio: number } | null;
  /** Factors the published comparison changes at once. */
  changed: { factor: string; from: string; to: string }[];
  /** The factor the claim credits (from its wording), when one is named. */
  claimedFactor: string | null;
  measured: { real: Effect | null; processed: Effect | null } | null;
  attribution: PairAttribution[];
  /** Why the two published configurations were not both measured (e.g. one ran out of memory); null when they were. */
  unmeasured?: string | null;
  verdict:
    "supported" | "contradicted" | "confounded" | "not distinguishable from noise" | "untested" | "compared";
  /** One sentence: what decides the verdict, with its numbers. */
  summary: string;
  /** Everything behind it, with every number. */
  explanation: string;
}

export interface StudyRow {
  reference: ReferenceRun;
  condition: Condition | null;
}

/** One figure of one configuration: the planner's prediction beside the median of its completed runs. */
export interface PredictedRow {
  condition: string;
  /** Completed runs behind `measured`. */
  runs: number;
  metric: string;
  predicted: number;
  measured: number;
}

/**
 * How a report compares its conditions with a published reference: which condition reproduces each
 * reference run, how the reference's claims hold up, and the findings those checks give. The report
 * owns the interface and calls it; a study implements it (the paper's: study/claims.ts
 * `paperComparison`) and its callers pass it in with the reference.
 */
export interface ReferenceComparison {
  /** One row per reference run, with the condition that reproduces it (null when none does). */
  match(conditions: Condition[], reference: Reference): StudyRow[];
  /** Each published claim checked against the matched conditions. */
  check(reference: Reference, conditions: Condition[], matched: StudyRow[]): ClaimCheck[];
  /** The findings the claim checks give, listed first in the report. */
  findings(claims: ClaimCheck[]): Finding[];
}

export interface ReportModel {
  title: string;
  generatedAt: string;
  sources: { sweeps: { id: string; name: string }[]; runs: string[] };
  runs: ReportRun[];
  conditions: Condition[];
  /** Settings that vary across conditions (dotted). */
  varying: string[];
  comparisons: Comparison[];
  findings: Finding[];
  reference: Reference | null;
  study: StudyRow[];
  claims: ClaimCheck[];
  predicted: PredictedRow[];
  environment: { devices: string[]; weights: string[]; libraries: Record<string, string> };
  notes: string[];
}
