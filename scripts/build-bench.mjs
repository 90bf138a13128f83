// Builds the benchmarks (bench/*.ts, bench/peers/compare.ts: TypeScript clients of the library's front
// door, src/index.ts) into runnable ES modules, one file each: `npm run bench:build` writes
// dist-bench/<name>.mjs (run them from the checkout: `node dist-bench/baseline.mjs ...`). The library
// source is bundled in, so no `npm run build` is needed for it; npm packages stay imports
// (node_modules). scripts/bundle.mjs calls `buildBench` for the GPU benchmarks (self-contained: npm packages bundled in)
// into the carried CLI folder, for GPU hosts that have a Node binary and no npm.
import { build } from "esbuild";
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(fileURLToPath(new URL("..", import.meta.url)));

/** ES-module bundles with CommonJS dependencies inside need a `require` (shared with scripts/bundle.mjs). */
export const REQUIRE_BANNER = {
  js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
};

/** Entry (under bench/) → output name. */
export const BENCHES = {
  "baseline.ts": "baseline.mjs",
  "engine-start.ts": "engine-start.mjs",
  "plan-accuracy.ts": "plan-accuracy.mjs",
  "plan-holdout.ts": "plan-holdout.mjs",
  "ship-calibration.ts": "ship-calibration.mjs",
  "sampler-overhead.ts": "sampler-overhead.mjs",
  "tokenize.ts": "tokenize.mjs",
  "ui-overhead.ts": "ui-overhead.mjs",
  "store-scale.ts": "store-scale.mjs",
  "peers/compare.ts": "peers-compare.mjs",
};
/** The ones bench/gpu/*.sh run on a GPU host (bundled self-contained beside the carried CLI). */
export const GPU_BENCHES = [
  "baseline.ts",
  "sampler-overhead.ts",
  "peers/compare.ts",
  "plan-holdout.ts",
  "engine-start.ts",
];

const OPTIONS = {
  bundle: true,
  platform: "node",
  target: "node20",
  format: "esm",
  packages: "external",
  logLevel: "warning",
};

/**
 * `selfContained`: npm packages bundled in as well, all but the native better-sqlite3 (found in the
 * carried CLI's node_modules): for GPU hosts, where a benchmark that reaches the store (engine-start)
 * has no node_modules of its own.
 */
export async function buildBench(outDir, entries = Object.keys(BENCHES), { selfContained = false } = {}) {
  mkdirSync(outDir, { recursive: true });
  const options = selfContained
    ? {
        ...OPTIONS,
        packages: undefined,
        external: ["better-sqlite3"],
        banner: REQUIRE_BANNER,
      }
    : OPTIONS;
  for (const entry of entries) {
    await build({
      ...options,
      entryPoints: [join(root, "bench", entry)],
      outfile: join(outDir, BENCHES[entry]),
    });
  }
  // The tokenizer's worker threads (src/data/encode.ts) load it from beside the bundle (plan-accuracy
  // tokenizes datasets); without it the data stage runs on one thread.
  if (entries.some((e) => e === "plan-accuracy.ts" || e === "ship-calibration.ts"))
    await build({
      ...options,
      entryPoints: [join(root, "src/data/encode-worker.ts")],
      outfile: join(outDir, "encode-worker.mjs"),
    });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = resolve(process.argv[2] ?? join(root, "dist-bench"));
  await buildBench(out);
  console.log(`built ${Object.keys(BENCHES).length} benchmarks in ${out}`);
}
