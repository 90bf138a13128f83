/**
 * Tokenization speed of `data stats` on 52,002 Alpaca-style records (the size of Stanford Alpaca),
 * cold and cached, as a user meets it: each figure is one whole `loraprof data stats` process
 * (Node start, reading and detecting the file, loading the tokenizer, tokenizing every record on all
 * cores, statistics), timed from outside.
 *
 *   npm run bench:build && node dist-bench/tokenize.mjs [--runs 3] [--threads 2]
 *
 * The records are the shared 9k Alpaca sample (../shared/data/alpaca/alpaca_random_9k.json) repeated
 * to 52,002 in a temporary file (removed afterwards; nothing is written into the repository). Cold:
 * `--no-cache`, so the stats cache is neither read nor written. Cached: after one run that wrote
 * the cache. One thread (LORAPROF_DATA_THREADS=1) is timed too, for the speed-up. Prints medians of
 * `--runs` runs, and the token totals of both modes, which must agree (else it exits 1).
 * Needs `npm run build` first (the CLI runs from dist/).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { median, repoRoot } from "./lib/common.js";

const repo = repoRoot();
const args = process.argv.slice(2);
const flag = (name: string, fallback: number): number => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const runs = flag("--runs", 3);
const threads = flag("--threads", 2);
const RECORDS = 52_002;

const sample = JSON.parse(
  readFileSync(join(repo, "../shared/data/alpaca/alpaca_random_9k.json"), "utf8"),
) as unknown[];
const records = Array.from({ length: RECORDS }, (_, i) => sample[i % sample.length]);
const work = mkdtempSync(join(tmpdir(), "loraprof-bench-tokenize-"));
const file = join(work, "alpaca_52k.json");
writeFileSync(file, JSON.stringify(records));

interface Stats {
  seconds: number;
  total: number;
  cached: boolean;
}

function stats(extra: string[], env: Record<string, string>): Stats {
  const start = process.hrtime.bigint();
  const r = spawnSync(
    process.execPath,
    [join(repo, "bin/loraprof.js"), "data", "stats", file, "--json", ...extra],
    {
      encoding: "utf8",
      maxBuffer: 64 << 20,
      env: { ...process.env, LORAPROF_CACHE: join(work, "cache"), ...env },
    },
  );
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (r.status !== 0) throw new Error(`data stats failed (exit ${r.status}): ${r.stderr.slice(-2000)}`);
  const out = JSON.parse(r.stdout) as { stats: { tokens: { total: number } }; cached: boolean };
  return { seconds, total: out.stats.tokens.total, cached: out.cached };
}

try {
  const timed = (label: string, extra: string[], env: Record<string, string>): Stats => {
    const results = Array.from({ length: runs }, () => stats(extra, env));
    const s = results.map((x) => x.seconds);
    console.log(
      `${label.padEnd(34)} median ${median(s).toFixed(2)} s  (runs: ${s.map((x) => x.toFixed(2)).join(", ")})`,
    );
    return results[0]!;
  };
  console.log(`data stats on ${RECORDS} Alpaca-style records, ${threads} thread(s), ${runs} runs each`);
  const one = timed("cold, 1 thread", ["--no-cache"], { LORAPROF_DATA_THREADS: "1" });
  const cold = timed(`cold, ${threads} threads`, ["--no-cache"], { LORAPROF_DATA_THREADS: String(threads) });
  stats([], { LORAPROF_DATA_THREADS: String(threads) }); // writes the cache
  const cached = timed("cached (figures counted earlier)", [], { LORAPROF_DATA_THREADS: String(threads) });
  console.log(
    `tokens: ${one.total} (1 thread), ${cold.total} (${threads} threads), ${cached.total} (cached)`,
  );
  if (one.total !== cold.total || cold.total !== cached.total || !cached.cached) {
    console.error("the modes disagree");
    process.exitCode = 1;
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
