import { describe, expect, it } from "vitest";
import { parseEventLine } from "../../run/engine.js";
import { classifyOutcome } from "../../run/outcome.js";
import type { ErrorEvent } from "../../protocol/index.js";
import { renderError } from "./run.js";

describe("a failed run's error as the CLI prints it", () => {
  it("shows a full disk's message and fix, without the engine's stderr", () => {
    const line = JSON.stringify({
      type: "error",
      kind: "disk",
      message:
        "no room for the synthetic checkpoint of llama (8.03B parameters, 32 layers, hidden size 4096): it needs 16.06 GB at /cache/checkpoints/llama-3.1-8b-abc-seed0, and /cache/checkpoints has 3.20 GB free",
      hint: "Free space in /cache/checkpoints, or set LORAPROF_CACHE to a folder on a disk with room.",
      stage: "load",
      step: null,
      memory: null,
      traceback: null,
    });
    const parsed = parseEventLine(line);
    expect("event" in parsed).toBe(true);
    const event = (parsed as { event: ErrorEvent }).event;
    const outcome = {
      exitCode: 4,
      signal: null,
      cancelled: false,
      protocolError: null,
      stderrTail: "loraprof engine: disk error during load: no room for the synthetic checkpoint",
    };
    const { status, error } = classifyOutcome(outcome, null, event);
    expect(status).toBe("failed");
    expect(error?.kind).toBe("disk");
    expect(error?.stderrTail).toBeUndefined();
    const text = renderError(error!);
    expect(text).toContain("disk: no room for the synthetic checkpoint of llama");
    expect(text).toContain("fix: Free space in /cache/checkpoints, or set LORAPROF_CACHE");
    expect(text).not.toContain("engine stderr");
  });

  it("keeps the stderr tail for an internal error, where it is the useful part", () => {
    const { error } = classifyOutcome(
      { exitCode: 4, signal: null, cancelled: false, protocolError: null, stderrTail: "Traceback: KeyError" },
      null,
      {
        type: "error",
        kind: "internal",
        message: "KeyError: 'lm_head'",
        hint: null,
        stage: "load",
        step: null,
        memory: null,
        traceback: "Traceback: KeyError",
      },
    );
    expect(renderError(error!)).toContain("engine stderr (tail):");
  });
});
