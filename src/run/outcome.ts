/** How a finished engine process maps to a run status and error. */
import type { RunError, RunStatus } from "../store/runs.js";
import type { EngineOutcome } from "./engine.js";
import type { ErrorEvent, SummaryEvent } from "../protocol/index.js";
import { inUserWords, isOutOfMemoryText, OOM_HINT } from "./failure.js";

/** How a finished engine process maps to a run status. Pure, so it is tested over recorded outcomes. */
export function classifyOutcome(
  outcome: EngineOutcome,
  summary: SummaryEvent | null,
  engineError: ErrorEvent | null,
): { status: Exclude<RunStatus, "pending" | "running">; error?: RunError } {
  if (outcome.protocolError) {
    return {
      status: "failed",
      error: {
        kind: "protocol",
        message: `the engine wrote an invalid event (${outcome.protocolError.message}): ${outcome.protocolError.line}`,
        hint: "the engine and CLI versions may not match: run `loraprof setup` again",
        stderrTail: outcome.stderrTail,
      },
    };
  }
  if (outcome.cancelled) {
    return {
      status: "cancelled",
      error: { kind: "cancelled", message: "cancelled by the user", hint: null },
    };
  }
  if (engineError) {
    const e: ErrorEvent = engineError;
    return {
      status: e.kind === "oom" ? "oom" : "failed",
      error: {
        kind: e.kind,
        message: inUserWords(e.message),
        hint: e.hint ? inUserWords(e.hint) : e.kind === "oom" ? OOM_HINT : null,
        memory: e.memory,
        step: e.step,
        ...(e.kind === "internal" || e.kind === "cuda" ? { stderrTail: outcome.stderrTail } : {}),
      },
    };
  }
  if (summary && outcome.exitCode === 0) return { status: "completed" };
  // Some native code (bitsandbytes' paged allocator, the CUDA driver) reports an out-of-memory on
  // stderr and exits without Python seeing it: still an OOM, and still a data point.
  if (isOutOfMemoryText(outcome.stderrTail)) {
    return {
      status: "oom",
      error: {
        kind: "oom",
        message: `the engine ran out of memory in native code and ${outcome.signal ? `was killed by ${outcome.signal}` : `exited with code ${outcome.exitCode}`}`,
        hint: OOM_HINT,
        stderrTail: outcome.stderrTail,
      },
    };
  }
  const how = outcome.signal ? `was killed by ${outcome.signal}` : `exited with code ${outcome.exitCode}`;
  return {
    status: "failed",
    error: {
      kind: "crash",
      message: `the engine ${how}${summary ? " after its summary" : " before finishing"}`,
      hint: "see the engine's stderr below (full log in the run's engine.log); `loraprof doctor` checks the environment",
      stderrTail: outcome.stderrTail,
    },
  };
}
