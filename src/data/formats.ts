/**
 * Dataset formats: rows as a file holds them (objects with named columns) → records (records.ts).
 *
 * Five formats, the ones LLaMA-Factory, axolotl and TRL read:
 * - alpaca: `instruction`, `output`, optional `input`, and LLaMA-Factory's `system` (a string) and
 *   `history` (a list of [query, response] pairs, oldest first).
 * - openai: `messages`, a list of {role, content}; `tool_calls` on an assistant turn are kept as text
 *   (one JSON object {name, arguments} per call), `tool` turns keep their role.
 * - sharegpt: `conversations`, a list of {from, value} (LLaMA-Factory's sharegpt, with `human`,
 *   `gpt`, `system`, `function_call`, `observation` and the usual aliases), optional `system` column.
 * - text: `text`, continued pre-training: no prompt, every token is a target.
 * - completion: `prompt` and `completion` (TRL). When both are message lists (TRL's conversational
 *   prompt-completion), the record is a chat.
 * Message lists accept either key pair ({role, content} or {from, value}) in both chat formats.
 *
 * The format is detected from the columns every row holds, unless given (`--format`). Columns can be
 * renamed (`--columns instruction=prompt,output=completion`: the format's field ← the file's column).
 * A file whose rows fit different formats is refused with one error (mixing would mean different
 * templates within one run), and so is a file whose rows fit none, naming the closest format.
 *
 * Nothing is dropped silently: every column the chosen format does not read, and every unread key of
 * a message, is counted and reported (`unusedFields`).
 */
import { LoraprofError, type Problem } from "../util/errors.js";
import type { ChatMessage, ChatRole, DatasetRecord, RecordIssue } from "./records.js";

export const DATASET_FORMATS = ["alpaca", "openai", "sharegpt", "text", "completion"] as const;
export type DatasetFormat = (typeof DATASET_FORMATS)[number];

/** A format's field → the file's column that holds it. */
export type ColumnMap = Readonly<Record<string, string>>;

interface FormatDef {
  fields: readonly { name: string; required: boolean }[];
  /** One line for errors and help: what the format's records look like. */
  shape: string;
}

/** Detection order when a row fits several formats (the extra columns are then reported unused). */
export const FORMAT_DEFS: Readonly<Record<DatasetFormat, FormatDef>> = {
  openai: {
    fields: [{ name: "messages", required: true }],
    shape: '{"messages": [{"role", "content"}, …]}',
  },
  sharegpt: {
    fields: [
      { name: "conversations", required: true },
      { name: "system", required: false },
    ],
    shape: '{"conversations": [{"from": "human"|"gpt"|…, "value"}, …]}',
  },
  alpaca: {
    fields: [
      { name: "instruction", required: true },
      { name: "output", required: true },
      { name: "input", required: false },
      { name: "system", required: false },
      { name: "history", required: false },
    ],
    shape: '{"instruction", "input"?, "output", "system"?, "history"?: [[query, response], …]}',
  },
  completion: {
    fields: [
      { name: "prompt", required: true },
      { name: "completion", required: true },
    ],
    shape: '{"prompt", "completion"}',
  },
  text: { fields: [{ name: "text", required: true }], shape: '{"text"}' },
};
const DETECTION_ORDER: readonly DatasetFormat[] = ["openai", "sharegpt", "alpaca", "completion", "text"];

export const FORMATS_HINT = DETECTION_ORDER.map((f) => `${f} ${FORMAT_DEFS[f].shape}`).join("; ");

/** Role names seen in the wild → ours. Keys are lower-cased before the lookup. */
const ROLE_ALIASES: Readonly<Record<string, ChatRole>> = {
  system: "system",
  user: "user",
  human: "user",
  prompter: "user",
  assistant: "assistant",
  gpt: "assistant",
  model: "assistant",
  bot: "assistant",
  chatgpt: "assistant",
  bard: "assistant",
  bing: "assistant",
  function_call: "assistant",
  tool: "tool",
  function: "tool",
  observation: "tool",
  ipython: "tool",
  tool_response: "tool",
};
/** Message keys a chat format reads; any other key is reported unused. */
const MESSAGE_KEYS = new Set(["role", "content", "from", "value", "tool_calls"]);

export interface UnusedField {
  /** A column name, or `messages[].key` for a key inside messages. */
  field: string;
  /** Records holding it. */
  records: number;
}

export interface ConvertedRows {
  records: DatasetRecord[];
  format: DatasetFormat;
  /** False when `--format` chose it. */
  detected: boolean;
  unusedFields: UnusedField[];
}

/** Where row i is, for error messages (e.g. `data.jsonl:line 3:record[2]`). */
export type RowLocator = (index: number) => string;

/** Problems listed in one error; the message still counts all bad records. */
export const MAX_REPORTED = 20;

/** Validates a --columns map against the format(s) it can apply to. */
export function checkColumns(columns: ColumnMap, format: DatasetFormat | null): void {
  const problems: Problem[] = [];
  for (const field of Object.keys(columns)) {
    const owners = DATASET_FORMATS.filter((f) => FORMAT_DEFS[f].fields.some((d) => d.name === field));
    if (owners.length === 0 || (format !== null && !owners.includes(format))) {
      const allowed = format
        ? FORMAT_DEFS[format].fields.map((d) => d.name).join(", ")
        : [...new Set(DATASET_FORMATS.flatMap((f) => FORMAT_DEFS[f].fields.map((d) => d.name)))].join(", ");
      problems.push({
        field: "columns",
        message: `"${field}" is not a field of ${format ?? "any format"}`,
        hint: `name a field (${allowed}) on the left: --columns field=column`,
      });
    }
  }
  if (problems.length > 0) {
    throw new LoraprofError("DATASET_INVALID", "invalid --columns", { problems });
  }
}

/** Parses `a=b,c=d` (the --columns flag). */
export function parseColumns(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of text.split(",")) {
    const m = /^\s*([^=\s]+)\s*=\s*([^=]+?)\s*$/.exec(part);
    if (!m) {
      throw new LoraprofError("FLAG_INVALID", "invalid --columns", {
        problems: [
          {
            field: "columns",
            message: `"${part}" is not field=column`,
            hint: "e.g. --columns instruction=prompt,output=completion",
          },
        ],
      });
    }
    out[m[1] as string] = m[2] as string;
  }
  return out;
}

/** Turns rows into records: detect (or take) the format, convert every row, report unread columns. */
export function convertRows(
  rows: readonly unknown[],
  opts: { format?: DatasetFormat | null; columns?: ColumnMap; source: string; locate: RowLocator },
): ConvertedRows {
  const columns = opts.columns ?? {};
  checkColumns(columns, opts.format ?? null);
  if (rows.length === 0) {
    throw new LoraprofError("DATASET_INVALID", `${opts.source} holds no records`, {
      hint: `supported formats: ${FORMATS_HINT}`,
    });
  }
  const col = (field: string) => columns[field] ?? field;
  const format = opts.format ?? detectFormat(rows, col, columns, opts);
  const def = FORMAT_DEFS[format];
  const read = new Set(def.fields.map((d) => col(d.name)));

  const records: DatasetRecord[] = [];
  const unused = new Map<string, number>();
  const problems: Problem[] = [];
  let bad = 0;
  rows.forEach((row, i) => {
    const issues: RecordIssue[] = [];
    if (!isObject(row)) {
      const got = row === null ? "null" : Array.isArray(row) ? "an array" : `a ${typeof row}`;
      issues.push({ field: "", message: `must be an object, got ${got}` });
    } else {
      for (const key of Object.keys(row)) {
        if (!read.has(key) && row[key] !== undefined) unused.set(key, (unused.get(key) ?? 0) + 1);
      }
      const record = convertRow(format, row, col, issues, unused);
      if (record && issues.length === 0) records.push(record);
    }
    if (issues.length > 0) {
      bad++;
      for (const issue of issues) {
        if (problems.length >= MAX_REPORTED) break;
        const where = opts.locate(i);
        problems.push({
          field: issue.field ? `${where}.${issue.field}` : where,
          message: issue.message,
          hint: `a ${format} record is ${def.shape}`,
        });
      }
    }
  });
  if (bad > 0) {
    throw new LoraprofError(
      "DATASET_INVALID",
      `${bad} of ${rows.length} records in ${opts.source} are invalid ${format} records` +
        (bad > problems.length ? ` (first ${problems.length} problems listed)` : ""),
      { problems, hint: "fix the records listed (or remove them), or pick another --format / --columns" },
    );
  }
  return {
    records,
    format,
    detected: !opts.format,
    unusedFields: [...unused]
      .map(([field, n]) => ({ field, records: n }))
      .sort((a, b) => b.records - a.records),
  };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function present(row: Record<string, unknown>, key: string): boolean {
  return row[key] !== undefined && row[key] !== null;
}

function fits(format: DatasetFormat, row: Record<string, unknown>, col: (f: string) => string): boolean {
  return FORMAT_DEFS[format].fields.every((d) => !d.required || present(row, col(d.name)));
}

function detectFormat(
  rows: readonly unknown[],
  col: (f: string) => string,
  columns: ColumnMap,
  opts: { source: string; locate: RowLocator },
): DatasetFormat {
  // A --columns map names fields of the format meant: only formats holding all of them compete.
  const candidates = DETECTION_ORDER.filter((f) =>
    Object.keys(columns).every((field) => FORMAT_DEFS[f].fields.some((d) => d.name === field)),
  );
  const counts = new Map<DatasetFormat, { n: number; first: number }>();
  rows.forEach((row, i) => {
    if (!isObject(row)) return;
    const f = candidates.find((c) => fits(c, row, col));
    if (!f) return;
    const c = counts.get(f);
    if (c) c.n++;
    else counts.set(f, { n: 1, first: i });
  });
  if (counts.size === 1) return [...counts.keys()][0] as DatasetFormat;
  if (counts.size > 1) {
    const parts = [...counts].sort((a, b) => b[1].n - a[1].n);
    throw new LoraprofError(
      "DATASET_INVALID",
      `${opts.source} mixes record formats: ${parts.map(([f, c]) => `${c.n} ${f}`).join(", ")}`,
      {
        problems: parts.map(([f, c]) => ({
          field: opts.locate(c.first),
          message: `first ${f} record (${c.n} in all)`,
        })),
        hint: "one file holds one format (each needs its own template): split the file, or convert the minority records",
      },
    );
  }
  throw unknownShape(rows, col, candidates, opts.source);
}

function unknownShape(
  rows: readonly unknown[],
  col: (f: string) => string,
  candidates: readonly DatasetFormat[],
  source: string,
): LoraprofError {
  const keys = new Map<string, number>();
  for (const row of rows.slice(0, 1000)) {
    if (isObject(row)) for (const k of Object.keys(row)) keys.set(k, (keys.get(k) ?? 0) + 1);
  }
  const seen = [...keys.keys()];
  if (seen.length === 0) {
    return new LoraprofError("DATASET_INVALID", `${source}: records are not objects with named fields`, {
      hint: `supported formats: ${FORMATS_HINT}`,
    });
  }
  // Closest: the format sharing the most fields with the rows (required fields count double); on a
  // tie, the one needing as many more fields as the rows have unmatched; then the most common format.
  const score = (f: DatasetFormat) =>
    FORMAT_DEFS[f].fields.reduce((s, d) => s + (keys.has(col(d.name)) ? (d.required ? 2 : 1) : 0), 0);
  const gap = (f: DatasetFormat) => {
    const matched = FORMAT_DEFS[f].fields.filter((d) => keys.has(col(d.name))).length;
    const needed = FORMAT_DEFS[f].fields.filter((d) => d.required && !keys.has(col(d.name))).length;
    return Math.abs(needed - (seen.length - matched));
  };
  const pool = candidates.length > 0 ? candidates : DETECTION_ORDER;
  const popularity: readonly DatasetFormat[] = ["alpaca", "openai", "sharegpt", "completion", "text"];
  const closest = [...pool].sort(
    (a, b) => score(b) - score(a) || gap(a) - gap(b) || popularity.indexOf(a) - popularity.indexOf(b),
  )[0] as DatasetFormat;
  const missing = FORMAT_DEFS[closest].fields.filter((d) => d.required && !keys.has(col(d.name)));
  const spare = seen.filter((k) => !FORMAT_DEFS[closest].fields.some((d) => col(d.name) === k));
  const mapping = missing
    .map((d, i) => (spare[i] !== undefined ? `${d.name}=${spare[i]}` : null))
    .filter((x) => x !== null);
  return new LoraprofError(
    "DATASET_INVALID",
    `${source}: no supported format fits its records (fields: ${seen.join(", ")})`,
    {
      problems: [
        {
          field: "format",
          message: `closest is ${closest} ${FORMAT_DEFS[closest].shape}, which needs ${missing.map((d) => `"${col(d.name)}"`).join(" and ")}`,
          hint:
            mapping.length > 0
              ? `if those are the same data under other names: --columns ${mapping.join(",")}`
              : `rename the fields to ${closest}'s`,
        },
      ],
      hint: `supported formats: ${FORMATS_HINT}`,
    },
  );
}

function convertRow(
  format: DatasetFormat,
  row: Record<string, unknown>,
  col: (f: string) => string,
  issues: RecordIssue[],
  unused: Map<string, number>,
): DatasetRecord | null {
  const str = (field: string, opts: { optional?: boolean; what: string }): string | null => {
    const v = row[col(field)];
    if (v === undefined || v === null) {
      if (opts.optional) return "";
      issues.push({ field: col(field), message: `is missing (${opts.what})` });
      return null;
    }
    if (typeof v !== "string") {
      issues.push({ field: col(field), message: `must be a string (${opts.what}), got ${describe(v)}` });
      return null;
    }
    return v;
  };
  switch (format) {
    case "alpaca": {
      const instruction = str("instruction", { what: "the task given to the model" });
      const input = str("input", { optional: true, what: "extra context; may be empty" });
      const output = str("output", { what: "the response the model is trained to give" });
      const system = str("system", { optional: true, what: "the system prompt" });
      const history = historyOf(jsonIfText(row[col("history")]), col("history"), issues);
      if (instruction === null || input === null || output === null || system === null || !history)
        return null;
      return {
        kind: "instruction",
        instruction,
        input,
        output,
        ...(system !== "" ? { system } : {}),
        ...(history.length > 0 ? { history } : {}),
      };
    }
    case "openai":
    case "sharegpt": {
      const field = format === "openai" ? "messages" : "conversations";
      const messages = messagesOf(jsonIfText(row[col(field)]), col(field), issues, unused);
      if (!messages) return null;
      if (format === "sharegpt") {
        const system = str("system", { optional: true, what: "the system prompt" });
        if (system === null) return null;
        if (system !== "") {
          if (messages[0]?.role === "system") {
            issues.push({ field: col("system"), message: "given twice: as a column and as the first turn" });
            return null;
          }
          messages.unshift({ role: "system", content: system });
        }
      }
      return checkChat(messages, col(field), issues) ? { kind: "chat", messages } : null;
    }
    case "text": {
      const text = str("text", { what: "the text trained on" });
      if (text === null) return null;
      if (text.trim() === "") {
        issues.push({ field: col("text"), message: "is empty" });
        return null;
      }
      return { kind: "text", text };
    }
    case "completion": {
      const p = jsonIfText(row[col("prompt")]);
      const c = jsonIfText(row[col("completion")]);
      if (Array.isArray(p) && Array.isArray(c)) {
        // TRL's conversational prompt-completion: two message lists.
        const prompt = messagesOf(p, col("prompt"), issues, unused);
        const completion = messagesOf(c, col("completion"), issues, unused);
        if (!prompt || !completion) return null;
        const messages = [...prompt, ...completion];
        return checkChat(messages, col("completion"), issues) ? { kind: "chat", messages } : null;
      }
      const prompt = str("prompt", { what: "the text before the completion" });
      const completion = str("completion", { what: "the text trained on" });
      if (prompt === null || completion === null) return null;
      return { kind: "completion", prompt, completion };
    }
  }
}

function describe(v: unknown): string {
  if (Array.isArray(v)) return "an array";
  if (v === null) return "null";
  return typeof v === "object" ? "an object" : `a ${typeof v}`;
}

/** CSV cells and some Parquet exports hold lists as JSON text. */
function jsonIfText(v: unknown): unknown {
  if (typeof v === "string" && /^\s*\[/.test(v)) {
    try {
      return JSON.parse(v);
    } catch {
      return v;
    }
  }
  return v;
}

function historyOf(v: unknown, field: string, issues: RecordIssue[]): [string, string][] | null {
  if (v === undefined || v === null || v === "") return []; // "": an empty CSV cell
  if (!Array.isArray(v)) {
    issues.push({ field, message: `must be a list of [query, response] pairs, got ${describe(v)}` });
    return null;
  }
  const out: [string, string][] = [];
  for (let i = 0; i < v.length; i++) {
    const pair: unknown = v[i];
    if (!Array.isArray(pair) || pair.length !== 2 || !pair.every((s) => typeof s === "string")) {
      issues.push({ field: `${field}[${i}]`, message: "must be a [query, response] pair of strings" });
      return null;
    }
    out.push([pair[0] as string, pair[1] as string]);
  }
  return out;
}

function messagesOf(
  v: unknown,
  field: string,
  issues: RecordIssue[],
  unused: Map<string, number>,
): ChatMessage[] | null {
  if (!Array.isArray(v)) {
    issues.push({
      field,
      message:
        v === undefined || v === null ? "is missing" : `must be a list of messages, got ${describe(v)}`,
    });
    return null;
  }
  const out: ChatMessage[] = [];
  const extra = new Set<string>();
  for (let i = 0; i < v.length; i++) {
    const m: unknown = v[i];
    const at = `${field}[${i}]`;
    if (!isObject(m)) {
      issues.push({ field: at, message: `must be an object {role, content}, got ${describe(m)}` });
      return null;
    }
    for (const k of Object.keys(m)) if (!MESSAGE_KEYS.has(k) && m[k] !== undefined) extra.add(k);
    const roleKey = "role" in m ? "role" : "from";
    const rawRole = m[roleKey];
    const role = typeof rawRole === "string" ? ROLE_ALIASES[rawRole.toLowerCase()] : undefined;
    if (!role) {
      issues.push({
        field: `${at}.${roleKey}`,
        message: `${JSON.stringify(rawRole ?? null)} is not a known role`,
      });
      return null;
    }
    const content = contentOf(m, at, issues);
    if (content === null) return null;
    out.push({ role, content });
  }
  for (const k of extra) {
    const key = `${field}[].${k}`;
    unused.set(key, (unused.get(key) ?? 0) + 1);
  }
  return out;
}

/** Message text: a string, text parts joined, plus tool calls written out as JSON (one per line). */
function contentOf(m: Record<string, unknown>, at: string, issues: RecordIssue[]): string | null {
  const key = "content" in m ? "content" : "value";
  const raw = m[key];
  let text: string;
  if (typeof raw === "string") text = raw;
  else if (raw === null || raw === undefined) text = "";
  else if (Array.isArray(raw)) {
    const parts: string[] = [];
    for (const p of raw) {
      if (isObject(p) && p["type"] === "text" && typeof p["text"] === "string") parts.push(p["text"]);
      else {
        issues.push({
          field: `${at}.${key}`,
          message: `only text parts are supported (got ${isObject(p) ? `type ${JSON.stringify(p["type"])}` : describe(p)})`,
        });
        return null;
      }
    }
    text = parts.join("");
  } else {
    issues.push({ field: `${at}.${key}`, message: `must be a string, got ${describe(raw)}` });
    return null;
  }
  const calls = m["tool_calls"];
  if (calls !== undefined && calls !== null) {
    if (!Array.isArray(calls)) {
      issues.push({ field: `${at}.tool_calls`, message: `must be a list, got ${describe(calls)}` });
      return null;
    }
    const lines = calls.map((c: unknown) => {
      const fn = isObject(c) && isObject(c["function"]) ? c["function"] : isObject(c) ? c : {};
      const args = fn["arguments"];
      let parsed: unknown = args;
      if (typeof args === "string") {
        try {
          parsed = JSON.parse(args);
        } catch {
          parsed = args;
        }
      }
      return JSON.stringify({ name: fn["name"] ?? null, arguments: parsed ?? {} });
    });
    text = [text, ...lines].filter((s) => s !== "").join("\n");
  }
  return text;
}

/** The rules every chat record keeps: a system turn only first, and an assistant turn last. */
function checkChat(messages: ChatMessage[], field: string, issues: RecordIssue[]): boolean {
  if (messages.length === 0) {
    issues.push({ field, message: "must hold at least one message" });
    return false;
  }
  const sys = messages.findIndex((m, i) => m.role === "system" && i > 0);
  if (sys > 0) {
    issues.push({ field: `${field}[${sys}]`, message: "a system message may only come first" });
    return false;
  }
  const last = messages[messages.length - 1] as ChatMessage;
  if (last.role !== "assistant") {
    issues.push({
      field: `${field}[${messages.length - 1}]`,
      message: `the last message must come from the assistant (it is the training target), got "${last.role}"`,
    });
    return false;
  }
  return true;
}
