/** How a finished engine process maps to a run status and error. */
import type { RunError, RunStatus } from "../store/runs.js";
import type { EngineOutcome } from "./engine.js";
import type { ErrorEvent, SummaryEvent } from "../protocol/index.js";

const OOM_HINT =
  "lower --batch-size or --seq-len, turn on --grad-checkpointing, or use --method qlora / a paged optimizer";

/**
 * The engine speaks RunSpec (`data.batchSize`); the user typed flags (`--batch-size`). Its messages
 * and hints are put in the user's words here, where its error event becomes the run's error, so the
 * engine keeps one vocabulary and the user never sees a path they cannot type. A unit test pins every
 * flag below to the CLI's own flag list.
 */
export const SPEC_PATH_FLAGS: Record<string, string> = {
  "data.batchSize": "--batch-size",
  "data.seqLen": "--seq-len",
  "data.gradAccum": "--grad-accum",
  "data.padding": "--padding",
  "data.seed": "--seed",
  "train.steps": "--steps",
  "train.warmupSteps": "--warmup-steps",
  "train.precision": "--precision",
  "train.method": "--method",
  "train.gradCheckpointing": "--grad-checkpointing",
  "train.attnImplementation": "--attn",
  "train.logEverySteps": "--log-every",
  "train.lossImplementation": "--loss",
  "train.lossChunkTokens": "--loss-chunk-tokens",
  "optimizer.name": "--optimizer",
  "optimizer.lr": "--lr",
  "optimizer.maxGradNorm": "--max-grad-norm",
  "lora.r": "--lora-r",
  "lora.alpha": "--lora-alpha",
  "lora.targetModules": "--lora-targets",
  "quant.type": "--quant-type",
};

/** `lower data.batchSize, use method qlora or optimizer adamw_torch` → `lower --batch-size, use --method qlora …`. */
export function inUserWords(text: string): string {
  return text
    .replace(/\b(data|train|optimizer|lora|quant)\.[A-Za-z]+\b/g, (path) => SPEC_PATH_FLAGS[path] ?? path)
    .replace(
      /(^|[^-\w])(method|optimizer) (qlora|lora|adamw_torch\w*|adamw_8bit|paged_adamw_\w+)\b/g,
      "$1--$2 $3",
    );
}

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
  if (/out of memory|CUBLAS_STATUS_ALLOC_FAILED|cudaErrorMemoryAllocation/i.test(outcome.stderrTail)) {
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
