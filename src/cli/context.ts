/** What every command shares: where the store is, opened once, with stale runs reaped. */
import { openStore, type Db } from "../store/db.js";
import { reapStaleRuns } from "../store/runs.js";
import { cacheDir, defaultDbPath, loraprofHome } from "../util/paths.js";

export interface CliContext {
  db: Db;
  dbPath: string;
  home: string;
  cacheDir: string;
  /** Runs found left `running` by a dead loraprof process and marked failed at this start. */
  reaped: string[];
}

export function openContext(opts: { db?: string }): CliContext {
  const dbPath = opts.db ?? defaultDbPath();
  const db = openStore(dbPath);
  const reaped = reapStaleRuns(db);
  return { db, dbPath, home: loraprofHome(), cacheDir: cacheDir(), reaped };
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + "\n");
}
