/**
 * Dataset files → rows → records.
 *
 * Containers, told apart by content where they can be, by name where they cannot:
 * - JSON: a file whose first non-space character is `[` is one array of records (alpaca_data.json).
 * - JSON Lines: anything starting with `{`, one record per line (blank lines skipped).
 * - CSV (.csv) and TSV (.tsv), a header row naming the columns (csv-parse). Cells holding lists
 *   (`history`, `messages`, …) are read as JSON text.
 * - Parquet (magic bytes `PAR1`), read with hyparquet (snappy, gzip, zstd, brotli, lz4 through
 *   hyparquet-compressors): what the Hugging Face hub serves and `Dataset.to_parquet` writes.
 * - Arrow IPC (.arrow), read with apache-arrow: the files `Dataset.save_to_disk` writes.
 * - A folder: a `save_to_disk` dataset (state.json lists its .arrow files), a DatasetDict
 *   (dataset_dict.json; its `train` split, or its only split), or any folder of data files, such as a
 *   hub dataset's snapshot in the Hugging Face cache (files with "train" in their path when there are
 *   any, else all of them, in path order).
 * Rows then become records through formats.ts (format detection, --format, --columns).
 *
 * Every record is validated; up to MAX_REPORTED problems are reported at once, each naming the file,
 * the record index (0-based) and for JSON Lines the 1-based line number, so that one pass over the
 * error list fixes the file. All dataset errors exit with code 2 (bad input).
 */
import { readFile, readdir, stat } from "node:fs/promises";
import { extname, join, relative } from "node:path";
import { LoraprofError, type Problem } from "../util/errors.js";
import {
  convertRows,
  MAX_REPORTED,
  FORMATS_HINT,
  type ColumnMap,
  type ConvertedRows,
  type DatasetFormat,
  type RowLocator,
} from "./formats.js";
import type { DatasetRecord } from "./records.js";

export { MAX_REPORTED };

export type Container = "json" | "jsonl" | "csv" | "tsv" | "parquet" | "arrow";

export interface ReadOptions {
  /** Skip detection and read every row as this format. */
  format?: DatasetFormat | null;
  /** The format's field → the file's column. */
  columns?: ColumnMap;
}

export interface LoadedDataset extends ConvertedRows {
  /** The container of the (first) file read. */
  container: Container;
  /** Files read, in order. */
  files: string[];
  /** Set when a folder was read: what kind of folder. */
  folder: "save_to_disk" | "dataset_dict" | "data files" | null;
}

interface RawRows {
  rows: unknown[];
  container: Container;
  locate: RowLocator;
}

const DATA_EXTENSIONS = new Set([".json", ".jsonl", ".ndjson", ".csv", ".tsv", ".parquet", ".arrow"]);

/** Reads a dataset file or folder into validated records, with the format and unread fields. */
export async function loadDataset(path: string, opts: ReadOptions = {}): Promise<LoadedDataset> {
  const info = await stat(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") {
      throw new LoraprofError("DATASET_NOT_FOUND", `dataset file not found: ${path}`, {
        hint: "check the path (relative paths are resolved from the current folder), or use `--dataset alpaca` / `--dataset synthetic`",
        cause: err,
      });
    }
    throw new LoraprofError("DATASET_INVALID", `cannot read ${path}: ${err.message}`, { cause: err });
  });
  let files: string[];
  let folder: LoadedDataset["folder"] = null;
  if (info.isDirectory()) {
    ({ files, folder } = await folderFiles(path));
  } else {
    files = [path];
  }
  const parts: RawRows[] = [];
  for (const f of files) parts.push(await readRows(f));
  const rows = parts.length === 1 ? (parts[0] as RawRows).rows : parts.flatMap((p) => p.rows);
  const starts: number[] = [];
  let n = 0;
  for (const p of parts) {
    starts.push(n);
    n += p.rows.length;
  }
  const locate: RowLocator = (i) => {
    let k = starts.length - 1;
    while (k > 0 && (starts[k] as number) > i) k--;
    return (parts[k] as RawRows).locate(i - (starts[k] as number));
  };
  const converted = convertRows(rows, { ...opts, source: path, locate });
  return { ...converted, container: (parts[0] as RawRows).container, files, folder };
}

/** Reads a dataset file or folder into validated records. */
export async function readDataset(path: string, opts: ReadOptions = {}): Promise<DatasetRecord[]> {
  return (await loadDataset(path, opts)).records;
}

/** Parses JSON / JSON Lines dataset text; `source` names the file in error messages. */
export function parseDataset(text: string, source: string, opts: ReadOptions = {}): DatasetRecord[] {
  const raw = parseJsonText(text, source);
  return convertRows(raw.rows, { ...opts, source, locate: raw.locate }).records;
}

/** The files a dataset path stands for (a file: itself; a folder: see the file header). */
export async function datasetFiles(path: string): Promise<string[]> {
  const info = await stat(path).catch(() => null);
  return info?.isDirectory() ? (await folderFiles(path)).files : [path];
}

async function folderFiles(
  dir: string,
): Promise<{ files: string[]; folder: NonNullable<LoadedDataset["folder"]> }> {
  const readJson = async (p: string): Promise<unknown> => {
    try {
      return JSON.parse(await readFile(p, "utf8")) as unknown;
    } catch {
      return null;
    }
  };
  const state = (await readJson(join(dir, "state.json"))) as {
    _data_files?: { filename?: unknown }[];
  } | null;
  if (state && Array.isArray(state._data_files)) {
    const files = state._data_files
      .map((f) => f.filename)
      .filter((f): f is string => typeof f === "string")
      .map((f) => join(dir, f));
    if (files.length > 0) return { files, folder: "save_to_disk" };
  }
  const dict = (await readJson(join(dir, "dataset_dict.json"))) as { splits?: unknown } | null;
  if (dict && Array.isArray(dict.splits)) {
    const splits = dict.splits.filter((s): s is string => typeof s === "string");
    const split = splits.includes("train") ? "train" : splits.length === 1 ? splits[0] : undefined;
    if (split === undefined) {
      throw new LoraprofError("DATASET_INVALID", `${dir} is a DatasetDict without a train split`, {
        problems: [
          { field: "dataset", message: `splits: ${splits.join(", ")}`, hint: `pass ${join(dir, "<split>")}` },
        ],
      });
    }
    const inner = await folderFiles(join(dir, split));
    return { files: inner.files, folder: "dataset_dict" };
  }
  const all: string[] = [];
  const walk = async (d: string, depth: number): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      if (e.name.startsWith(".")) continue;
      const p = join(d, e.name);
      if (e.isDirectory() && depth < 4) await walk(p, depth + 1);
      else if ((e.isFile() || e.isSymbolicLink()) && DATA_EXTENSIONS.has(extname(e.name).toLowerCase()))
        all.push(p);
    }
  };
  await walk(dir, 0);
  all.sort();
  const train = all.filter((f) => /(^|[/_.-])train([/_.-]|$)/i.test(relative(dir, f)));
  const files = train.length > 0 ? train : all;
  if (files.length === 0) {
    throw new LoraprofError("DATASET_INVALID", `${dir} holds no dataset files`, {
      hint: "point to a JSON, JSONL, CSV, TSV, Parquet or Arrow file, or a folder written by Dataset.save_to_disk",
    });
  }
  return { files, folder: "data files" };
}

async function readRows(path: string): Promise<RawRows> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new LoraprofError(
      "DATASET_INVALID",
      `cannot read dataset file ${path}: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  const ext = extname(path).toLowerCase();
  const at = (i: number) => `${path}:record[${i}]`;
  if (bytes.subarray(0, 4).toString("latin1") === "PAR1") {
    return { rows: await parquetRows(bytes, path), container: "parquet", locate: at };
  }
  if (ext === ".arrow" || bytes.subarray(0, 6).toString("latin1") === "ARROW1") {
    return { rows: await arrowRows(bytes, path), container: "arrow", locate: at };
  }
  if (ext === ".parquet") {
    throw new LoraprofError("DATASET_INVALID", `${path} is not a Parquet file (no PAR1 magic bytes)`, {
      hint: "the file may be cut off or a Git LFS pointer; download it again",
    });
  }
  const text = bytes.toString("utf8");
  if (ext === ".csv" || ext === ".tsv") {
    return {
      rows: await csvRows(text, path, ext === ".tsv" ? "\t" : ","),
      container: ext === ".csv" ? "csv" : "tsv",
      locate: (i) => `${path}:record[${i}]`,
    };
  }
  return parseJsonText(text, path);
}

async function parquetRows(bytes: Buffer, path: string): Promise<unknown[]> {
  const { parquetReadObjects } = await import("hyparquet");
  const { compressors } = await import("hyparquet-compressors");
  const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  try {
    return (await parquetReadObjects({ file, compressors })).map((row) => plain(row));
  } catch (err) {
    throw new LoraprofError(
      "DATASET_INVALID",
      `cannot read the Parquet file ${path}: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
}

async function arrowRows(bytes: Buffer, path: string): Promise<unknown[]> {
  const arrow = await import("apache-arrow");
  let table: import("apache-arrow").Table;
  try {
    table = arrow.tableFromIPC(bytes);
  } catch (err) {
    throw new LoraprofError(
      "DATASET_INVALID",
      `cannot read the Arrow file ${path}: ${(err as Error).message}`,
      {
        hint: "expected an Arrow IPC file or stream, as Dataset.save_to_disk writes",
        cause: err,
      },
    );
  }
  const names = table.schema.fields.map((f) => f.name);
  const columns = names.map((_, i) => table.getChildAt(i));
  const rows: unknown[] = [];
  for (let r = 0; r < table.numRows; r++) {
    const row: Record<string, unknown> = {};
    names.forEach((name, i) => {
      row[name] = plain(columns[i]?.get(r), (x) => x instanceof arrow.Vector);
    });
    rows.push(row);
  }
  return rows;
}

/**
 * Arrow vectors and struct rows, Parquet bigints → plain JSON-like values. `isVector` tells Arrow
 * list cells apart (struct rows are iterable too, over [key, value] pairs).
 */
function plain(v: unknown, isVector: (x: object) => boolean = () => false): unknown {
  if (v === null || v === undefined) return v;
  if (typeof v === "bigint") return Number(v);
  if (typeof v !== "object") return v;
  const rec = (x: unknown) => plain(x, isVector);
  if (Array.isArray(v)) return v.map(rec);
  if (isVector(v)) return Array.from(v as Iterable<unknown>, rec);
  if (ArrayBuffer.isView(v)) return Array.from(v as unknown as ArrayLike<number>);
  if (v instanceof Date) return v.toISOString();
  const o = v as { toJSON?: () => unknown };
  // An Arrow StructRow serializes itself to a plain object (its values may still be vectors).
  const obj = (typeof o.toJSON === "function" ? o.toJSON() : v) as Record<string, unknown>;
  return Object.fromEntries(Object.entries(obj).map(([k, x]) => [k, rec(x)]));
}

async function csvRows(text: string, path: string, delimiter: string): Promise<unknown[]> {
  const { parse } = await import("csv-parse/sync");
  try {
    return parse(text, { columns: true, bom: true, skip_empty_lines: true, delimiter }) as unknown[];
  } catch (err) {
    throw new LoraprofError(
      "DATASET_INVALID",
      `${path} is not valid ${delimiter === "\t" ? "TSV" : "CSV"}: ${(err as Error).message}`,
      {
        hint: "the first row names the columns; quote cells that hold the delimiter, quotes or line breaks",
        cause: err,
      },
    );
  }
}

/** JSON array or JSON Lines text → rows, with JSON syntax problems reported by line. */
function parseJsonText(text: string, source: string): RawRows {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1); // UTF-8 byte order mark
  const first = text.search(/\S/);
  if (first === -1) {
    throw new LoraprofError("DATASET_INVALID", `dataset file is empty: ${source}`, {
      hint: `supported formats: ${FORMATS_HINT}`,
    });
  }
  const c = text[first];
  if (c === "[") {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw jsonSyntaxError(text, source, err as Error);
    }
    if (!Array.isArray(value)) {
      throw new LoraprofError("DATASET_INVALID", `${source} must hold a JSON array of records`, {
        hint: FORMATS_HINT,
      });
    }
    return { rows: value as unknown[], container: "json", locate: (i) => `${source}:record[${i}]` };
  }
  if (c === "{") return parseJsonLines(text, source);
  const { line, column } = lineColumn(text, first);
  throw new LoraprofError(
    "DATASET_INVALID",
    `${source} is neither a JSON array nor JSON Lines (line ${line}, column ${column} starts with ${JSON.stringify(c)})`,
    {
      hint: "use a JSON array `[{…}, …]`, one JSON object per line (.jsonl), or a .csv/.tsv/.parquet/.arrow file",
    },
  );
}

function parseJsonLines(text: string, source: string): RawRows {
  const rows: unknown[] = [];
  const lineNumbers: number[] = [];
  const problems: Problem[] = [];
  let bad = 0;
  const lines = text.split("\n");
  for (let ln = 0; ln < lines.length; ln++) {
    const line = (lines[ln] as string).replace(/\r$/, "");
    if (line.trim() === "") continue;
    try {
      rows.push(JSON.parse(line));
      lineNumbers.push(ln + 1);
    } catch (err) {
      if (rows.length === 0 && bad === 0) {
        // A pretty-printed single JSON object fails on its first line: say what the file really is.
        let whole: unknown = null;
        try {
          whole = JSON.parse(text);
        } catch {
          whole = null;
        }
        if (whole !== null && typeof whole === "object") {
          throw new LoraprofError(
            "DATASET_INVALID",
            `${source} is one JSON object spread over several lines, not an array of records or JSON Lines`,
            { hint: "wrap the records in a JSON array `[…]`, or write one record per line" },
          );
        }
      }
      bad++;
      if (problems.length < MAX_REPORTED) {
        const where = locate(line, err as Error);
        problems.push({
          field: `${source}:line ${ln + 1}:record[${rows.length + bad - 1}]`,
          message: `invalid JSON at column ${where.column}: ${cleanJsonMessage((err as Error).message)}`,
          hint: "each line must be one complete JSON object",
        });
      }
    }
  }
  if (bad > 0) {
    throw new LoraprofError(
      "DATASET_INVALID",
      `${bad} of ${rows.length + bad} records in ${source} are invalid` +
        (bad > problems.length ? ` (first ${problems.length} problems listed)` : ""),
      { problems, hint: "fix the records listed (or remove them) and run again" },
    );
  }
  return { rows, container: "jsonl", locate: (i) => `${source}:line ${lineNumbers[i]}:record[${i}]` };
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
