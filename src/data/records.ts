/**
 * The dataset record model: what a training example is once read, before any template or tokenizer.
 *
 * Four kinds, matching the shapes people fine-tune on (formats.ts maps file formats onto them):
 * - instruction (Stanford Alpaca, LLaMA-Factory's Alpaca): `instruction`, `input`, `output`, plus the
 *   optional `system` prompt and `history`, earlier [query, response] turns of the same conversation.
 * - chat: `messages`, a list of `{role, content}` turns ending with the assistant's reply.
 * - text: plain text for continued pre-training (no prompt, every token is a target).
 * - completion: a `prompt` and the `completion` trained on.
 *
 * Records are plain data (structured-clonable), so worker threads can tokenize them.
 */
import { createHash } from "node:crypto";

export type ChatRole = "system" | "user" | "assistant" | "tool";
export const CHAT_ROLES: readonly ChatRole[] = ["system", "user", "assistant", "tool"];

export interface ChatMessage {
  role: ChatRole;
  content: string;
}

export interface InstructionRecord {
  kind: "instruction";
  instruction: string;
  input: string;
  output: string;
  /** LLaMA-Factory's `system` column; absent or "" when the record has none. */
  system?: string;
  /** LLaMA-Factory's `history`: earlier [query, response] pairs, oldest first. */
  history?: [string, string][];
}
export interface ChatRecord {
  kind: "chat";
  messages: ChatMessage[];
}
export interface TextRecord {
  kind: "text";
  text: string;
}
export interface CompletionRecord {
  kind: "completion";
  prompt: string;
  completion: string;
}

export type DatasetRecord = InstructionRecord | ChatRecord | TextRecord | CompletionRecord;

export interface RecordIssue {
  /** Dotted path inside the record, e.g. `output` or `messages[2].role`; "" for the record itself. */
  field: string;
  message: string;
}

/**
 * An instruction record as the conversation it stands for: [system], then each history pair as a
 * user and an assistant turn, then `instruction` (+ "\n\n" + `input` when non-empty) and `output`.
 * The join matches the chatml template's rendering of plain Alpaca records (templates.ts).
 */
export function instructionMessages(r: InstructionRecord): ChatMessage[] {
  const out: ChatMessage[] = [];
  if (r.system) out.push({ role: "system", content: r.system });
  for (const [q, a] of r.history ?? []) {
    out.push({ role: "user", content: q }, { role: "assistant", content: a });
  }
  out.push(
    { role: "user", content: r.input !== "" ? `${r.instruction}\n\n${r.input}` : r.instruction },
    { role: "assistant", content: r.output },
  );
  return out;
}

/**
 * A content hash of a list of records (sha256, hex): equal lists give equal keys whatever file or
 * subset they came from, so token shards are shared between them. Key order inside a record is fixed
 * here, so the hash does not depend on how the source file ordered its keys. A plain Alpaca record
 * hashes as it did before `system`/`history` existed, so existing shards stay valid.
 */
export function recordsContentKey(records: readonly DatasetRecord[]): string {
  const h = createHash("sha256");
  h.update("loraprof-records/1\n");
  for (const r of records) {
    h.update(JSON.stringify(canonical(r)));
    h.update("\n");
  }
  return h.digest("hex");
}

function canonical(r: DatasetRecord): unknown[] {
  switch (r.kind) {
    case "instruction": {
      const base: unknown[] = ["i", r.instruction, r.input, r.output];
      if (r.system || (r.history && r.history.length > 0)) base.push(r.system ?? "", r.history ?? []);
      return base;
    }
    case "chat":
      return ["c", ...r.messages.map((m) => [m.role, m.content])];
    case "text":
      return ["t", r.text];
    case "completion":
      return ["p", r.prompt, r.completion];
  }
}
