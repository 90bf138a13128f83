/**
 * Records → token ids and target flags, on every core.
 *
 * A record is [BOS if the tokenizer has one] + each template segment encoded on its own (see
 * templates.ts for why segments), not truncated; truncation is the shard writer's and the statistics'
 * business. `encodeAll` splits the records into contiguous chunks: the calling thread encodes one and
 * worker threads (encode-worker.ts, one per further core) the others, each loading the tokenizer
 * itself (~0.5 s, in parallel with the others' work). Results are concatenated in record order, so
 * the output is identical to a single-threaded pass (tested). Small jobs (under MIN_PARALLEL_RECORDS)
 * and runs from TypeScript sources (the tests: workers need the built .js) stay on one thread.
 *
 * Threads: LORAPROF_DATA_THREADS, else os.availableParallelism().
 */
import { existsSync } from "node:fs";
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { LoraprofError, type ErrorCode, type Problem } from "../util/errors.js";
import type { DatasetRecord } from "./records.js";
import type { SpanRole, Template } from "./templates.js";
import { templateFromSpec, type TemplateSpec } from "./templates.js";
import type { Tokenizer, TokenizerSpec } from "./tokenizer.js";

export const MIN_PARALLEL_RECORDS = 4000;

export type TokenRole = SpanRole | "template";
export const TOKEN_ROLES: readonly TokenRole[] = ["system", "user", "assistant", "tool", "text", "template"];

export interface EncodedRecord {
  ids: number[];
  /** 1 where the template marks the token as response (target), else 0. Same length as ids. */
  targets: Uint8Array;
}

export interface EncodedBatch {
  /** Full (untruncated) token length of each record. */
  lengths: Uint32Array;
  /** Token ids of all records, concatenated. */
  ids: Uint32Array;
  /** Target flag of every token in `ids`. */
  targets: Uint8Array;
  /** Tokens per role over the batch (BOS and template markup: `template`), when asked for. */
  roleTokens: Record<TokenRole, number> | null;
}

/** Tokenizes one record: [BOS] + each template segment encoded separately. Not truncated. */
export function encodeRecord(
  record: DatasetRecord,
  tokenizer: Tokenizer,
  template: Template | "alpaca" | "chatml" | "raw",
  roleTokens?: Record<TokenRole, number>,
): EncodedRecord {
  const t = typeof template === "string" ? templateFromSpec({ kind: template }) : template;
  const rendered = t.render(record, tokenizer.eosText);
  const ids: number[] = tokenizer.bosId === null ? [] : [tokenizer.bosId];
  const flags: number[] = tokenizer.bosId === null ? [] : [0];
  for (const s of rendered.segments) {
    const part = tokenizer.encode(s.text);
    for (const id of part) {
      ids.push(id);
      flags.push(s.target ? 1 : 0);
    }
  }
  if (roleTokens)
    attributeRoles(rendered.segments.map((s) => s.text).join(""), rendered.roles, ids, tokenizer, roleTokens);
  return { ids, targets: Uint8Array.from(flags) };
}

/** Counts each token under the role whose text span holds the token's first byte. */
function attributeRoles(
  text: string,
  spans: readonly { role: SpanRole; start: number; end: number }[],
  ids: readonly number[],
  tokenizer: Tokenizer,
  out: Record<TokenRole, number>,
): void {
  const byteSpans = spans.map((s) => ({
    role: s.role,
    start: Buffer.byteLength(text.slice(0, s.start)),
    end: Buffer.byteLength(text.slice(0, s.end)),
  }));
  let at = 0;
  let k = 0;
  const first = tokenizer.bosId === null ? 0 : 1;
  if (first === 1) out.template++;
  for (let i = first; i < ids.length; i++) {
    while (k < byteSpans.length && (byteSpans[k] as { end: number }).end <= at) k++;
    const span = byteSpans[k];
    if (span && span.start <= at) out[span.role]++;
    else out.template++;
    at += tokenizer.pieceBytes(ids[i] as number);
  }
}

export function emptyRoleTokens(): Record<TokenRole, number> {
  return { system: 0, user: 0, assistant: 0, tool: 0, text: 0, template: 0 };
}

/** Encodes records on this thread. `offset` numbers records in error messages. */
export function encodeBatch(
  records: readonly DatasetRecord[],
  tokenizer: Tokenizer,
  template: Template,
  opts: { withRoles: boolean; offset?: number; onProgress?: (done: number) => void },
): EncodedBatch {
  const lengths = new Uint32Array(records.length);
  let ids = new Uint32Array(Math.max(1024, records.length * 160));
  let targets = new Uint8Array(ids.length);
  let total = 0;
  const roles = opts.withRoles ? emptyRoleTokens() : null;
  for (let i = 0; i < records.length; i++) {
    let enc: EncodedRecord;
    try {
      enc = encodeRecord(records[i] as DatasetRecord, tokenizer, template, roles ?? undefined);
    } catch (err) {
      throw atRecord(err, (opts.offset ?? 0) + i);
    }
    const n = enc.ids.length;
    if (total + n > ids.length) {
      const size = Math.max(ids.length * 2, total + n);
      const grownIds = new Uint32Array(size);
      grownIds.set(ids.subarray(0, total));
      ids = grownIds;
      const grownTargets = new Uint8Array(size);
      grownTargets.set(targets.subarray(0, total));
      targets = grownTargets;
    }
    ids.set(enc.ids, total);
    targets.set(enc.targets, total);
    lengths[i] = n;
    total += n;
    if (opts.onProgress && (i % 1000 === 999 || i === records.length - 1)) opts.onProgress(i + 1);
  }
  return { lengths, ids: ids.slice(0, total), targets: targets.slice(0, total), roleTokens: roles };
}

/** A template error gains the index of the record it happened on. */
function atRecord(err: unknown, index: number): unknown {
  if (!(err instanceof LoraprofError)) return err;
  return new LoraprofError(err.code, `record ${index}: ${err.message}`, {
    problems: err.problems.map((p) => ({ ...p, field: `record[${index}].${p.field}` })),
    hint: err.hint,
    exitCode: err.exitCode,
    cause: err,
  });
}

function threadCount(): number {
  const env = Number(process.env["LORAPROF_DATA_THREADS"]);
  if (Number.isInteger(env) && env >= 1) return env;
  return availableParallelism();
}

/** The worker script beside this module: tsc's output (.js), or the bundled CLI's (.mjs, scripts/bundle.mjs). */
function workerFile(): string | null {
  for (const name of ["./encode-worker.js", "./encode-worker.mjs"]) {
    const file = fileURLToPath(new URL(name, import.meta.url));
    if (existsSync(file)) return file;
  }
  return null;
}

export interface WorkerJob {
  tokenizer: TokenizerSpec;
  template: TemplateSpec;
  records: readonly DatasetRecord[];
  offset: number;
  withRoles: boolean;
}
export type WorkerReply =
  | { type: "progress"; done: number }
  | { type: "done"; batch: EncodedBatch }
  | { type: "error"; code: ErrorCode; message: string; problems: Problem[]; hint?: string; exitCode: number };

/** Encodes all records, spread over the machine's cores; see the file header. */
export async function encodeAll(
  records: readonly DatasetRecord[],
  tokenizer: Tokenizer,
  template: Template,
  opts: { withRoles: boolean; onProgress?: (done: number, total: number) => void },
): Promise<EncodedBatch> {
  const threads = Math.min(threadCount(), Math.ceil(records.length / (MIN_PARALLEL_RECORDS / 2)));
  const script = threads > 1 && records.length >= MIN_PARALLEL_RECORDS ? workerFile() : null;
  if (script === null) {
    return encodeBatch(records, tokenizer, template, {
      withRoles: opts.withRoles,
      onProgress: (d) => opts.onProgress?.(d, records.length),
    });
  }
  // The workers start with a tokenizer load this thread has already done: give them a little less.
  const bounds: number[] = [0];
  const share = records.length / threads;
  for (let t = 1; t < threads; t++) bounds.push(Math.round(share * t * 0.92));
  bounds.push(records.length);
  const done = new Array<number>(threads).fill(0);
  const report = () =>
    opts.onProgress?.(
      done.reduce((a, b) => a + b, 0),
      records.length,
    );

  const workers: Worker[] = [];
  const pending = bounds.slice(1, -1).map((start, w) => {
    const end = bounds[w + 2] as number;
    const job: WorkerJob = {
      tokenizer: tokenizer.spec,
      template: template.spec,
      records: records.slice(start, end),
      offset: start,
      withRoles: opts.withRoles,
    };
    const worker = new Worker(script, { workerData: job });
    workers.push(worker);
    return new Promise<EncodedBatch>((resolve, reject) => {
      worker.on("message", (m: WorkerReply) => {
        if (m.type === "progress") {
          done[w + 1] = m.done;
          report();
        } else if (m.type === "done") resolve(m.batch);
        else
          reject(
            new LoraprofError(m.code, m.message, {
              problems: m.problems,
              hint: m.hint,
              exitCode: m.exitCode,
            }),
          );
      });
      worker.on("error", reject);
      worker.on("exit", (code) => {
        if (code !== 0)
          reject(new LoraprofError("INTERNAL", `a tokenizer worker thread exited with code ${code}`));
      });
    });
  });
  try {
    const own = encodeBatch(records.slice(0, bounds[1]), tokenizer, template, {
      withRoles: opts.withRoles,
      onProgress: (d) => {
        done[0] = d;
        report();
      },
    });
    return concat([own, ...(await Promise.all(pending))]);
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

function concat(parts: EncodedBatch[]): EncodedBatch {
  const n = parts.reduce((s, p) => s + p.lengths.length, 0);
  const t = parts.reduce((s, p) => s + p.ids.length, 0);
  const lengths = new Uint32Array(n);
  const ids = new Uint32Array(t);
  const targets = new Uint8Array(t);
  let a = 0;
  let b = 0;
  let roleTokens: Record<TokenRole, number> | null = null;
  for (const p of parts) {
    lengths.set(p.lengths, a);
    ids.set(p.ids, b);
    targets.set(p.targets, b);
    a += p.lengths.length;
    b += p.ids.length;
    if (p.roleTokens) {
      roleTokens ??= emptyRoleTokens();
      for (const r of TOKEN_ROLES) roleTokens[r] += p.roleTokens[r];
    }
  }
  return { lengths, ids, targets, roleTokens };
}
