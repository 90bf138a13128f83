/**
 * One tokenizer worker thread (encode.ts `encodeAll`): loads the tokenizer and template from their
 * specs, encodes its chunk of records, and sends the typed arrays back without copying them.
 */
import { parentPort, workerData } from "node:worker_threads";
import { LoraprofError } from "../util/errors.js";
import { encodeBatch, type WorkerJob, type WorkerReply } from "./encode.js";
import { templateFromSpec } from "./templates.js";
import { loadTokenizer } from "./tokenizer.js";

const job = workerData as WorkerJob;
const port = parentPort;

async function main(): Promise<void> {
  if (!port) return;
  try {
    const tokenizer = await loadTokenizer(job.tokenizer);
    const batch = encodeBatch(job.records, tokenizer, templateFromSpec(job.template), {
      withRoles: job.withRoles,
      offset: job.offset,
      onProgress: (done) => port.postMessage({ type: "progress", done } satisfies WorkerReply),
    });
    port.postMessage({ type: "done", batch } satisfies WorkerReply, [
      batch.lengths.buffer as ArrayBuffer,
      batch.ids.buffer as ArrayBuffer,
      batch.targets.buffer as ArrayBuffer,
    ]);
  } catch (err) {
    const e =
      err instanceof LoraprofError
        ? err
        : new LoraprofError("INTERNAL", (err as Error)?.message ?? String(err));
    port.postMessage({
      type: "error",
      code: e.code,
      message: e.message,
      problems: e.problems,
      hint: e.hint,
      exitCode: e.exitCode,
    } satisfies WorkerReply);
  }
}

void main();
