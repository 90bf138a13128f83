// Runs the engine's own checks with the engine's Python (the one `loraprof setup` recorded):
// ruff (lint + format check), mypy, and the pytest suite (GPU tests skip themselves without CUDA).
// The Python benchmarks (bench/*.py) drive the engine's own functions: they are held to the same
// ruff and mypy settings, so a change to the engine's API fails here rather than on the GPU host.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";

const root = resolve(new URL("..", import.meta.url).pathname);
const home = resolve(process.env.LORAPROF_HOME ?? join(root, ".loraprof"));
let python = process.env.LORAPROF_PYTHON;
if (!python && existsSync(join(home, "engine.json")))
  python = JSON.parse(readFileSync(join(home, "engine.json"), "utf8")).python;
if (!python) {
  console.error("no engine Python: run `npx loraprof setup --dev` first");
  process.exit(1);
}
const only = process.argv.slice(2);
const benchPy = readdirSync(join(root, "bench"))
  .filter((f) => f.endsWith(".py"))
  .map((f) => join("bench", f));
const steps = [
  ["ruff", [python, "-m", "ruff", "check", "engine"]],
  ["ruff-format", [python, "-m", "ruff", "format", "--check", "engine"]],
  ["mypy", [python, "-m", "mypy", "--config-file", "engine/pyproject.toml", "engine/src"]],
  ["bench-ruff", [python, "-m", "ruff", "check", "--config", "engine/pyproject.toml", ...benchPy]],
  [
    "bench-ruff-format",
    [python, "-m", "ruff", "format", "--check", "--config", "engine/pyproject.toml", ...benchPy],
  ],
  ["bench-mypy", [python, "-m", "mypy", "--config-file", "engine/pyproject.toml", ...benchPy]],
  ["pytest", [python, "-m", "pytest", "engine/tests", "-q", "-p", "no:cacheprovider"]],
];
for (const [name, [cmd, ...args]] of steps) {
  if (only.length && !only.includes(name)) continue;
  console.error(`· engine ${name}`);
  const r = spawnSync(cmd, args, {
    cwd: root,
    stdio: "inherit",
    env: { ...process.env, PYTHONPATH: join(root, "engine", "src"), MYPYPATH: join(root, "engine", "src") },
  });
  if (r.status !== 0) {
    console.error(`engine ${name} failed (exit ${r.status ?? r.signal})`);
    process.exit(r.status ?? 1);
  }
}
