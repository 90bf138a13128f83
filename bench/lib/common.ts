/** Helpers shared by the benchmark scripts. */
import { spawnSync, type SpawnSyncOptions } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** Median of a non-empty array of numbers. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * Runs the CLI (`cli`: the command split into words, e.g. ["node", "bin/loraprof.js"]) with `args`
 * and returns its --json output, parsed; an error quoting its stderr when there is none. `options` go to
 * spawnSync (e.g. a timeout and killSignal).
 */
export function runCliJson<T = unknown>(
  cli: readonly string[],
  args: readonly string[],
  options: SpawnSyncOptions = {},
): T {
  const r = spawnSync(cli[0]!, [...cli.slice(1), ...args], {
    maxBuffer: 64 << 20,
    ...options,
    encoding: "utf8",
  });
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`loraprof ${args.join(" ")}: no JSON (exit ${r.status}): ${r.stderr.slice(-2000)}`);
  }
}

/**
 * The checkout a benchmark runs in: the nearest folder above the script (dist-bench/, or a bundle
 * carried elsewhere) that holds `engine/src`, else the working directory (bench/gpu/*.sh run from
 * the checkout's root).
 */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, "engine", "src"))) return dir;
    const up = dirname(dir);
    if (up === dir) return process.cwd();
    dir = up;
  }
}

/**
 * A JSON document walked by shape (result files, stored runs): the planner benchmarks read many
 * generations of result files whose shapes are checked where they are used, not declared.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;
