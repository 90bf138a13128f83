import { describe, expect, it } from "vitest";
import { RUN_FLAGS } from "../cli/flags.js";
import type { EngineOutcome } from "./engine.js";
import { inUserWords, SPEC_PATH_FLAGS } from "./failure.js";
import { classifyOutcome } from "./outcome.js";

const outcome: EngineOutcome = {
  exitCode: 1,
  signal: null,
  cancelled: false,
  protocolError: null,
  stderrTail: "",
};

describe("engine errors in the user's words", () => {
  it("turns the engine's OOM hint into flags the user can type", () => {
    const { status, error } = classifyOutcome(outcome, null, {
      type: "error",
      kind: "oom",
      message: "CUDA out of memory at data.seqLen 2048",
      hint: "Out of GPU memory: lower data.batchSize or data.seqLen (raise data.gradAccum to keep the batch), enable train.gradCheckpointing, use method qlora, or a paged optimizer.",
      memory: null,
      step: 3,
    } as never);
    expect(status).toBe("oom");
    expect(error?.hint).toBe(
      "Out of GPU memory: lower --batch-size or --seq-len (raise --grad-accum to keep the batch), enable --grad-checkpointing, use --method qlora, or a paged optimizer.",
    );
    expect(error?.message).toContain("--seq-len 2048");
  });

  it("maps every RunSpec path to a flag the CLI really has, for the same setting", () => {
    for (const [path, flag] of Object.entries(SPEC_PATH_FLAGS)) {
      const def = RUN_FLAGS.find((f) => `--${f.flag}` === flag);
      expect(def, `${path} → ${flag}`).toBeDefined();
      const field = path.replace(/^(data|train)\./, "").replace("lossImplementation", "loss");
      expect(def!.field).toBe(field);
    }
  });

  it("leaves text without RunSpec paths as it is", () => {
    expect(inUserWords("the engine exited with code 1")).toBe("the engine exited with code 1");
  });
});
