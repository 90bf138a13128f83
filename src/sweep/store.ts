/**
 * Sweeps in the store: the sweep (its spec, status, owning process) and its planned runs, each
 * linked to the latest run made for it. Runs themselves live in `runs` (with `sweep_id` set), so
 * every attempt, failed ones included, stays in the store.
 */
import { randomBytes } from "node:crypto";
import { THIS_HOST, processAlive, type Db } from "../store/db.js";
import { newRunId, type RunError, type RunStatus } from "../store/runs.js";
import { LoraprofError } from "../util/errors.js";
import type { RunConfig } from "../config/schema.js";
import { configKeyOf } from "../config/identity.js";
import type { PlannedRun, SweepSpec } from "./spec.js";

export type SweepStatus = "planned" | "running" | "interrupted" | "finished";

/** What is stored as the sweep's definition: the spec and the overrides it was expanded with. */
export interface StoredSpec {
  spec: SweepSpec;
  overrides: Record<string, unknown>;
}

export interface SweepRecord {
  id: string;
  name: string;
  createdAt: string;
  updatedAt: string;
  status: SweepStatus;
  definition: StoredSpec;
  ownerPid: number | null;
  ownerHost: string | null;
}

/** A planned run as stored, with the state of the run linked to it. */
export interface SweepEntry extends PlannedRun {
  runId: string | null;
  attempts: number;
  /** Status of the linked run; `pending` when none was made yet. */
  status: RunStatus;
  error: RunError | null;
  startedAt: string | null;
  finishedAt: string | null;
}

interface SweepRow {
  id: string;
  name: string;
  created_at: string;
  updated_at: string;
  status: SweepStatus;
  spec_json: string;
  owner_pid: number | null;
  owner_host: string | null;
}

const fromSweepRow = (r: SweepRow): SweepRecord => ({
  id: r.id,
  name: r.name,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
  status: r.status,
  definition: JSON.parse(r.spec_json) as StoredSpec,
  ownerPid: r.owner_pid,
  ownerHost: r.owner_host,
});

export function newSweepId(now = new Date()): string {
  return `sw-${newRunId(now).replace(/-[0-9a-f]+$/, "")}-${randomBytes(2).toString("hex")}`;
}

export function createSweep(db: Db, name: string, definition: StoredSpec): SweepRecord {
  const id = newSweepId();
  const now = new Date().toISOString();
  db.prepare(
    `INSERT INTO sweeps (id, name, created_at, updated_at, status, spec_json) VALUES (?, ?, ?, ?, 'planned', ?)`,
  ).run(id, name, now, now, JSON.stringify(definition));
  return getSweep(db, id);
}

/** By exact id, then by name (the newest sweep of that name), then by id prefix. */
export function findSweep(db: Db, idOrName: string): SweepRecord | null {
  const row =
    (db.prepare(`SELECT * FROM sweeps WHERE id=?`).get(idOrName) as SweepRow | undefined) ??
    (db
      .prepare(`SELECT * FROM sweeps WHERE name=? ORDER BY created_at DESC, id DESC LIMIT 1`)
      .get(idOrName) as SweepRow | undefined);
  if (row) return fromSweepRow(row);
  const byPrefix = db
    .prepare(`SELECT * FROM sweeps WHERE id LIKE ? LIMIT 2`)
    .all(`${idOrName}%`) as SweepRow[];
  return byPrefix.length === 1 ? fromSweepRow(byPrefix[0]!) : null;
}

export function getSweep(db: Db, idOrName: string): SweepRecord {
  const s = findSweep(db, idOrName);
  if (!s) {
    throw new LoraprofError("RUN_NOT_FOUND", `no sweep "${idOrName}" in this store`, {
      hint: "list sweeps with `loraprof sweeps list` (and check --db)",
    });
  }
  return s;
}

export function listSweeps(db: Db): SweepRecord[] {
  return (db.prepare(`SELECT * FROM sweeps ORDER BY created_at DESC, id DESC`).all() as SweepRow[]).map(
    fromSweepRow,
  );
}

export function setSweepDefinition(db: Db, id: string, definition: StoredSpec): void {
  db.prepare(`UPDATE sweeps SET spec_json=?, updated_at=? WHERE id=?`).run(
    JSON.stringify(definition),
    new Date().toISOString(),
    id,
  );
}

export function setSweepStatus(db: Db, id: string, status: SweepStatus): void {
  db.prepare(`UPDATE sweeps SET status=?, updated_at=? WHERE id=?`).run(status, new Date().toISOString(), id);
}

/**
 * Makes this process the sweep's owner. Refuses when another live process on this host owns it (two
 * CLIs running one sweep would run its configs twice); a dead owner's claim is taken over.
 */
export function claimSweep(db: Db, id: string, isAlive: (pid: number) => boolean = processAlive): void {
  db.transaction(() => {
    const row = db.prepare(`SELECT owner_pid, owner_host FROM sweeps WHERE id=?`).get(id) as
      { owner_pid: number | null; owner_host: string | null } | undefined;
    if (!row) throw new LoraprofError("RUN_NOT_FOUND", `no sweep "${id}"`);
    const busy =
      row.owner_pid !== null &&
      row.owner_pid !== process.pid &&
      (row.owner_host !== THIS_HOST || isAlive(row.owner_pid));
    if (busy) {
      throw new LoraprofError(
        "STORE",
        `sweep ${id} is being run by process ${row.owner_pid} on ${row.owner_host}`,
        {
          hint: "wait for it to finish or stop it (Ctrl-C); a killed process's claim is taken over automatically",
        },
      );
    }
    db.prepare(`UPDATE sweeps SET owner_pid=?, owner_host=?, status='running', updated_at=? WHERE id=?`).run(
      process.pid,
      THIS_HOST,
      new Date().toISOString(),
      id,
    );
  })();
}

export function releaseSweep(db: Db, id: string, status: SweepStatus): void {
  db.prepare(`UPDATE sweeps SET owner_pid=NULL, owner_host=NULL, status=?, updated_at=? WHERE id=?`).run(
    status,
    new Date().toISOString(),
    id,
  );
}

/** Sweeps left `running` by a process that no longer exists are marked interrupted. */
export function reapStaleSweeps(db: Db, isAlive: (pid: number) => boolean = processAlive): string[] {
  const rows = db.prepare(`SELECT id, owner_pid, owner_host FROM sweeps WHERE status='running'`).all() as {
    id: string;
    owner_pid: number | null;
    owner_host: string | null;
  }[];
  const stale = rows.filter(
    (r) =>
      r.owner_host === THIS_HOST &&
      (r.owner_pid === null || (r.owner_pid !== process.pid && !isAlive(r.owner_pid))),
  );
  for (const r of stale) releaseSweep(db, r.id, "interrupted");
  return stale.map((r) => r.id);
}

/**
 * Makes the stored plan equal `planned`: new keys are added, kept keys get their new position,
 * label and groups (their link to a run is kept), keys no longer planned are dropped from the plan
 * (their runs stay in the store). Returns how many were added and dropped.
 */
export function syncPlan(db: Db, sweepId: string, planned: PlannedRun[]): { added: number; dropped: number } {
  let added = 0;
  let dropped = 0;
  db.transaction(() => {
    const existing = new Set(
      (db.prepare(`SELECT key FROM sweep_runs WHERE sweep_id=?`).all(sweepId) as { key: string }[]).map(
        (r) => r.key,
      ),
    );
    const insert = db.prepare(
      `INSERT INTO sweep_runs (sweep_id, key, config_key, position, repeat, label, groups_json, factors_json, config_json)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    const update = db.prepare(
      `UPDATE sweep_runs SET position=?, label=?, groups_json=?, factors_json=?, config_json=? WHERE sweep_id=? AND key=?`,
    );
    const keep = new Set<string>();
    for (const p of planned) {
      keep.add(p.key);
      const args = [
        p.label,
        JSON.stringify(p.groups),
        JSON.stringify(p.factors),
        JSON.stringify(p.config),
      ] as const;
      if (existing.has(p.key)) update.run(p.position, ...args, sweepId, p.key);
      else {
        insert.run(sweepId, p.key, p.configKey, p.position, p.repeat, ...args);
        added++;
      }
    }
    const del = db.prepare(`DELETE FROM sweep_runs WHERE sweep_id=? AND key=?`);
    for (const k of existing) {
      if (!keep.has(k)) {
        del.run(sweepId, k);
        dropped++;
      }
    }
  })();
  return { added, dropped };
}

interface EntryRow {
  key: string;
  config_key: string;
  position: number;
  repeat: number;
  label: string;
  groups_json: string;
  factors_json: string;
  config_json: string;
  run_id: string | null;
  attempts: number;
  status: RunStatus | null;
  error_json: string | null;
  started_at: string | null;
  finished_at: string | null;
}

export function listEntries(db: Db, sweepId: string): SweepEntry[] {
  const rows = db
    .prepare(
      `SELECT s.key, s.config_key, s.position, s.repeat, s.label, s.groups_json, s.factors_json, s.config_json,
              s.run_id, s.attempts, r.status, r.error_json, r.started_at, r.finished_at
       FROM sweep_runs s LEFT JOIN runs r ON r.id = s.run_id
       WHERE s.sweep_id=? ORDER BY s.position`,
    )
    .all(sweepId) as EntryRow[];
  return rows.map((r) => ({
    key: r.key,
    configKey: r.config_key,
    position: r.position,
    repeat: r.repeat,
    label: r.label,
    groups: JSON.parse(r.groups_json) as string[],
    factors: JSON.parse(r.factors_json) as Record<string, unknown>,
    config: JSON.parse(r.config_json) as RunConfig,
    runId: r.run_id,
    attempts: r.attempts,
    status: r.status ?? "pending",
    error: r.error_json ? (JSON.parse(r.error_json) as RunError) : null,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
  }));
}

export function noteAttempt(db: Db, sweepId: string, key: string): void {
  db.prepare(`UPDATE sweep_runs SET attempts = attempts + 1 WHERE sweep_id=? AND key=?`).run(sweepId, key);
}

export function linkRun(db: Db, sweepId: string, key: string, runId: string): void {
  db.prepare(`UPDATE sweep_runs SET run_id=? WHERE sweep_id=? AND key=?`).run(runId, sweepId, key);
}

type Plain = Record<string, unknown>;

/**
 * Whether a stored run's config is the planned one. A run stores its resolved config, where `auto`
 * device, precision and weights are decided (and a multi-GPU sweep pins the device), so those take
 * the plan's values before the two are compared by the plan's own key.
 */
export function ranPlannedConfig(stored: Plain, planned: Plain, plannedKey: string): boolean {
  const normalized: Plain = { ...stored, device: planned["device"] };
  for (const k of ["precision", "weights"]) if (planned[k] === "auto") normalized[k] = "auto";
  return configKeyOf(normalized) === plannedKey;
}

/**
 * Links runs of this sweep that ended but were never linked (the CLI was killed between the run's
 * last write and the link, or before it) to their planned entry, matched by label, which names the
 * point and the repeat. A run is adopted only when it is newer than the entry's linked run, so an
 * older attempt never replaces a later one. Returns how many it linked.
 */
export function adoptOrphans(db: Db, sweepId: string): number {
  const orphans = db
    .prepare(
      `SELECT r.id, r.label, r.created_at, r.config_json FROM runs r
       WHERE r.sweep_id=? AND r.status IN ('completed','oom','failed','cancelled')
         AND NOT EXISTS (SELECT 1 FROM sweep_runs s WHERE s.run_id = r.id)
       ORDER BY r.created_at, r.id`,
    )
    .all(sweepId) as { id: string; label: string | null; created_at: string; config_json: string }[];
  let n = 0;
  const find = db.prepare(
    `SELECT s.key, s.config_key AS configKey, s.config_json AS plannedJson, r.created_at AS linkedCreated, r.id AS linkedId
     FROM sweep_runs s LEFT JOIN runs r ON r.id = s.run_id
     WHERE s.sweep_id=? AND s.label=?`,
  );
  for (const o of orphans) {
    if (!o.label) continue;
    const entry = find.get(sweepId, o.label) as
      | {
          key: string;
          configKey: string;
          plannedJson: string;
          linkedCreated: string | null;
          linkedId: string | null;
        }
      | undefined;
    if (!entry) continue;
    // The label names a point of the plan, not its settings: after the sweep's base changed (a new
    // --set), a run of the old settings under the same label is not this entry's outcome.
    if (
      !ranPlannedConfig(
        JSON.parse(o.config_json) as Plain,
        JSON.parse(entry.plannedJson) as Plain,
        entry.configKey,
      )
    )
      continue;
    const newer =
      entry.linkedCreated === null ||
      o.created_at > entry.linkedCreated ||
      (o.created_at === entry.linkedCreated && o.id > (entry.linkedId ?? ""));
    if (newer) {
      linkRun(db, sweepId, entry.key, o.id);
      n++;
    }
  }
  return n;
}
