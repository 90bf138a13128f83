/**
 * Run flags, defined once: each maps to a RunConfig field. Shared by `run`, `plan` and `sweep`.
 * Flag values arrive as strings; they are converted here (a bad number names the flag) and then
 * validated with the config file by the one schema.
 */
import type { Command } from "commander";
import { Option } from "commander";
import { loadRunConfig, recipeFields, type RecipeFields } from "../config/load.js";
import { RECIPES, type Recipe } from "../protocol/index.js";
import type { RunConfig } from "../config/schema.js";
import { LoraprofError, type Problem } from "../util/errors.js";

type Kind =
  "string" | "int" | "number" | "bool" | "list" | "map" | "nullable-int" | "nullable-number" | "const";

interface FlagDef {
  flag: string;
  field: string;
  kind: Kind;
  description: string;
  choices?: readonly string[];
  /** kind const: the value a bare flag sets (e.g. --packing sets padding to packed). */
  value?: string;
  /** Another name the flag answers to (hidden from --help, which shows the flag's own name). */
  alias?: string;
}

export const RUN_FLAGS: FlagDef[] = [
  {
    flag: "preset",
    field: "preset",
    kind: "string",
    description: "start from a study run: paper-run1|paper-run2|paper-run3",
  },
  { flag: "label", field: "label", kind: "string", description: "free-text label stored with the run" },
  {
    flag: "model",
    field: "model",
    kind: "string",
    description: "catalog id, Hugging Face id or local folder (default tiny-qwen2)",
  },
  {
    flag: "weights",
    field: "weights",
    kind: "string",
    description: "auto|random|pretrained (random: seeded synthetic checkpoint)",
  },
  { flag: "revision", field: "revision", kind: "string", description: "hub revision for pretrained weights" },
  {
    flag: "dataset",
    field: "dataset",
    kind: "string",
    description:
      "dataset file or folder (JSON, JSONL, CSV, TSV, Parquet, Arrow, save_to_disk), hub id in the HF cache, alpaca (download) or synthetic",
  },
  {
    flag: "format",
    field: "format",
    kind: "string",
    description: "auto|alpaca|openai|sharegpt|text|completion record format (default auto: detected)",
  },
  {
    flag: "columns",
    field: "columns",
    kind: "map",
    description: "map format fields to the file's columns, e.g. instruction=prompt,output=completion",
  },
  {
    flag: "synthetic-records",
    field: "syntheticRecords",
    kind: "int",
    description: "records generated for --dataset synthetic",
  },
  { flag: "subset", field: "subset", kind: "nullable-int", description: "use only N records" },
  { flag: "subset-mode", field: "subsetMode", kind: "string", description: "first|random (seeded) subset" },
  {
    flag: "seed",
    field: "seed",
    kind: "int",
    description: "seed for subset, order, synthetic weights, LoRA init",
  },
  {
    flag: "template",
    field: "template",
    kind: "string",
    description:
      "auto|alpaca|chatml|raw|model|qwen2.5|qwen3|llama3|mistral|gemma|phi3 (auto: alpaca for Alpaca records, the model's chat template for chats)",
  },
  {
    flag: "mask-prompt",
    field: "maskPrompt",
    kind: "bool",
    description: "exclude prompt tokens from the loss",
  },
  {
    flag: "seq-len",
    field: "seqLen",
    kind: "int",
    description: "truncate records to N tokens (default 512)",
  },
  { flag: "batch-size", field: "batchSize", kind: "int", description: "records per micro-batch (default 1)" },
  {
    flag: "grad-accum",
    field: "gradAccum",
    kind: "int",
    description: "micro-batches per optimizer step (default 1)",
  },
  {
    flag: "recipe",
    field: "recipe",
    kind: "string",
    description: "reference|fast (fast: --packing, --loss fused, --kernels liger unless you set them)",
  },
  { flag: "padding", field: "padding", kind: "string", description: "longest|max_length|packed" },
  {
    flag: "packing",
    field: "padding",
    kind: "const",
    value: "packed",
    description: "pack whole records into rows of up to --seq-len tokens (same as --padding packed)",
  },
  {
    flag: "kernels",
    field: "kernels",
    kind: "string",
    description: "none|liger (Liger's fused RMSNorm, SwiGLU, RoPE; GPU only)",
  },
  {
    flag: "fused-lora",
    field: "fusedLora",
    kind: "bool",
    description: "add LoRA updates with one addmm per layer (fast recipe default)",
  },
  {
    flag: "cudnn-attention",
    field: "cudnnAttention",
    kind: "bool",
    description: "let SDPA use cuDNN attention (PyTorch's default; --no-cudnn-attention in the fast recipe)",
  },
  {
    flag: "cuda-graphs",
    field: "cudaGraphs",
    kind: "bool",
    description:
      "replay the decoder's forward and backward as CUDA graphs (packed, GPU; fast recipe default)",
  },
  {
    flag: "offload-activations",
    field: "offloadActivations",
    kind: "bool",
    description:
      "with --grad-checkpointing, keep each layer's checkpointed input in pinned host memory until its recompute (GPU)",
  },
  {
    flag: "compile",
    field: "compile",
    kind: "string",
    description:
      "none|layers (compile each decoder layer with torch.compile; eager decoder on a GPU, not with CUDA graphs)",
  },
  { flag: "precision", field: "precision", kind: "string", description: "auto|fp32|fp16|bf16" },
  {
    flag: "cuda-allocator",
    field: "cudaAllocator",
    kind: "string",
    description: "expandable|default (PyTorch's caching allocator; default expandable segments)",
  },
  { flag: "method", field: "method", kind: "string", description: "lora|qlora" },
  { flag: "lora-r", field: "lora.r", kind: "int", description: "LoRA rank (default 16)" },
  { flag: "lora-alpha", field: "lora.alpha", kind: "number", description: "LoRA alpha (default 32)" },
  { flag: "lora-dropout", field: "lora.dropout", kind: "number", description: "LoRA dropout (default 0.05)" },
  {
    flag: "lora-targets",
    field: "lora.targetModules",
    kind: "list",
    description: "all-linear, or comma-separated module names",
  },
  { flag: "quant-type", field: "quant.type", kind: "string", description: "nf4|fp4 (qlora)" },
  {
    flag: "double-quant",
    field: "quant.doubleQuant",
    kind: "bool",
    description: "double quantization (qlora, default on)",
  },
  {
    flag: "optimizer",
    field: "optimizer.name",
    kind: "string",
    description: "adamw_torch|adamw_torch_fused|adamw_8bit|paged_adamw_8bit|paged_adamw_32bit",
  },
  { flag: "lr", field: "optimizer.lr", kind: "number", description: "learning rate (default 2e-4)" },
  {
    flag: "weight-decay",
    field: "optimizer.weightDecay",
    kind: "number",
    description: "AdamW weight decay (default 0)",
  },
  {
    flag: "max-grad-norm",
    field: "optimizer.maxGradNorm",
    kind: "nullable-number",
    description: "gradient clipping norm, or none",
  },
  { flag: "lr-schedule", field: "optimizer.schedule", kind: "string", description: "constant|linear|cosine" },
  {
    flag: "grad-checkpointing",
    field: "gradCheckpointing",
    kind: "bool",
    description: "gradient checkpointing (non-reentrant)",
  },
  {
    flag: "attn",
    field: "attnImplementation",
    kind: "string",
    description: "sdpa|eager attention (default sdpa; eager where scores are soft-capped: Gemma 2)",
  },
  {
    flag: "loss",
    field: "loss",
    kind: "string",
    description:
      "full|chunked|fused (chunked: LM head + loss in chunks; fused: Liger's fused linear cross-entropy)",
  },
  {
    flag: "loss-chunk-tokens",
    field: "lossChunkTokens",
    kind: "int",
    description: "target tokens per chunk with --loss chunked (default 1024)",
  },
  {
    flag: "steps",
    field: "steps",
    kind: "int",
    description: "optimizer steps in all, warmup included (default 50)",
  },
  {
    flag: "warmup-steps",
    field: "warmupSteps",
    kind: "int",
    description: "steps excluded from the measured window (default 5)",
  },
  {
    flag: "log-every",
    field: "logEverySteps",
    kind: "int",
    description: "steps between event flushes (default 10)",
  },
  { flag: "device", field: "device", kind: "string", description: "auto|cpu|cuda|cuda:N" },
  {
    flag: "vram-budget",
    field: "vramBudget",
    kind: "string",
    description: 'emulate a smaller card, e.g. "8GiB"',
    alias: "gpu-budget",
  },
];

const camel = (flag: string) => flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

export function addRunFlags(cmd: Command): Command {
  cmd.option("-c, --config <file>", "run config file (JSON or YAML); flags override it");
  for (const f of RUN_FLAGS) {
    if (f.kind === "const") {
      cmd.addOption(new Option(`--${f.flag}`, f.description));
    } else if (f.kind === "bool") {
      cmd.addOption(new Option(`--${f.flag}`, f.description));
      cmd.addOption(new Option(`--no-${f.flag}`).hideHelp());
    } else {
      cmd.addOption(new Option(`--${f.flag} <value>`, f.description));
      if (f.alias) cmd.addOption(new Option(`--${f.alias} <value>`).hideHelp());
    }
  }
  return cmd;
}

/** The flag's value and the name it was given under (its own, or its alias); two names at once is a problem. */
function flagValue(
  f: FlagDef,
  opts: Record<string, unknown>,
  problems: Problem[],
): { raw: unknown; name: string } {
  const own = opts[camel(f.flag)];
  const aliased = f.alias ? opts[camel(f.alias)] : undefined;
  if (own !== undefined && aliased !== undefined && String(own) !== String(aliased))
    problems.push({
      field: `--${f.flag}`,
      message: `given as "${String(own)}" and as --${f.alias} "${String(aliased)}"`,
      hint: `--${f.alias} is another name for --${f.flag}: give one of them`,
    });
  if (own === undefined && f.alias && aliased !== undefined) return { raw: aliased, name: f.alias };
  return { raw: own, name: f.flag };
}

function setPath(obj: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split(".");
  let cur = obj;
  for (const k of keys.slice(0, -1)) {
    cur[k] = (cur[k] as Record<string, unknown> | undefined) ?? {};
    cur = cur[k] as Record<string, unknown>;
  }
  cur[keys[keys.length - 1]!] = value;
}

/** Commander's parsed options → a nested overrides object. Throws FLAG_INVALID listing every bad flag. */
export function flagsToOverrides(opts: Record<string, unknown>): Record<string, unknown> {
  const { overrides, problems } = parseRunFlags(opts);
  if (problems.length) {
    throw new LoraprofError("FLAG_INVALID", `invalid flag value${problems.length > 1 ? "s" : ""}`, {
      problems,
    });
  }
  return overrides;
}

/**
 * The run config a command's flags (and `--config` file) describe. A flag that is not a number and
 * a flag the schema rejects are reported together: every mistake at once, not the first one found.
 */
export function runConfigFromFlags(opts: Record<string, unknown>): RunConfig {
  const { overrides, problems } = parseRunFlags(opts);
  try {
    return loadRunConfig({
      ...(typeof opts["config"] === "string" ? { configPath: opts["config"] } : {}),
      overrides,
      flagProblems: problems,
    });
  } catch (err) {
    // A problem with a value the user typed as a flag is named by that flag.
    if (err instanceof LoraprofError) {
      for (const p of err.problems) {
        const flag = RUN_FLAGS.find((f) => f.field === p.field);
        if (!flag) continue;
        const { raw, name } = flagValue(flag, opts, []);
        if (raw !== undefined) p.field = `--${name}`;
      }
    }
    throw err;
  }
}

/**
 * Each recipe's LoRA dropout and cuDNN attention as `run --recipe R` with these flags and config file would
 * resolve them: what the recommender's candidates of that recipe run with (`plan --fit`, `tune`).
 */
export function recipeFieldsFromFlags(opts: Record<string, unknown>): Record<Recipe, RecipeFields> {
  const { overrides } = parseRunFlags(opts);
  const file = typeof opts["config"] === "string" ? { configPath: opts["config"] } : {};
  return Object.fromEntries(RECIPES.map((r) => [r, recipeFields(r, { ...file, overrides })])) as Record<
    Recipe,
    RecipeFields
  >;
}

/** Commander's parsed options → overrides, and the flags whose values could not be converted. */
export function parseRunFlags(opts: Record<string, unknown>): {
  overrides: Record<string, unknown>;
  problems: Problem[];
} {
  const out: Record<string, unknown> = {};
  const problems: Problem[] = [];
  for (const f of RUN_FLAGS) {
    const { raw, name } = flagValue(f, opts, problems);
    if (raw === undefined) continue;
    const bad = (what: string) =>
      problems.push({
        field: `--${name}`,
        message: `"${String(raw)}" is not ${what}`,
        hint: f.description,
      });
    const s = String(raw).trim();
    switch (f.kind) {
      case "bool":
        setPath(out, f.field, Boolean(raw));
        break;
      case "const":
        if (raw === true) setPath(out, f.field, f.value);
        break;
      case "string":
        setPath(out, f.field, s);
        break;
      case "list":
        setPath(
          out,
          f.field,
          s === "all-linear"
            ? s
            : s
                .split(",")
                .map((x) => x.trim())
                .filter(Boolean),
        );
        break;
      case "map": {
        const map: Record<string, string> = {};
        for (const part of s.split(",")) {
          const m = /^\s*([^=\s]+)\s*=\s*([^=]+?)\s*$/.exec(part);
          if (m) map[m[1] as string] = m[2] as string;
          else bad("a list of field=column pairs");
        }
        setPath(out, f.field, map);
        break;
      }
      case "int":
      case "nullable-int": {
        if (f.kind === "nullable-int" && /^(none|null|all)$/i.test(s)) {
          setPath(out, f.field, null);
          break;
        }
        const n = Number(s);
        if (!/^-?\d+$/.test(s) || !Number.isSafeInteger(n)) bad("a whole number");
        else setPath(out, f.field, n);
        break;
      }
      case "number":
      case "nullable-number": {
        if (f.kind === "nullable-number" && /^(none|null|off)$/i.test(s)) {
          setPath(out, f.field, null);
          break;
        }
        const n = Number(s);
        if (s === "" || !Number.isFinite(n)) bad("a number");
        else setPath(out, f.field, n);
        break;
      }
    }
  }
  if (typeof out["vramBudget"] === "string" && /^(none|null|off)$/i.test(out["vramBudget"]))
    out["vramBudget"] = null;
  return { overrides: out, problems };
}
