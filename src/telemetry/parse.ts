/**
 * Parsing of `nvidia-smi --query-gpu=… --format=csv[,noheader][,nounits]` output, in the two shapes it
 * comes in: as loraprof records it (no header, no units, the field list known from the query) and as
 * people record it (a header naming fields with `[unit]`, units in every cell, local-time timestamps
 * like `2025/11/03 12:00:01.123`).
 *
 * Every reading is converted to base units (W, bytes, Hz, %, °C). A reading the driver cannot give
 * (`[N/A]`, `[Not Supported]`, a blank cell, a column that was not queried) becomes null; a row that
 * cannot be trusted (wrong number of cells, a number that is not one, a unit that contradicts the
 * header, a cell cut short) is rejected whole and reported as an issue, never half-read.
 */
import { LoraprofError } from "../util/errors.js";

/** One reading of one GPU, in base units. */
export interface TelemetrySample {
  /** Milliseconds since the Unix epoch (host clock for the live sampler; the CSV's timestamp in replay). */
  tMs: number;
  /** nvidia-smi's GPU index (PCI bus order, which is not CUDA's default order: see sampler.ts). */
  gpuIndex: number;
  /** `power.draw` (or `power.draw.average` when only that was recorded): on recent drivers a 1 s average. */
  powerWatts: number | null;
  /** `power.draw.instant`: the instantaneous reading (drivers from the R530 series on). */
  powerInstantWatts: number | null;
  memoryUsedBytes: number | null;
  memoryTotalBytes: number | null;
  utilizationGpuPercent: number | null;
  utilizationMemoryPercent: number | null;
  smClockHz: number | null;
  memClockHz: number | null;
  temperatureC: number | null;
  /** Performance state, `P0` (maximum) to `P15`. */
  pstate: string | null;
}

/** The readings of a row, before a time is attached to it. */
export type SampleReadings = Omit<TelemetrySample, "tMs">;

/** A reading with every field absent (what a row fills in, and what tests build samples from). */
export function emptyReadings(gpuIndex = 0): SampleReadings {
  return {
    gpuIndex,
    powerWatts: null,
    powerInstantWatts: null,
    memoryUsedBytes: null,
    memoryTotalBytes: null,
    utilizationGpuPercent: null,
    utilizationMemoryPercent: null,
    smClockHz: null,
    memClockHz: null,
    temperatureC: null,
    pstate: null,
  };
}

/** What a column of a query means. */
type FieldKey =
  | "timestamp"
  | "index"
  | "uuid"
  | "power.draw"
  | "power.draw.instant"
  | "power.draw.average"
  | "memory.used"
  | "memory.total"
  | "utilization.gpu"
  | "utilization.memory"
  | "clocks.sm"
  | "clocks.mem"
  | "temperature.gpu"
  | "pstate";

/** Names nvidia-smi accepts in a query, and the long names it prints in a header, for each field. */
const FIELD_ALIASES: Record<string, FieldKey> = {
  timestamp: "timestamp",
  index: "index",
  uuid: "uuid",
  gpu_uuid: "uuid",
  "power.draw": "power.draw",
  "power.draw.instant": "power.draw.instant",
  "power.draw.average": "power.draw.average",
  "memory.used": "memory.used",
  "memory.total": "memory.total",
  "utilization.gpu": "utilization.gpu",
  "utilization.memory": "utilization.memory",
  "clocks.sm": "clocks.sm",
  "clocks.current.sm": "clocks.sm",
  "clocks.mem": "clocks.mem",
  "clocks.memory": "clocks.mem",
  "clocks.current.memory": "clocks.mem",
  "temperature.gpu": "temperature.gpu",
  pstate: "pstate",
};

type Kind = "power" | "memory" | "percent" | "clock" | "temperature";

/** Multipliers to base units; the first unit of each kind is what `nounits` output is in. */
const UNITS: Record<Kind, Record<string, number>> = {
  power: { W: 1, mW: 1e-3, kW: 1e3 },
  memory: { MiB: 1024 ** 2, B: 1, KiB: 1024, GiB: 1024 ** 3, TiB: 1024 ** 4 },
  percent: { "%": 1 },
  clock: { MHz: 1e6, Hz: 1, kHz: 1e3, GHz: 1e9 },
  temperature: { C: 1, "°C": 1 },
};
const DEFAULT_UNIT: Record<Kind, string> = {
  power: "W",
  memory: "MiB",
  percent: "%",
  clock: "MHz",
  temperature: "C",
};

type NumericTarget = Exclude<keyof SampleReadings, "gpuIndex" | "pstate">;

const NUMERIC: Partial<Record<FieldKey, { kind: Kind; target: NumericTarget }>> = {
  "power.draw": { kind: "power", target: "powerWatts" },
  "power.draw.average": { kind: "power", target: "powerWatts" },
  "power.draw.instant": { kind: "power", target: "powerInstantWatts" },
  "memory.used": { kind: "memory", target: "memoryUsedBytes" },
  "memory.total": { kind: "memory", target: "memoryTotalBytes" },
  "utilization.gpu": { kind: "percent", target: "utilizationGpuPercent" },
  "utilization.memory": { kind: "percent", target: "utilizationMemoryPercent" },
  "clocks.sm": { kind: "clock", target: "smClockHz" },
  "clocks.mem": { kind: "clock", target: "memClockHz" },
  "temperature.gpu": { kind: "temperature", target: "temperatureC" },
};

/** One column of a CSV: the field it carries (null: a column loraprof does not use) and its header unit. */
export interface Column {
  name: string;
  key: FieldKey | null;
  headerUnit: string | null;
}

export interface CsvLayout {
  columns: Column[];
  /** Readings no column provides (they are null in every sample). */
  missingReadings: string[];
  /** Columns present but not used (e.g. `name`, `fan.speed`). */
  ignoredColumns: string[];
}

/**
 * The readings loraprof samples, in query order. `power.draw.instant` is the one an older driver does
 * not know; the sampler drops fields nvidia-smi rejects (see sampler.ts).
 */
export const SAMPLER_FIELDS = [
  "timestamp",
  "index",
  "power.draw",
  "power.draw.instant",
  "memory.used",
  "memory.total",
  "utilization.gpu",
  "utilization.memory",
  "clocks.sm",
  "clocks.mem",
  "temperature.gpu",
  "pstate",
] as const;

/** True for a field name this parser understands (in either its query or its header spelling). */
export function isKnownField(name: string): boolean {
  return Object.hasOwn(FIELD_ALIASES, name.trim());
}

function layoutOf(columns: Column[]): CsvLayout {
  const keys = new Set(columns.map((c) => c.key));
  const missing: string[] = [];
  const has = (...ks: FieldKey[]) => ks.some((k) => keys.has(k));
  if (!has("power.draw", "power.draw.average")) missing.push("powerWatts");
  if (!has("power.draw.instant")) missing.push("powerInstantWatts");
  for (const [key, spec] of Object.entries(NUMERIC)) {
    if (spec && spec.kind !== "power" && !keys.has(key as FieldKey)) missing.push(spec.target);
  }
  if (!keys.has("pstate")) missing.push("pstate");
  return {
    columns,
    missingReadings: missing,
    ignoredColumns: columns.filter((c) => c.key === null).map((c) => c.name),
  };
}

/** The layout of output recorded with `noheader`: the columns are the queried fields, in order. */
export function layoutFromFields(fields: readonly string[]): CsvLayout {
  return layoutOf(
    fields.map((f) => ({ name: f.trim(), key: FIELD_ALIASES[f.trim()] ?? null, headerUnit: null })),
  );
}

const HEADER_CELL = /^([A-Za-z_][A-Za-z0-9_.]*)\s*(?:\[([^\]]*)\])?$/;

/**
 * The layout named by a header line such as `timestamp, power.draw [W], memory.used [MiB]`, or null
 * when the line is not a header (a cell that is not a field name, or no field loraprof knows).
 */
export function layoutFromHeader(line: string): CsvLayout | null {
  const cells = line.split(",").map((c) => c.trim());
  const columns: Column[] = [];
  for (const cell of cells) {
    const m = HEADER_CELL.exec(cell);
    if (!m) return null;
    const name = m[1] as string;
    columns.push({ name, key: FIELD_ALIASES[name] ?? null, headerUnit: m[2]?.trim() || null });
  }
  if (!columns.some((c) => c.key !== null)) return null;
  return layoutOf(columns);
}

/** `[N/A]`, `N/A`, `[Not Supported]`, `[Unknown Error]`, `[GPU is lost]`…: the driver has no reading. */
function isNoReading(cell: string): boolean {
  if (cell === "") return true;
  if (/^\[[^\]]*\]$/.test(cell)) return true;
  return /^(N\/A|Not Supported|Unknown Error|Insufficient Permissions|GPU is lost)$/i.test(cell);
}

const NUMBER_WITH_UNIT = /^([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*([A-Za-z%°]+)?$/;
const TIMESTAMP = /^(\d{4})[/-](\d{1,2})[/-](\d{1,2})[ T](\d{1,2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?$/;

/**
 * nvidia-smi's `timestamp` cell to epoch milliseconds. nvidia-smi prints local wall time with no zone:
 * `local` reads it in this process's time zone (right when replaying on the recording host), `utc`
 * reads it as UTC (stable across machines; only differences between samples are then meaningful).
 */
export function parseSmiTimestamp(cell: string, zone: "local" | "utc" = "local"): number | null {
  const m = TIMESTAMP.exec(cell.trim());
  if (!m) return null;
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const frac = m[7] ?? "0";
  const ms = Number(frac.padEnd(3, "0").slice(0, 3)) + Number(`0.${frac.slice(3) || "0"}`);
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) return null;
  return zone === "utc"
    ? Date.UTC(y, mo - 1, d, h, mi, s, 0) + ms
    : new Date(y, mo - 1, d, h, mi, s, 0).getTime() + ms;
}

export interface ParsedRow {
  readings: SampleReadings;
  /** The row's nvidia-smi timestamp (see parseSmiTimestamp), or null without a timestamp column. */
  smiTimestampMs: number | null;
  /** The row's GPU uuid, when a uuid column was recorded. */
  uuid: string | null;
}

export type RowResult = { ok: true; row: ParsedRow } | { ok: false; message: string };

export interface RowParserOptions {
  timestampZone?: "local" | "utc";
  /** GPU index for rows of a CSV with neither an index nor a uuid column. */
  defaultGpuIndex?: number;
}

/**
 * Parses data rows of one layout. It learns from the first good row whether cells carry their units
 * (`--format=csv`) or not (`nounits`) and rejects a later row that breaks the pattern: that is how a
 * last line cut in the middle of its final cell (`…, 12` for `…, 12 %`) is told from a whole one.
 */
export class RowParser {
  private cellsCarryUnits: boolean | null = null;
  private readonly uuidToIndex = new Map<string, number>();
  private readonly zone: "local" | "utc";
  private readonly defaultGpuIndex: number;

  constructor(
    readonly layout: CsvLayout,
    opts: RowParserOptions = {},
  ) {
    this.zone = opts.timestampZone ?? "local";
    this.defaultGpuIndex = opts.defaultGpuIndex ?? 0;
  }

  parse(line: string): RowResult {
    const cells = line.split(",").map((c) => c.trim());
    const columns = this.layout.columns;
    if (cells.length !== columns.length) {
      return {
        ok: false,
        message: `expected ${columns.length} cells, found ${cells.length} (a partial or garbled line)`,
      };
    }
    const readings = emptyReadings(this.defaultGpuIndex);
    let smiTimestampMs: number | null = null;
    let index: number | null = null;
    let uuid: string | null = null;
    let powerDraw: number | null = null;
    let powerAverage: number | null = null;
    let withUnits = 0;
    let withoutUnits = 0;

    for (let i = 0; i < columns.length; i++) {
      const col = columns[i] as Column;
      const cell = cells[i] as string;
      if (col.key === null) continue;
      const where = `column ${i + 1} (${col.name})`;
      if (col.key === "timestamp") {
        if (isNoReading(cell)) continue;
        smiTimestampMs = parseSmiTimestamp(cell, this.zone);
        if (smiTimestampMs === null) return { ok: false, message: `${where}: "${cell}" is not a timestamp` };
        continue;
      }
      if (col.key === "index") {
        if (!/^\d+$/.test(cell)) return { ok: false, message: `${where}: "${cell}" is not a GPU index` };
        index = Number(cell);
        continue;
      }
      if (col.key === "uuid") {
        if (!/^(GPU|MIG)-[0-9A-Za-z-]+$/.test(cell)) {
          return { ok: false, message: `${where}: "${cell}" is not a GPU uuid` };
        }
        uuid = cell;
        continue;
      }
      if (col.key === "pstate") {
        if (isNoReading(cell)) continue;
        if (!/^P\d{1,2}$/.test(cell)) return { ok: false, message: `${where}: "${cell}" is not a pstate` };
        readings.pstate = cell;
        continue;
      }
      const spec = NUMERIC[col.key];
      if (!spec) continue;
      if (isNoReading(cell)) continue;
      const m = NUMBER_WITH_UNIT.exec(cell);
      if (!m) return { ok: false, message: `${where}: "${cell}" is not a number` };
      const cellUnit = m[2] ?? null;
      const unit = cellUnit ?? col.headerUnit ?? DEFAULT_UNIT[spec.kind];
      const factor = UNITS[spec.kind][unit];
      if (factor === undefined) {
        return { ok: false, message: `${where}: unit "${unit}" is not a ${spec.kind} unit` };
      }
      if (cellUnit !== null && col.headerUnit !== null && cellUnit !== col.headerUnit) {
        return {
          ok: false,
          message: `${where}: unit "${cellUnit}" contradicts the header's [${col.headerUnit}]`,
        };
      }
      // temperature.gpu has no unit in either format, so it says nothing about the row's style.
      if (spec.kind !== "temperature") {
        if (cellUnit === null) withoutUnits++;
        else withUnits++;
      }
      const value = Number(m[1]) * factor;
      if (!Number.isFinite(value))
        return { ok: false, message: `${where}: "${cell}" is not a finite number` };
      if (col.key === "power.draw") powerDraw = value;
      else if (col.key === "power.draw.average") powerAverage = value;
      else readings[spec.target] = value;
    }

    if (withUnits > 0 && withoutUnits > 0) {
      return { ok: false, message: "some cells carry units and others do not (a cut or garbled line)" };
    }
    if (withUnits + withoutUnits > 0) {
      const style = withUnits > 0;
      if (this.cellsCarryUnits === null) this.cellsCarryUnits = style;
      else if (this.cellsCarryUnits !== style) {
        return {
          ok: false,
          message: style
            ? "cells carry units where earlier rows had none (a garbled line)"
            : "cells lack the units earlier rows carried (a line cut short)",
        };
      }
    }

    // power.draw is what the replay integrates; power.draw.average stands in when it alone was recorded.
    readings.powerWatts = powerDraw ?? powerAverage;
    if (index !== null) readings.gpuIndex = index;
    else if (uuid !== null) {
      let i = this.uuidToIndex.get(uuid);
      if (i === undefined) {
        // Without an index column, GPUs are numbered in the order their uuids first appear.
        i = this.uuidToIndex.size;
        this.uuidToIndex.set(uuid, i);
      }
      readings.gpuIndex = i;
    }
    return { ok: true, row: { readings, smiTimestampMs, uuid } };
  }
}

/** A line that could not be read, with its 1-based line number and why. */
export interface ParseIssue {
  line: number;
  text: string;
  message: string;
}

export interface ParsedCsv {
  samples: TelemetrySample[];
  issues: ParseIssue[];
  layout: CsvLayout;
  hasHeader: boolean;
  /** Where sample times come from: the CSV's timestamp column, or synthesized from `intervalMs`. */
  timeSource: "timestamp-column" | "interval";
}

export interface ParseCsvOptions extends RowParserOptions {
  /** The queried fields, for output recorded with `noheader` (a header line, if present, wins). */
  fields?: readonly string[];
  /**
   * For a CSV without a timestamp column: the sampling interval, so that times can be synthesized
   * (row k of a GPU at k·intervalMs). Without it such a CSV is refused: energy needs times.
   */
  intervalMs?: number;
}

/**
 * Parses a whole nvidia-smi CSV. A header line is recognized wherever it appears (logs appended to
 * one another repeat it); without one, `fields` must name the columns. Bad lines become `issues`.
 */
export function parseNvidiaSmiCsv(text: string, opts: ParseCsvOptions = {}): ParsedCsv {
  const lines = text.split(/\r?\n/);
  let layout: CsvLayout | null = opts.fields ? layoutFromFields(opts.fields) : null;
  let parser = layout ? new RowParser(layout, opts) : null;
  let hasHeader = false;
  const rows: { row: ParsedRow; line: number }[] = [];
  const issues: ParseIssue[] = [];

  for (let i = 0; i < lines.length; i++) {
    const text = (lines[i] as string).trim();
    if (text === "") continue;
    const header = layoutFromHeader(text);
    if (header) {
      layout = header;
      parser = new RowParser(header, opts);
      hasHeader = true;
      continue;
    }
    if (!parser) {
      throw new LoraprofError("FLAG_INVALID", "the CSV has no header line naming its columns", {
        problems: [
          {
            field: `line ${i + 1}`,
            message: `expected a header such as "timestamp, power.draw [W], memory.used [MiB]", found "${clip(text)}"`,
            hint: "record with --format=csv (not noheader), or pass the queried fields",
          },
        ],
      });
    }
    const result = parser.parse(text);
    if (result.ok) rows.push({ row: result.row, line: i + 1 });
    else issues.push({ line: i + 1, text: clip(text), message: result.message });
  }
  if (!layout) {
    throw new LoraprofError("FLAG_INVALID", "the CSV is empty", {
      hint: "record with nvidia-smi --query-gpu=timestamp,power.draw,memory.used --format=csv -lms 100",
    });
  }

  const hasTimestamp = layout.columns.some((c) => c.key === "timestamp");
  let timeSource: ParsedCsv["timeSource"] = "timestamp-column";
  const samples: TelemetrySample[] = [];
  if (hasTimestamp) {
    for (const { row, line } of rows) {
      if (row.smiTimestampMs === null) {
        issues.push({
          line,
          text: "",
          message: "no timestamp in this row; the row cannot be placed in time",
        });
        continue;
      }
      samples.push({ tMs: row.smiTimestampMs, ...row.readings });
    }
  } else {
    if (opts.intervalMs === undefined || !(opts.intervalMs > 0)) {
      throw new LoraprofError(
        "FLAG_INVALID",
        "the CSV has no timestamp column, so samples cannot be placed in time",
        {
          problems: [
            { field: "timestamp", message: "column missing", hint: "record with --query-gpu=timestamp,…" },
          ],
          hint: "or give the sampling interval the log was recorded with",
        },
      );
    }
    timeSource = "interval";
    const counts = new Map<number, number>();
    for (const { row } of rows) {
      const k = counts.get(row.readings.gpuIndex) ?? 0;
      counts.set(row.readings.gpuIndex, k + 1);
      samples.push({ tMs: k * opts.intervalMs, ...row.readings });
    }
  }
  return { samples, issues, layout, hasHeader, timeSource };
}

function clip(s: string, n = 120): string {
  return s.length > n ? `${s.slice(0, n)}…` : s;
}
