/**
 * The store: one SQLite file (WAL), versioned migrations, runs and their steps and telemetry.
 * Every state change of a run is one transaction, so a crash leaves either the old or the new row,
 * never half of one. Library code only: returns data, never prints.
 */
import Database from "better-sqlite3";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { hostname } from "node:os";
import { EXIT, LoraprofError } from "../util/errors.js";
import { pathProblem } from "../util/files.js";

export type Db = Database.Database;

/** Append-only: a released migration is never edited, only followed by a new one. */
export const MIGRATIONS: { version: number; description: string; sql: string }[] = [
  {
    version: 1,
    description: "runs and steps",
    sql: `
      CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        created_at TEXT NOT NULL,
        started_at TEXT,
        finished_at TEXT,
        status TEXT NOT NULL CHECK (status IN ('pending','running','completed','oom','failed','cancelled')),
        label TEXT,
        sweep_id TEXT,
        config_json TEXT NOT NULL,
        spec_json TEXT,
        environment_json TEXT,
        loaded_json TEXT,
        data_json TEXT,
        summary_json TEXT,
        metrics_json TEXT,
        error_json TEXT,
        owner_pid INTEGER,
        owner_host TEXT,
        log_path TEXT
      );
      CREATE INDEX runs_created ON runs(created_at);
      CREATE INDEX runs_status ON runs(status);
      CREATE TABLE steps (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        step INTEGER NOT NULL,
        phase TEXT NOT NULL CHECK (phase IN ('warmup','measure')),
        real_tokens INTEGER NOT NULL,
        processed_tokens INTEGER NOT NULL,
        label_tokens INTEGER NOT NULL,
        loss REAL,
        step_seconds REAL,
        lr REAL,
        grad_norm REAL,
        allocated_bytes INTEGER,
        PRIMARY KEY (run_id, step)
      );
    `,
  },
  {
    version: 2,
    description: "telemetry samples",
    sql: `
      CREATE TABLE telemetry_samples (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        t_ms REAL NOT NULL,
        gpu_index INTEGER NOT NULL,
        phase TEXT NOT NULL CHECK (phase IN ('idle','warmup','measure')),
        power_watts REAL,
        power_instant_watts REAL,
        memory_used_bytes REAL,
        utilization_gpu_percent REAL,
        utilization_memory_percent REAL,
        sm_clock_hz REAL,
        mem_clock_hz REAL,
        temperature_c REAL,
        pstate TEXT
      );
      CREATE INDEX telemetry_run ON telemetry_samples(run_id, t_ms);
    `,
  },
  {
    version: 3,
    description: "sweeps and their planned runs",
    sql: `
      CREATE TABLE sweeps (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('planned','running','interrupted','finished')),
        spec_json TEXT NOT NULL,
        owner_pid INTEGER,
        owner_host TEXT
      );
      CREATE INDEX sweeps_name ON sweeps(name, created_at);
      CREATE TABLE sweep_runs (
        sweep_id TEXT NOT NULL REFERENCES sweeps(id) ON DELETE CASCADE,
        key TEXT NOT NULL,
        config_key TEXT NOT NULL,
        position INTEGER NOT NULL,
        repeat INTEGER NOT NULL,
        label TEXT NOT NULL,
        groups_json TEXT NOT NULL,
        factors_json TEXT NOT NULL,
        config_json TEXT NOT NULL,
        run_id TEXT REFERENCES runs(id) ON DELETE SET NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (sweep_id, key)
      );
      CREATE INDEX sweep_runs_run ON sweep_runs(run_id);
    `,
  },
  {
    version: 4,
    description: "step wall-clock times",
    sql: `ALTER TABLE steps ADD COLUMN unix_ms REAL;`,
  },
];

export function openStore(path: string): Db {
  // A path the store cannot live at is the caller's input at fault (exit 2), named as the flag.
  const badPath = (err: unknown) =>
    new LoraprofError("STORE", `cannot open the store at ${path}`, {
      problems: [
        {
          field: "--db",
          message: storePathProblem(err),
          hint: "pass a file path whose folders exist or can be created (or set LORAPROF_HOME)",
        },
      ],
      exitCode: EXIT.badInput,
      cause: err,
    });
  let db: Db;
  try {
    if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
    db = new Database(path);
  } catch (err) {
    throw badPath(err);
  }
  try {
    // The busy timeout first: another writer holding the lock is waited for, not an error.
    db.pragma("busy_timeout = 5000");
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = NORMAL");
    db.pragma("foreign_keys = ON");
    migrate(db);
  } catch (err) {
    db.close();
    if (err instanceof LoraprofError) throw err;
    const code = (err as { code?: string }).code ?? "";
    if (code === "SQLITE_NOTADB" || code === "SQLITE_CORRUPT") throw badPath(err);
    throw storeFailure(err, path);
  }
  return db;
}

/**
 * A store that could not be written for a reason outside the user's input (locked by another
 * writer past the busy timeout, disk full, I/O error): exit 1, with what to do about it.
 */
export function storeFailure(err: unknown, path: string): LoraprofError {
  const code = (err as { code?: string }).code ?? "";
  const hint = code.startsWith("SQLITE_BUSY")
    ? "another loraprof process holds the store's write lock: wait for it, or use another --db"
    : code === "SQLITE_FULL" || (err as NodeJS.ErrnoException).code === "ENOSPC"
      ? "the disk holding the store is full: free space, then run the same command again (finished runs are kept)"
      : code === "SQLITE_READONLY"
        ? "the store is read-only: check its permissions, or use another --db"
        : "check the disk and the file's permissions; `PRAGMA integrity_check` with sqlite3 tells whether the file is intact";
  return new LoraprofError("STORE", `cannot write the store at ${path}: ${(err as Error).message}`, {
    hint,
    cause: err,
  });
}

function storePathProblem(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  return code === "SQLITE_NOTADB" || code === "SQLITE_CORRUPT"
    ? "the file exists and is not a loraprof store (SQLite)"
    : pathProblem(err);
}

export function migrate(db: Db): number {
  const current = db.pragma("user_version", { simple: true }) as number;
  const latest = MIGRATIONS[MIGRATIONS.length - 1]!.version;
  if (current > latest) {
    throw new LoraprofError(
      "STORE",
      `the store was written by a newer loraprof (schema ${current}, this one knows ${latest})`,
      { hint: "upgrade loraprof, or point --db at another file" },
    );
  }
  for (const m of MIGRATIONS) {
    if (m.version <= current) continue;
    db.transaction(() => {
      db.exec(m.sql);
      db.pragma(`user_version = ${m.version}`);
    })();
  }
  return latest;
}

export const THIS_HOST = hostname();

/** True when a process with this pid exists on this host. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Runs `fn` inside a savepoint that is rolled back afterwards, whatever `fn` did: a dry run (e.g.
 * `sweep --dry-run` plans a sweep) leaves the store as it was.
 */
export function withRolledBack<T>(db: Db, fn: () => T | Promise<T>): Promise<T> {
  db.exec("SAVEPOINT dry_run");
  return Promise.resolve()
    .then(fn)
    .finally(() => db.exec("ROLLBACK TO dry_run; RELEASE dry_run"));
}
