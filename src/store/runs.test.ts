import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import Database from "better-sqlite3";
import { MIGRATIONS, openStore } from "./db.js";
import {
  createRun,
  deleteRuns,
  finishRun,
  getRun,
  getSteps,
  insertSteps,
  listRuns,
  markRunning,
  reapStaleRuns,
} from "./runs.js";

const fresh = () => openStore(join(mkdtempSync(join(tmpdir(), "loraprof-store-")), "loraprof.db"));

describe("store", () => {
  it("migrates a new file to the latest schema version", () => {
    const db = fresh();
    expect(db.pragma("user_version", { simple: true })).toBe(MIGRATIONS.at(-1)!.version);
  });

  it("upgrades a store written by an older version without losing its runs", () => {
    const path = join(mkdtempSync(join(tmpdir(), "loraprof-store-")), "old.db");
    const old = new Database(path);
    old.exec(MIGRATIONS[0]!.sql);
    old.pragma("user_version = 1");
    old
      .prepare(
        "INSERT INTO runs (id, created_at, status, config_json) VALUES ('old-run', '2026-01-01T00:00:00Z', 'completed', '{\"model\":\"x\"}')",
      )
      .run();
    old
      .prepare(
        "INSERT INTO steps (run_id, step, phase, real_tokens, processed_tokens, label_tokens, loss, step_seconds) VALUES ('old-run', 1, 'measure', 10, 12, 9, 11.5, 0.25)",
      )
      .run();
    old.close();
    const db = openStore(path);
    expect(db.pragma("user_version", { simple: true })).toBe(MIGRATIONS.at(-1)!.version);
    expect(getRun(db, "old-run").config).toEqual({ model: "x" });
    const [step] = getSteps(db, "old-run");
    expect(step).toMatchObject({ step: 1, loss: 11.5, stepSeconds: 0.25, unixMs: null });
  });

  it("refuses a store written by a newer loraprof instead of touching it", () => {
    const path = join(mkdtempSync(join(tmpdir(), "loraprof-store-")), "new.db");
    const db = new Database(path);
    db.pragma("user_version = 999");
    db.close();
    expect(() => openStore(path)).toThrow(/newer loraprof/);
  });

  it("keeps a run's config, steps, metrics and final status", () => {
    const db = fresh();
    const id = createRun(db, { config: { model: "tiny-qwen2" } });
    markRunning(db, id, { runId: id });
    insertSteps(db, id, [
      {
        type: "step",
        step: 1,
        phase: "warmup",
        realTokens: 10,
        processedTokens: 12,
        labelTokens: 9,
        loss: 11.9,
        stepSeconds: 0.5,
        lr: 1e-4,
        gradNorm: null,
        allocatedBytes: null,
        unixMs: 1_800_000_000_000,
      },
      {
        type: "step",
        step: 2,
        phase: "measure",
        realTokens: 11,
        processedTokens: 12,
        labelTokens: 10,
        loss: 11.8,
        stepSeconds: 0.4,
        lr: 2e-4,
        gradNorm: 1.2,
        allocatedBytes: 100,
        unixMs: 1_800_000_000_500,
      },
    ]);
    finishRun(db, id, { status: "completed", metrics: { realTokensPerSecond: 27.5 } });
    const run = getRun(db, id);
    expect(run.status).toBe("completed");
    expect(run.config).toEqual({ model: "tiny-qwen2" });
    expect(run.metrics).toEqual({ realTokensPerSecond: 27.5 });
    expect(getSteps(db, id).map((s) => s.loss)).toEqual([11.9, 11.8]);
    expect(getSteps(db, id).map((s) => s.unixMs)).toEqual([1_800_000_000_000, 1_800_000_000_500]);
  });

  it("finds a run by a unique id prefix and lists newest first", () => {
    const db = fresh();
    const a = createRun(db, { id: "20260101-000000-aaaa", config: {} });
    const b = createRun(db, { id: "20260102-000000-bbbb", config: {} });
    expect(getRun(db, "20260102").id).toBe(b);
    expect(listRuns(db).map((r) => r.id)).toEqual([b, a]);
  });

  it("marks a run left running by a dead process as failed (interrupted) on the next start", () => {
    const db = fresh();
    const id = createRun(db, { config: {} });
    markRunning(db, id, {});
    db.prepare("UPDATE runs SET owner_pid=? WHERE id=?").run(999_999_999, id);
    expect(reapStaleRuns(db, () => false)).toEqual([id]);
    const run = getRun(db, id);
    expect(run.status).toBe("failed");
    expect(run.error?.kind).toBe("interrupted");
  });

  it("leaves a run owned by a live process alone", () => {
    const db = fresh();
    const id = createRun(db, { config: {} });
    db.prepare("UPDATE runs SET owner_pid=? WHERE id=?").run(12345, id);
    expect(reapStaleRuns(db, () => true)).toEqual([]);
    expect(getRun(db, id).status).toBe("pending");
  });

  it("refuses an unknown run id with a hint", () => {
    expect(() => getRun(fresh(), "nope")).toThrow(/no run with id/);
  });
});

describe("deleteRuns", () => {
  it("deletes the runs named (by prefix too) with their steps", () => {
    const db = fresh();
    const a = createRun(db, { id: "20260101-000000-aaaa", config: {} });
    const b = createRun(db, { id: "20260101-000000-bbbb", config: {} });
    finishRun(db, a, { status: "completed" });
    finishRun(db, b, { status: "failed", error: { kind: "crash", message: "x", hint: null } });
    expect(deleteRuns(db, ["20260101-000000-a"])).toEqual([a]);
    expect(listRuns(db).map((r) => r.id)).toEqual([b]);
  });

  it("deletes nothing when one id is unknown", () => {
    const db = fresh();
    const a = createRun(db, { config: {} });
    finishRun(db, a, { status: "completed" });
    expect(() => deleteRuns(db, [a, "no-such-run"])).toThrow(/no run with id "no-such-run"/);
    expect(listRuns(db)).toHaveLength(1);
  });

  it("refuses to delete a run a live process is running", () => {
    const db = fresh();
    const a = createRun(db, { config: {} });
    markRunning(db, a, {});
    expect(() => deleteRuns(db, [a], () => true)).toThrow(/still running/);
    expect(listRuns(db)).toHaveLength(1);
  });
});

describe("run ids", () => {
  it("never lose a run to an id collision within one second", () => {
    const db = fresh();
    // 3,000 runs in about a second: with 16 random bits per second, collisions are all but certain.
    const ids = db.transaction(() => Array.from({ length: 3000 }, () => createRun(db, { config: {} })))();
    expect(new Set(ids).size).toBe(3000);
    expect(listRuns(db)).toHaveLength(3000);
  });
});
