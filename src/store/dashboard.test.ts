import { describe, expect, it } from "vitest";
import type { StepEvent } from "../protocol/index.js";
import { listRunRows, rowsSince, runCursor } from "./dashboard.js";
import { openStore } from "./db.js";
import { createRun, finishRun, insertSteps, markRunning } from "./runs.js";

const step = (n: number): StepEvent => ({
  type: "step",
  step: n,
  phase: "measure",
  realTokens: 10,
  processedTokens: 12,
  labelTokens: 10,
  loss: 1,
  stepSeconds: 0.1,
  lr: 1e-4,
  gradNorm: null,
  allocatedBytes: 0,
  unixMs: n,
});

describe("the dashboard's queries", () => {
  it("lists runs with their config and metrics, counting steps of unfinished runs only", () => {
    const db = openStore(":memory:");
    const done = createRun(db, { config: { model: "a" } });
    markRunning(db, done, { big: "spec" });
    insertSteps(db, done, [step(1), step(2)]);
    finishRun(db, done, { status: "completed", metrics: { realTokensPerSecond: 5 } });
    const live = createRun(db, { config: { model: "b" } });
    markRunning(db, live, {});
    insertSteps(db, live, [step(1)]);
    const rows = listRunRows(db);
    const byId = new Map(rows.map((r) => [r.id, r]));
    expect(byId.get(done)).toMatchObject({
      status: "completed",
      stepsDone: null,
      metrics: { realTokensPerSecond: 5 },
    });
    expect(byId.get(live)).toMatchObject({ status: "running", stepsDone: 1, config: { model: "b" } });
  });

  it("returns only the rows written after a cursor, and moves the cursor past them", () => {
    const db = openStore(":memory:");
    const id = createRun(db, { config: {} });
    insertSteps(db, id, [step(1), step(2)]);
    const cursor = runCursor(db, id);
    expect(rowsSince(db, id, cursor).steps).toEqual([]);
    insertSteps(db, id, [step(3)]);
    const since = rowsSince(db, id, cursor);
    expect(since.steps.map((s) => s.step)).toEqual([3]);
    expect(runCursor(db, id).stepRowid).toBe(since.steps[0]!.rowid);
  });
});
