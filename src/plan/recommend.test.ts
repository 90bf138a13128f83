import { leftOutLine } from "../cli/commands/plan.js";
import { describe, expect, it } from "vitest";
import { candidateSettings, DEFAULT_SPACE, recommend } from "./recommend.js";
import { chooseConstants } from "./shipped.js";
import { eagerAttention } from "./memory.js";
import { gpu, model, qloraInput } from "./testing.js";

const GiB = 2 ** 30;

describe("the recommender", () => {
  it("searches recipe, padding, loss, checkpointing/offload, optimizer, precision and batch (the fast recipe packs with the fused loss)", () => {
    const all = candidateSettings(DEFAULT_SPACE);
    const shapes = 3 * 2 + 1;
    // checkpointing off, on, on with offload: offload is never searched without checkpointing
    expect(all).toHaveLength(shapes * 3 * 5 * 2 * 7);
    expect(all.some((c) => c.offloadActivations && !c.gradCheckpointing)).toBe(false);
    expect(
      all.filter((c) => c.recipe === "fast").every((c) => c.padding === "packed" && c.loss === "fused"),
    ).toBe(true);
  });

  it("ranks only what fits with the margin, fastest first, and says where the constants came from", () => {
    const g = gpu("rtx-4060");
    const rec = recommend(qloraInput({ gpu: g }), {
      constantsFor: (cls) => chooseConstants({ gpu: g, recipeClass: cls, user: null }),
    });
    expect(rec.ranked.length).toBeGreaterThan(0);
    expect(rec.ranked.length + rec.rejected).toBe(rec.considered);
    for (const c of rec.ranked)
      expect(c.devicePeakBytes).toBeLessThanOrEqual(rec.limitBytes * (1 - rec.marginFraction));
    for (let i = 1; i < rec.ranked.length; i++)
      expect(rec.ranked[i - 1]!.realTokensPerSecond!).toBeGreaterThanOrEqual(
        rec.ranked[i]!.realTokensPerSecond!,
      );
    expect(rec.ranked[0]!.constants).toMatch(/transferred from h200/);
    expect(rec.ranked[0]!.speedInterval!.low).toBeLessThan(rec.ranked[0]!.realTokensPerSecond!);
  });

  it("leaves bf16 out on a GPU without it, and fits less under a smaller budget", () => {
    const t4 = gpu("t4");
    const rec = recommend(qloraInput({ gpu: t4 }));
    expect(rec.ranked.some((c) => c.settings.precision === "bf16")).toBe(false);
    const tight = recommend(qloraInput({ vramBudgetBytes: 3 * GiB }));
    expect(tight.ranked.length).toBeLessThan(
      recommend(qloraInput({ vramBudgetBytes: 8 * GiB })).ranked.length,
    );
  });
});

describe("the recommender's recipes", () => {
  it("plans each recipe with its own LoRA dropout and cuDNN setting, as run --recipe would resolve them", () => {
    const input = qloraInput({ gpu: gpu("h200") });
    expect(input.lora.dropout).toBeGreaterThan(0);
    const space = { recipes: ["fast"] as const, optimizers: ["adamw_8bit"] as const, batchSizes: [1] };
    const fastOf = (rec: ReturnType<typeof recommend>) =>
      rec.ranked.find((c) => c.settings.gradCheckpointing && !c.settings.offloadActivations)!;
    const own = fastOf(recommend(input, { space }));
    const recipes = fastOf(
      recommend(input, {
        space,
        recipeFields: { fast: { loraDropout: 0, cudnnAttention: false } },
      }),
    );
    // with the config's dropout, checkpointing keeps the graphs off; with the recipe's 0 they replay
    expect(own.settings.loraDropout).toBe(input.lora.dropout);
    expect(recipes.settings).toMatchObject({ loraDropout: 0, cudnnAttention: false });
    expect(recipes.realTokensPerSecond!).toBeGreaterThan(own.realTokensPerSecond!);
  });
});

describe("recommend and the engine's refusals", () => {
  it("proposes nothing the engine would refuse for the model (check_fast_path)", () => {
    const settingsOf = (id: string, seqLen: number) =>
      recommend(qloraInput({ model: model(id), gpu: gpu("h200"), seqLen }), {
        includeUnfit: true,
      }).ranked.map((c) => c.settings);
    const gemma2 = settingsOf("gemma-2-2b", 1024);
    expect(gemma2.length).toBeGreaterThan(0);
    expect(gemma2.filter((s) => s.padding === "packed" || s.loss !== "full")).toEqual([]);
    // Gemma 3's 512-token window: packed rows only as wide as the window.
    expect(settingsOf("gemma-3-1b-it", 1024).some((s) => s.padding === "packed")).toBe(false);
    expect(settingsOf("gemma-3-1b-it", 512).some((s) => s.padding === "packed")).toBe(true);
    expect(settingsOf("qwen2.5-1.5b-instruct", 1024).some((s) => s.padding === "packed")).toBe(true);
  });

  it("says what it left out and why, and the counts add up to the whole space", () => {
    const input = (id: string) => qloraInput({ model: model(id), gpu: gpu("h200"), seqLen: 1024 });
    const gemma2 = recommend(input("gemma-2-2b"), { includeUnfit: true });
    const qwen = recommend(input("qwen2.5-1.5b-instruct"), { includeUnfit: true });
    expect(qwen.leftOut).toEqual([]);
    expect(leftOutLine(qwen)).toBeNull();
    expect(gemma2.leftOut.map((r) => r.reason).sort()).toEqual([
      "packed rows cannot soft-cap attention scores",
      "the chunked loss does not soft-cap the final logits",
    ]); // the space's fused loss comes only with packed rows, refused first
    const left = gemma2.leftOut.reduce((a, r) => a + r.count, 0);
    expect(gemma2.considered + left).toBe(qwen.considered);
    expect(leftOutLine(gemma2)).toMatch(
      new RegExp(`^left out ${left} candidates the engine refuses for this model: `),
    );
  });

  it("plans packed rows with the engine's packed attention even when eager is asked for", () => {
    expect(eagerAttention({ attnImplementation: "eager", padding: "longest" })).toBe(true);
    expect(eagerAttention({ attnImplementation: "eager", padding: "packed" })).toBe(false);
    expect(eagerAttention({ attnImplementation: "sdpa", padding: "max_length" })).toBe(false);
  });
});
