/**
 * The report's data model, built from runs alone (pure: no store, no I/O). Runs with the same
 * settings (label, preset tag and GPU index aside) form a **condition**; a **comparison** is a set
 * of conditions that differ in one factor only (found from the data, not from how the sweep was
 * labelled); every comparison yields effects with intervals (see util/stats.ts) and findings whose
 * text is filled from those numbers. Published figures, when given, are matched to conditions and
 * their claims checked by the `ReferenceComparison` passed in with them (the paper's is
 * study/claims.ts: confounded claims attributed factor by factor to controlled pairs).
 *
 * HTML and Markdown are renderers of this model (./html.ts, ./markdown.ts).
 */
import { parseByteSize } from "../config/schema.js";
import type { RunStatus } from "../store/runs.js";
import { canonicalJson, flattenConfig, normalizedConfig } from "../config/identity.js";
import { RECIPE_DEFAULTS } from "../config/recipes.js";
import { fmtEffect, fmtGiB, fmtNumber } from "./format.js";
import type { Reference } from "./reference.js";
import {
  FACTOR_NAMES,
  FACTOR_ORDER,
  atFailure,
  describeLevel,
  describeSettings,
  oomRuns,
  parseSetting,
  show,
  valuesOf,
} from "./describe.js";
import {
  MEMORY_METRICS,
  METRICS,
  memoryAtFailure,
  runMetric,
  type Comparison,
  type Condition,
  type FactorLevel,
  type Finding,
  type LevelEffect,
  type MemoryMetric,
  type MetricName,
  type PredictedRow,
  type ReferenceComparison,
  type ReportModel,
  type ReportRun,
} from "./types.js";
export * from "./types.js";
import {
  differenceEffect,
  median,
  ratioEffect,
  summarize,
  type Effect,
  type Summary,
} from "../util/stats.js";

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

function buildConditions(runs: ReportRun[]): {
  conditions: Condition[];
  varying: string[];
  recipeSet: string | null;
} {
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
  // Settings that follow from the recipe in every configuration here are named once (a note), not in
  // each configuration's name: the fast recipe sets seven of them, which crowded out what was varied.
  const recipeSet = setByRecipe(
    all.map((c) => c.settings),
    varying,
  );
  const named = varying.filter((f) => !recipeSet.includes(f));
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
      label: describeSettings(named, c.settings) || "all runs",
      shortLabel: describeSettings(named, c.settings, true) || "all runs",
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
  return {
    conditions,
    varying,
    recipeSet: recipeNote(
      all.map((c) => c.settings),
      recipeSet,
    ),
  };
}

/** The recipes' settings (config/recipes.ts), by flattened name ("lora.dropout"). */
const RECIPE_FIELDS = new Set(Object.values(RECIPE_DEFAULTS).flatMap((d) => Object.keys(flattenConfig(d))));

/**
 * Of the settings that vary, those a recipe sets and that follow from `recipe` alone in every
 * configuration (one value per recipe): with `recipe` varying, they add nothing to a name.
 */
function setByRecipe(settings: Record<string, string>[], varying: string[]): string[] {
  if (!varying.includes("recipe")) return [];
  return varying.filter((f) => {
    if (!RECIPE_FIELDS.has(f)) return false;
    const byRecipe = new Map<string | undefined, string | undefined>();
    for (const s of settings) {
      const seen = byRecipe.get(s["recipe"]);
      if (byRecipe.has(s["recipe"]) && seen !== s[f]) return false;
      byRecipe.set(s["recipe"], s[f]);
    }
    return true;
  });
}

/** "Names leave out what each recipe sets here: recipe=fast: packed, loss=fused, …; recipe=reference: …". */
function recipeNote(settings: Record<string, string>[], fields: string[]): string | null {
  if (!fields.length) return null;
  const byRecipe = new Map<string, Record<string, string>>();
  for (const s of settings)
    if (s["recipe"] !== undefined && !byRecipe.has(s["recipe"])) byRecipe.set(s["recipe"], s);
  const parts = [...byRecipe.values()].map(
    (s) => `${describeSettings(["recipe"], s)}: ${describeSettings(fields, s)}`,
  );
  return `Configuration names leave out what each recipe sets here: ${parts.join("; ")}.`;
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
  /** Published figures to compare with; needs `comparison`. */
  reference?: Reference | null;
  /** How to compare with `reference` (the paper's: study/claims.ts `paperComparison`). */
  comparison?: ReferenceComparison | null;
  title?: string;
  sources?: ReportModel["sources"];
  now?: Date;
}

export function buildReportModel(input: BuildReportInput): ReportModel {
  const { conditions, varying, recipeSet } = buildConditions(input.runs);
  const reference = input.reference ?? null;
  const comparison = input.comparison ?? null;
  if (reference && !comparison)
    throw new Error(
      "buildReportModel: a reference needs a comparison (e.g. study/claims.ts paperComparison)",
    );
  let study = reference && comparison ? comparison.match(conditions, reference) : [];
  // A reference none of whose runs was reproduced has nothing to compare with: left out, and said.
  const unmatched = reference !== null && study.every((s) => s.condition === null);
  if (unmatched) study = [];
  const comparisons = buildComparisons(conditions, varying);
  const claims = reference && comparison && !unmatched ? comparison.check(reference, conditions, study) : [];
  const findings = [
    ...(comparison ? comparison.findings(claims) : []),
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
  if (recipeSet) notes.push(recipeSet);
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
