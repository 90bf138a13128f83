import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { openStore, type Db } from "./db.js";
import { createRun, finishRun, getRun, getSteps, insertSteps, markRunning } from "./runs.js";
import { getTelemetrySamples, insertTelemetrySamples } from "./telemetry.js";
import { checkBundle, exportRuns, importBundle, readImportSource, type RunBundle } from "./transfer.js";
import { createSweep, getSweep, linkRun, listEntries, setSweepStatus, syncPlan } from "../sweep/store.js";
import type { PlannedRun } from "../sweep/spec.js";
import { LoraprofError } from "../util/errors.js";

const dir = () => mkdtempSync(join(tmpdir(), "loraprof-transfer-"));
const fresh = () => openStore(join(dir(), "loraprof.db"));

const step = (n: number, phase: "warmup" | "measure") => ({
  type: "step" as const,
  step: n,
  phase,
  realTokens: 100 + n,
  processedTokens: 128,
  labelTokens: 90 + n,
  loss: 12 - n / 10,
  stepSeconds: 0.25 + n / 1000,
  lr: 2e-4,
  gradNorm: 1.5,
  allocatedBytes: 1_234_567_890,
  unixMs: 1_765_000_000_000 + n,
});

const sample = (t: number) => ({
  tMs: t,
  gpuIndex: 0,
  phase: "measure" as const,
  powerWatts: 301.5,
  powerInstantWatts: 310.25,
  memoryUsedBytes: 7.5e9,
  utilizationGpuPercent: 97,
  utilizationMemoryPercent: 40,
  smClockHz: 1.98e9,
  memClockHz: 2.6e9,
  temperatureC: 61,
  pstate: "P0",
});

function finishedRun(
  db: Db,
  opts: { sweepId?: string; status?: "completed" | "oom"; logPath?: string } = {},
) {
  const id = createRun(db, {
    config: { model: "qwen2.5-1.5b-instruct", batchSize: 2, nested: { a: [1, 2.5] } },
    label: "a label",
    sweepId: opts.sweepId ?? null,
    logPath: opts.logPath ?? null,
  });
  markRunning(db, id, { resolved: true });
  insertSteps(db, id, [step(1, "warmup"), step(2, "measure"), step(3, "measure")]);
  insertTelemetrySamples(db, id, [sample(0), sample(100), sample(200)]);
  finishRun(db, id, {
    status: opts.status ?? "completed",
    metrics: { realTokensPerSecond: 8234.5, peakDeviceBytes: 3_425_000_000 },
    summary: { windows: 1 },
    ...(opts.status === "oom" ? { error: { kind: "oom", message: "out of memory", hint: null } } : {}),
  });
  return id;
}

const planned = (key: string, position: number): PlannedRun =>
  ({
    key,
    configKey: `cfg-${key}`,
    position,
    repeat: 1,
    label: `entry ${key}`,
    groups: ["presets"],
    factors: { batchSize: position },
    config: { model: "qwen2.5-1.5b-instruct", batchSize: position },
  }) as unknown as PlannedRun;

/** A store with a finished sweep of two runs (one OOM), a pending entry, a run on its own and a running one. */
function sourceStore() {
  const db = fresh();
  const sweep = createSweep(db, "paper-study", { spec: { name: "paper-study" } as never, overrides: {} });
  syncPlan(db, sweep.id, [planned("a", 0), planned("b", 1), planned("c", 2)]);
  const a = finishedRun(db, { sweepId: sweep.id });
  const b = finishedRun(db, { sweepId: sweep.id, status: "oom" });
  linkRun(db, sweep.id, "a", a);
  linkRun(db, sweep.id, "b", b);
  setSweepStatus(db, sweep.id, "running");
  const alone = finishedRun(db, { logPath: "/nowhere/engine.log" });
  const running = createRun(db, { config: { model: "x" } });
  markRunning(db, running, {});
  return { db, sweepId: sweep.id, a, b, alone, running };
}

describe("runs export and import", () => {
  it("carries finished runs with their steps, telemetry and sweeps to another store unchanged", () => {
    const src = sourceStore();
    const { bundle, unfinished } = exportRuns(src.db, { all: true }, "9.9.9");
    expect(unfinished).toEqual([src.running]);
    expect(bundle).toMatchObject({ format: "loraprof-runs", version: 1, schema: 4, loraprof: "9.9.9" });
    expect(bundle.runs.map((r) => r["id"]).sort()).toEqual([src.a, src.b, src.alone].sort());
    // Through JSON text, as the CLI writes and reads it.
    const read = checkBundle(JSON.parse(JSON.stringify(bundle)), "bundle.json");
    const dst = fresh();
    const result = importBundle(dst, read, "bundle.json");
    expect(result.imported.sort()).toEqual([src.a, src.b, src.alone].sort());
    expect(result).toMatchObject({ present: [], sweepsPresent: [], steps: 9, samples: 9 });
    expect(result.sweepsImported).toEqual([{ id: src.sweepId, name: "paper-study", sameNameAs: null }]);
    for (const id of [src.a, src.b, src.alone]) {
      const before = getRun(src.db, id);
      const after = getRun(dst, id);
      // The log file is not on this machine: its path is dropped; the rest is as it was.
      expect({ ...after, logPath: before.logPath }).toEqual(before);
      expect(getSteps(dst, id)).toEqual(getSteps(src.db, id));
      expect(getTelemetrySamples(dst, id)).toEqual(getTelemetrySamples(src.db, id));
    }
    expect(getRun(dst, src.alone).logPath).toBeNull();
    expect(getRun(dst, src.b).error).toMatchObject({ kind: "oom" });
    // The sweep comes with its entries (the unrun one pending), and is no longer "running" here.
    expect(getSweep(dst, "paper-study")).toMatchObject({ id: src.sweepId, status: "interrupted" });
    expect(listEntries(dst, src.sweepId)).toEqual(listEntries(src.db, src.sweepId));
    expect(listEntries(dst, src.sweepId).map((e) => e.status)).toEqual(["completed", "oom", "pending"]);
  });

  it("keeps runs and sweeps already in the store, so importing twice adds nothing", () => {
    const src = sourceStore();
    const { bundle } = exportRuns(src.db, { all: true }, "x");
    const dst = fresh();
    importBundle(dst, bundle, "b");
    const again = importBundle(dst, bundle, "b");
    expect(again.imported).toEqual([]);
    expect(again.present.sort()).toEqual([src.a, src.b, src.alone].sort());
    expect(again.sweepsPresent).toEqual([src.sweepId]);
    expect(getSteps(dst, src.a)).toHaveLength(3);
  });

  it("exports runs by id prefix with their sweep, and a sweep by name with all its runs", () => {
    const src = sourceStore();
    // The shortest prefix of the run's id that no other run's id starts with (runs made in one second share
    // the date part and may share random characters).
    const others = [src.b, src.alone, src.running];
    let n = 16;
    while (others.some((id) => id.startsWith(src.a.slice(0, n)))) n++;
    const byId = exportRuns(src.db, { runIds: [src.a.slice(0, n)] }, "x").bundle;
    expect(byId.runs.map((r) => r["id"])).toEqual([src.a]);
    expect(byId.sweeps.map((s) => s["id"])).toEqual([src.sweepId]);
    // Imported alone, the sweep's other finished entry has no run here: it comes in pending.
    const dst = fresh();
    importBundle(dst, byId, "b");
    expect(listEntries(dst, src.sweepId).map((e) => e.status)).toEqual(["completed", "pending", "pending"]);
    const bySweep = exportRuns(src.db, { sweeps: ["paper-study"] }, "x").bundle;
    expect(bySweep.runs.map((r) => r["id"]).sort()).toEqual([src.a, src.b].sort());
    expect(() => exportRuns(src.db, { runIds: ["no-such-run"] }, "x")).toThrow(
      /no run with id "no-such-run"/,
    );
    expect(() => exportRuns(src.db, { sweeps: ["no-such-sweep"] }, "x")).toThrow(/no sweep "no-such-sweep"/);
  });

  it("exports a run whose sweep was deleted on its own, and imports it without a sweep", () => {
    const src = sourceStore();
    src.db.prepare("DELETE FROM sweeps WHERE id=?").run(src.sweepId);
    const { bundle } = exportRuns(src.db, { runIds: [src.a] }, "x");
    expect(bundle.sweeps).toEqual([]);
    const dst = fresh();
    expect(importBundle(dst, bundle, "b").imported).toEqual([src.a]);
    expect(getRun(dst, src.a).sweepId).toBeNull();
  });

  it("names the sweep whose name this store already uses", () => {
    const src = sourceStore();
    const dst = fresh();
    const local = createSweep(dst, "paper-study", { spec: { name: "paper-study" } as never, overrides: {} });
    const result = importBundle(dst, exportRuns(src.db, { all: true }, "x").bundle, "b");
    expect(result.sweepsImported).toEqual([{ id: src.sweepId, name: "paper-study", sameNameAs: local.id }]);
  });

  it("imports nothing from a bundle with one bad row, and names the row", () => {
    const src = sourceStore();
    const bundle = JSON.parse(JSON.stringify(exportRuns(src.db, { all: true }, "x").bundle)) as RunBundle;
    const last = bundle.runs.length - 1;
    delete bundle.runs[last]!.steps[1]!["real_tokens"];
    const dst = fresh();
    let err: unknown;
    try {
      importBundle(dst, bundle, "b.json");
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(LoraprofError);
    expect((err as LoraprofError).exitCode).toBe(2);
    expect((err as LoraprofError).problems[0]).toMatchObject({ field: `runs[${last}].steps[1]` });
    expect((err as LoraprofError).problems[0]!.message).toMatch(/real_tokens/);
    expect(dst.prepare("SELECT count(*) AS n FROM runs").get()).toEqual({ n: 0 });
    expect(dst.prepare("SELECT count(*) AS n FROM sweeps").get()).toEqual({ n: 0 });
  });

  it("refuses what is not a bundle, naming each field at fault", () => {
    const problems = (value: unknown) => {
      try {
        checkBundle(value, "f.json");
      } catch (e) {
        return (e as LoraprofError).problems.map((p) => `${p.field}: ${p.message}`);
      }
      return [];
    };
    expect(problems([1, 2])).toEqual(["(file): is not a JSON object"]);
    expect(problems({ format: "other", version: 2, schema: 99, runs: {} })).toEqual([
      'format: is "other", not "loraprof-runs"',
      "version: is 2; this loraprof reads version 1",
      "schema: is 99; this loraprof knows store schemas 1 to 4",
      "runs: is not a list",
    ]);
    expect(
      problems({
        format: "loraprof-runs",
        version: 1,
        schema: 4,
        runs: [{ id: "r1", status: "running", config: {} }, "x", { status: "completed", config: [] }],
        sweeps: [{ id: "s" }],
      }),
    ).toEqual([
      'runs[0].status: is "running", not a finished run\'s status (completed, oom, failed, cancelled)',
      "runs[1]: is not an object",
      "runs[2].id: is missing",
      "runs[2].config: is not an object",
      "sweeps[0].name: is missing",
    ]);
  });

  it("reads another store file (WAL, older schema) without writing it, and a bundle file", () => {
    const src = sourceStore();
    const storePath = src.db.name;
    // An older store: the newest migration's column missing, as an old loraprof left it.
    src.db.exec("ALTER TABLE steps DROP COLUMN unix_ms");
    src.db.pragma("user_version = 3");
    const before = readFileSync(storePath);
    const { bundle, unfinished } = readImportSource(storePath, "x");
    expect(readFileSync(storePath).equals(before)).toBe(true);
    expect(src.db.pragma("user_version", { simple: true })).toBe(3);
    expect(unfinished).toEqual([src.running]);
    expect(bundle.runs).toHaveLength(3);
    expect(bundle.runs[0]!.steps[0]).toMatchObject({ unix_ms: null });
    const dst = fresh();
    importBundle(dst, bundle, storePath);
    expect(getSteps(dst, src.a)[1]).toMatchObject({ step: 2, realTokens: 102, unixMs: null });

    const d = dir();
    const file = join(d, "runs.json");
    writeFileSync(file, JSON.stringify(exportRuns(src.db, { runIds: [src.alone] }, "x").bundle));
    expect(readImportSource(file, "x").bundle.runs.map((r) => r["id"])).toEqual([src.alone]);
    writeFileSync(join(d, "bad.json"), "{ not json");
    expect(() => readImportSource(join(d, "bad.json"), "x")).toThrow(/cannot import/);
    expect(() => readImportSource(join(d, "missing.json"), "x")).toThrow(/cannot import/);
  });
});
