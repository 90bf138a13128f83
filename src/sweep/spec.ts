/**
 * SweepSpec: many runs described once. A base config, then axes: `grid` (cartesian product),
 * `zip` (values taken together, index by index) and `runs` (explicit points), optionally in named
 * `groups` (an ablation each), each point repeated `repeats` times. Every expanded config goes through
 * the RunConfig schema before anything runs, and every problem is reported at once.
 *
 * Each planned run gets a stable key: a hash of its validated config (label and preset tag left out)
 * plus the repeat index. The key, not the position, is how a resumed sweep recognizes finished runs,
 * so reordering or extending a spec keeps what already ran.
 */
import { z } from "zod";
import { deepMerge, loadRunConfig, readConfigFile } from "../config/load.js";
import { configKeyOf } from "../config/identity.js";
import { BYTE_SIZE_PATTERN, RunConfigSchema, type RunConfig } from "../config/schema.js";
import { LoraprofError, type Problem } from "../util/errors.js";

type Plain = Record<string, unknown>;

const AxisSchema = z.record(z.string(), z.array(z.unknown()).min(1, "give at least one value"));
const PointSchema = z.record(z.string(), z.unknown());

const axesShape = {
  /** Human description, shown in the plan and the report. */
  description: z.string().optional(),
  /** Settings shared by every run of this group (merged over the sweep's base). */
  base: z.record(z.string(), z.unknown()).default({}),
  /** Cartesian axes: `{ "optimizer.name": [adamw_torch, paged_adamw_8bit], batchSize: [1, 2] }`. */
  grid: AxisSchema.optional(),
  /** Zipped axes (equal lengths): value i of every axis goes into run i. */
  zip: AxisSchema.optional(),
  /** Explicit points, each a partial config (dotted keys allowed), combined with grid and zip. */
  runs: z.array(PointSchema).min(1).optional(),
  /** Repeats of every point; overrides the sweep's `repeats`. */
  repeats: z.number().int().positive().optional(),
};

export const SweepGroupSchema = z
  .object({
    /** Names the ablation in the plan and the report, e.g. `optimizer`. */
    name: z.string().regex(/^[A-Za-z0-9][\w.-]*$/, "use letters, digits, '.', '_' or '-'"),
    ...axesShape,
  })
  .strict();

export const SweepSpecSchema = z
  .object({
    /** Names the sweep; running a spec with the same name again resumes it. */
    name: z.string().regex(/^[A-Za-z0-9][\w.-]*$/, "use letters, digits, '.', '_' or '-'"),
    ...axesShape,
    /** Repeats of every point (≥ 3 to get an interval worth reading). */
    repeats: z.number().int().positive().default(1),
    /** Named groups of axes (ablations); instead of top-level grid/zip/runs. */
    groups: z.array(SweepGroupSchema).min(1).optional(),
    /** VRAM budget applied to every run that does not set its own `vramBudget`, e.g. "8GiB". */
    vramBudget: z
      .union([
        z.string().regex(BYTE_SIZE_PATTERN, 'expected a size like "8GiB"'),
        z.number().int().positive(),
      ])
      .nullable()
      .optional(),
  })
  .strict()
  .superRefine((spec, ctx) => {
    const check = (g: { zip?: Record<string, unknown[]> | undefined }, path: (string | number)[]) => {
      const lengths = Object.entries(g.zip ?? {}).map(([k, v]) => [k, v.length] as const);
      if (new Set(lengths.map(([, n]) => n)).size > 1) {
        ctx.addIssue({
          code: "custom",
          path: [...path, "zip"],
          message: `zipped axes need equal lengths, found ${lengths.map(([k, n]) => `${k}: ${n}`).join(", ")}`,
        });
      }
    };
    check(spec, []);
    if (spec.groups) {
      for (const key of ["grid", "zip", "runs"] as const) {
        if (spec[key]) {
          ctx.addIssue({
            code: "custom",
            path: [key],
            message: "top-level axes cannot be combined with groups",
          });
        }
      }
      const seen = new Set<string>();
      spec.groups.forEach((g, i) => {
        check(g, ["groups", i]);
        if (seen.has(g.name)) {
          ctx.addIssue({
            code: "custom",
            path: ["groups", i, "name"],
            message: `group name "${g.name}" is used twice`,
          });
        }
        seen.add(g.name);
      });
    }
  });

export type SweepSpecInput = z.input<typeof SweepSpecSchema>;
export type SweepSpec = z.output<typeof SweepSpecSchema>;

const SPEC_HINTS: Record<string, string> = {
  name: "a short name such as paper-ablations; running the same name again resumes it",
  grid: "map a setting (dotted, e.g. optimizer.name) to a list of values",
  zip: "map settings to lists of the same length",
  runs: "a list of partial configs, e.g. [{preset: paper-run1}]",
  repeats: "a positive whole number; 3 or more to get intervals",
  groups: "a list of {name, base?, grid?, zip?, runs?, repeats?}",
  vramBudget: 'a size like "8GiB", or null',
  base: "settings of a run config (see `loraprof run --help`)",
};

/** One run the sweep will make. */
export interface PlannedRun {
  /** Stable identity: config hash + repeat. */
  key: string;
  /** The same for every repeat of one config: the condition. */
  configKey: string;
  /** Order in the plan (0-based). */
  position: number;
  /** 0-based repeat index. */
  repeat: number;
  /** Stored as the run's label: sweep/group, the axis values, the repeat. */
  label: string;
  /** Groups this point belongs to (a config shared by two ablations runs once). */
  groups: string[];
  /** The axis values that make this point, by dotted field. */
  factors: Record<string, unknown>;
  config: RunConfig;
}

/** Sets a dotted path in a nested object, creating the objects on the way. */
export function setPath(obj: Plain, path: string, value: unknown): void {
  const keys = path.split(".");
  let cur = obj;
  for (const k of keys.slice(0, -1)) {
    const next = cur[k];
    cur[k] = typeof next === "object" && next !== null && !Array.isArray(next) ? { ...(next as Plain) } : {};
    cur = cur[k] as Plain;
  }
  cur[keys[keys.length - 1]!] = value;
}

/** `{ "optimizer.name": x }` → `{ optimizer: { name: x } }`, merged over plain nested keys. */
export function expandDotted(point: Plain): Plain {
  const out: Plain = {};
  for (const [k, v] of Object.entries(point)) {
    if (k.includes(".")) setPath(out, k, v);
    else out[k] = v;
  }
  return out;
}

function unwrapSchema(t: unknown): unknown {
  let cur = t as { def?: { innerType?: unknown; in?: unknown; schema?: unknown } } | undefined;
  for (let i = 0; i < 8 && cur?.def; i++) {
    const next = cur.def.innerType ?? cur.def.in ?? cur.def.schema;
    if (!next) break;
    cur = next as typeof cur;
  }
  return cur;
}

/** The settings a sweep axis may name: every RunConfig field, nested ones dotted. */
export function knownConfigFields(): string[] {
  const out: string[] = [];
  const walk = (schema: unknown, prefix: string) => {
    const shape = (unwrapSchema(schema) as { shape?: Record<string, unknown> } | undefined)?.shape;
    if (!shape) return;
    for (const [k, v] of Object.entries(shape)) {
      const path = prefix ? `${prefix}.${k}` : k;
      out.push(path);
      walk(v, path);
    }
  };
  walk(RunConfigSchema, "");
  return out;
}

export const runKey = (configKey: string, repeat: number) => `${configKey}-r${repeat}`;

function cartesian(axes: Record<string, unknown[]>): Plain[] {
  let points: Plain[] = [{}];
  for (const [field, values] of Object.entries(axes)) {
    points = points.flatMap((p) => values.map((v) => ({ ...p, [field]: v })));
  }
  return points;
}

function zipped(axes: Record<string, unknown[]>): Plain[] {
  const fields = Object.keys(axes);
  if (fields.length === 0) return [{}];
  const n = axes[fields[0]!]!.length;
  return Array.from({ length: n }, (_, i) => Object.fromEntries(fields.map((f) => [f, axes[f]![i]])));
}

const describeValue = (v: unknown) => (typeof v === "string" ? v : JSON.stringify(v));

function describePoint(point: Plain): string {
  return Object.entries(point)
    .map(([k, v]) => `${k}=${describeValue(v)}`)
    .join(", ");
}

/** Parses a spec document; throws CONFIG_INVALID with every problem. */
export function parseSweepSpec(doc: unknown, source = "sweep spec"): SweepSpec {
  const parsed = SweepSpecSchema.safeParse(doc);
  if (!parsed.success) {
    const problems: Problem[] = parsed.error.issues.map((issue) => {
      const field = issue.path.map(String).join(".") || "(spec)";
      const unknown = issue.code === "unrecognized_keys" ? issue.keys : null;
      const top = String(
        issue.path.find((p) => typeof p === "string" && p !== "groups") ?? issue.path[0] ?? "",
      );
      return {
        field: unknown ? unknown.map((k) => (field === "(spec)" ? k : `${field}.${k}`)).join(", ") : field,
        message: unknown ? "unknown setting" : issue.message,
        hint: unknown
          ? `known settings: ${Object.keys(SweepSpecSchema.shape).join(", ")} (run settings belong under base)`
          : (SPEC_HINTS[top] ??
            SPEC_HINTS[String(issue.path[0] ?? "")] ??
            "see the sweep spec fields in the README"),
      };
    });
    throw new LoraprofError(
      "CONFIG_INVALID",
      `invalid ${source}: ${problems.length} problem${problems.length === 1 ? "" : "s"}`,
      {
        problems,
      },
    );
  }
  return parsed.data;
}

/** Reads a YAML or JSON spec file. */
export function readSweepSpec(path: string): SweepSpec {
  return parseSweepSpec(readConfigFile(path), path);
}

export interface ExpandOptions {
  /** Applied over every expanded point (e.g. from flags: steps, device, weights). */
  overrides?: Plain;
}

/**
 * Expands a spec into planned runs, validating every config through the RunConfig schema. Throws
 * CONFIG_INVALID listing every problem (axis fields that are not settings, values the schema
 * rejects, naming the runs they occur in); nothing is planned from an invalid spec.
 */
export function expandSweep(spec: SweepSpec, opts: ExpandOptions = {}): PlannedRun[] {
  const problems: Problem[] = [];
  const known = new Set(knownConfigFields());
  const groups = spec.groups ?? [
    {
      name: spec.name,
      description: spec.description,
      base: {},
      grid: spec.grid,
      zip: spec.zip,
      runs: spec.runs,
      repeats: undefined,
    },
  ];
  const where = (gi: number, axis: string) => (spec.groups ? `groups.${gi}.${axis}` : axis);

  for (const [gi, g] of groups.entries()) {
    for (const axis of ["grid", "zip"] as const) {
      for (const field of Object.keys(g[axis] ?? {})) {
        if (!known.has(field)) {
          problems.push({
            field: `${where(gi, axis)}.${field}`,
            message: "not a run setting",
            hint: `use a run config field, dotted for nested ones (e.g. optimizer.name, lora.r)`,
          });
        }
      }
    }
  }

  // Points per group, then validation (problems deduplicated by field and message).
  const byProblem = new Map<string, { problem: Problem; points: string[] }>();
  const planned: PlannedRun[] = [];
  const index = new Map<string, PlannedRun>();
  for (const g of groups) {
    const repeats = g.repeats ?? spec.repeats;
    const explicit = g.runs ?? [{}];
    const points: Plain[] = [];
    for (const r of explicit)
      for (const c of cartesian(g.grid ?? {}))
        for (const z of zipped(g.zip ?? {})) points.push({ ...r, ...c, ...z });
    const groupBase = deepMerge(expandDotted(spec.base), expandDotted(g.base));
    for (const point of points) {
      let doc = deepMerge(groupBase, expandDotted(point));
      if (spec.vramBudget !== undefined && doc["vramBudget"] === undefined)
        doc = { ...doc, vramBudget: spec.vramBudget };
      const desc = describePoint(point);
      let config: RunConfig;
      try {
        config = loadRunConfig({ document: doc, overrides: opts.overrides ?? {} });
      } catch (err) {
        if (!(err instanceof LoraprofError)) throw err;
        const prefix = spec.groups ? `groups.${g.name}: ` : "";
        for (const p of err.problems) {
          const k = `${prefix}${p.field}\u0000${p.message}`;
          const entry = byProblem.get(k) ?? { problem: { ...p, field: `${prefix}${p.field}` }, points: [] };
          entry.points.push(desc || "(base)");
          byProblem.set(k, entry);
        }
        continue;
      }
      const configKey = configKeyOf(config);
      for (let repeat = 0; repeat < repeats; repeat++) {
        const key = runKey(configKey, repeat);
        const existing = index.get(key);
        if (existing) {
          if (!existing.groups.includes(g.name)) existing.groups.push(g.name);
          continue;
        }
        const prefix = config.label ?? (spec.groups ? `${spec.name}/${g.name}` : spec.name);
        const run: PlannedRun = {
          key,
          configKey,
          position: planned.length,
          repeat,
          label: `${prefix}${desc ? ` ${desc}` : ""} #${repeat + 1}`,
          groups: [g.name],
          factors: point,
          config: { ...config, label: `${prefix}${desc ? ` ${desc}` : ""} #${repeat + 1}` },
        };
        index.set(key, run);
        planned.push(run);
      }
    }
  }
  for (const { problem, points } of byProblem.values()) {
    const shown = points.slice(0, 3).join("; ");
    problems.push({
      ...problem,
      message: `${problem.message} (in ${points.length} run${points.length === 1 ? "" : "s"}: ${shown}${points.length > 3 ? "; …" : ""})`,
    });
  }
  if (problems.length) {
    throw new LoraprofError(
      "CONFIG_INVALID",
      `invalid sweep "${spec.name}": ${problems.length} problem${problems.length === 1 ? "" : "s"}`,
      { problems },
    );
  }
  if (planned.length === 0) {
    throw new LoraprofError("CONFIG_INVALID", `sweep "${spec.name}" expands to no runs`, {
      problems: [{ field: "grid", message: "no points", hint: SPEC_HINTS["grid"]! }],
    });
  }
  return planned;
}
