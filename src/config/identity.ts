/**
 * Configuration identity, one owner: which settings define a configuration, at the three grains the
 * project compares runs by.
 *
 * - A **planned run** (a sweep's entry): every setting but the names (`label`, `preset`), hashed over
 *   canonical JSON: `configKeyOf`.
 * - A **condition** (what a report groups repeats into): the same, with the GPU index dropped from the
 *   device (`cuda:1` is `cuda`) and `syntheticRecords` dropped unless the dataset is synthetic:
 *   `normalizedConfig`.
 * - A **shape** (what a sweep's time estimate matches stored runs by): every setting leaf equal but
 *   those that do not change how long a run takes (the names, the seed, the log cadence), `auto`
 *   matching whatever it resolved to and the device compared by kind: `sameShape`.
 */
import { createHash } from "node:crypto";

type Plain = Record<string, unknown>;
/** A config's leaves by dotted path, values as canonical JSON. */
export type FlatConfig = Record<string, string>;

/** Settings that name a run rather than define it. */
export const NAMING_FIELDS: ReadonlySet<string> = new Set(["label", "preset"]);
/** Settings that do not change how long a run takes. */
const TIMING_IGNORED: ReadonlySet<string> = new Set([...NAMING_FIELDS, "seed", "logEverySteps"]);

/** Canonical JSON: keys sorted at every level, so equal configs hash equally. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value && typeof value === "object") {
    const entries = Object.entries(value as Plain)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

/** The key of a planned run's config: label and preset tag are names, not settings. */
export function configKeyOf(config: object): string {
  const rest = Object.fromEntries(Object.entries(config).filter(([k]) => !NAMING_FIELDS.has(k)));
  return createHash("sha256").update(canonicalJson(rest)).digest("hex").slice(0, 16);
}

/** The settings that define a condition (see the header). */
export function normalizedConfig(config: Plain): Plain {
  const out: Plain = {};
  for (const [k, v] of Object.entries(config)) {
    if (NAMING_FIELDS.has(k)) continue;
    // syntheticRecords is only read for the synthetic dataset: elsewhere it defines nothing.
    if (k === "syntheticRecords" && config["dataset"] !== "synthetic") continue;
    out[k] = k === "device" && typeof v === "string" ? v.replace(/:\d+$/, "") : v;
  }
  return out;
}

/** Leaves of a config by dotted path, values as canonical JSON. Arrays are leaves. */
export function flattenConfig(config: unknown, prefix = "", out: FlatConfig = {}): FlatConfig {
  if (config && typeof config === "object" && !Array.isArray(config)) {
    for (const [k, v] of Object.entries(config as Plain)) {
      flattenConfig(v, prefix ? `${prefix}.${k}` : k, out);
    }
  } else if (prefix) out[prefix] = canonicalJson(config);
  return out;
}

const deviceKind = (d: string) => (JSON.parse(d) as string).replace(/:\d+$/, "");

/** The settings of a planned config that a shape compares: not timing-ignored, not `auto`; sorted. */
export function shapeKeys(planned: FlatConfig): string[] {
  return Object.keys(planned)
    .filter((k) => !TIMING_IGNORED.has(k) && planned[k] !== '"auto"')
    .sort();
}

/** One compared setting's value as a shape sees it (the device by kind; a missing one as itself). */
export function shapeValue(flat: FlatConfig, key: string): string {
  const v = flat[key];
  if (v === undefined) return "\u0000missing";
  return key === "device" ? deviceKind(v) : v;
}

/** True when a stored (resolved) run has the shape a planned config asks for (see the header). */
export function sameShape(planned: FlatConfig, stored: FlatConfig): boolean {
  return shapeKeys(planned).every(
    (k) => stored[k] !== undefined && shapeValue(stored, k) === shapeValue(planned, k),
  );
}
