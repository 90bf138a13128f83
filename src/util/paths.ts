/**
 * Where loraprof keeps things. State (store, engine environment, run logs) lives in the project's
 * `.loraprof/` (override: LORAPROF_HOME); bulky caches (token shards, synthetic checkpoints,
 * downloaded datasets) in the user cache (override: LORAPROF_CACHE).
 */
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export function loraprofHome(): string {
  return resolve(process.env["LORAPROF_HOME"] ?? ".loraprof");
}

export function cacheDir(): string {
  if (process.env["LORAPROF_CACHE"]) return resolve(process.env["LORAPROF_CACHE"]);
  const xdg = process.env["XDG_CACHE_HOME"] ?? join(homedir(), ".cache");
  return join(xdg, "loraprof");
}

export function defaultDbPath(): string {
  return join(loraprofHome(), "loraprof.db");
}

/** The package root (folder holding package.json), from dist/ or src/ alike. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, "package.json")) && existsSync(join(dir, "engine"))) return dir;
    dir = dirname(dir);
  }
  throw new Error("cannot locate the loraprof package root (package.json beside engine/)");
}

/** engine/src, put on PYTHONPATH so the engine code always matches this CLI's version. */
export function engineSourceDir(): string {
  return process.env["LORAPROF_ENGINE_SRC"] ?? join(packageRoot(), "engine", "src");
}

/** The Hugging Face hub cache (HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub). */
export function huggingfaceHubCache(env: NodeJS.ProcessEnv = process.env): string {
  return env["HF_HUB_CACHE"] ?? join(env["HF_HOME"] ?? join(homedir(), ".cache", "huggingface"), "hub");
}

/** loraprof's version (package.json), or "unknown" when the file cannot be read. */
export function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(join(packageRoot(), "package.json"), "utf8")) as { version: string })
      .version;
  } catch {
    return "unknown";
  }
}
