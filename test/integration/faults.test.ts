/**
 * Fault injection: a real sweep of 14 runs (the real CLI and engine, tiny-qwen2 on the CPU) under the
 * faults a user's machine produces, then resumed until done. Injected: an engine OOM, an engine
 * killed by SIGKILL, a malformed event line, a corrupt dataset record (engine faults through
 * ./faults/sitecustomize.py, once each), the CLI killed by SIGKILL while it writes a run's steps, the
 * store's disk filling up mid-run (a small tmpfs; skipped with the reason where it cannot be mounted),
 * the store's write lock held by another writer, and a second CLI writing the same store at once.
 * Afterwards every completed run is intact and counted once, every other planned run was re-run or
 * carries its reason, and SQLite's integrity check passes. The counts are printed.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { exited, waitForStderr } from "../process.js";
import { cli, cliAsync, json, makeEnv, repoRoot, type SweepEntry as Entry } from "./helpers.js";

const RUNS = 14;
const ENGINE_FAULTS = { "1": "oom", "2": "sigkill", "3": "protocol" } as const;
const CORRUPT_SEED = 4;

/** A small tmpfs for the store, so that its disk can be filled; null with the reason where mount is refused. */
function mountTmpfs(dir: string): string | null {
  mkdirSync(dir, { recursive: true });
  const r = spawnSync("mount", ["-t", "tmpfs", "-o", "size=24m", "tmpfs", dir], { encoding: "utf8" });
  if (r.status === 0) return null;
  return `mount -t tmpfs failed (${(r.stderr || r.error?.message || `exit ${r.status}`).trim()})`;
}

describe("fault injection: a 14-run sweep on the CPU resumes to a complete, intact store", () => {
  const { env: baseEnv, home } = makeEnv();
  const faultDir = mkdtempSync(join(home, "faults-"));
  const storeDir = join(home, "store");
  const skipDiskFull = mountTmpfs(storeDir);
  const db = join(storeDir, "loraprof.db");
  const env = {
    ...baseEnv,
    PYTHONPATH: [join(repoRoot, "test/integration/faults"), baseEnv["PYTHONPATH"]].filter(Boolean).join(":"),
    LORAPROF_TEST_FAULTS: JSON.stringify(ENGINE_FAULTS),
    LORAPROF_TEST_FAULT_DIR: faultDir,
  };
  const corrupt = join(home, "corrupt.jsonl");
  writeFileSync(
    corrupt,
    [
      JSON.stringify({ instruction: "Say hi", input: "", output: "hi" }),
      '{"instruction": "Count to three", "input": "", "output": ',
      JSON.stringify({ instruction: "Name a colour", input: "", output: "red" }),
    ].join("\n") + "\n",
  );
  const spec = join(home, "faults.yaml");
  writeFileSync(
    spec,
    [
      "name: faults",
      "base:",
      "  model: tiny-qwen2",
      "  weights: random",
      "  dataset: synthetic",
      "  syntheticRecords: 48",
      "  device: cpu",
      "  steps: 3",
      "  warmupSteps: 1",
      "  seqLen: 32",
      "  logEverySteps: 1",
      "runs:",
      ...Array.from({ length: RUNS }, (_, s) =>
        s === CORRUPT_SEED ? `  - { seed: ${s}, dataset: ${JSON.stringify(corrupt)} }` : `  - { seed: ${s} }`,
      ),
      "",
    ].join("\n"),
  );
  const sweep = (...extra: string[]) => ["sweep", spec, "--db", db, ...extra];
  const entries = () =>
    json<{ entries: Entry[] }>(cli(["sweeps", "show", "faults", "--db", db, "--json"], env)).entries;
  const faults: string[] = [];

  afterAll(() => {
    if (!skipDiskFull) spawnSync("umount", [storeDir]);
    rmSync(home, { recursive: true, force: true });
  });

  it("loses nothing", async () => {
    // 1. The sweep, with a second CLI writing the same store, a second sweep call, a writer holding
    //    the store's lock, and finally the CLI killed by SIGKILL in the middle of run 7.
    const first = cliAsync(sweep(), env);
    const firstDone = exited(first);
    await waitForStderr(first, /\[1\/14\] step/);
    const other = cliAsync(
      [
        "run",
        "--db",
        db,
        "--device",
        "cpu",
        "--steps",
        "3",
        "--seq-len",
        "32",
        "--synthetic-records",
        "48",
        "--seed",
        "100",
        "-q",
      ],
      env,
    );
    const otherDone = exited(other);
    faults.push("a second CLI running a run into the same store");
    const second = cli(sweep(), env);
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(/error\[STORE\]: sweep .* is being run by process/);
    faults.push("a second sweep call while the first runs");
    const holder = new Database(db);
    holder.pragma("busy_timeout = 10000");
    holder.exec("BEGIN IMMEDIATE");
    await new Promise((r) => setTimeout(r, 3000));
    holder.exec("COMMIT");
    holder.close();
    faults.push("the store's write lock held 3 s by another writer");
    await waitForStderr(first, /\[7\/14\] step/);
    first.kill("SIGKILL");
    expect(await firstDone).toBeNull();
    faults.push("the CLI killed (SIGKILL) while writing run 7's steps");
    expect(await otherDone).toBe(0);

    // 2. Resume; the store's disk fills up during a run: one STORE error, no stack trace.
    if (skipDiskFull) {
      console.log(`fault suite: disk-full fault skipped: ${skipDiskFull}`);
    } else {
      const resumed = cliAsync(sweep(), env);
      const resumedDone = exited(resumed);
      const seen = await waitForStderr(resumed, /\[2\/\d+\] step/);
      expect(seen).toMatch(/marked 1 interrupted run|\d+ to run/);
      const filler = join(storeDir, "filler");
      spawnSync("dd", ["if=/dev/zero", `of=${filler}`, "bs=1M"], { stdio: "ignore" });
      faults.push("the store's disk full mid-run");
      let stderr = "";
      resumed.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
      expect(await resumedDone).toBe(1);
      expect(stderr).toMatch(/error\[STORE\].*(full|disk)/);
      expect(stderr).not.toMatch(/^\s+at /m);
      rmSync(filler);
    }

    // 3. Resume to the end, retrying failures (the engine faults fire once: their reruns succeed).
    const last = cli(sweep("--rerun-failed", "--json"), env);
    // The corrupt dataset still fails: a failure stands, so the sweep exits 1 under the policy.
    expect(last.code).toBe(1);
    const outcome = json<{ status: string; counts: Record<string, number> }>(last);
    expect(outcome.status).toBe("finished");

    const now = entries();
    expect(now).toHaveLength(RUNS);
    const bySeed = (s: number) => now.find((e) => new RegExp(`seed=${s}[ ,]`).test(e.label))!;
    expect(bySeed(1)).toMatchObject({ status: "oom", error: { kind: "oom" } });
    expect(bySeed(1).error?.hint).toMatch(/--batch-size/);
    expect(bySeed(CORRUPT_SEED)).toMatchObject({ status: "failed", error: { kind: "data" } });
    expect(bySeed(CORRUPT_SEED).error?.message).toMatch(/corrupt\.jsonl.*(line 2|record 1)/);
    const done = now.filter((e) => e.status === "completed");
    expect(done).toHaveLength(RUNS - 2);

    const store = new Database(db, { readonly: true });
    try {
      expect(store.pragma("integrity_check", { simple: true })).toBe("ok");
      const rows = store
        .prepare("SELECT id, label, status, metrics_json, error_json, sweep_id FROM runs")
        .all() as {
        id: string;
        label: string | null;
        status: string;
        metrics_json: string | null;
        error_json: string | null;
        sweep_id: string | null;
      }[];
      // Every completed configuration: exactly one completed run, linked, with its steps and metrics.
      for (const e of done) {
        const completed = rows.filter((r) => r.label === e.label && r.status === "completed");
        expect(
          completed.map((r) => r.id),
          e.label,
        ).toEqual([e.runId]);
        expect(completed[0]!.metrics_json).not.toBeNull();
        const steps = store.prepare("SELECT COUNT(*) AS n FROM steps WHERE run_id=?").get(e.runId) as {
          n: number;
        };
        expect(steps.n, e.label).toBe(3);
      }
      // Every run that did not complete says why.
      for (const r of rows.filter((x) => x.status !== "completed")) {
        const error = JSON.parse(r.error_json ?? "null") as { kind: string; message: string } | null;
        expect(error?.message, `${r.id} ${r.status}`).toBeTruthy();
      }
      // The concurrent CLI's run is stored once, complete.
      expect(rows.filter((r) => r.sweep_id === null && r.status === "completed")).toHaveLength(1);
      const sweepRows = rows.filter((r) => r.sweep_id !== null);
      console.log(
        `fault suite: ${RUNS} runs planned, ${sweepRows.length} runs made, ${faults.length + Object.keys(ENGINE_FAULTS).length + 1} faults injected ` +
          `(${[...Object.values(ENGINE_FAULTS).map((f) => `engine ${f}`), "corrupt dataset record", ...faults].join("; ")}); ` +
          `after resume: ${done.length} completed (each once), 1 oom, 1 failed (corrupt dataset), 0 lost; integrity_check ok`,
      );
    } finally {
      store.close();
    }
  });
});
