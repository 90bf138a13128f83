/** Helpers shared by the benchmark scripts. */
import { spawnSync } from "node:child_process";

/** Median of a non-empty array of numbers. */
export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Runs the CLI (`cli`: the command split into words, e.g. ["node", "bin/loraprof.js"]) with `args`
 * and returns its --json output, parsed; an error quoting its stderr when there is none. `options` go to
 * spawnSync (e.g. a timeout and killSignal).
 */
export function runCliJson(cli, args, options = {}) {
  const r = spawnSync(cli[0], [...cli.slice(1), ...args], {
    encoding: "utf8",
    maxBuffer: 64 << 20,
    ...options,
  });
  try {
    return JSON.parse(r.stdout);
  } catch {
    throw new Error(`loraprof ${args.join(" ")}: no JSON (exit ${r.status}): ${r.stderr.slice(-2000)}`);
  }
}
