/**
 * Loading a RunConfig: defaults < preset < config file < flags. Every problem is collected and
 * reported at once (field, what is wrong, the fix); nothing runs on an invalid config.
 */
import { readFileSync, existsSync } from "node:fs";
import { extname } from "node:path";
import { parseDocument, YAMLError } from "yaml";
import type { z } from "zod";
import { LoraprofError, type Problem } from "../util/errors.js";
import { findModelOrHfConfig } from "../catalog/hfconfig.js";
import { lossRefusal, needsEagerAttention, packingRefusal } from "../catalog/params.js";
import type { ModelEntry } from "../catalog/types.js";
import { findPreset } from "./presets.js";
import { RECIPE_DEFAULTS } from "./recipes.js";
import type { Recipe } from "../protocol/index.js";
import { FIELD_HINTS, RunConfigSchema, type RunConfig } from "./schema.js";

type Plain = Record<string, unknown>;

const isPlain = (v: unknown): v is Plain => typeof v === "object" && v !== null && !Array.isArray(v);

/** Deep merge where `over` wins; arrays are replaced, not concatenated. */
export function deepMerge(base: Plain, over: Plain): Plain {
  const out: Plain = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) continue;
    const b = out[k];
    out[k] = isPlain(b) && isPlain(v) ? deepMerge(b, v) : v;
  }
  return out;
}

/**
 * YAML where a warning (an unknown `!tag`, a stray `%directive`) is an error like any other: the
 * library would print it on stderr as a Node warning and go on with a value the user did not mean.
 */
export function parseYamlStrict(text: string): unknown {
  const doc = parseDocument(text, { logLevel: "silent" });
  const first = doc.errors[0] ?? doc.warnings[0];
  if (first) throw first;
  return doc.toJS();
}

/** Reads a JSON or YAML config document. */
export function readConfigFile(path: string): Plain {
  if (!existsSync(path)) {
    throw new LoraprofError("CONFIG_INVALID", `config file not found: ${path}`, {
      problems: [
        { field: "--config", message: "no such file", hint: "check the path, or run without --config" },
      ],
    });
  }
  const text = readFileSync(path, "utf8");
  const ext = extname(path).toLowerCase();
  let doc: unknown;
  try {
    doc = ext === ".json" ? JSON.parse(text) : parseYamlStrict(text);
  } catch (err) {
    const where =
      err instanceof YAMLError && err.linePos
        ? ` at line ${err.linePos[0].line}, column ${err.linePos[0].col}`
        : "";
    throw new LoraprofError("CONFIG_INVALID", `cannot parse ${path}${where}`, {
      problems: [
        {
          field: path,
          message: (err as Error).message.split("\n")[0] ?? "parse error",
          hint:
            ext === ".json"
              ? "fix the JSON syntax (a YAML file needs a .yaml extension)"
              : "fix the YAML syntax",
        },
      ],
    });
  }
  if (doc === null || doc === undefined) return {};
  if (!isPlain(doc)) {
    throw new LoraprofError("CONFIG_INVALID", `${path} must hold one object of settings`, {
      problems: [
        {
          field: path,
          message: `found ${Array.isArray(doc) ? "an array" : typeof doc}`,
          hint: "write key: value settings",
        },
      ],
    });
  }
  return doc;
}

function levenshtein(a: string, b: string): number {
  const dp = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0]!;
    dp[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = dp[j]!;
      dp[j] = Math.min(dp[j]! + 1, dp[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return dp[b.length]!;
}

function knownKeys(path: (string | number)[]): string[] {
  let shape: z.ZodTypeAny | undefined = RunConfigSchema as unknown as z.ZodTypeAny;
  for (const key of path) {
    const inner = unwrap(shape);
    const s = (inner as unknown as { shape?: Record<string, z.ZodTypeAny> }).shape;
    shape = s?.[String(key)];
  }
  const inner = unwrap(shape);
  return Object.keys((inner as unknown as { shape?: Record<string, unknown> })?.shape ?? {});
}

function unwrap(t: z.ZodTypeAny | undefined): z.ZodTypeAny | undefined {
  let cur = t as unknown as { def?: { innerType?: unknown; in?: unknown; schema?: unknown } } | undefined;
  for (let i = 0; i < 8 && cur?.def; i++) {
    const next = cur.def.innerType ?? cur.def.in ?? cur.def.schema;
    if (!next) break;
    cur = next as typeof cur;
  }
  return cur as z.ZodTypeAny | undefined;
}

/** A fix read off the issue itself, for settings without a written hint: every problem has one. */
function issueHint(issue: z.core.$ZodIssue): string {
  const i = issue as z.core.$ZodIssue & {
    expected?: string;
    minimum?: number | bigint;
    maximum?: number | bigint;
    values?: unknown[];
  };
  switch (issue.code) {
    case "invalid_type":
      return `use a ${i.expected ?? "value of the documented type"} (examples/run.yaml documents every setting)`;
    case "too_small":
      return `use a value of at least ${String(i.minimum)}`;
    case "too_big":
      return `use a value of at most ${String(i.maximum)}`;
    case "invalid_value":
      return `use one of ${(i.values ?? []).map((v) => JSON.stringify(v)).join(", ")}`;
    default:
      return "examples/run.yaml documents this setting and its allowed values";
  }
}

/** Turns zod issues into problems with a fix each. */
export function issuesToProblems(issues: z.core.$ZodIssue[]): Problem[] {
  const problems: Problem[] = [];
  for (const issue of issues) {
    const path = issue.path.map(String);
    if (issue.code === "unrecognized_keys") {
      const candidates = knownKeys(issue.path as (string | number)[]);
      for (const key of issue.keys) {
        const best = candidates
          .map((c) => ({ c, d: levenshtein(key.toLowerCase(), c.toLowerCase()) }))
          .sort((x, y) => x.d - y.d)[0];
        problems.push({
          // An empty key (`: 1` in YAML) would otherwise name no field at all.
          field: [...path, key === "" ? '""' : key].join("."),
          message: key === "" ? "a setting with an empty name" : "unknown setting",
          hint:
            best && best.d <= Math.max(2, Math.floor(key.length / 3))
              ? `did you mean "${best.c}"?`
              : `remove it; known settings here: ${candidates.join(", ")}`,
        });
      }
      continue;
    }
    const field = path.join(".") || "(config)";
    const hint = FIELD_HINTS[path[0] ?? ""] ?? issueHint(issue);
    problems.push({ field, message: issue.message, hint });
  }
  return problems;
}

export interface LoadConfigOptions {
  /** Path of a JSON/YAML config file. */
  configPath?: string;
  /** Already-parsed document (instead of a file), e.g. from a sweep spec. */
  document?: Plain;
  /** Settings from flags: win over the file. */
  overrides?: Plain;
  /** Flag values that could not be converted (FlagParse.problems): reported with the schema's. */
  flagProblems?: Problem[];
}

/** Defaults < preset < file < flags, validated. Throws CONFIG_INVALID listing every problem. */
export function loadRunConfig(opts: LoadConfigOptions = {}): RunConfig {
  const fileDoc = opts.configPath ? readConfigFile(opts.configPath) : (opts.document ?? {});
  const merged = deepMerge(fileDoc, opts.overrides ?? {});
  const presetName = merged["preset"];
  let base: Plain = {};
  if (typeof presetName === "string") {
    const preset = findPreset(presetName);
    if (preset) base = preset.config as Plain;
  }
  const recipe = merged["recipe"] ?? base["recipe"];
  const recipeDefaults = typeof recipe === "string" ? RECIPE_DEFAULTS[recipe as Recipe] : undefined;
  const input = deepMerge(deepMerge(base, (recipeDefaults ?? {}) as Plain), merged);
  scaleDefaultWarmup(input, merged);
  defaultAttention(input);
  fitRecipeToModel(input, merged);
  const parsed = RunConfigSchema.safeParse(input);
  const problems = [
    ...(opts.flagProblems ?? []),
    ...(parsed.success ? [] : issuesToProblems(parsed.error.issues)),
  ];
  if (parsed.success && problems.length) {
    throw new LoraprofError("FLAG_INVALID", `invalid flag value${problems.length > 1 ? "s" : ""}`, {
      problems,
    });
  }
  if (!parsed.success) {
    const where = opts.configPath ? ` in ${opts.configPath}` : "";
    throw new LoraprofError(
      "CONFIG_INVALID",
      `invalid run configuration${where}: ${problems.length} problem${problems.length === 1 ? "" : "s"}`,
      { problems },
    );
  }
  return parsed.data;
}

/**
 * The fields a recipe sets besides a recommender candidate's own settings (src/plan/recommend.ts), as
 * `run --recipe R` resolves them for this file and these flags: the fast recipe's LoRA dropout 0 and cuDNN
 * attention off, unless the user's file or flags chose otherwise (defaults < preset < recipe < file < flags).
 */
export interface RecipeFields {
  loraDropout: number;
  cudnnAttention: boolean;
}

export function recipeFields(recipe: Recipe, opts: LoadConfigOptions = {}): RecipeFields {
  const config = loadRunConfig({ ...opts, overrides: { ...(opts.overrides ?? {}), recipe } });
  return { loraDropout: config.lora.dropout, cudnnAttention: config.cudnnAttention };
}

/**
 * Eager attention where the model needs it (soft-capped scores, Gemma 2) and nothing chose one; otherwise
 * the schema's SDPA. A model this cannot read yet is left to the run's own resolution, which names it.
 */
function defaultAttention(input: Plain): void {
  if (input["attnImplementation"] !== undefined) return;
  const entry = readableModel(input);
  if (entry && needsEagerAttention(entry.architecture)) input["attnImplementation"] = "eager";
}

/** The configuration's model as the planner and the engine read it, or null where it cannot be read yet. */
function readableModel(input: Plain): ModelEntry | null {
  if (typeof input["model"] !== "string") return null;
  try {
    return findModelOrHfConfig(input["model"]);
  } catch {
    return null;
  }
}

/**
 * A recipe's padding and loss where the model cannot take them (`packingRefusal`, `lossRefusal`: the engine's
 * `check_fast_path` enforces): the fast recipe's packed rows become `longest` under soft-capped attention
 * (Gemma 2) or a sliding window shorter than seqLen (Gemma 3 beyond 512 tokens), its fused loss `full` under
 * soft-capped logits, as the recommender plans such models; so `--recipe fast` runs on every model. What the
 * user's file or flags set (`merged`) is theirs to keep: the engine then names the conflict and its fix.
 */
function fitRecipeToModel(input: Plain, merged: Plain): void {
  const fromRecipe = (key: string) => input[key] !== undefined && !(key in merged);
  if (!fromRecipe("padding") && !fromRecipe("loss")) return;
  const entry = readableModel(input);
  if (!entry) return;
  const seqLen = typeof input["seqLen"] === "number" ? input["seqLen"] : DEFAULTS.seqLen;
  const padding = typeof input["padding"] === "string" ? input["padding"] : DEFAULTS.padding;
  const loss = typeof input["loss"] === "string" ? input["loss"] : DEFAULTS.loss;
  if (fromRecipe("padding") && padding === "packed" && packingRefusal(entry.architecture, seqLen))
    input["padding"] = "longest";
  if (fromRecipe("loss") && lossRefusal(entry.architecture, loss)) input["loss"] = "full";
}

/** The schema's defaults (an empty configuration parsed). */
const DEFAULTS = RunConfigSchema.parse({});
/** The schema's default warmup (RunConfigSchema.warmupSteps). */
const DEFAULT_WARMUP_STEPS = DEFAULTS.warmupSteps;

/**
 * Warmup steps for a run of `steps` whose warmup the user did not choose: a fifth of the steps, at
 * least 1 (0 for a one-step run), at most `cap`. Shared by `run` and `study`.
 */
export function scaledWarmupSteps(steps: number, cap: number): number {
  return Math.min(cap, steps <= 1 ? 0 : Math.max(1, Math.floor(steps / 5)));
}

/**
 * `--steps 5` alone must not be rejected for a warmup the user never typed: when the warmup comes
 * from the defaults or a preset and would leave no measured step, it is scaled down. A warmup the
 * user wrote (file or flag) is kept, and the schema names it if it is too long.
 */
function scaleDefaultWarmup(input: Plain, userDoc: Plain): void {
  const steps = input["steps"];
  if ("warmupSteps" in userDoc || typeof steps !== "number" || !Number.isInteger(steps) || steps < 1) return;
  const inherited = typeof input["warmupSteps"] === "number" ? input["warmupSteps"] : DEFAULT_WARMUP_STEPS;
  if (inherited >= steps) input["warmupSteps"] = scaledWarmupSteps(steps, inherited);
}
