/**
 * Runs the real CLI (the built dist/, as a user would through npx) with the real engine. Each test
 * file gets a temporary LORAPROF_HOME (store, logs) and shares one cache (shards, synthetic
 * checkpoints); the engine's Python is the one `loraprof setup` recorded for this checkout.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const sharedDir = resolve(repoRoot, "../shared");
export const alpacaPath = join(sharedDir, "data/alpaca/alpaca_random_9k.json");
export const cliPath = join(repoRoot, "bin/loraprof.js");

export function enginePython(): string {
  if (process.env["LORAPROF_PYTHON"]) return process.env["LORAPROF_PYTHON"];
  const home = resolve(process.env["LORAPROF_HOME"] ?? join(repoRoot, ".loraprof"));
  const state = join(home, "engine.json");
  if (!existsSync(state)) throw new Error("no engine environment: run `npx loraprof setup --dev` first");
  return (JSON.parse(readFileSync(state, "utf8")) as { python: string }).python;
}

export function makeEnv(): { env: NodeJS.ProcessEnv; home: string } {
  const home = mkdtempSync(join(tmpdir(), "loraprof-it-"));
  const cache = process.env["LORAPROF_CACHE"] ?? join(tmpdir(), "loraprof-it-cache");
  return {
    home,
    env: {
      ...process.env,
      LORAPROF_HOME: home,
      LORAPROF_CACHE: cache,
      LORAPROF_PYTHON: enginePython(),
      NO_COLOR: "1",
      FORCE_COLOR: "0",
    },
  };
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function cli(args: string[], env: NodeJS.ProcessEnv, cwd = repoRoot): CliResult {
  const r = spawnSync(process.execPath, [cliPath, ...args], {
    env,
    cwd,
    encoding: "utf8",
    maxBuffer: 64 << 20,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

export function cliAsync(args: string[], env: NodeJS.ProcessEnv): ChildProcess {
  return spawn(process.execPath, [cliPath, ...args], {
    env,
    cwd: repoRoot,
    stdio: ["ignore", "pipe", "pipe"],
  });
}

export function json<T = Record<string, unknown>>(r: CliResult): T {
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`not JSON (exit ${r.code}):\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  }
}

/** A planned sweep entry as `loraprof sweeps show --json` prints it. */
export interface SweepEntry {
  key: string;
  label: string;
  runId: string | null;
  status: string;
  attempts: number;
  error: { kind: string; message: string; hint: string | null } | null;
}
