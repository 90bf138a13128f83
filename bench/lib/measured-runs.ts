/**
 * Measured GPU runs from committed result files, as the planner's MeasuredRuns: what
 * bench/plan-accuracy.ts evaluates and bench/ship-calibration.ts fits the shipped calibration to.
 *
 * Runs are found by shape in the result files:
 *  - `loraprof run --json` objects (anything with `result.config`);
 *  - OOM runs recorded only by their command line and status (the config is rebuilt from the command
 *    with the CLI's own flag parser);
 *  - engine rows of the Trainer comparison (`rows[].engine`, config rebuilt from the preset and the
 *    file's command); the Trainer's own rows are left out (the planner models loraprof's engine);
 *  - bench/fast_probe.py results (`probe.results[]`: paper-run1's RunSpec with `changes`, measured
 *    in one process with synthetic weights, the first 5000 records, LoRA dropout 0);
 *  - loraprof rows of the peers comparison (`shapes[].runs[]` with tool loraprof: its command and figures).
 *
 * Record lengths: each run's dataset tokenized as the run did (subset and template from its config).
 * Result files name the dataset by the path it had on the GPU host; a path that does not exist here
 * is looked up by file name in the data dirs (default ../shared/data/alpaca).
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import * as plan from "../../src/index.js";
import { RUN_FLAGS, cacheDir, findGpu, flagsToOverrides, loadRunConfig } from "../../src/index.js";
import { repoRoot, type Json } from "./common.js";

export const root = repoRoot();

export const DEFAULT_DATA_DIRS = [resolve(root, "../shared/data/alpaca")];

const camel = (f: Json) => f.replace(/-([a-z])/g, (_: Json, c: Json) => c.toUpperCase());
const FLAG_KIND = new Map(RUN_FLAGS.map((f: Json) => [f.flag, f.kind]));

/** `loraprof run --preset x --no-grad-checkpointing ...` → commander-like options for flagsToOverrides. */
function optsFromArgs(tokens: Json) {
  const opts: Json = {};
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (!t.startsWith("--")) continue;
    const name = t.slice(2);
    if (name.startsWith("no-") && FLAG_KIND.get(name.slice(3)) === "bool") opts[camel(name.slice(3))] = false;
    else if (FLAG_KIND.get(name) === "bool" || FLAG_KIND.get(name) === "const") opts[camel(name)] = true;
    else if (FLAG_KIND.has(name)) opts[camel(name)] = tokens[++i];
    else if (name === "config") opts.config = tokens[++i];
    // --json, --quiet, --no-telemetry, --db, --label values etc. do not change the config
  }
  return opts;
}

/** The config overrides a command line's run flags make (what a sweep point or base takes). */
export function overridesFromArgs(tokens: Json): Record<string, unknown> {
  return flagsToOverrides(optsFromArgs(tokens));
}

export function configFromArgs(tokens: Json) {
  return loadRunConfig({ overrides: overridesFromArgs(tokens) });
}

/** fast_probe.py's RunSpec paths → RunConfig fields. */
const PROBE_FIELDS: Record<string, string> = {
  "data.padding": "padding",
  "data.seqLen": "seqLen",
  "data.batchSize": "batchSize",
  "train.precision": "precision",
  "train.kernels": "kernels",
  "train.lossImplementation": "loss",
  "train.method": "method",
  "train.gradCheckpointing": "gradCheckpointing",
  "train.fusedLora": "fusedLora",
  "train.cudaGraphs": "cudaGraphs",
};
const PROBE_BASE = [
  "--preset",
  "paper-run1",
  "--weights",
  "random",
  "--dataset",
  "alpaca_random_9k.json",
  "--subset",
  "5000",
  "--lora-dropout",
  "0",
  "--steps",
  "14",
  "--warmup-steps",
  "4",
];

function probeConfig(changes: Json) {
  const base = configFromArgs(PROBE_BASE);
  const out: Json = { ...base, optimizer: { ...base.optimizer } };
  for (const [path, value] of Object.entries(changes)) {
    if (path === "optimizer.name") out.optimizer.name = value;
    else if (PROBE_FIELDS[path]) out[PROBE_FIELDS[path]] = value;
    else throw new Error(`fast_probe change ${path} has no RunConfig field here`);
  }
  // The probe ran before the engine set the allocator: PyTorch's default.
  return { ...out, cudaAllocator: "default" };
}

/**
 * Peers comparisons whose loraprof runs predate CUDA graphs in `--recipe fast` (docs/fast-path.md: the fast recipe
 * without graphs measured ~1,000 real tok/s at run 1 in h200-peers-fast.json): their commands say
 * `--recipe fast`, which today also turns graphs on, so the config rebuilt from them must not.
 */
const FAST_RECIPE_BEFORE_GRAPHS = new Set(["h200-peers-fast.json"]);

/**
 * Probe files whose first variant left allocations alive into the next (its model's blocks and the CUDA
 * graphs' private pool: the file's own note), so a later variant's allocator peak is not its own either.
 */
const PROBE_VARIANTS_CARRY_ALLOCATIONS = new Set(["h200-graphs-warmup-probe.json"]);

/**
 * The allocator a peers comparison's loraprof runs used: its engine's `hello` (kept in the file's versions)
 * names the settings it applied; files from before the engine set the allocator ran PyTorch's default.
 */
function peersAllocator(doc: Json): "expandable" | "default" {
  const settings = doc?.versions?.loraprof?.allocator?.settings;
  return typeof settings === "string" && settings.includes("expandable_segments:True")
    ? "expandable"
    : "default";
}

/**
 * The planner's held-out checks (bench/plan-holdout.ts, run on a GPU), oldest first, by result-file
 * prefix. A check is held out until the planner is changed after its runs were seen; from then on it
 * is spent, its runs are committed runs like any other (fits use them), and only the checks not yet
 * spent can vouch for the planner. Their predictions made before each run stay in their files.
 */
const S27 =
  "session 27 refitted the shipped calibrations with these runs: the device lends H100s (no H200 could be started in sessions 22-27, and its rules have an H100 serve for it), so this was the check's measurement; check 13 is the next";
const S26 =
  "session 26 changed the host model (operations counted per RMSNorm and for eager attention; the micro-step fixed cost held under 30 ms) and refitted the shipped calibrations with these runs after seeing the H100 reference-recipe steps of checks 9-11 (Llama 34-60% faster than planned)";

export const HOLDOUT_CHECKS: readonly { prefix: string; spent: string | null; fit?: false }[] = [
  {
    prefix: "h200-plan-holdout-",
    spent:
      "session 9 changed the host model (variableShapeHostFactor) and the peers runs' reading after seeing these runs; session 10 added them to the fits (the only committed runs of Qwen2.5-0.5B and 3B)",
  },
  // Never run on an H200: its configurations ran on the H100 below, and the planner changed after.
  {
    prefix: "h200-plan-holdout2-",
    spent:
      "its configurations were measured on an H100 (session 12) and session 13 changed the planner after seeing them (Qwen3's q/k-norm activations)",
  },
  // The same configurations on an H100 (session 12 got no H200): the planner's transfer to a GPU it has no
  // runs of (constants carried over from the H200 by bandwidth/FLOP ratio). Spent, but not fitted: the
  // shipped calibration stays the H200's.
  {
    prefix: "h100-plan-holdout2-",
    spent:
      "session 13 changed the planner after seeing these runs (Qwen3's q/k-norm activations: the 0.6B fast run's -12.8%)",
    fit: false,
  },
  // The third check (bench/plan-holdout.ts HOLDOUT3: Llama 3.2 1B/3B, Llama 3.1 8B, Qwen3 8B), on either card.
  {
    prefix: "h200-plan-holdout3-",
    spent:
      "session 21 refitted the H200's shipped calibration after seeing these runs (device median 2.0%, max 4.8%; tokens/s median 9.0%, max 50.9%: Llama 3.2 1B's host-bound reference QLoRA `longest` run), with them in the fits",
  },
  {
    prefix: "h100-plan-holdout3-",
    spent:
      "session 14 added the width term of GEMM efficiency (widthHalfEfficiency) after seeing these runs' fast 3B and 8B runs 28-40% faster than predicted",
    fit: false,
  },
  // The fourth check (bench/plan-holdout.ts HOLDOUT4: Qwen2.5-14B and Qwen3-14B; tune space on Qwen3-0.6B), on either card.
  { prefix: "h200-plan-holdout4-", spent: null },
  {
    prefix: "h100-plan-holdout4-",
    spent:
      "session 15 shipped an H100 fast-recipe calibration after seeing these runs (the transfer's fast 14B runs 22-31% slow; an H100 fit without them predicted them within 7.1%)",
    fit: false,
  },
  // The fifth (bench/plan-holdout.ts holdout5: Gemma 2 2B/9B, Gemma 3 1B; tune space on Gemma 3 1B), on either card.
  { prefix: "h200-plan-holdout5-", spent: null },
  {
    prefix: "h100-plan-holdout5-",
    spent:
      "session 16 modelled Gemma's four norms a layer, eager attention's saved scores, soft-capped logits and Liger's absence for Gemma after seeing these runs (device -26% to +5% before)",
    fit: false,
  },
  // The sixth (bench/plan-holdout.ts holdout6: eager attention on Gemma 2/3 and Qwen3 at new shapes, Gemma 3
  // QLoRA fast, a Gemma 2 2B run planned just inside 8 GiB; tune space on Qwen3-1.7B), on either card.
  { prefix: "h200-plan-holdout6-", spent: null },
  {
    prefix: "h100-plan-holdout6-",
    spent:
      "session 19 refitted the H100's shipped fast calibration with the study's runs (h100-study-fast.json: fast run 1 at 60 ms a step, 2.7x the calibration's prediction) after these runs were seen",
    fit: false,
  },
  // The seventh (bench/plan-holdout.ts holdout7: padded rows without cuDNN attention, max_length, the fast
  // recipe padded, Qwen2.5-3B QLoRA under 8 GiB; tune space on Llama 3.2 1B), on either card.
  { prefix: "h200-plan-holdout7-", spent: null },
  {
    prefix: "h100-plan-holdout7-",
    spent:
      "session 19 refitted the H100's shipped fast calibration with the study's runs (h100-study-fast.json) after these runs were seen",
    fit: false,
  },
  // The eighth (bench/plan-holdout.ts holdout8: small and large graphed steps on unseen models after the H100
  // fast refit of session 19, the reference recipe at max_length on Qwen3 4B; tune space on Qwen2.5-1.5B).
  {
    prefix: "h200-plan-holdout8-",
    spent:
      "its configurations ran on an H100 (h100-plan-holdout8-, 8r-) and session 26 changed the planner after",
  },
  { prefix: "h100-plan-holdout8-", spent: S26, fit: false },
  // Check 8's configurations measured again on an H100 in session 25, each for at least 4 s by its predicted step
  // (bench/plan-holdout.ts's window rule, added after session 24's 0.75 s window): the same predictions, made before
  // these runs by the same planner (unchanged since check 8 ran), so still a held-out check.
  { prefix: "h100-plan-holdout8r-", spent: S26, fit: false },
  // The ninth (bench/plan-holdout.ts holdout9: Qwen3-14B at configurations no card has run, new reference-recipe
  // configurations on Llama 3.2 3B and Qwen3-1.7B, Qwen3-4B fast under 8 GiB; tune space on Qwen3-0.6B). Written
  // for the H200 in session 22: check 4's configurations are in the H100's shipped fit.
  {
    prefix: "h200-plan-holdout9-",
    spent: "its configurations ran on an H100 (h100-plan-holdout9-) and session 26 changed the planner after",
  },
  { prefix: "h100-plan-holdout9-", spent: S26, fit: false },
  // The tenth (bench/plan-holdout.ts holdout10: configurations no card has run on models the H100's fit has at
  // others — Llama 3.1 8B QLoRA fast planned within 5% of 8 GiB, Gemma 2 9B under the fast recipe's padded
  // fallback, 16-bit LoRA without checkpointing; tune space on Llama 3.2 1B). Written for an H100 in session 25 and
  // run there the same session (device max 16.4%, tokens/s max 83.8%: docs/planner-accuracy.md).
  {
    prefix: "h200-plan-holdout10-",
    spent:
      "its configurations ran on an H100 (h100-plan-holdout10-) and session 25 changed the planner after",
  },
  {
    prefix: "h100-plan-holdout10-",
    spent:
      "session 25 classed runs by the kernels that run (shipped.ts recipeClass: Liger only where the engine applies it, fused LoRA no longer deciding) after seeing these runs' Gemma 2 9B fast fallback at +16.4% device under the fast class; in the H100's shipped fit since session 26",
    fit: false,
  },
  // The eleventh (bench/plan-holdout.ts holdout11), written in session 25 after check 10 was spent, for an H100:
  // host-bound reference steps, Gemma's fast fallbacks, the fast recipe with the full loss. Its first four
  // configurations ran on an H100 in session 25's last device seconds (h100-plan-holdout11a-: the call's deadline
  // cut the other three); a full run writes h100-plan-holdout11-.
  {
    prefix: "h200-plan-holdout11-",
    spent:
      "four of its configurations ran on an H100 (h100-plan-holdout11a-) and session 26 changed the planner after",
  },
  { prefix: "h100-plan-holdout11-", spent: S26, fit: false },
  { prefix: "h100-plan-holdout11a-", spent: S26, fit: false },
  // The twelfth (bench/plan-holdout.ts holdout12), written in session 26 after checks 8-11 were spent, for either card:
  // host-bound reference steps on Llama and Qwen2.5-7B, the fast recipe on Qwen3-8B and Llama 3.2 3B, Gemma 2 2B's
  // fast fallback and three configurations under 8 GiB (one planned out of memory).
  {
    prefix: "h200-plan-holdout12-",
    spent: "its configurations ran on an H100 (h100-plan-holdout12-) and session 27 refitted with them",
  },
  { prefix: "h100-plan-holdout12-", spent: S27, fit: false },
  // The thirteenth (bench/plan-holdout.ts holdout13), written in session 27 after check 12 was spent, for either
  // card: reference steps on Qwen3 4B (`longest`), Llama 3.2 3B (fp16 at max_length), Qwen3 8B and Gemma 3 1B packed,
  // the fast recipe on Llama 3.1 8B LoRA, Qwen2.5 3B at b16 and Qwen3 1.7B with the full loss, two budgets of 8 GiB.
  {
    prefix: "h200-plan-holdout13-",
    spent:
      "its configurations ran on an H100 (h100-plan-holdout13-) and session 27 changed the planner after",
  },
  {
    prefix: "h100-plan-holdout13-",
    spent:
      "session 27 gave a fast-class run with the full or chunked loss the reference class's allocator reserve share too (shipped.ts LOSS_MEMORY_KEYS) after seeing this check's Qwen3 1.7B `--recipe fast --loss full` run at -13.3% device, and refitted with its runs",
    fit: false,
  },
  // The fourteenth (bench/plan-holdout.ts holdout14), written in session 27 after check 13 was spent, for either card.
  {
    prefix: "h200-plan-holdout14-",
    spent:
      "its configurations ran on an H100 (h100-plan-holdout14-) and session 28 changed the planner after",
  },
  {
    prefix: "h100-plan-holdout14-",
    spent:
      "session 28 held a graphed run's full or chunked loss buffers apart from its CUDA graphs' pool (memory.ts lossBesideGraphPool) after seeing this check's Qwen2.5 1.5B `--recipe fast --loss chunked` run at -13.8% device, and refitted with its runs",
    fit: false,
  },
  // The fifteenth (bench/plan-holdout.ts holdout15), written in session 28 after check 14 was spent, for either card.
  { prefix: "h200-plan-holdout15-", spent: null },
  { prefix: "h100-plan-holdout15-", spent: null },
];

/** A holdout check's result file, on any GPU (`<gpu>-plan-holdout…json`). */
export const isHoldoutFile = (file: string) => /^[a-z0-9]+-plan-holdout/.test(file);

/** The check a result file belongs to, or null. */
export const holdoutCheckOf = (file: string) => HOLDOUT_CHECKS.find((c) => file.startsWith(c.prefix)) ?? null;

/** Result files no calibration or in-sample figure may use: unspent holdout checks' runs and the accuracy report. */
export const notForFitting = (file: Json) =>
  file === "plan-accuracy.json" ||
  (typeof file === "string" &&
    isHoldoutFile(file) &&
    (!holdoutCheckOf(file)?.spent || holdoutCheckOf(file)?.fit === false));

/** Every run in the result files of `dir` (files for which `skip` is true left out), as stored-run-like objects. */
export function readResultRuns(
  dir: string,
  skip: (file: string) => boolean = notForFitting,
): { runs: Json[]; excluded: Json[] } {
  const runs: Json[] = [];
  const excluded: Json[] = [];
  const seen = new Set();
  const probeFilesSeen = new Set<string>();
  const add = (r: Json) => {
    if (r.id && seen.has(r.id)) return;
    if (r.id) seen.add(r.id);
    runs.push(r);
  };
  for (const file of readdirSync(dir)
    .filter((f) => f.endsWith(".json") && !skip(f))
    .sort()) {
    const doc = JSON.parse(readFileSync(join(dir, file), "utf8"));
    const fileGpu = doc?.environment?.gpu ?? (typeof doc?.gpu === "string" ? doc.gpu : null);
    const gpuName = fileGpu && /H200/.test(fileGpu) ? "NVIDIA H200" : fileGpu;
    const env = gpuName ? { device: { kind: "cuda", name: gpuName } } : null;
    const fileArgs = typeof doc?.command === "string" ? doc.command.split(/\s+/) : [];
    const afterDashes = fileArgs.includes("--") ? fileArgs.slice(fileArgs.indexOf("--") + 1) : [];
    const visit = (node: Json, name: Json) => {
      if (Array.isArray(node)) return node.forEach((x, i) => visit(x, `${name}[${i}]`));
      if (!node || typeof node !== "object") return;
      const label = node.name ?? node.preset ?? name;
      if (node.result && typeof node.result === "object" && node.result.config) {
        add({ ...node.result, name: label, file });
        return;
      }
      // A file that is one `run --json` object (h200-mfu-lora-bf16.json), or a benchmark whose `runs`
      // are such objects (h100-mfu-onenode.json; h100-study-fast.json's `runs show --json`, whose OOM runs
      // have no metrics).
      if (
        node.config &&
        typeof node.config === "object" &&
        node.status &&
        (node.metrics || node.status === "oom")
      ) {
        if (node === doc) {
          add({ ...node, name: file.replace(/\.json$/, ""), file });
          return;
        }
        if (Array.isArray(doc.runs) && doc.runs.includes(node)) {
          add({ ...node, name: `${node.config.label ?? name} ${node.id ?? ""}`.trim(), file });
          return;
        }
      }
      // A benchmark's row holding a stored run under `run` (h200-mfu-eager.json).
      if (node.run && typeof node.run === "object" && node.run.config && node.run.metrics) {
        add({ ...node.run, name: `${label} ${node.shape ?? ""}`.trim(), file });
        return;
      }
      if (typeof node.command === "string" && node.command.startsWith("loraprof run") && node.figures) {
        const f = node.figures;
        add({
          id: node.runId ?? null,
          name: `${label} ${node.repeat ?? ""}`.trim(),
          file,
          status: "completed",
          config: {
            ...configFromArgs(node.command.split(/\s+/).slice(2)),
            cudaAllocator: peersAllocator(doc),
            ...(FAST_RECIPE_BEFORE_GRAPHS.has(file) ? { cudaGraphs: false } : {}),
          },
          environment: env,
          metrics: {
            peakDeviceBytes: f.deviceBytes,
            peakAllocatedBytes: f.peakAllocatedBytes,
            realTokensPerSecond: f.realTokensPerSecond,
            measuredSteps: f.measuredSteps,
          },
        });
        return;
      }
      if (typeof node.command === "string" && node.command.startsWith("loraprof run") && node.status) {
        add({
          id: null,
          name: label,
          file,
          status: node.status,
          config: { ...configFromArgs(node.command.split(/\s+/).slice(2)), cudaAllocator: "default" },
          environment: env,
          metrics: null,
          error: node.status === "oom" ? { kind: "oom" } : null,
        });
        return;
      }
      if (node.engine && node.preset) {
        add({
          id: node.engineRunId ?? null,
          name: `${node.preset} (${file.replace(/\.json$/, "")})`,
          file,
          status: "completed",
          config: { ...configFromArgs(["--preset", node.preset, ...afterDashes]), cudaAllocator: "default" },
          environment: env,
          // Only allocator peaks and rates were kept for these rows: no device peak.
          metrics: node.engine,
        });
        if (node.trainer)
          excluded.push({
            name: `${node.preset} trainer (${file})`,
            reason: "HF Trainer run, not loraprof's engine",
          });
        return;
      }
      if (node.changes && typeof node.changes === "object" && node.measuredSteps !== undefined) {
        // The probe runs its variants one after another in one process, and NVML's figure is the whole
        // device's: after the first variant it carries what earlier ones left (loaded kernels, cuBLAS
        // workspaces of their streams). Only a file's first variant has a device peak of its own.
        const firstInProcess = !probeFilesSeen.has(file);
        probeFilesSeen.add(file);
        add({
          id: null,
          name: `probe ${node.name} (${file.replace(/\.json$/, "")})`,
          file,
          status: node.error ? "failed" : "completed",
          config: probeConfig(node.changes),
          environment: env,
          metrics: {
            peakDeviceBytes: firstInProcess ? node.nvmlPeakDeviceBytes : null,
            peakAllocatedBytes:
              firstInProcess || !PROBE_VARIANTS_CARRY_ALLOCATIONS.has(file) ? node.peakAllocatedBytes : null,
            realTokensPerSecond: node.realTokensPerSecond,
            measuredSteps: node.measuredSteps,
          },
        });
        return;
      }
      if (Array.isArray(node.runs) && node.flags) {
        // peers comparison: only loraprof's rows (the peers run other code).
        for (const r of node.runs) if (r.tool === "loraprof") visit(r, `${label}`);
        return;
      }
      for (const [k, v] of Object.entries(node)) if (k !== "environment" && k !== "versions") visit(v, k);
    };
    visit(doc, file);
  }
  return { runs, excluded };
}

/**
 * Runs → planner inputs with measurements. `budgetBytes`: also judge fit/OOM under that budget
 * (a budget run's own outcome when it ran under it, else whether its NVML device peak stayed within it).
 */
export async function measuredItems(
  runs: Json,
  {
    dataDirs = DEFAULT_DATA_DIRS,
    budgetBytes = null,
  }: { dataDirs?: string[]; budgetBytes?: number | null } = {},
): Promise<{ items: Json[]; excluded: Json[] }> {
  const excluded = [];
  const localDataset = (config: Json) => {
    const d = config.dataset;
    if (d === "synthetic" || d === "alpaca" || existsSync(d)) return config;
    for (const dir of dataDirs) {
      const p = join(dir, basename(d));
      if (existsSync(p)) return { ...config, dataset: p };
    }
    return null;
  };
  const items = [];
  const lengthMemo = new Map();
  for (const r of runs) {
    const gpu = plan.runGpu(r) ?? (r.environment?.device?.name ? findGpu(r.environment.device.name) : null);
    if (!gpu) {
      excluded.push({ name: r.name, reason: "not a catalogued GPU run" });
      continue;
    }
    const measured = plan.measuredFromRun(r);
    if (!measured) {
      excluded.push({ name: r.name, reason: `status ${r.status}` });
      continue;
    }
    const config = localDataset(r.config);
    if (!config) {
      excluded.push({ name: r.name, reason: `dataset ${r.config.dataset} not found here` });
      continue;
    }
    const model = plan.planModel(config);
    const key = JSON.stringify([
      config.dataset,
      config.subset,
      config.subsetMode,
      config.seed,
      config.template,
      model.tokenizer,
      config.syntheticRecords,
    ]);
    if (!lengthMemo.has(key))
      lengthMemo.set(key, await plan.datasetLengths(config, model, { cacheDir: cacheDir() }));
    const lengths = lengthMemo.get(key);
    const input = plan.planInputFromConfig(config, { gpu, lengthStats: lengths.stats });
    let budgetRun = null;
    if (budgetBytes !== null) {
      const budgeted = input.vramBudgetBytes !== null;
      const fitsBudget =
        budgeted && input.vramBudgetBytes === budgetBytes
          ? !measured.oom
          : measured.devicePeakBytes !== null
            ? measured.devicePeakBytes <= budgetBytes
            : measured.oom && !budgeted
              ? false
              : null;
      budgetRun =
        fitsBudget === null
          ? null
          : {
              input: { ...input, vramBudgetBytes: budgetBytes },
              measured: { ...measured, oom: !fitsBudget },
            };
    }
    items.push({
      run: r,
      gpu,
      lengths,
      measuredRun: { input, measured },
      budgetRun,
      recipeClass: plan.recipeClass(input),
      shape: `b${input.batchSize}×s${input.seqLen} ${input.precision}${input.gradCheckpointing ? "" : " no-ckpt"} ${input.method} ${input.padding}${input.lossImplementation === "full" ? "" : ` ${input.lossImplementation}`}`,
    });
  }
  return { items, excluded };
}
