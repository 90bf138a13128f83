import { Command } from "commander";
import { describe, expect, it } from "vitest";
import { addRunFlags, flagsToOverrides } from "../cli/flags.js";
import { loadRunConfig } from "../config/load.js";
import { LoraprofError } from "../util/errors.js";
import { RunSpecSchema, type RunSpec } from "./protocol.js";
import { buildRunSpec, resolveConfig, resolveDevice, resolveModel } from "./resolve.js";

/** The `run` command's path from argv to the engine's RunSpec, on the CPU (no GPU probe). */
async function specFromArgs(args: string[]): Promise<RunSpec> {
  const cmd = addRunFlags(new Command("run")).exitOverride();
  cmd.parse(["--device", "cpu", ...args], { from: "user" });
  const config = loadRunConfig({ overrides: flagsToOverrides(cmd.opts()) });
  const model = resolveModel(config, "/tmp/loraprof-cache");
  const choice = await resolveDevice(config, () => Promise.reject(new Error("no probe on the CPU")));
  const spec = buildRunSpec({
    runId: "r",
    config: resolveConfig(config, model, choice),
    model,
    shardDir: "/tmp/shard",
    padTokenId: 0,
  });
  return RunSpecSchema.parse(spec);
}

describe("buildRunSpec", () => {
  it("passes --loss chunked and --loss-chunk-tokens to the engine's train section", async () => {
    const spec = await specFromArgs(["--loss", "chunked", "--loss-chunk-tokens", "256"]);
    expect(spec.train.lossImplementation).toBe("chunked");
    expect(spec.train.lossChunkTokens).toBe(256);
  });

  it("keeps the full loss and 1024-token chunks unless asked", async () => {
    const spec = await specFromArgs([]);
    expect(spec.train.lossImplementation).toBe("full");
    expect(spec.train.lossChunkTokens).toBe(1024);
  });

  it("refuses an unknown loss implementation, naming the field", async () => {
    const err = await specFromArgs(["--loss", "fused"]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LoraprofError);
    const problem = (err as LoraprofError).problems.find((p) => p.field === "loss");
    expect(problem?.hint).toBe("use full or chunked");
  });
});
