/**
 * Dataset files → records.
 *
 * Two formats, told apart by content rather than file name: a file whose first non-space character is
 * `[` is one JSON array (Stanford Alpaca's alpaca_data.json); anything starting with `{` is JSON Lines,
 * one record per line (blank lines skipped). Either may hold instruction or chat records (see
 * records.ts), mixed freely.
 *
 * Every record is validated; up to MAX_REPORTED problems are reported at once, each naming the file,
 * the record index (0-based, as in the array) and for JSON Lines the 1-based line number, so that one
 * pass over the error list fixes the file.
 */
import { readFile } from "node:fs/promises";
import { LoraprofError, type Problem } from "../util/errors.js";
import { parseRecord, type DatasetRecord, type RecordIssue } from "./records.js";

/** Problems listed in one error; the message still counts all bad records. */
export const MAX_REPORTED = 20;

const RECORD_HINT =
  'each record needs "instruction" and "output" strings ("input" optional), or "messages": [{"role", "content"}, …] ending with an assistant message';

/** Reads and validates a dataset file (Alpaca JSON array or JSON Lines). */
export async function readDataset(path: string): Promise<DatasetRecord[]> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") {
      throw new LoraprofError("DATASET_NOT_FOUND", `dataset file not found: ${path}`, {
        hint: "check the path (relative paths are resolved from the current folder), or use `--dataset alpaca` / `--dataset synthetic`",
        cause: err,
      });
    }
    if (code === "EISDIR") {
      throw new LoraprofError("DATASET_INVALID", `dataset path is a folder, not a file: ${path}`, {
        hint: "point to the .json or .jsonl file inside it",
        cause: err,
      });
    }
    throw new LoraprofError(
      "DATASET_INVALID",
      `cannot read dataset file ${path}: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  return parseDataset(text, path);
}

/** Parses dataset text; `source` names the file in error messages. */
export function parseDataset(text: string, source: string): DatasetRecord[] {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1); // UTF-8 byte order mark
  const first = text.search(/\S/);
  if (first === -1) {
    throw new LoraprofError("DATASET_INVALID", `dataset file is empty: ${source}`, { hint: RECORD_HINT });
  }
  const c = text[first];
  if (c === "[") return parseJsonArray(text, source);
  if (c === "{") return parseJsonLines(text, source);
  const { line, column } = lineColumn(text, first);
  throw new LoraprofError(
    "DATASET_INVALID",
    `${source} is neither a JSON array nor JSON Lines (line ${line}, column ${column} starts with ${JSON.stringify(c)})`,
    { hint: "use an Alpaca-style JSON array `[{…}, …]` or one JSON object per line (.jsonl)" },
  );
}

class ProblemCollector {
  readonly problems: Problem[] = [];
  badRecords = 0;

  add(location: string, issues: RecordIssue[]): void {
    this.badRecords++;
    for (const issue of issues) {
      if (this.problems.length >= MAX_REPORTED) return;
      this.problems.push({
        field: issue.field ? `${location}.${issue.field}` : location,
        message: issue.message,
        hint: RECORD_HINT,
      });
    }
  }

  throwIfAny(source: string, total: number): void {
    if (this.badRecords === 0) return;
    const shown = this.problems.length;
    throw new LoraprofError(
      "DATASET_INVALID",
      `${this.badRecords} of ${total} records in ${source} are invalid` +
        (this.badRecords > shown ? ` (first ${shown} problems listed)` : ""),
      { problems: this.problems, hint: "fix the records listed (or remove them) and run again" },
    );
  }
}

function parseJsonArray(text: string, source: string): DatasetRecord[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw jsonSyntaxError(text, source, err as Error);
  }
  if (!Array.isArray(value)) {
    throw new LoraprofError("DATASET_INVALID", `${source} must hold a JSON array of records`, {
      hint: RECORD_HINT,
    });
  }
  const collector = new ProblemCollector();
  const records: DatasetRecord[] = [];
  value.forEach((item, i) => {
    const r = parseRecord(item);
    if ("issues" in r) collector.add(`${source}:record[${i}]`, r.issues);
    else records.push(r.record);
  });
  collector.throwIfAny(source, value.length);
  if (records.length === 0) {
    throw new LoraprofError("DATASET_INVALID", `${source} holds an empty array: no records`, {
      hint: RECORD_HINT,
    });
  }
  return records;
}

function parseJsonLines(text: string, source: string): DatasetRecord[] {
  const collector = new ProblemCollector();
  const records: DatasetRecord[] = [];
  const lines = text.split("\n");
  let index = 0;
  for (let ln = 0; ln < lines.length; ln++) {
    const line = (lines[ln] as string).replace(/\r$/, "");
    if (line.trim() === "") continue;
    const location = `${source}:line ${ln + 1}:record[${index}]`;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      if (index === 0 && collector.badRecords === 0) {
        // A pretty-printed single JSON object fails on its first line: say what the file really is.
        try {
          const whole: unknown = JSON.parse(text);
          if (whole !== null && typeof whole === "object") {
            throw new LoraprofError(
              "DATASET_INVALID",
              `${source} is one JSON object spread over several lines, not an array of records or JSON Lines`,
              { hint: "wrap the records in a JSON array `[…]`, or write one record per line" },
            );
          }
        } catch (e) {
          if (e instanceof LoraprofError) throw e;
        }
      }
      const where = locate(line, err as Error);
      collector.add(location, [
        {
          field: "",
          message: `invalid JSON at column ${where.column}: ${cleanJsonMessage((err as Error).message)}`,
        },
      ]);
      index++;
      continue;
    }
    const r = parseRecord(value);
    if ("issues" in r) collector.add(location, r.issues);
    else records.push(r.record);
    index++;
  }
  collector.throwIfAny(source, index);
  return records;
}

function cleanJsonMessage(message: string): string {
  // V8 appends the whole input to some messages ("… is not valid JSON"); keep the first clause only.
  return message.replace(/, ".*" is not valid JSON$/s, "").replace(/ in JSON at position \d+.*$/s, "");
}

function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lastNewline = -1;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lastNewline = i;
    }
  }
  return { line, column: offset - lastNewline };
}

/** Where in `text` a JSON.parse error points: V8's "position N" when given, else our own scan. */
function locate(text: string, err: Error): { line: number; column: number; offset: number } {
  const m = /at position (\d+)/.exec(err.message);
  const offset = m ? Number(m[1]) : (findJsonSyntaxError(text) ?? text.length);
  return { ...lineColumn(text, offset), offset };
}

function jsonSyntaxError(text: string, source: string, err: Error): LoraprofError {
  const where = locate(text, err);
  const lineStart = text.lastIndexOf("\n", where.offset - 1) + 1;
  let lineEnd = text.indexOf("\n", where.offset);
  if (lineEnd === -1) lineEnd = text.length;
  const from = Math.max(lineStart, where.offset - 40);
  const snippet = text.slice(from, Math.min(lineEnd, where.offset + 40)).replace(/\r/g, "");
  return new LoraprofError(
    "DATASET_INVALID",
    `${source} is not valid JSON: ${cleanJsonMessage(err.message)} at line ${where.line}, column ${where.column}`,
    {
      problems: [
        {
          field: `${source}:line ${where.line}:column ${where.column}`,
          message: `near ${JSON.stringify(snippet)}`,
          hint: "fix the JSON syntax there (a trailing comma, a missing quote or bracket are the usual causes)",
        },
      ],
      cause: err,
    },
  );
}

/**
 * Offset of the first JSON syntax error in `text`, or null when it is valid. Used only to place an
 * error V8 reported without a position, so it favours simplicity over speed.
 */
export function findJsonSyntaxError(text: string): number | null {
  let i = 0;
  const n = text.length;
  class Fail {
    constructor(readonly at: number) {}
  }
  const ws = () => {
    while (i < n && " \t\n\r".includes(text[i] as string)) i++;
  };
  const expect = (s: string) => {
    if (text.startsWith(s, i)) i += s.length;
    else throw new Fail(i);
  };
  const string = () => {
    expect('"');
    while (i < n) {
      const ch = text.charCodeAt(i);
      if (ch === 0x22) {
        i++;
        return;
      }
      if (ch < 0x20) throw new Fail(i);
      if (ch === 0x5c) {
        const e = text[i + 1];
        if (e === "u") {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) throw new Fail(i);
          i += 6;
        } else if (e !== undefined && '"\\/bfnrt'.includes(e)) i += 2;
        else throw new Fail(i);
      } else i++;
    }
    throw new Fail(n);
  };
  const number = () => {
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
    if (!m) throw new Fail(i);
    i += m[0].length;
  };
  const value = (depth: number): void => {
    if (depth > 10_000) throw new Fail(i);
    ws();
    const c = text[i];
    if (c === "{") {
      i++;
      ws();
      if (text[i] === "}") {
        i++;
        return;
      }
      for (;;) {
        ws();
        string();
        ws();
        expect(":");
        value(depth + 1);
        ws();
        if (text[i] === ",") i++;
        else if (text[i] === "}") {
          i++;
          return;
        } else throw new Fail(i);
      }
    } else if (c === "[") {
      i++;
      ws();
      if (text[i] === "]") {
        i++;
        return;
      }
      for (;;) {
        value(depth + 1);
        ws();
        if (text[i] === ",") i++;
        else if (text[i] === "]") {
          i++;
          return;
        } else throw new Fail(i);
      }
    } else if (c === '"') string();
    else if (c === "t") expect("true");
    else if (c === "f") expect("false");
    else if (c === "n") expect("null");
    else number();
  };
  try {
    value(0);
    ws();
    return i < n ? i : null;
  } catch (e) {
    if (e instanceof Fail) return e.at;
    throw e;
  }
}
