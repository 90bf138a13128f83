/** Conditions in words: settings as names, factors and levels, OOM counts. Shared by the model and the study's claim checks. */
import { fmtGiB } from "./format.js";
import type { Condition, MetricName } from "./types.js";

export const parseSetting = (s: string | undefined): unknown => (s === undefined ? undefined : JSON.parse(s));
export const show = (s: string | undefined): string => {
  const v = parseSetting(s);
  return typeof v === "string" ? v : JSON.stringify(v);
};

/** Factors: named groups of settings. Batch and sequence length form one factor (the shape grid). */
export const FACTOR_NAMES: Record<string, string> = {
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
export const FACTOR_ORDER = [
  "optimizer.name",
  "precision",
  "batchSize,seqLen",
  "batchSize",
  "seqLen",
  "padding",
];

export function describeLevel(fields: string[], settings: Record<string, string>): string {
  if (fields.join(",") === "batchSize,seqLen")
    return `${show(settings["batchSize"])}×${show(settings["seqLen"])}`;
  return fields.map((f) => show(settings[f])).join(" · ");
}

/**
 * Settings that never enter a configuration's name: how often the engine flushes its events does
 * not change what is measured (and a label full of them is unreadable in a chart).
 */
export const UNNAMED_FIELDS = new Set(["logEverySteps"]);

/** A setting's value as a name: a dataset file by its file name, no subset as "all". */
export function showSetting(field: string, settings: Record<string, string>): string {
  const v = parseSetting(settings[field]);
  if (field === "dataset" && typeof v === "string" && /[\\/]/.test(v)) return v.split(/[\\/]/).pop() ?? v;
  if (field === "subset" && v === null) return "all";
  return show(settings[field]);
}

export function describeSettings(
  fields: string[],
  settings: Record<string, string>,
  compact = false,
): string {
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

export const valuesOf = (c: Condition, m: MetricName): number[] => c.stats[m]?.values ?? [];

/** "3/3 runs, 7.73 GiB at failure": how often a configuration ran out of memory, and at what. */
export function oomRuns(c: Condition): string {
  return `${c.counts.oom}/${c.runs.length} runs${c.oomMemoryBytes ? `, ${fmtGiB(c.oomMemoryBytes)} at failure` : ""}`;
}

/** " (7.73 GiB at failure)", or nothing when the memory at failure is unknown. */
export const atFailure = (c: Condition): string =>
  c.oomMemoryBytes ? ` (${fmtGiB(c.oomMemoryBytes)} at failure)` : "";
