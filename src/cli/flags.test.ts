import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { describe, expect, it } from "vitest";
import { LoraprofError } from "../util/errors.js";
import { addRunFlags, recipeFieldsFromFlags, runConfigFromFlags } from "./flags.js";

const opts = (args: string[]) =>
  addRunFlags(new Command("run")).exitOverride().parse(args, { from: "user" }).opts();

function problemFields(args: string[]): string[] {
  try {
    runConfigFromFlags(opts(args));
  } catch (err) {
    expect(err).toBeInstanceOf(LoraprofError);
    expect((err as LoraprofError).exitCode).toBe(2);
    return (err as LoraprofError).problems.map((p) => p.field);
  }
  throw new Error("expected the flags to be rejected");
}

describe("run flags", () => {
  it("reports every bad flag at once, not only the one that is not a number", () => {
    expect(
      problemFields(["--batch-size", "0", "--steps", "-1", "--seq-len", "0", "--lr", "abc"]).sort(),
    ).toEqual(["--batch-size", "--lr", "--seq-len", "--steps"]);
  });

  it("names a problem by the flag the user typed", () => {
    expect(problemFields(["--lora-r", "0"])).toEqual(["--lora-r"]);
  });

  it("takes --gpu-budget as another name for --vram-budget, named as typed, and refuses both at odds", () => {
    expect(runConfigFromFlags(opts(["--gpu-budget", "8GiB"])).vramBudget).toBe(
      runConfigFromFlags(opts(["--vram-budget", "8GiB"])).vramBudget,
    );
    expect(runConfigFromFlags(opts(["--gpu-budget", "8GiB"])).vramBudget).not.toBeNull();
    expect(problemFields(["--gpu-budget", "lots"])).toEqual(["--gpu-budget"]);
    expect(problemFields(["--vram-budget", "8GiB", "--gpu-budget", "6GiB"])).toEqual(["--vram-budget"]);
    expect(
      runConfigFromFlags(opts(["--vram-budget", "8GiB", "--gpu-budget", "8GiB"])).vramBudget,
    ).not.toBeNull();
    const help = addRunFlags(new Command("run")).helpInformation();
    expect(help).toContain("--vram-budget");
    expect(help).not.toContain("--gpu-budget");
  });

  it("still names a config file's setting by its key", () => {
    const file = join(mkdtempSync(join(tmpdir(), "loraprof-flags-")), "run.yaml");
    writeFileSync(file, "batchSize: 0\n");
    expect(problemFields(["--config", file, "--seq-len", "0"]).sort()).toEqual(["--seq-len", "batchSize"]);
  });

  it("resolves each recipe's LoRA dropout and cuDNN attention as run would, the user's choice winning", () => {
    expect(recipeFieldsFromFlags(opts(["--model", "tiny-qwen2"]))).toEqual({
      reference: { loraDropout: 0.05, cudnnAttention: true },
      fast: { loraDropout: 0, cudnnAttention: false },
    });
    // a --recipe flag is the candidate's to change, not a choice of these fields
    expect(recipeFieldsFromFlags(opts(["--recipe", "fast", "--no-cudnn-attention"])).reference).toEqual({
      loraDropout: 0.05,
      cudnnAttention: false,
    });
    const file = join(mkdtempSync(join(tmpdir(), "loraprof-flags-")), "run.yaml");
    writeFileSync(file, "lora:\n  dropout: 0.1\n");
    expect(recipeFieldsFromFlags(opts(["--config", file])).fast).toEqual({
      loraDropout: 0.1,
      cudnnAttention: false,
    });
  });
});
