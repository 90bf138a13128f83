/**
 * The report's tables as rows of cells (strings), shared by the HTML and Markdown renderers so the
 * two always show the same figures.
 */
import { fmtGiB, fmtNumber, fmtPercent, fmtSig, fmtWithInterval } from "./format.js";
import { memoryAtFailure, METRICS, type ClaimCheck, type Condition, type ReportModel } from "./model.js";
import type { ReferenceRun } from "./reference.js";
import { shortReason } from "../run/failure.js";
import { fmtEffect, fmtRatio } from "./format.js";

export interface Table {
  id: string;
  /** Column groups over the header (label, span), optional. */
  groups?: { label: string; span: number }[];
  header: string[];
  rows: string[][];
  /** Right-align these columns (numbers). */
  numeric: number[];
}

const rate = (c: Condition | null, m: "realTokensPerSecond" | "processedTokensPerSecond") =>
  c ? fmtWithInterval(c.stats[m] ?? null, (n) => fmtNumber(n, 0)) : "—";
const gib = (
  c: Condition | null,
  m: "peakAllocatedBytes" | "peakReservedBytes" | "peakProcessBytes" | "peakDeviceBytes",
) => (c?.stats[m] ? fmtGiB(c.stats[m]!.median) : "—");
const runsOf = (c: Condition | null) => (c ? `${c.completed.length}/${c.runs.length}` : "0");
const statusOf = (c: Condition) =>
  Object.entries(c.counts)
    .map(([k, v]) => `${v} ${k}`)
    .join(", ");

/**
 * The study's table, transposed so it reads like the paper's: one column pair (loraprof, published)
 * per study run, one row per figure.
 */
export function studyTable(model: ReportModel): Table | null {
  if (!model.reference || model.study.length === 0) return null;
  const pubTps = (r: ReferenceRun) => fmtNumber(r.tokens_per_s ?? null, 0);
  type Row = [string, (c: Condition | null) => string, (r: ReferenceRun) => string];
  const rows: Row[] = [
    ["real tokens/s", (c) => rate(c, "realTokensPerSecond"), pubTps],
    ["processed tokens/s", (c) => rate(c, "processedTokensPerSecond"), pubTps],
    [
      "s per 10k real tokens",
      (c) => (c?.stats.secondsPer10kRealTokens ? fmtNumber(c.stats.secondsPer10kRealTokens.median, 2) : "—"),
      (r) => fmtNumber(r.seconds_per_10k_tokens ?? null, 1),
    ],
    [
      "s per 10k processed tokens",
      (c) =>
        c?.stats.processedTokensPerSecond
          ? fmtNumber(10_000 / c.stats.processedTokensPerSecond.median, 2)
          : "—",
      (r) => fmtNumber(r.seconds_per_10k_tokens ?? null, 1),
    ],
    ["peak allocated", (c) => gib(c, "peakAllocatedBytes"), () => ""],
    ["peak reserved", (c) => gib(c, "peakReservedBytes"), () => ""],
    ["peak process (NVML)", (c) => gib(c, "peakProcessBytes"), () => ""],
    [
      "peak device (NVML)",
      (c) => gib(c, "peakDeviceBytes"),
      (r) => (r.peak_vram_gb ? `${r.peak_vram_gb} GB` : "—"),
    ],
    [
      "J per real token",
      (c) =>
        c?.stats.joulesPerRealToken ? fmtWithInterval(c.stats.joulesPerRealToken, (n) => fmtSig(n)) : "—",
      (r) =>
        Array.isArray(r.energy_j_per_token)
          ? r.energy_j_per_token.map((v) => fmtSig(v)).join("–")
          : fmtSig(r.energy_j_per_token ?? null),
    ],
    [
      "runs completed",
      (c) => (c ? `${runsOf(c)}${c.counts.oom ? ` (${c.counts.oom} OOM)` : ""}` : "not run"),
      () => "",
    ],
  ];
  return {
    id: "study-table",
    groups: [
      { label: "", span: 1 },
      ...model.study.map((s) => ({
        label: `${s.reference.id}${s.reference.label ? ` (${s.reference.label})` : ""}: ${s.reference.optimizer ?? "?"}, ${s.reference.batch_size ?? "?"}×${s.reference.seq_len ?? "?"}, ${s.reference.precision ?? "?"}`,
        span: 2,
      })),
    ],
    header: ["", ...model.study.flatMap(() => ["loraprof", "published"])],
    rows: rows.map(([name, ours, pub]) => [
      name,
      ...model.study.flatMap((s) => [ours(s.condition), pub(s.reference)]),
    ]),
    numeric: model.study.flatMap((_, i) => [1 + 2 * i, 2 + 2 * i]),
  };
}

export function conditionsTable(model: ReportModel): Table {
  const hasEnergy = model.conditions.some((c) => c.stats.joulesPerRealToken);
  const hasMfu = model.conditions.some((c) => c.stats.mfu);
  const header = [
    "configuration",
    "runs",
    "real tokens/s",
    "processed tokens/s",
    "s / 10k real",
    "allocated",
    "reserved",
    "process",
    "device",
    ...(hasEnergy ? ["J / real token"] : []),
    ...(hasMfu ? ["MFU"] : []),
  ];
  const rows = model.conditions.map((c) => [
    `${c.referenceId ? `[${c.referenceId}] ` : ""}${c.label}`,
    statusOf(c),
    rate(c, "realTokensPerSecond"),
    rate(c, "processedTokensPerSecond"),
    c.stats.secondsPer10kRealTokens ? fmtNumber(c.stats.secondsPer10kRealTokens.median, 2) : "—",
    gib(c, "peakAllocatedBytes"),
    gib(c, "peakReservedBytes"),
    gib(c, "peakProcessBytes"),
    gib(c, "peakDeviceBytes"),
    ...(hasEnergy
      ? [c.stats.joulesPerRealToken ? fmtWithInterval(c.stats.joulesPerRealToken, (n) => fmtSig(n)) : "—"]
      : []),
    ...(hasMfu ? [c.stats.mfu ? fmtPercent(c.stats.mfu.median) : "—"] : []),
  ]);
  return { id: "conditions-table", header, rows, numeric: header.map((_, i) => i).filter((i) => i >= 2) };
}

export function failuresTable(model: ReportModel): Table | null {
  const failed = model.runs.filter((r) => r.status !== "completed");
  if (!failed.length) return null;
  const hinted = new Set<string>();
  return {
    id: "failures-table",
    header: ["run", "configuration", "status", "reason", "memory at failure"],
    rows: failed.map((r) => {
      let reason = "—";
      if (r.error) {
        const hint = r.error.hint;
        // Each fix is given once; later rows with the same one point back to it.
        const fix = hint ? (hinted.has(hint) ? " — fix: as above" : ` — fix: ${hint}`) : "";
        if (hint) hinted.add(hint);
        reason = `${shortReason(r.error)}${fix}`;
      }
      return [r.id, r.label ?? "", r.status, reason, fmtGiB(memoryAtFailure(r))];
    }),
    numeric: [4],
  };
}

export const PREDICTED_NOTE =
  "The planner's figures with the constants `loraprof plan` uses for the GPU before any run of yours (its shipped calibration, or one transferred from another GPU; never one fitted to these runs), from each run's settings and record lengths (Alpaca's published facts, else the run's mean); measured: the median of the configuration's completed runs.";

export function predictedTable(model: ReportModel): Table | null {
  if (!model.predicted.length) return null;
  const label = (m: string) => METRICS[m as keyof typeof METRICS]?.label ?? m;
  return {
    id: "predicted-table",
    header: ["configuration", "figure", "predicted", "measured (median)", "measured ÷ predicted"],
    rows: model.predicted.map((p) => [
      p.condition,
      label(p.metric),
      /Bytes$/.test(p.metric) ? fmtGiB(p.predicted) : fmtSig(p.predicted),
      `${/Bytes$/.test(p.metric) ? fmtGiB(p.measured) : fmtSig(p.measured)} (${p.runs} run${p.runs > 1 ? "s" : ""})`,
      p.predicted ? fmtSig(p.measured / p.predicted) : "—",
    ]),
    numeric: [2, 3, 4],
  };
}

/** Per throughput claim: the published comparison, the same comparison measured, and each factor alone. */
export function claimTable(c: ClaimCheck, index: number): Table | null {
  if (c.kind !== "throughput" || !c.published) return null;
  const rows: string[][] = [
    [
      "published (the study)",
      c.changed.map((x) => x.factor).join(" + ") || "—",
      "",
      `${fmtRatio(c.published.ratio)} (tokens/s as published)`,
    ],
    [
      `measured, the same two configurations${c.unmeasured ? ` (${c.unmeasured})` : ""}`,
      c.changed.map((x) => `${x.from} → ${x.to}`).join(", "),
      fmtEffect(c.measured?.real ?? null),
      fmtEffect(c.measured?.processed ?? null),
    ],
    ...c.attribution.map((a) => [
      `${a.factor} alone${a.pair ? "" : " (not measured)"}`,
      `${a.from} → ${a.to}`,
      fmtEffect(a.real) + verdictSuffix(a.real),
      fmtEffect(a.processed) + verdictSuffix(a.processed),
    ]),
  ];
  return {
    id: `claim-table-${index}`,
    header: ["comparison", "changes", "real tokens/s", "processed tokens/s"],
    rows,
    numeric: [2, 3],
  };
}

function verdictSuffix(e: { distinguishable: boolean | null } | null): string {
  if (!e) return "";
  return e.distinguishable === false ? " · noise" : "";
}

export function claimsTable(model: ReportModel): Table | null {
  if (!model.claims.length) return null;
  return {
    id: "claims-table",
    header: ["published claim", "verdict", "what the data says"],
    rows: model.claims.map((c) => [c.claim, c.verdict, c.summary]),
    numeric: [],
  };
}
