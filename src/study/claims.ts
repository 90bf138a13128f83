/**
 * The study's published figures against what was measured: reference runs matched to conditions,
 * and each published claim checked (confounded comparisons attributed factor by factor to
 * controlled pairs). `paperComparison` is the report's `ReferenceComparison` plug-in for the paper:
 * callers that want the paper beside their runs pass it to `buildReport`/`buildReportModel` with
 * the reference (report/ never imports study/).
 */
import { canonicalJson, flattenConfig } from "../config/identity.js";
import type { Preset } from "../config/presets.js";
import { atFailure, describeSettings, oomRuns, show, valuesOf } from "../report/describe.js";
import { fmtEffect, fmtGiB, fmtNumber, fmtRatio, fmtSig, fmtWithInterval } from "../report/format.js";
import {
  MEMORY_METRICS,
  METRICS,
  type ClaimCheck,
  type Condition,
  type Finding,
  type PairAttribution,
  type ReferenceComparison,
  type StudyRow,
} from "../report/types.js";
import { ratioEffect } from "../util/stats.js";
import { PAPER_PRESETS } from "./presets.js";
import { REFERENCE_FIELDS, type Reference, type ReferenceRun } from "./reference.js";

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
  const presetName = `paper-${run.id}`;
  const tags = new Set(c.runs.map((r) => r.config["preset"]));
  if (tags.has(presetName)) score += 2;
  const preset = (PAPER_PRESETS as Record<string, Preset>)[presetName];
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

export function matchReference(conditions: Condition[], reference: Reference): StudyRow[] {
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

export function checkClaims(reference: Reference, conditions: Condition[], rows: StudyRow[]): ClaimCheck[] {
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

export function claimFindings(claims: ClaimCheck[]): Finding[] {
  return claims
    .filter((c) => c.verdict !== "untested")
    .map((c) => ({
      kind: "claim" as const,
      factor: c.claimedFactor ?? c.kind,
      text: `"${claimProper(c.claim)}" — ${c.verdict}: ${c.summary}.`,
    }));
}

/** The paper's comparison, as the report's plug-in: pass it with the paper's reference. */
export const paperComparison: ReferenceComparison = {
  match: matchReference,
  check: checkClaims,
  findings: claimFindings,
};
