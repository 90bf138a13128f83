/**
 * What a new user hit on a fresh clone (issue 16), through the real CLI: every error names the
 * field and the fix with the exit code of the one policy, never a stack trace, never a misleading
 * message; and the few real runs here (tiny-qwen2, 3–5 steps) check the messages runs print.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { buildProgram } from "../../src/cli/main.js";
import { openStore } from "../../src/store/db.js";
import { createRun, finishRun } from "../../src/store/runs.js";
import { EXIT_CODES_TEXT } from "../../src/util/errors.js";
import { cli, cliPath, json, makeEnv } from "./helpers.js";

const dir = mkdtempSync(join(tmpdir(), "loraprof-hard-"));
const noStack = (s: string) => expect(s).not.toMatch(/^\s+at .*\(.*:\d+:\d+\)$/m);
const tiny = ["--device", "cpu", "--seq-len", "32", "--synthetic-records", "48", "-q"];

describe("errors a new user can trigger", () => {
  const { env } = makeEnv();

  it("ends quietly when the reader of --json output goes away (runs list | head -1)", () => {
    const db = join(dir, "many.db");
    const store = openStore(db);
    // Enough output (~1 MB) to outlast the pipe's buffer.
    for (let i = 0; i < 200; i++) {
      const id = createRun(store, {
        id: `run-${i}`,
        config: { model: "tiny-qwen2" },
        label: "x".repeat(5000),
      });
      finishRun(store, id, { status: "completed", metrics: { realTokensPerSecond: i } });
    }
    store.close();
    const r = spawnSync(
      "bash",
      [
        "-c",
        `"${process.execPath}" "${cliPath}" runs list --json --limit 500 --db "${db}" | head -1; exit \${PIPESTATUS[0]}`,
      ],
      { env, encoding: "utf8" },
    );
    expect(r.stdout.trim()).toBe("[");
    expect(r.stderr).not.toContain("EPIPE");
    expect(r.status).toBe(0);
  });

  it("names --db when its parent is a file", () => {
    const file = join(dir, "a-file");
    writeFileSync(file, "x");
    const r = cli(["runs", "list", "--db", join(file, "loraprof.db")], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--db: a parent of this path is a file");
    noStack(r.stderr);
  });

  it("says a folder or a hub id is missing, not that a tokenizer is missing in the current folder", () => {
    for (const model of ["foo/bar", "./no-such-folder"]) {
      const r = cli(["run", "--model", model, ...tiny], env);
      expect(r.code, model).toBe(2);
      expect(r.stderr, model).toMatch(/error\[MODEL_NOT_FOUND\]/);
      expect(r.stderr, model).not.toMatch(/no tokenizer\.json in/);
    }
  });

  it("reports every bad flag at once", () => {
    const r = cli(["run", "--batch-size", "0", "--steps", "-1", "--seq-len", "0", "--lr", "abc"], env);
    expect(r.code).toBe(2);
    for (const flag of ["--batch-size", "--steps", "--seq-len", "--lr"])
      expect(r.stderr).toContain(`- ${flag}:`);
  });

  it("names a flag that takes no value when given one, with its two forms", () => {
    const r = cli(["run", "--cudnn-attention=maybe"], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /--cudnn-attention takes no value \(got '--cudnn-attention=maybe'\): use --cudnn-attention or --no-cudnn-attention/,
    );
    expect(cli(["plan", "--fit=yes"], env).stderr).toMatch(/--fit takes no value .*: use --fit\n/);
    expect(cli(["run", "--bogus=1"], env).stderr).toMatch(/unknown option '--bogus=1'/);
  });

  it("refuses GPU-only settings on the CPU before anything is prepared or stored", () => {
    const db = join(dir, "gpu-only.db");
    for (const args of [
      ["--optimizer", "adamw_8bit"],
      ["--vram-budget", "8GiB"],
    ]) {
      const started = Date.now();
      const r = cli(["run", ...args, "--db", db, ...tiny], env);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/need[s]? a CUDA GPU/);
      expect(Date.now() - started).toBeLessThan(15_000);
    }
    expect(json<unknown[]>(cli(["runs", "list", "--db", db, "--json"], env))).toEqual([]);
  });

  it("names --seq-len when it leaves nothing to train on, before the engine starts", () => {
    const r = cli(
      ["run", "--seq-len", "1", "--device", "cpu", "--synthetic-records", "48", "--steps", "3"],
      env,
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/- seqLen: every record is cut to 1 token/);
    expect(r.stderr).not.toMatch(/starting the engine|Rebuild the shard/i);
  });

  it("exits 2 for a dataset error, as for any bad input", () => {
    expect(cli(["data", "stats", join(dir, "missing.json")], env).code).toBe(2);
  });

  it("gives doctor one verdict: --json's ok and the exit code agree", () => {
    const r = cli(["doctor", "--json"], env);
    expect(r.code).toBe(json<{ ok: boolean }>(r).ok ? 0 : 1);
  });

  it("prints the exit-code policy in every command's --help", () => {
    const commands: string[][] = [[]];
    const walk = (cmd: ReturnType<typeof buildProgram>, path: string[]) => {
      for (const c of cmd.commands) {
        commands.push([...path, c.name()]);
        walk(c, [...path, c.name()]);
      }
    };
    walk(buildProgram(), []);
    expect(commands.length).toBeGreaterThan(10);
    for (const c of commands) {
      const r = cli([...c, "--help"], env);
      expect(r.code, c.join(" ")).toBe(0);
      expect(r.stdout, c.join(" ")).toContain(EXIT_CODES_TEXT);
    }
  });

  it("says a CPU-only machine cannot run the study's GPU runs (study paper --dry-run)", () => {
    const r = cli(["study", "paper", "--dry-run", "--db", join(dir, "study.db")], env);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/(\d+) of the \1 runs to do need a CUDA GPU/);
  });

  it("names --groups and the valid groups when a study group is unknown, and runs nothing", () => {
    const r = cli(["study", "paper", "--groups", "presets,bogus", "--db", join(dir, "study.db")], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--groups: "bogus" is not a group of the study');
    expect(r.stderr).toContain("use one or more of presets, optimizer, precision, shape, padding, fast");
    expect(r.stderr).not.toContain("fast arm");
    expect(r.stdout).toBe("");
    noStack(r.stderr);
  });

  it("plans only the chosen groups of the study, as a sweep of their own (study paper --groups)", () => {
    const db = join(dir, "study.db");
    const fast = cli(["study", "paper", "--groups", "fast", "--dry-run", "--repeats", "1", "--db", db], env);
    expect(fast.code, fast.stderr).toBe(0);
    expect(fast.stdout).toMatch(/^sweep paper-study\.fast \(.*\): 4 planned runs/m);
    expect(fast.stdout).not.toMatch(/paper-study(\.fast)?\/(presets|optimizer|precision|shape|padding) /);
    expect(fast.stderr).toContain("fast arm: ");
    const plan = json<{
      name: string;
      entries: { groups: string[] }[];
      fastArm?: { planned: boolean; note: string; fallback?: string };
    }>(cli(["study", "paper", "--groups", "fast, presets", "--dry-run", "--json", "--db", db], env));
    expect(plan.name).toBe("paper-study.presets.fast");
    // --json says which fast arm runs: here, without a GPU, the fixed fallback and why.
    expect(plan.fastArm?.planned).toBe(false);
    expect(plan.fastArm?.note).toContain("b8 × s2048");
    expect(plan.fastArm?.fallback).toMatch(/\S/);
    expect(new Set(plan.entries.flatMap((e) => e.groups))).toEqual(new Set(["presets", "fast"]));
    // Without the fast group its arm is not planned.
    const shape = cli(["study", "paper", "--groups", "shape", "--dry-run", "--db", db], env);
    expect(shape.code, shape.stderr).toBe(0);
    expect(shape.stdout).toMatch(/^sweep paper-study\.shape \(.*\): 27 planned runs/m);
    expect(shape.stderr).not.toContain("fast arm");
    const shapePlan = json<{ fastArm?: unknown }>(
      cli(["study", "paper", "--groups", "shape", "--dry-run", "--json", "--db", db], env),
    );
    expect(shapePlan.fastArm).toBeUndefined();
  });
});

describe("sweeps whose runs all fail", () => {
  const { env, home } = makeEnv();
  const spec = join(home, "broken.yaml");
  writeFileSync(
    spec,
    [
      "name: broken",
      "base: { model: tiny-qwen2, device: cpu, steps: 3, seqLen: 32, dataset: ./no-such-dataset.json }",
      "grid: { batchSize: [1, 2] }",
      "",
    ].join("\n"),
  );

  it("exits 1, suggests no report, and says how to run the failures again", () => {
    const r = cli(["sweep", spec], env);
    expect(r.code).toBe(1);
    expect(r.stdout).not.toMatch(/^report:/m);
    expect(r.stdout).toContain("--rerun-failed");
    const again = cli(["sweep", spec], env);
    expect(again.stderr).toMatch(
      /nothing left to run: kept as outcomes, not retried: 2 failed \(--rerun-failed\)/,
    );
  });
});

describe("a short run", () => {
  const { env } = makeEnv();

  it("runs with --steps alone, compares distinct loss windows, and says one reason per missing figure", () => {
    const r = cli(
      ["run", "--steps", "5", "--seq-len", "12", "--device", "cpu", "--synthetic-records", "48"],
      env,
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("4 steps in");
    expect(r.stdout).toContain("1 warmup steps excluded");
    expect(r.stdout).toMatch(/mean of first\/last 2 steps/);
    expect(r.stdout).toMatch(/warning: records longer than seqLen were cut to it \(\d+ of 48/);
    const shown = json<{
      metrics: { nullReasons: Record<string, string>; telemetry: { energyJoules: { reason: string } } };
    }>(
      cli(
        ["runs", "show", json<{ id: string }[]>(cli(["runs", "list", "--json"], env))[0]!.id, "--json"],
        env,
      ),
    );
    expect(shown.metrics.nullReasons["energyJoules"]).toBe(shown.metrics.telemetry.energyJoules.reason);
  });

  it("exports the run to a bundle, imports it (or the store file) into another store, and reports it there", () => {
    const [id] = json<{ id: string }[]>(cli(["runs", "list", "--json"], env)).map((x) => x.id);
    const d = mkdtempSync(join(tmpdir(), "loraprof-hard-transfer-"));
    const bundle = join(d, "runs.json");
    const exp = cli(["runs", "export", "--all", "-o", bundle], env);
    expect(exp.code, exp.stderr).toBe(0);
    expect(exp.stderr).toMatch(
      /^exported 1 run\(s\) \(5 steps, \d+ telemetry samples\) and 0 sweep\(s\) to /m,
    );
    const other = join(d, "other.db");
    const imp = cli(["runs", "import", bundle, "--db", other], env);
    expect(imp.code, imp.stderr).toBe(0);
    expect(imp.stdout).toContain(`imported 1 run(s) (5 steps`);
    expect(imp.stdout).toContain(`report them: loraprof report ${id}`);
    const there = json<{ id: string; status: string; steps: unknown[] }>(
      cli(["runs", "show", id!, "--json", "--db", other], env),
    );
    expect(there).toMatchObject({ id, status: "completed" });
    expect(there.steps).toHaveLength(5);
    // The store file itself imports the same way; what is there already is kept.
    const again = json<{ imported: string[]; present: string[] }>(
      cli(["runs", "import", join(env["LORAPROF_HOME"]!, "loraprof.db"), "--db", other, "--json"], env),
    );
    expect(again).toMatchObject({ imported: [], present: [id] });
    const rep = cli(["report", id!, "--db", other, "--out", join(d, "r"), "--no-reference", "--json"], env);
    expect(rep.code, rep.stderr).toBe(0);
    // A report straight from the bundle, no store written.
    const fromFile = cli(
      ["report", "--from", bundle, "--out", join(d, "f"), "--no-reference", "--json"],
      env,
    );
    expect(fromFile.code, fromFile.stderr).toBe(0);
    expect(json<{ runs: number }>(fromFile).runs).toBe(1);
    const both = cli(["report", "--from", bundle, "--db", other], env);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain("--from: reads its runs from the files given, not from a store");
    // Bad input: nothing to export; a file that is no bundle.
    const none = cli(["runs", "export"], env);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("<ids>: no run ids, --sweep or --all given");
    writeFileSync(join(d, "bad.json"), JSON.stringify({ format: "something-else", runs: [] }));
    const bad = cli(["runs", "import", join(d, "bad.json"), "--db", other], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('format: is "something-else", not "loraprof-runs"');
    noStack(bad.stderr);
    // An output path under a file, and a folder to import: the flag or the file named, with the fix.
    const badOut = cli(["runs", "export", "--all", "-o", join(bundle, "x.json")], env);
    expect(badOut.code).toBe(2);
    expect(badOut.stderr).toContain("--out: a parent of this path is a file, not a folder");
    noStack(badOut.stderr);
    const folder = cli(["runs", "import", d, "--db", other], env);
    expect(folder.code).toBe(2);
    expect(folder.stderr).toContain("<file>: is a folder, not a file");
    // Several files at once: all read and checked first, so a bad one imports none of them.
    const third = join(d, "third.db");
    const mixed = cli(["runs", "import", bundle, join(d, "bad.json"), "--db", third], env);
    expect(mixed.code).toBe(2);
    expect(json<unknown[]>(cli(["runs", "list", "--json", "--db", third], env))).toEqual([]);
    const two = json<{ imported: string[]; present: string[]; files: { file: string; imported: number }[] }>(
      cli(
        ["runs", "import", bundle, join(env["LORAPROF_HOME"]!, "loraprof.db"), "--db", third, "--json"],
        env,
      ),
    );
    expect(two).toMatchObject({ imported: [id], present: [id] });
    expect(two.files.map((f) => f.imported)).toEqual([1, 0]);
  });

  it("reports the last runs and deletes one", () => {
    const ids = json<{ id: string }[]>(cli(["runs", "list", "--json"], env)).map((x) => x.id);
    expect(ids).toHaveLength(1);
    const out = join(mkdtempSync(join(tmpdir(), "loraprof-hard-report-")), "r");
    const rep = cli(["report", "--last", "1", "--out", out, "--no-reference", "--json"], env);
    expect(rep.code).toBe(0);
    expect(json<{ runs: number }>(rep).runs).toBe(1);
    expect(cli(["report"], env).code).toBe(2);
    expect(cli(["runs", "delete", ids[0]!.slice(0, 18)], env).code).toBe(0);
    expect(json<unknown[]>(cli(["runs", "list", "--json"], env))).toEqual([]);
    expect(cli(["runs", "delete", "no-such-run"], env).code).toBe(2);
  });
});
