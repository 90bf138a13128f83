/**
 * Moving finished runs between stores: `loraprof runs export` writes them (with their steps, telemetry
 * samples and sweeps) as one JSON bundle, `loraprof runs import` adds a bundle, or another loraprof store
 * file, to this one. A team measuring on several GPUs gathers every machine's runs into one store and
 * reports them side by side; results brought back from a GPU host without Node become a report here.
 *
 * The bundle holds the store's rows as they are (column names of src/store/db.ts; a `*_json` column is
 * written parsed, without the suffix), so nothing is lost on the way. An import is one transaction:
 * a bundle with one bad row changes nothing. Runs already in the store (same id) are kept as they are.
 * Library code only: returns data, never prints.
 */
import Database from "better-sqlite3";
import { existsSync, openSync, readSync, closeSync, readFileSync, statSync } from "node:fs";
import { EXIT, LoraprofError, type Problem } from "../util/errors.js";
import { MIGRATIONS, migrate, type Db } from "./db.js";
import { FINAL_STATUSES, getRun, type RunStatus } from "./runs.js";
import { getSweep } from "../sweep/store.js";

export const BUNDLE_FORMAT = "loraprof-runs";
export const BUNDLE_VERSION = 1;

type Row = Record<string, unknown>;

export interface RunBundle {
  format: typeof BUNDLE_FORMAT;
  version: number;
  /** The store schema the rows come from (db.ts MIGRATIONS). */
  schema: number;
  exportedAt: string;
  loraprof: string;
  runs: (Row & { steps: Row[]; telemetry: Row[] })[];
  sweeps: (Row & { entries: Row[] })[];
}

/** Which runs to export: ids (or unique prefixes), sweeps (id or name, with every run they made), or all. */
export interface ExportSelection {
  runIds?: readonly string[];
  sweeps?: readonly string[];
  all?: boolean;
}

export interface ExportResult {
  bundle: RunBundle;
  /** Selected runs left out because they have not finished (pending or running). */
  unfinished: string[];
}

const TABLES = {
  runs: "runs",
  steps: "steps",
  telemetry: "telemetry_samples",
  sweeps: "sweeps",
  entries: "sweep_runs",
} as const;

/** Columns of one table in this store's schema, in order. */
function columns(db: Db, table: string): string[] {
  return (db.pragma(`table_info(${table})`) as { name: string }[]).map((c) => c.name);
}

const bundleKey = (column: string) => column.replace(/_json$/, "");

/** A stored row as the bundle writes it: `*_json` columns parsed, named without the suffix. */
function toBundleRow(row: Row, omit: readonly string[]): Row {
  const out: Row = {};
  for (const [column, value] of Object.entries(row)) {
    if (omit.includes(column)) continue;
    out[bundleKey(column)] =
      column.endsWith("_json") && typeof value === "string" ? (JSON.parse(value) as unknown) : value;
  }
  return out;
}

/** The bundle's row back as the store's columns (missing ones null); nested values serialized again. */
function toStoreValues(row: Row, cols: readonly string[], fixed: Row): unknown[] {
  return cols.map((column) => {
    if (column in fixed) return fixed[column];
    const value = row[bundleKey(column)];
    if (value === undefined || value === null) return null;
    return column.endsWith("_json") ? JSON.stringify(value) : value;
  });
}

/**
 * The selected finished runs of a store as a bundle, with their sweeps: a sweep named in the selection
 * brings every run it made; a run selected by id brings its sweep's definition and entries too (entries
 * whose run is not in the bundle come back as pending). Unfinished runs are left out and listed.
 */
export function exportRuns(db: Db, selection: ExportSelection, loraprofVersion: string): ExportResult {
  const ids = new Set<string>();
  const sweepIds = new Set<string>();
  if (selection.all) {
    for (const r of db.prepare(`SELECT id FROM runs ORDER BY created_at, id`).all() as { id: string }[])
      ids.add(r.id);
    for (const s of db.prepare(`SELECT id FROM sweeps ORDER BY created_at, id`).all() as { id: string }[])
      sweepIds.add(s.id);
  }
  for (const id of selection.runIds ?? []) ids.add(getRun(db, id).id); // exact id or unique prefix
  for (const name of selection.sweeps ?? []) {
    const sweepId = getSweep(db, name).id;
    sweepIds.add(sweepId);
    for (const r of db
      .prepare(`SELECT id FROM runs WHERE sweep_id=? ORDER BY created_at, id`)
      .all(sweepId) as {
      id: string;
    }[])
      ids.add(r.id);
  }
  const runRow = db.prepare(`SELECT * FROM runs WHERE id=?`);
  const getSteps = db.prepare(`SELECT * FROM steps WHERE run_id=? ORDER BY step`);
  const getSamples = db.prepare(`SELECT * FROM telemetry_samples WHERE run_id=? ORDER BY t_ms, rowid`);
  const unfinished: string[] = [];
  const runs: RunBundle["runs"] = [];
  for (const id of ids) {
    const row = runRow.get(id) as Row;
    if (!FINAL_STATUSES.includes(row["status"] as RunStatus)) {
      unfinished.push(id);
      continue;
    }
    if (typeof row["sweep_id"] === "string") sweepIds.add(row["sweep_id"]);
    runs.push({
      // Which process owned the run is this machine's business, not the bundle's.
      ...toBundleRow(row, ["owner_pid", "owner_host"]),
      steps: (getSteps.all(id) as Row[]).map((s) => toBundleRow(s, ["run_id"])),
      telemetry: (getSamples.all(id) as Row[]).map((s) => toBundleRow(s, ["run_id"])),
    });
  }
  const sweepRow = db.prepare(`SELECT * FROM sweeps WHERE id=?`);
  const getEntries = db.prepare(`SELECT * FROM sweep_runs WHERE sweep_id=? ORDER BY position, repeat`);
  const sweeps: RunBundle["sweeps"] = [];
  for (const id of sweepIds) {
    // A run's sweep may have been deleted since (runs.sweep_id is not a foreign key): the run goes alone.
    const row = sweepRow.get(id) as Row | undefined;
    if (!row) continue;
    sweeps.push({
      ...toBundleRow(row, ["owner_pid", "owner_host"]),
      entries: (getEntries.all(id) as Row[]).map((e) => toBundleRow(e, ["sweep_id"])),
    });
  }
  return {
    bundle: {
      format: BUNDLE_FORMAT,
      version: BUNDLE_VERSION,
      schema: db.pragma("user_version", { simple: true }) as number,
      exportedAt: new Date().toISOString(),
      loraprof: loraprofVersion,
      runs,
      sweeps,
    },
    unfinished,
  };
}

export interface ImportResult {
  /** Run ids added to the store. */
  imported: string[];
  /** Run ids already in the store (kept as they were). */
  present: string[];
  /** Sweeps added, and sweeps already in the store (their entries kept as they were). */
  sweepsImported: { id: string; name: string; sameNameAs: string | null }[];
  sweepsPresent: string[];
  steps: number;
  samples: number;
}

const invalid = (source: string, problems: Problem[]) =>
  new LoraprofError(
    "FLAG_INVALID",
    `${source} is not a loraprof runs bundle or store this version can import`,
    {
      problems,
      exitCode: EXIT.badInput,
    },
  );

const isObject = (v: unknown): v is Row => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * Checks a parsed bundle's shape (what each row needs before SQLite's own constraints see it) and names
 * every row at fault by its place in the file.
 */
export function checkBundle(value: unknown, source: string): RunBundle {
  const problems: Problem[] = [];
  const need = (ok: boolean, field: string, message: string, hint: string) => {
    if (!ok) problems.push({ field, message, hint });
    return ok;
  };
  const remake = "export it again with `loraprof runs export`";
  if (!need(isObject(value), "(file)", "is not a JSON object", remake)) throw invalid(source, problems);
  const b = value as Row;
  need(
    b["format"] === BUNDLE_FORMAT,
    "format",
    `is ${JSON.stringify(b["format"])}, not "${BUNDLE_FORMAT}"`,
    remake,
  );
  const latest = MIGRATIONS[MIGRATIONS.length - 1]!.version;
  need(
    typeof b["version"] === "number" && b["version"] <= BUNDLE_VERSION,
    "version",
    `is ${JSON.stringify(b["version"])}; this loraprof reads version ${BUNDLE_VERSION}`,
    "upgrade loraprof to import it",
  );
  need(
    typeof b["schema"] === "number" &&
      Number.isInteger(b["schema"]) &&
      b["schema"] >= 1 &&
      b["schema"] <= latest,
    "schema",
    `is ${JSON.stringify(b["schema"])}; this loraprof knows store schemas 1 to ${latest}`,
    "upgrade loraprof to import it",
  );
  if (!need(Array.isArray(b["runs"]), "runs", "is not a list", remake)) throw invalid(source, problems);
  if (!need(Array.isArray(b["sweeps"] ?? []), "sweeps", "is not a list", remake))
    throw invalid(source, problems);
  (b["runs"] as unknown[]).forEach((r, i) => {
    const at = `runs[${i}]`;
    if (!isObject(r)) return need(false, at, "is not an object", remake);
    need(typeof r["id"] === "string" && r["id"] !== "", `${at}.id`, "is missing", remake);
    need(
      FINAL_STATUSES.includes(r["status"] as RunStatus),
      `${at}.status`,
      `is ${JSON.stringify(r["status"])}, not a finished run's status (${FINAL_STATUSES.join(", ")})`,
      "only finished runs can be imported: let the run finish, then export it again",
    );
    need(isObject(r["config"]), `${at}.config`, "is not an object", remake);
    need(Array.isArray(r["steps"] ?? []), `${at}.steps`, "is not a list", remake);
    need(Array.isArray(r["telemetry"] ?? []), `${at}.telemetry`, "is not a list", remake);
  });
  ((b["sweeps"] as unknown[] | undefined) ?? []).forEach((s, i) => {
    const at = `sweeps[${i}]`;
    if (!isObject(s)) return need(false, at, "is not an object", remake);
    need(typeof s["id"] === "string" && s["id"] !== "", `${at}.id`, "is missing", remake);
    need(typeof s["name"] === "string" && s["name"] !== "", `${at}.name`, "is missing", remake);
    need(Array.isArray(s["entries"] ?? []), `${at}.entries`, "is not a list", remake);
  });
  if (problems.length) throw invalid(source, problems.slice(0, 20));
  return {
    ...(b as unknown as RunBundle),
    sweeps: ((b["sweeps"] as RunBundle["sweeps"] | undefined) ?? []).map((s) => ({
      ...s,
      entries: s.entries ?? [],
    })),
    runs: (b["runs"] as RunBundle["runs"]).map((r) => ({
      ...r,
      steps: r.steps ?? [],
      telemetry: r.telemetry ?? [],
    })),
  };
}

const SQLITE_HEADER = "SQLite format 3\0";

function startsWithSqliteHeader(path: string): boolean {
  const fd = openSync(path, "r");
  try {
    const buf = Buffer.alloc(SQLITE_HEADER.length);
    const n = readSync(fd, buf, 0, buf.length, 0);
    return n === buf.length && buf.toString("latin1") === SQLITE_HEADER;
  } finally {
    closeSync(fd);
  }
}

/**
 * Reads what `runs import` was given: a bundle (JSON, from `runs export`) or another loraprof store file
 * (SQLite: every finished run in it). The store is read from an in-memory copy, migrated there when older,
 * so the file itself is never written.
 */
export function readImportSource(
  path: string,
  loraprofVersion: string,
): { bundle: RunBundle; unfinished: string[] } {
  const notFound = (message: string, hint: string) =>
    new LoraprofError("FLAG_INVALID", `cannot import ${path}`, {
      problems: [{ field: "<file>", message, hint }],
    });
  if (!existsSync(path))
    throw notFound("does not exist", "pass a bundle written by `loraprof runs export`, or a loraprof.db");
  if (statSync(path).isDirectory())
    throw notFound("is a folder, not a file", "pass the loraprof.db inside it, or a bundle file");
  if (startsWithSqliteHeader(path)) {
    let source: Db | null = null;
    let copy: Db | null = null;
    try {
      source = new Database(path, { readonly: true, fileMustExist: true });
      const image = source.serialize();
      // A WAL store's header says so (bytes 18 and 19 are 2), which an in-memory database cannot open:
      // the image is marked as a rollback-journal database (1), which it is once serialized.
      image[18] = 1;
      image[19] = 1;
      copy = new Database(image);
      if (!copy.prepare(`SELECT 1 FROM sqlite_master WHERE type='table' AND name='runs'`).get())
        throw notFound(
          "is a SQLite file without loraprof's runs table",
          "pass a loraprof store (loraprof.db)",
        );
      migrate(copy);
      return exportRuns(copy, { all: true }, loraprofVersion);
    } catch (e) {
      if (e instanceof LoraprofError) throw e;
      throw notFound(
        `cannot be read as a loraprof store: ${(e as Error).message}`,
        "check the file (sqlite3 PRAGMA integrity_check)",
      );
    } finally {
      copy?.close();
      source?.close();
    }
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw notFound(
      `is neither a loraprof store (SQLite) nor JSON: ${(e as Error).message}`,
      "pass a bundle written by `loraprof runs export`, or a loraprof.db",
    );
  }
  return { bundle: checkBundle(parsed, path), unfinished: [] };
}

/**
 * Adds a bundle's runs, steps, telemetry and sweeps to the store in one transaction. Runs and sweeps
 * whose id is already there are kept as stored. A sweep entry whose run is in neither the bundle nor the
 * store comes in as pending; an imported sweep that was running elsewhere comes in as interrupted.
 */
export function importBundle(db: Db, bundle: RunBundle, source: string): ImportResult {
  const result: ImportResult = {
    imported: [],
    present: [],
    sweepsImported: [],
    sweepsPresent: [],
    steps: 0,
    samples: 0,
  };
  const cols = Object.fromEntries(Object.entries(TABLES).map(([k, t]) => [k, columns(db, t)])) as Record<
    keyof typeof TABLES,
    string[]
  >;
  const insert = (table: string, c: string[]) =>
    db.prepare(`INSERT INTO ${table} (${c.join(", ")}) VALUES (${c.map(() => "?").join(", ")})`);
  const ins = {
    runs: insert(TABLES.runs, cols.runs),
    steps: insert(TABLES.steps, cols.steps),
    telemetry: insert(TABLES.telemetry, cols.telemetry),
    sweeps: insert(TABLES.sweeps, cols.sweeps),
    entries: insert(TABLES.entries, cols.entries),
  };
  const runExists = db.prepare(`SELECT 1 FROM runs WHERE id=?`);
  const sweepExists = db.prepare(`SELECT 1 FROM sweeps WHERE id=?`);
  const sameName = db.prepare(
    `SELECT id FROM sweeps WHERE name=? AND id<>? ORDER BY created_at DESC LIMIT 1`,
  );
  let at = "";
  try {
    db.transaction(() => {
      // Sweeps first: runs point at them.
      bundle.sweeps.forEach((s, i) => {
        at = `sweeps[${i}]`;
        const id = s["id"] as string;
        if (sweepExists.get(id)) {
          result.sweepsPresent.push(id);
          return;
        }
        const status = s["status"] === "running" || s["status"] === "planned" ? "interrupted" : s["status"];
        ins.sweeps.run(...toStoreValues(s, cols.sweeps, { owner_pid: null, owner_host: null, status }));
        const clash = sameName.get(s["name"], id) as { id: string } | undefined;
        result.sweepsImported.push({ id, name: s["name"] as string, sameNameAs: clash?.id ?? null });
      });
      const importedSweeps = new Set(result.sweepsImported.map((s) => s.id));
      bundle.runs.forEach((r, i) => {
        at = `runs[${i}]`;
        const id = r["id"] as string;
        if (runExists.get(id)) {
          result.present.push(id);
          return;
        }
        const sweepId = r["sweep_id"];
        const logPath = r["log_path"];
        ins.runs.run(
          ...toStoreValues(r, cols.runs, {
            owner_pid: null,
            owner_host: null,
            // A sweep in neither the bundle nor this store: the run comes in on its own.
            sweep_id:
              typeof sweepId === "string" && (importedSweeps.has(sweepId) || sweepExists.get(sweepId))
                ? sweepId
                : null,
            // The log stays on the machine that ran it: kept only when the file is here too.
            log_path: typeof logPath === "string" && existsSync(logPath) ? logPath : null,
          }),
        );
        r.steps.forEach((step, j) => {
          at = `runs[${i}].steps[${j}]`;
          ins.steps.run(...toStoreValues(step, cols.steps, { run_id: id }));
        });
        r.telemetry.forEach((sample, j) => {
          at = `runs[${i}].telemetry[${j}]`;
          ins.telemetry.run(...toStoreValues(sample, cols.telemetry, { run_id: id }));
        });
        result.imported.push(id);
        result.steps += r.steps.length;
        result.samples += r.telemetry.length;
      });
      bundle.sweeps.forEach((s, i) => {
        const sweepId = s["id"] as string;
        if (!importedSweeps.has(sweepId)) return;
        s.entries.forEach((e, j) => {
          at = `sweeps[${i}].entries[${j}]`;
          const runId = e["run_id"];
          ins.entries.run(
            ...toStoreValues(e, cols.entries, {
              sweep_id: sweepId,
              run_id: typeof runId === "string" && runExists.get(runId) ? runId : null,
            }),
          );
        });
      });
    })();
  } catch (e) {
    if (e instanceof LoraprofError) throw e;
    const code = (e as { code?: string }).code ?? "";
    if (code.startsWith("SQLITE_CONSTRAINT") || e instanceof TypeError || e instanceof RangeError)
      throw invalid(source, [
        {
          field: at,
          message: (e as Error).message,
          hint: "nothing was imported: export it again with `loraprof runs export`",
        },
      ]);
    throw e;
  }
  return result;
}
