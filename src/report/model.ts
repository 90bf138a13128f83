/**
 * The report's data model, built from runs alone (pure: no store, no I/O). Runs with the same
 * settings (label, preset tag and GPU index aside) form a **condition**; a **comparison** is a set
 * of conditions that differ in one factor only (found from the data, not from how the sweep was
 * labelled); every comparison yields effects with intervals (see ./stats.ts) and findings whose
 * text is filled from those numbers. Published figures, when given, are matched to conditions and
 * their comparisons checked, confounded ones attributed factor by factor to controlled pairs.
 *
 * HTML and Markdown are renderers of this model (./html.ts, ./markdown.ts).
 */
import { parseByteSize } from "../config/schema.js";
import { PRESETS } from "../config/presets.js";
import type { PresetName } from "../config/schema.js";
import type { RunError, RunStatus } from "../store/runs.js";
import type { StoredFigure, StoredMetrics } from "../store/metrics.js";
import { canonicalJson, flattenConfig, normalizedConfig } from "../config/identity.js";
import { fmtEffect, fmtGiB, fmtNumber, fmtRatio, fmtSig, fmtWithInterval } from "./format.js";
import { REFERENCE_FIELDS, type Reference, type ReferenceRun } from "./reference.js";
import {
  differenceEffect,
  median,
  ratioEffect,
  summarize,
  type Effect,
  type Summary,
} from "../util/stats.js";

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
function runMetric(run: ReportRun, name: MetricName): number | null {
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

const parseSetting = (s: string | undefined): unknown => (s === undefined ? undefined : JSON.parse(s));
const show = (s: string | undefined): string => {
  const v = parseSetting(s);
  return typeof v === "string" ? v : JSON.stringify(v);
};

/** Factors: named groups of settings. Batch and sequence length form one factor (the shape grid). */
const FACTOR_NAMES: Record<string, string> = {
  "optimizer.name": "optimizer",
  precision: "precision",
  padding: "padding",
  "batchSize,seqLen": "batch × sequence",
  batchSize: "batch size",
  seqLen: "sequence length",
  gradCheckpointing: "gradient checkpointing",
  method: "method",
  "lora.r": "LoRA rank",
};
const FACTOR_ORDER = ["optimizer.name", "precision", "batchSize,seqLen", "batchSize", "seqLen", "padding"];

function describeLevel(fields: string[], settings: Record<string, string>): string {
  if (fields.join(",") === "batchSize,seqLen")
    return `${show(settings["batchSize"])}×${show(settings["seqLen"])}`;
  return fields.map((f) => show(settings[f])).join(" · ");
}

/**
 * Settings that never enter a configuration's name: how often the engine flushes its events does
 * not change what is measured (and a label full of them is unreadable in a chart).
 */
const UNNAMED_FIELDS = new Set(["logEverySteps"]);

/** A setting's value as a name: a dataset file by its file name, no subset as "all". */
function showSetting(field: string, settings: Record<string, string>): string {
  const v = parseSetting(settings[field]);
  if (field === "dataset" && typeof v === "string" && /[\\/]/.test(v)) return v.split(/[\\/]/).pop() ?? v;
  if (field === "subset" && v === null) return "all";
  return show(settings[field]);
}

function describeSettings(fields: string[], settings: Record<string, string>, compact = false): string {
  const parts: string[] = [];
  const rest = fields.filter(
    (f) => f !== "batchSize" && f !== "seqLen" && !UNNAMED_FIELDS.has(f) && settings[f] !== undefined,
  );
  const hasB = fields.includes("batchSize");
  const hasS = fields.includes("seqLen");
  for (const f of rest) {
    const v = showSetting(f, settings);
    parts.push(["optimizer.name", "precision", "padding", "method", "device"].includes(f) ? v : `${f}=${v}`);
  }
  if (hasB && hasS) {
    parts.push(
      compact
        ? `${show(settings["batchSize"])}×${show(settings["seqLen"])}`
        : `batch ${show(settings["batchSize"])} × seq ${show(settings["seqLen"])}`,
    );
  } else if (hasB) parts.push(`batch ${show(settings["batchSize"])}`);
  else if (hasS) parts.push(`seq ${show(settings["seqLen"])}`);
  return parts.join(" · ");
}

function budgetOf(config: Record<string, unknown>): number | null {
  const b = config["vramBudget"];
  if (typeof b === "number" || typeof b === "string") {
    try {
      return parseByteSize(b);
    } catch {
      return null;
    }
  }
  return null;
}

function buildConditions(runs: ReportRun[]): { conditions: Condition[]; varying: string[] } {
  const byKey = new Map<
    string,
    { settings: Record<string, string>; config: Record<string, unknown>; runs: ReportRun[] }
  >();
  for (const r of [...runs].sort((a, b) => a.createdAt.localeCompare(b.createdAt))) {
    const norm = normalizedConfig(r.config);
    const key = canonicalJson(norm);
    const c = byKey.get(key) ?? { settings: flattenConfig(norm), config: norm, runs: [] };
    c.runs.push(r);
    byKey.set(key, c);
  }
  const all = [...byKey.values()];
  const fields = new Set(all.flatMap((c) => Object.keys(c.settings)));
  const varying = [...fields]
    // syntheticRecords, dropped from file datasets' configs above, varies only when two synthetic
    // configurations give it different values (the dataset already tells synthetic from a file).
    .filter(
      (f) =>
        new Set(all.map((c) => c.settings[f]).filter((v) => f !== "syntheticRecords" || v !== undefined))
          .size > 1,
    )
    .sort(orderFields);
  const conditions = all.map((c, i): Condition => {
    const completed = c.runs.filter((r) => r.status === "completed");
    const stats: Partial<Record<MetricName, Summary>> = {};
    for (const m of Object.keys(METRICS) as MetricName[]) {
      const s = summarize(completed.map((r) => runMetric(r, m)).filter((v): v is number => v !== null));
      if (s) stats[m] = s;
    }
    const counts: Partial<Record<RunStatus, number>> = {};
    for (const r of c.runs) counts[r.status] = (counts[r.status] ?? 0) + 1;
    const ooms = c.runs
      .filter((r) => r.status === "oom")
      .map(memoryAtFailure)
      .filter((v): v is number => v !== null);
    return {
      key: `c${i + 1}`,
      label: describeSettings(varying, c.settings) || "all runs",
      shortLabel: describeSettings(varying, c.settings, true) || "all runs",
      settings: c.settings,
      config: c.config,
      runs: c.runs,
      completed,
      counts,
      stats,
      oomMemoryBytes: ooms.length ? Math.max(...ooms) : null,
      referenceId: null,
      groups: [...new Set(c.runs.flatMap((r) => r.groups))],
      budgetBytes: budgetOf(c.config),
    };
  });
  // Settings left out of names can leave two configurations with one name: number them apart.
  const byLabel = new Map<string, Condition[]>();
  for (const c of conditions) byLabel.set(c.label, [...(byLabel.get(c.label) ?? []), c]);
  for (const same of byLabel.values()) {
    if (same.length < 2) continue;
    same.forEach((c, i) =>
      Object.assign(c, { label: `${c.label} (${i + 1})`, shortLabel: `${c.shortLabel} (${i + 1})` }),
    );
  }
  return { conditions, varying };
}

function orderFields(a: string, b: string): number {
  const ia = FACTOR_ORDER.indexOf(a);
  const ib = FACTOR_ORDER.indexOf(b);
  if (ia !== -1 || ib !== -1) return (ia === -1 ? 99 : ia) - (ib === -1 ? 99 : ib);
  return a.localeCompare(b);
}

/** The first memory figure that completed runs of these conditions report. */
export function chooseMemoryMetric(conditions: Condition[]): MemoryMetric | null {
  for (const m of MEMORY_METRICS) if (conditions.some((c) => c.stats[m])) return m;
  return null;
}

const valuesOf = (c: Condition, m: MetricName): number[] => c.stats[m]?.values ?? [];

function levelOrder(fields: string[]) {
  return (a: FactorLevel, b: FactorLevel): number => {
    for (const f of fields) {
      const va = parseSetting(a.condition.settings[f]);
      const vb = parseSetting(b.condition.settings[f]);
      if (typeof va === "number" && typeof vb === "number" && va !== vb) return va - vb;
    }
    return 0;
  };
}

function buildComparisons(conditions: Condition[], varying: string[]): Comparison[] {
  const factors: string[][] = [];
  const single = varying.filter(
    (f) =>
      !(f === "batchSize" || f === "seqLen") ||
      !(varying.includes("batchSize") && varying.includes("seqLen")),
  );
  if (varying.includes("batchSize") && varying.includes("seqLen")) factors.push(["batchSize", "seqLen"]);
  for (const f of single) factors.push([f]);
  factors.sort((a, b) => orderFields(a.join(","), b.join(",")));
  const out: Comparison[] = [];
  for (const fields of factors) {
    const others = varying.filter((v) => !fields.includes(v));
    const cells = new Map<string, Condition[]>();
    for (const c of conditions) {
      if (c.runs.length === 0) continue;
      const k = others.map((o) => c.settings[o] ?? "").join("\u0000");
      cells.set(k, [...(cells.get(k) ?? []), c]);
    }
    for (const members of cells.values()) {
      if (members.length < 2) continue;
      const levels = members.map((c) => ({ value: describeLevel(fields, c.settings), condition: c }));
      levels.sort(levelOrder(fields));
      const memoryMetric = chooseMemoryMetric(members);
      const base = levels[0]!.condition;
      const effects = levels.slice(1).map((l): LevelEffect => ({
        level: l.value,
        real: ratioEffect(
          valuesOf(base, "realTokensPerSecond"),
          valuesOf(l.condition, "realTokensPerSecond"),
        ),
        processed: ratioEffect(
          valuesOf(base, "processedTokensPerSecond"),
          valuesOf(l.condition, "processedTokensPerSecond"),
        ),
        memory: memoryMetric
          ? differenceEffect(valuesOf(base, memoryMetric), valuesOf(l.condition, memoryMetric))
          : null,
        energy: ratioEffect(
          valuesOf(base, "joulesPerRealToken"),
          valuesOf(l.condition, "joulesPerRealToken"),
        ),
      }));
      out.push({
        factor: FACTOR_NAMES[fields.join(",")] ?? fields.join(" × "),
        fields,
        context: describeSettings(others, members[0]!.settings),
        levels,
        effects,
        memoryMetric,
      });
    }
  }
  return out;
}

/** "3/3 runs, 7.73 GiB at failure": how often a configuration ran out of memory, and at what. */
function oomRuns(c: Condition): string {
  return `${c.counts.oom}/${c.runs.length} runs${c.oomMemoryBytes ? `, ${fmtGiB(c.oomMemoryBytes)} at failure` : ""}`;
}

/** " (7.73 GiB at failure)", or nothing when the memory at failure is unknown. */
const atFailure = (c: Condition): string =>
  c.oomMemoryBytes ? ` (${fmtGiB(c.oomMemoryBytes)} at failure)` : "";

function verdictText(e: Effect | null, what: string): { kind: Finding["kind"]; text: string } {
  if (!e) return { kind: "insufficient", text: `${what}: not measured` };
  if (e.distinguishable === null) {
    return {
      kind: "insufficient",
      text: `${what} ${fmtEffect(e)}; repeat the runs (≥ 3) to tell it from noise`,
    };
  }
  if (!e.distinguishable)
    return { kind: "noise", text: `${what} ${fmtEffect(e)}: not distinguishable from noise` };
  return { kind: "effect", text: `${what} ${fmtEffect(e)}` };
}

const memoryLabel = (m: MemoryMetric | null) => (m ? METRICS[m].label : "peak memory");

function comparisonFindings(c: Comparison): Finding[] {
  const base = c.levels[0]!;
  const where = c.context ? ` (${c.context})` : "";
  const findings: Finding[] = [];
  if (c.levels.length <= 4) {
    for (const e of c.effects) {
      const level = c.levels.find((l) => l.value === e.level);
      const ran = (l: typeof base) => l.condition.completed.length > 0;
      if (level && (!ran(base) || !ran(level))) {
        // One side never completed: no throughput effect to give. When the other fits, that is the finding.
        const [fits, fails] = ran(base) ? [base, level] : ran(level) ? [level, base] : [null, null];
        if (fits && fails?.condition.counts.oom) {
          const peak = fits.condition.stats.peakDeviceBytes ?? fits.condition.stats.peakReservedBytes;
          const failed = fails.condition;
          findings.push({
            kind: "oom",
            factor: c.factor,
            text: `${c.factor}${where}: ${fits.value} fits where ${fails.value} runs out of memory: ${fits.value} ${fits.condition.completed.length}/${fits.condition.runs.length} completed${peak ? ` (peak ${peak === fits.condition.stats.peakDeviceBytes ? "device" : "reserved"} ${fmtGiB(peak.median)})` : ""}; ${fails.value} ${failed.counts.oom}/${failed.runs.length} out of memory${atFailure(failed)}.`,
          });
        }
        continue;
      }
      const real = verdictText(e.real, "real tokens/s");
      const parts = [real.text];
      if (
        e.processed &&
        e.processed.distinguishable !== null &&
        e.real &&
        Math.abs(Math.log(e.processed.estimate / e.real.estimate)) > 0.02
      ) {
        parts.push(`processed tokens/s ${fmtEffect(e.processed)}`);
      }
      if (e.memory) {
        parts.push(
          e.memory.distinguishable === false || (e.memory.distinguishable === null && e.memory.estimate === 0)
            ? `${memoryLabel(c.memoryMetric)} unchanged within noise`
            : `${memoryLabel(c.memoryMetric)} ${fmtEffect(e.memory)}`,
        );
      }
      if (e.energy) parts.push(`J/real token ${fmtEffect(e.energy)}`);
      findings.push({
        kind: real.kind,
        factor: c.factor,
        text: `${c.factor}: ${e.level} vs ${base.value}${where}, n = ${e.real?.nB ?? 0} vs ${e.real?.nA ?? 0}: ${parts.join("; ")}.`,
      });
    }
  } else {
    const withRate = c.levels.filter((l) => l.condition.stats.realTokensPerSecond);
    if (withRate.length >= 2) {
      const sorted = [...withRate].sort(
        (a, b) =>
          a.condition.stats.realTokensPerSecond!.median - b.condition.stats.realTokensPerSecond!.median,
      );
      const lo = sorted[0]!;
      const hi = sorted[sorted.length - 1]!;
      const e = ratioEffect(
        valuesOf(lo.condition, "realTokensPerSecond"),
        valuesOf(hi.condition, "realTokensPerSecond"),
      );
      const sortedP = [...withRate]
        .filter((l) => l.condition.stats.processedTokensPerSecond)
        .sort(
          (a, b) =>
            a.condition.stats.processedTokensPerSecond!.median -
            b.condition.stats.processedTokensPerSecond!.median,
        );
      const p =
        sortedP.length >= 2
          ? `; processed tokens/s from ${fmtNumber(sortedP[0]!.condition.stats.processedTokensPerSecond!.median)} (${sortedP[0]!.value}) to ${fmtNumber(sortedP[sortedP.length - 1]!.condition.stats.processedTokensPerSecond!.median)} (${sortedP[sortedP.length - 1]!.value})`
          : "";
      const v = verdictText(e, "");
      findings.push({
        kind: v.kind === "effect" ? "range" : v.kind,
        factor: c.factor,
        text: `${c.factor}${where}: real tokens/s from ${fmtNumber(lo.condition.stats.realTokensPerSecond!.median)} (${lo.value}) to ${fmtNumber(hi.condition.stats.realTokensPerSecond!.median)} (${hi.value}), highest vs lowest${v.text}${p}.`,
      });
    }
  }
  const oom = c.levels.filter((l) => (l.condition.counts.oom ?? 0) > 0);
  if (oom.length) {
    const budget = oom[0]!.condition.budgetBytes;
    findings.push({
      kind: "oom",
      factor: c.factor,
      text: `${c.factor}${where}: out of memory at ${oom.map((l) => `${l.value} (${oomRuns(l.condition)})`).join(", ")}${budget ? ` under the ${fmtGiB(budget, 1)} budget` : ""}.`,
    });
  }
  return findings;
}

// ---- the fast recipe beside the reference ----------------------------------------------------

/** What makes two runs "the same shape" when one ran the fast recipe and the other the reference. */
const SHAPE_FIELDS = [
  "method",
  "batchSize",
  "seqLen",
  "optimizer.name",
  "precision",
  "gradCheckpointing",
  "model",
];

/**
 * The study's fast arm, side by side with the reference at each shape both ran: the same card budget,
 * N× the real tokens/s, and the device peak of each. Then the fastest completed configuration of each
 * recipe under the report's budget. A condition's recipe is its `recipe` setting (reference when absent).
 */
function fastArmFindings(conditions: Condition[]): Finding[] {
  const recipe = (c: Condition) => String(parseSetting(c.settings["recipe"]) ?? "reference");
  const ran = (c: Condition) => c.completed.length > 0 && c.stats.realTokensPerSecond !== undefined;
  const fast = conditions.filter((c) => recipe(c) === "fast" && ran(c));
  const reference = conditions.filter((c) => recipe(c) === "reference" && ran(c));
  if (fast.length === 0 || reference.length === 0) return [];
  const peak = (c: Condition) => c.stats.peakDeviceBytes?.median ?? c.stats.peakReservedBytes?.median ?? null;
  const budget = (c: Condition) => (c.budgetBytes ? ` under the ${fmtGiB(c.budgetBytes, 1)} budget` : "");
  const findings: Finding[] = [];
  for (const f of fast) {
    const same = reference.filter((r) => SHAPE_FIELDS.every((k) => r.settings[k] === f.settings[k]));
    for (const r of same) {
      const e = ratioEffect(valuesOf(r, "realTokensPerSecond"), valuesOf(f, "realTokensPerSecond"));
      const v = verdictText(e, "real tokens/s");
      findings.push({
        kind: v.kind,
        factor: "recipe",
        text: `recipe: fast vs reference at ${describeSettings(SHAPE_FIELDS.slice(1, 6), f.settings)} (reference ${show(r.settings["padding"])} padding)${budget(f)}: ${v.text}; peak device ${fmtGiB(peak(f))} vs ${fmtGiB(peak(r))}.`,
      });
    }
  }
  const best = (cs: Condition[]) =>
    cs.reduce((a, b) => (b.stats.realTokensPerSecond!.median > a.stats.realTokensPerSecond!.median ? b : a));
  const bf = best(fast);
  const br = best(reference);
  const e = ratioEffect(valuesOf(br, "realTokensPerSecond"), valuesOf(bf, "realTokensPerSecond"));
  findings.push({
    kind: verdictText(e, "").kind === "effect" ? "range" : verdictText(e, "").kind,
    factor: "recipe",
    text: `fastest configuration of each recipe${budget(bf)}: fast ${bf.label} at ${fmtNumber(bf.stats.realTokensPerSecond!.median)} real tokens/s (peak device ${fmtGiB(peak(bf))}) vs reference ${br.label} at ${fmtNumber(br.stats.realTokensPerSecond!.median)} (${fmtGiB(peak(br))}): ${fmtEffect(e)}.`,
  });
  return findings;
}

// ---- the published study --------------------------------------------------------------------

const REF_FACTORS: { factor: string; refFields: string[]; keywords: RegExp }[] = [
  { factor: "optimizer", refFields: ["optimizer"], keywords: /optimi[sz]er|adamw|paged/i },
  { factor: "precision", refFields: ["precision"], keywords: /\b(bf16|fp16|fp32|precision)\b/i },
  {
    factor: "batch × sequence",
    refFields: ["batch_size", "seq_len"],
    keywords: /\bbatch|seq(uence)?[ _]?len/i,
  },
];

function refValue(run: ReferenceRun, field: string): string | null {
  const v = (run as Record<string, unknown>)[field];
  return v === undefined || v === null ? null : canonicalJson(v);
}

function describeRef(run: ReferenceRun, refFields: string[]): string {
  if (refFields.join(",") === "batch_size,seq_len") return `${run.batch_size}×${run.seq_len}`;
  return refFields.map((f) => String((run as Record<string, unknown>)[f])).join(" · ");
}

/** Settings that say how long a run is and what it reads, not which configuration it measures. */
const NOT_RECIPE = new Set([
  "preset",
  "steps",
  "warmupSteps",
  "dataset",
  "subset",
  "subsetMode",
  "weights",
  "seed",
  "device",
  "logEverySteps",
]);

/** How well a condition reproduces a reference run: all mapped fields must match; the preset wins ties. */
function matchScore(c: Condition, run: ReferenceRun): number {
  for (const [rf, cf] of Object.entries(REFERENCE_FIELDS)) {
    const rv = refValue(run, rf);
    if (rv !== null && c.settings[cf] !== rv) return -1;
  }
  let score = 0;
  const presetName = `paper-${run.id}` as PresetName;
  const tags = new Set(c.runs.map((r) => r.config["preset"]));
  if (tags.has(presetName)) score += 2;
  const preset = PRESETS[presetName];
  if (preset) {
    // The preset's training recipe (padding, LoRA, quantization, ...); how long it runs and on which
    // data or weights do not make it another configuration.
    const flat = flattenConfig(preset.config);
    const exact = Object.entries(flat).every(
      ([k, v]) => NOT_RECIPE.has(k) || c.settings[k] === undefined || c.settings[k] === v,
    );
    if (exact) score += 4;
  }
  return score + Math.min(c.completed.length, 9) / 10;
}

function matchReference(conditions: Condition[], reference: Reference): StudyRow[] {
  return reference.runs.map((run) => {
    let best: Condition | null = null;
    let bestScore = -1;
    for (const c of conditions) {
      const s = matchScore(c, run);
      if (s > bestScore) {
        best = c;
        bestScore = s;
      }
    }
    if (best && bestScore >= 0 && best.referenceId === null) best.referenceId = run.id;
    return { reference: run, condition: bestScore >= 0 ? best : null };
  });
}

/** Two completed conditions that differ only in `fields`, with the given values, closest to the reference runs. */
function controlledPair(
  conditions: Condition[],
  fields: string[],
  fromValues: string[],
  toValues: string[],
  prefer: ReferenceRun[],
): { from: Condition; to: Condition } | null {
  const has = (c: Condition, vals: string[]) =>
    fields.every((f, i) => c.settings[f] === vals[i]) && c.completed.length > 0;
  const xs = conditions.filter((c) => has(c, fromValues));
  const ys = conditions.filter((c) => has(c, toValues));
  let best: { from: Condition; to: Condition } | null = null;
  let bestScore = -Infinity;
  for (const x of xs) {
    for (const y of ys) {
      const keys = new Set([...Object.keys(x.settings), ...Object.keys(y.settings)]);
      const same = [...keys].every((k) => fields.includes(k) || x.settings[k] === y.settings[k]);
      if (!same) continue;
      // Prefer pairs whose other settings match the reference runs' (a path from one run to the other).
      let score = 0;
      for (const [rf, cf] of Object.entries(REFERENCE_FIELDS)) {
        if (fields.includes(cf)) continue;
        if (prefer.some((p) => refValue(p, rf) === x.settings[cf])) score++;
      }
      score += Math.min(x.completed.length, y.completed.length) / 100;
      if (score > bestScore) {
        best = { from: x, to: y };
        bestScore = score;
      }
    }
  }
  return best;
}

const claimProper = (text: string) => text.split(/\s+--\s+/)[0] ?? text;

function throughputClaim(
  text: string,
  from: ReferenceRun,
  to: ReferenceRun,
  conditions: Condition[],
  rows: StudyRow[],
): ClaimCheck {
  const published = {
    from: from.tokens_per_s!,
    to: to.tokens_per_s!,
    ratio: to.tokens_per_s! / from.tokens_per_s!,
  };
  const changed = REF_FACTORS.filter((f) =>
    f.refFields.some((rf) => refValue(from, rf) !== refValue(to, rf)),
  ).map((f) => ({
    factor: f.factor,
    from: describeRef(from, f.refFields),
    to: describeRef(to, f.refFields),
  }));
  const proper = claimProper(text);
  const named = REF_FACTORS.filter(
    (f) => changed.some((c) => c.factor === f.factor) && f.keywords.test(proper),
  );
  const claimedFactor = named.length === 1 ? named[0]!.factor : null;
  const cFrom = rows.find((r) => r.reference.id === from.id)?.condition ?? null;
  const cTo = rows.find((r) => r.reference.id === to.id)?.condition ?? null;
  const unmeasured = (
    [
      [from, cFrom],
      [to, cTo],
    ] as const
  )
    .map(([ref, c]) => (c && c.completed.length ? null : `${ref.id} ${notMeasuredWhy(c)}`))
    .filter((x): x is string => x !== null)
    .join("; ");
  const measured =
    cFrom?.completed.length && cTo?.completed.length
      ? {
          real: ratioEffect(valuesOf(cFrom, "realTokensPerSecond"), valuesOf(cTo, "realTokensPerSecond")),
          processed: ratioEffect(
            valuesOf(cFrom, "processedTokensPerSecond"),
            valuesOf(cTo, "processedTokensPerSecond"),
          ),
        }
      : null;
  const attribution: PairAttribution[] = changed.map((ch) => {
    const f = REF_FACTORS.find((x) => x.factor === ch.factor)!;
    const cfs = f.refFields.map((rf) => REFERENCE_FIELDS[rf]!);
    const pair = controlledPair(
      conditions,
      cfs,
      f.refFields.map((rf) => refValue(from, rf) ?? ""),
      f.refFields.map((rf) => refValue(to, rf) ?? ""),
      [from, to],
    );
    return {
      factor: ch.factor,
      from: ch.from,
      to: ch.to,
      pair,
      real: pair
        ? ratioEffect(valuesOf(pair.from, "realTokensPerSecond"), valuesOf(pair.to, "realTokensPerSecond"))
        : null,
      processed: pair
        ? ratioEffect(
            valuesOf(pair.from, "processedTokensPerSecond"),
            valuesOf(pair.to, "processedTokensPerSecond"),
          )
        : null,
    };
  });
  const { verdict, summary, explanation } = judgeThroughput(
    published,
    changed,
    claimedFactor,
    measured,
    attribution,
    unmeasured || null,
  );
  return {
    kind: "throughput",
    claim: text,
    from,
    to,
    published,
    changed,
    claimedFactor,
    measured,
    attribution,
    unmeasured: unmeasured || null,
    verdict,
    summary,
    explanation,
  };
}

/** Why a published configuration has no measured figures: never run, or every run failed (and how). */
function notMeasuredWhy(c: Condition | null): string {
  if (!c) return "was not run";
  const budget = c.budgetBytes ? ` under the ${fmtGiB(c.budgetBytes, 1)} budget` : "";
  if (c.counts.oom) return `ran out of memory (${oomRuns(c)}${budget})`;
  return `did not complete (${c.runs.length} run${c.runs.length === 1 ? "" : "s"})`;
}

const dir = (r: number) => (r > 1 ? "higher" : "lower");

function judgeThroughput(
  published: { from: number; to: number; ratio: number },
  changed: ClaimCheck["changed"],
  claimedFactor: string | null,
  measured: ClaimCheck["measured"],
  attribution: PairAttribution[],
  unmeasured: string | null = null,
): { verdict: ClaimCheck["verdict"]; summary: string; explanation: string } {
  const pub = `published ${fmtNumber(published.from)} → ${fmtNumber(published.to)} tokens/s (${fmtRatio(published.ratio)})`;
  const meas = measured
    ? `measured on the same two configurations: processed tokens/s ${fmtEffect(measured.processed)}, real tokens/s ${fmtEffect(measured.real)}`
    : `the two published configurations were not both measured${unmeasured ? ` (${unmeasured})` : ""}`;
  const parts = attribution.map(
    (a) =>
      `${a.factor} alone (${a.from} → ${a.to}${a.pair ? `, at ${contextOf(a.pair)}` : ""}): ${
        a.pair
          ? `processed ${fmtEffect(a.processed)}, real ${fmtEffect(a.real)}`
          : "no controlled pair measured"
      }`,
  );
  if (changed.length === 0) {
    return { verdict: "untested", summary: "the two runs differ in no known factor", explanation: `${pub}.` };
  }
  if (changed.length === 1) {
    const e = measured?.processed ?? null;
    const f = changed[0]!;
    if (!e || e.distinguishable === null) {
      return {
        verdict: "untested",
        summary: `${f.factor} alone was not measured with repeats`,
        explanation: `${pub}; ${meas}.`,
      };
    }
    const verdict: ClaimCheck["verdict"] = !e.distinguishable
      ? "not distinguishable from noise"
      : e.estimate > 1 === published.ratio > 1
        ? "supported"
        : "contradicted";
    return {
      verdict,
      summary: `${f.factor} alone (${f.from} → ${f.to}) changes processed tokens/s by ${fmtEffect(e)}${verdict === "not distinguishable from noise" ? ", not distinguishable from noise" : ""}`,
      explanation: `${pub}; only ${f.factor} changes; ${meas}.`,
    };
  }
  // Several factors change at once: which one explains the difference? Judged on processed tokens/s
  // (what a Trainer-timed tokens/s counts, padding included); real tokens/s is shown beside it.
  const base = `${pub}, but the comparison changes ${changed.map((c) => `${c.factor} (${c.from} → ${c.to})`).join(" and ")} at once; ${meas}. Controlled: ${parts.join("; ")}.`;
  const measuredAttr = attribution.filter((a) => a.processed && a.processed.distinguishable !== null);
  if (measuredAttr.length === 0) {
    return { verdict: "untested", summary: "no ablation isolates the factors it changes", explanation: base };
  }
  const explains = [...measuredAttr]
    .filter((a) => a.processed!.distinguishable && a.processed!.estimate > 1 === published.ratio > 1)
    .sort((a, b) => Math.abs(Math.log(b.processed!.estimate)) - Math.abs(Math.log(a.processed!.estimate)))[0];
  const explainsText = explains
    ? `${explains.factor} (${explains.from} → ${explains.to}) explains the difference: processed tokens/s ${fmtEffect(explains.processed)}, real ${fmtEffect(explains.real)}`
    : "no single factor reproduces the published direction";
  const claimed = claimedFactor ? attribution.find((a) => a.factor === claimedFactor) : null;
  let verdict: ClaimCheck["verdict"] = "confounded";
  let head: string;
  if (claimed?.processed && claimed.processed.distinguishable !== null) {
    const ce = claimed.processed;
    if (!ce.distinguishable) {
      head = `the ${claimedFactor} the claim credits changes processed tokens/s by ${fmtEffect(ce)} on its own, not distinguishable from noise`;
    } else if (ce.estimate > 1 !== published.ratio > 1) {
      verdict = "contradicted";
      head = `the ${claimedFactor} the claim credits moves processed tokens/s the other way on its own: ${fmtEffect(ce)}`;
    } else if (explains && explains.factor !== claimedFactor) {
      head = `the ${claimedFactor} the claim credits accounts for ${fmtEffect(ce)} on its own`;
    } else {
      verdict = "supported";
      head = `the ${claimedFactor} the claim credits is ${dir(ce.estimate)} on its own: ${fmtEffect(ce)}`;
    }
  } else {
    head = claimedFactor
      ? `the ${claimedFactor} the claim credits was not isolated`
      : "the claim credits no single factor";
  }
  const summary = verdict === "supported" ? head : `${head}; ${explainsText}`;
  return { verdict, summary, explanation: base };
}

function contextOf(pair: { from: Condition; to: Condition }): string {
  const fixed = ["optimizer.name", "precision", "batchSize", "seqLen", "padding"].filter(
    (f) => pair.from.settings[f] === pair.to.settings[f],
  );
  return describeSettings(fixed, pair.from.settings);
}

/** Conditions that completed without an OOM and differ from `c` in one recipe setting only. */
function fittingNeighbours(
  c: Condition,
  conditions: Condition[],
): { field: string; from: string; to: string; condition: Condition }[] {
  const out: { field: string; from: string; to: string; condition: Condition }[] = [];
  for (const x of conditions) {
    if (x === c || x.completed.length === 0 || x.counts.oom) continue;
    const keys = new Set([...Object.keys(c.settings), ...Object.keys(x.settings)]);
    const diff = [...keys].filter((k) => !NOT_RECIPE.has(k) && c.settings[k] !== x.settings[k]);
    if (diff.length === 1)
      out.push({
        field: diff[0]!,
        from: show(c.settings[diff[0]!]),
        to: show(x.settings[diff[0]!]),
        condition: x,
      });
  }
  return out;
}

function otherClaim(
  text: string,
  reference: Reference,
  rows: StudyRow[],
  conditions: Condition[],
): ClaimCheck {
  const proper = claimProper(text);
  const isMemory = /\bGB\b|\bfits?\b|VRAM|memory/i.test(proper);
  const isEnergy = /\bJ\b|energy|joule/i.test(proper);
  const base: Omit<ClaimCheck, "kind" | "explanation" | "verdict" | "summary"> = {
    claim: text,
    from: null,
    to: null,
    published: null,
    changed: [],
    claimedFactor: null,
    measured: null,
    attribution: [],
  };
  if (isMemory) {
    const seqs = reference.runs.filter(
      (r) => r.seq_len !== undefined && new RegExp(`\\b${r.seq_len}\\b`).test(proper),
    );
    const targets = seqs.length ? seqs : reference.runs.filter((r) => r.peak_vram_gb);
    const memoryOf = (c: Condition) =>
      MEMORY_METRICS.filter((m) => c.stats[m]).map(
        (m) => `${METRICS[m].label} ${fmtGiB(c.stats[m]!.median)}`,
      );
    // Where the published configuration runs out of memory, the setting that makes it fit explains the claim.
    const fitsWith: string[] = [];
    const lines = targets.map((r) => {
      const c = rows.find((x) => x.reference.id === r.id)?.condition;
      if (!c) return `${r.id}: not measured`;
      const budget = c.budgetBytes ? ` with a budget of ${fmtGiB(c.budgetBytes, 1)}` : " without a budget";
      const mem = memoryOf(c);
      // A neighbour that changes what the claim is about (its sequence length) does not rescue it.
      const pinned = new Set(seqs.length ? ["seqLen"] : []);
      const neighbours = c.counts.oom
        ? fittingNeighbours(c, conditions)
            .filter((n) => !pinned.has(n.field))
            .map((n) => {
              fitsWith.push(`${n.field} ${n.from} → ${n.to}`);
              const nm = memoryOf(n.condition);
              return `; with only ${n.field} changed (${n.from} → ${n.to}) it fits: ${n.condition.completed.length}/${n.condition.runs.length} completed${nm.length ? `, ${nm.join(", ")}` : ""}`;
            })
        : [];
      return `${r.id} (${describeRef(r, ["optimizer"])}, ${r.batch_size}×${r.seq_len}, ${show(c.settings["padding"])} padding)${budget}: ${c.completed.length}/${c.runs.length} completed, ${c.counts.oom ?? 0} OOM${atFailure(c)}${mem.length ? `; ${mem.join(", ")}` : ""}${neighbours.join("")}${r.peak_vram_gb ? `; published ${r.peak_vram_gb} GB (nvidia-smi)` : ""}`;
    });
    const allFit = targets.every((r) => {
      const c = rows.find((x) => x.reference.id === r.id)?.condition;
      return c && c.completed.length > 0 && !c.counts.oom && c.budgetBytes !== null;
    });
    const anyOom = targets.some(
      (r) => (rows.find((x) => x.reference.id === r.id)?.condition?.counts.oom ?? 0) > 0,
    );
    return {
      ...base,
      kind: "memory",
      // It fits only with another setting than the one measured: that setting, not the one the claim
      // names, decides it.
      verdict: allFit ? "supported" : anyOom ? (fitsWith.length ? "confounded" : "contradicted") : "untested",
      summary: lines[0] ?? "no matching run",
      explanation: lines.join("; ") + ".",
    };
  }
  if (isEnergy) {
    const lines = reference.runs
      .filter((r) => r.energy_j_per_token !== null && r.energy_j_per_token !== undefined)
      .map((r) => {
        const c = rows.find((x) => x.reference.id === r.id)?.condition;
        const pub = Array.isArray(r.energy_j_per_token)
          ? r.energy_j_per_token.map((v) => fmtSig(v)).join("–")
          : fmtSig(r.energy_j_per_token as number);
        const measured = c?.stats.joulesPerRealToken
          ? `measured ${fmtWithInterval(c.stats.joulesPerRealToken, (n) => fmtSig(n))} J/real token, ${fmtSig(c.stats.joulesPerProcessedToken?.median)} J/processed token (NVML energy counter)`
          : c && c.completed.length
            ? "energy not measured on this device"
            : `not measured: the configuration ${notMeasuredWhy(c ?? null)}`;
        const paper = c?.stats.paperMethodJoulesPerToken
          ? `; the study's method (board W ÷ tokens/s) on the same runs gives ${fmtSig(c.stats.paperMethodJoulesPerToken.median)}`
          : "";
        return `${r.id}: published ${pub} J/token (estimated); ${measured}${paper}`;
      });
    const measuredAny = rows.some((r) => r.condition?.stats.joulesPerRealToken);
    return {
      ...base,
      kind: "energy",
      verdict: measuredAny ? "compared" : "untested",
      summary: measuredAny ? lines.join("; ") : "energy was not measured on this device",
      explanation: `${lines.join("; ")}. Published figures are assumed board power divided by throughput on an RTX 4060; measured ones integrate this GPU's energy counter, so they compare methods and hardware, not the claim itself.`,
    };
  }
  return {
    ...base,
    kind: "other",
    verdict: "untested",
    summary: "not checked automatically",
    explanation: "not checked automatically.",
  };
}

function checkClaims(reference: Reference, conditions: Condition[], rows: StudyRow[]): ClaimCheck[] {
  return reference.claims.map((text) => {
    const proper = claimProper(text);
    const mentioned = reference.runs.filter(
      (r) => typeof r.tokens_per_s === "number" && new RegExp(`\\b${r.tokens_per_s}\\b`).test(proper),
    );
    if (mentioned.length === 2) {
      // "628 vs 500": the first number is the claim's subject; the comparison runs from the other.
      const idx = mentioned.map((r) => proper.search(new RegExp(`\\b${r.tokens_per_s}\\b`)));
      const [subject, other] =
        idx[0]! < idx[1]! ? [mentioned[0]!, mentioned[1]!] : [mentioned[1]!, mentioned[0]!];
      return throughputClaim(text, other, subject, conditions, rows);
    }
    return otherClaim(text, reference, rows, conditions);
  });
}

function claimFindings(claims: ClaimCheck[]): Finding[] {
  return claims
    .filter((c) => c.verdict !== "untested")
    .map((c) => ({
      kind: "claim" as const,
      factor: c.claimedFactor ?? c.kind,
      text: `"${claimProper(c.claim)}" — ${c.verdict}: ${c.summary}.`,
    }));
}

/** The figures the planner predicts for a run. */
const PREDICTED_FIGURES = ["peakAllocatedBytes", "peakDeviceBytes", "realTokensPerSecond"] as const;
const isPredictedFigure = (k: string): k is (typeof PREDICTED_FIGURES)[number] =>
  (PREDICTED_FIGURES as readonly string[]).includes(k);

function predictedRows(conditions: Condition[]): PredictedRow[] {
  const out: PredictedRow[] = [];
  for (const c of conditions) {
    const byMetric = new Map<string, { predicted: number[]; measured: number[] }>();
    for (const r of c.completed) {
      const p = r.metrics?.predicted;
      if (!p) continue;
      for (const k of Object.keys(p).filter(isPredictedFigure)) {
        const pv = p[k] ?? null;
        const mv = runMetric(r, k);
        if (pv === null || !Number.isFinite(pv) || mv === null) continue;
        const m = byMetric.get(k) ?? { predicted: [], measured: [] };
        m.predicted.push(pv);
        m.measured.push(mv);
        byMetric.set(k, m);
      }
    }
    for (const [metric, m] of byMetric)
      out.push({
        condition: c.label,
        runs: m.measured.length,
        metric,
        predicted: median(m.predicted),
        measured: median(m.measured),
      });
  }
  return out;
}

export interface BuildReportInput {
  runs: ReportRun[];
  reference?: Reference | null;
  title?: string;
  sources?: ReportModel["sources"];
  now?: Date;
}

export function buildReportModel(input: BuildReportInput): ReportModel {
  const { conditions, varying } = buildConditions(input.runs);
  const reference = input.reference ?? null;
  let study = reference ? matchReference(conditions, reference) : [];
  // A reference none of whose runs was reproduced has nothing to compare with: left out, and said.
  const unmatched = reference !== null && study.every((s) => s.condition === null);
  if (unmatched) study = [];
  const comparisons = buildComparisons(conditions, varying);
  const claims = reference && !unmatched ? checkClaims(reference, conditions, study) : [];
  const findings = [
    ...claimFindings(claims),
    ...comparisons.flatMap(comparisonFindings),
    ...fastArmFindings(conditions),
  ];
  const devices = [...new Set(input.runs.map((r) => r.device?.name).filter((d): d is string => Boolean(d)))];
  const weights = [...new Set(input.runs.map((r) => String(r.config["weights"] ?? "")).filter(Boolean))];
  const libraries: Record<string, string> = {};
  for (const r of input.runs)
    for (const [k, v] of Object.entries(r.libraries ?? {})) if (v && !libraries[k]) libraries[k] = v;
  const notes: string[] = [
    "Each condition's figure is the median of its repeats; brackets give the 95% Student-t interval of the mean (none for a single run; cut at 0 for figures that cannot be negative).",
    "Effects are ratios of geometric means (tokens/s, J/token) or differences of means (memory) with 95% Welch intervals; an interval that contains no change is reported as not distinguishable from noise.",
    "Real tokens exclude padding; processed tokens include it. Peak memory: allocator allocated and reserved, NVML process and device.",
  ];
  if (unmatched)
    notes.push(
      `No run here reproduces a configuration of ${reference!.source}, so its figures and claims are not compared.`,
    );
  if (weights.includes("random"))
    notes.push(
      "Runs with random (synthetic) weights: compute, memory and energy match real weights; loss values are not meaningful.",
    );
  const warnings = new Map<string, number>();
  for (const r of input.runs) {
    for (const w of r.metrics?.warnings ?? []) {
      const k = w.replace(/\([^)]*\)/g, "(…)");
      warnings.set(k, (warnings.get(k) ?? 0) + 1);
    }
  }
  for (const [w, n] of warnings) notes.push(`Measurement warning on ${n} run${n > 1 ? "s" : ""}: ${w}.`);
  return {
    title: input.title ?? "loraprof report",
    generatedAt: (input.now ?? new Date()).toISOString(),
    sources: input.sources ?? { sweeps: [], runs: input.runs.map((r) => r.id) },
    runs: input.runs,
    conditions,
    varying,
    comparisons,
    findings,
    reference,
    study,
    claims,
    predicted: predictedRows(conditions),
    environment: { devices, weights, libraries },
    notes,
  };
}
