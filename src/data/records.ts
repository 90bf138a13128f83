/**
 * The dataset record model: what a training example is once read, before any template or tokenizer.
 *
 * Two kinds, matching the two file shapes people fine-tune on:
 * - instruction (Stanford Alpaca): `instruction`, optional `input`, `output`.
 * - chat: `messages`, a list of `{role, content}` turns ending with the assistant's reply.
 *
 * Unknown keys in a record are ignored (datasets often carry ids or categories); wrong types and
 * missing required keys are errors that name the record and the field.
 */
import { createHash } from "node:crypto";
import { z } from "zod";

export type ChatRole = "system" | "user" | "assistant";

export interface ChatMessage {
  role: ChatRole;
  content: string;
}

export type DatasetRecord =
  | { kind: "instruction"; instruction: string; input: string; output: string }
  | { kind: "chat"; messages: ChatMessage[] };

export type InstructionRecord = Extract<DatasetRecord, { kind: "instruction" }>;
export type ChatRecord = Extract<DatasetRecord, { kind: "chat" }>;

/** Alpaca record. `input` may be absent or null (some exports write null); both mean "no input". */
export const InstructionRecordSchema = z.object({
  instruction: z.string({ error: "must be a string (the task given to the model)" }),
  input: z.string({ error: "must be a string when present (extra context; may be empty)" }).nullish(),
  output: z.string({ error: "must be a string (the response the model is trained to give)" }),
});

export const ChatMessageSchema = z.object({
  role: z.enum(["system", "user", "assistant"], { error: 'must be "system", "user" or "assistant"' }),
  content: z.string({ error: "must be a string (multi-part content is not supported)" }),
});

export const ChatRecordSchema = z
  .object({
    messages: z
      .array(ChatMessageSchema, { error: "must be an array of {role, content} messages" })
      .min(1, { error: "must hold at least one message" }),
  })
  .superRefine((rec, ctx) => {
    const last = rec.messages[rec.messages.length - 1];
    if (last && last.role !== "assistant") {
      ctx.addIssue({
        code: "custom",
        path: ["messages", rec.messages.length - 1, "role"],
        message: `the last message must come from the assistant (it is the training target), got "${last.role}"`,
      });
    }
    rec.messages.forEach((m, i) => {
      if (m.role === "system" && i > 0) {
        ctx.addIssue({
          code: "custom",
          path: ["messages", i, "role"],
          message: "a system message may only come first",
        });
      }
    });
  });

export interface RecordIssue {
  /** Dotted path inside the record, e.g. `output` or `messages[2].role`; "" for the record itself. */
  field: string;
  message: string;
}

function valueAt(value: unknown, path: readonly PropertyKey[]): unknown {
  let cur: unknown = value;
  for (const p of path) {
    if (typeof cur !== "object" || cur === null) return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[p];
  }
  return cur;
}

function toIssues(value: unknown, error: z.ZodError): RecordIssue[] {
  return error.issues.map((i) => ({
    field: formatPath(i.path),
    message:
      i.code === "invalid_type" && valueAt(value, i.path) === undefined
        ? `is missing (${i.message})`
        : i.message,
  }));
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const p of path) {
    if (typeof p === "number") out += `[${p}]`;
    else out += out === "" ? String(p) : `.${String(p)}`;
  }
  return out;
}

/**
 * Validates one parsed JSON value as a record. A value with a `messages` key is a chat record, any
 * other object an instruction record.
 */
export function parseRecord(value: unknown): { record: DatasetRecord } | { issues: RecordIssue[] } {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    const got = value === null ? "null" : Array.isArray(value) ? "an array" : `a ${typeof value}`;
    return { issues: [{ field: "", message: `must be a JSON object, got ${got}` }] };
  }
  if ("messages" in value) {
    const r = ChatRecordSchema.safeParse(value);
    if (!r.success) return { issues: toIssues(value, r.error) };
    return {
      record: { kind: "chat", messages: r.data.messages.map((m) => ({ role: m.role, content: m.content })) },
    };
  }
  const r = InstructionRecordSchema.safeParse(value);
  if (!r.success) return { issues: toIssues(value, r.error) };
  return {
    record: {
      kind: "instruction",
      instruction: r.data.instruction,
      input: r.data.input ?? "",
      output: r.data.output,
    },
  };
}

/**
 * A content hash of a list of records (sha256, hex): equal lists give equal keys whatever file or
 * subset they came from, so token shards are shared between them. Key order inside a record is fixed
 * here, so the hash does not depend on how the source file ordered its keys.
 */
export function recordsContentKey(records: readonly DatasetRecord[]): string {
  const h = createHash("sha256");
  h.update("loraprof-records/1\n");
  for (const r of records) {
    const canonical =
      r.kind === "instruction"
        ? ["i", r.instruction, r.input, r.output]
        : ["c", ...r.messages.map((m) => [m.role, m.content])];
    h.update(JSON.stringify(canonical));
    h.update("\n");
  }
  return h.digest("hex");
}
