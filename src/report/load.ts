/**
 * Reading what a report covers from the store: sweeps (by id or name: the latest run of every
 * planned entry) and single runs (by id or prefix), with their loss curves.
 */
import type { Db } from "../store/db.js";
import { completeMetrics } from "./derive.js";
import { getRun, getSteps, type RunRecord } from "../store/runs.js";
import { findSweep, listEntries } from "../sweep/store.js";
import { LoraprofError } from "../util/errors.js";
import type { ReportModel, ReportRun } from "./model.js";

interface Hello {
  device?: { kind?: string; name?: string };
  libraries?: Record<string, string | null>;
}

function toReportRun(db: Db, r: RunRecord, groups: string[]): ReportRun {
  const hello = (r.environment ?? null) as Hello | null;
  const losses = getSteps(db, r.id)
    .filter((s) => s.loss !== null && Number.isFinite(s.loss))
    .map((s) => ({ step: s.step, loss: s.loss as number }));
  return {
    id: r.id,
    label: r.label,
    status: r.status,
    createdAt: r.createdAt,
    sweepId: r.sweepId,
    groups,
    config: (r.config ?? {}) as Record<string, unknown>,
    metrics: completeMetrics(r),
    error: r.error,
    device: hello?.device?.name ? { kind: hello.device.kind ?? "", name: hello.device.name } : null,
    libraries: hello?.libraries ?? null,
    losses,
  };
}

export interface ReportTargets {
  runs: ReportRun[];
  sources: ReportModel["sources"];
  /** Titles of the sweeps covered, for the report's heading. */
  names: string[];
}

/** Each target is a sweep id or name, or a run id (prefix). Unknown targets are listed at once. */
export function loadReportTargets(db: Db, targets: string[]): ReportTargets {
  const runs = new Map<string, ReportRun>();
  const sources: ReportModel["sources"] = { sweeps: [], runs: [] };
  const problems: { field: string; message: string; hint: string }[] = [];
  for (const t of targets) {
    const sweep = findSweep(db, t);
    if (sweep) {
      sources.sweeps.push({ id: sweep.id, name: sweep.name });
      for (const e of listEntries(db, sweep.id)) {
        if (!e.runId || runs.has(e.runId)) continue;
        runs.set(e.runId, toReportRun(db, getRun(db, e.runId), e.groups));
      }
      continue;
    }
    try {
      const r = getRun(db, t);
      sources.runs.push(r.id);
      if (!runs.has(r.id)) runs.set(r.id, toReportRun(db, r, []));
    } catch (err) {
      if (!(err instanceof LoraprofError)) throw err;
      problems.push({
        field: t,
        message: err.message,
        hint: "give a sweep id or name (`loraprof sweeps list`) or a run id (`loraprof runs list`)",
      });
    }
  }
  if (problems.length) {
    throw new LoraprofError(
      "RUN_NOT_FOUND",
      `${problems.length} report target${problems.length > 1 ? "s" : ""} not found`,
      { problems },
    );
  }
  return { runs: [...runs.values()], sources, names: sources.sweeps.map((s) => s.name) };
}
