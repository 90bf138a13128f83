/**
 * The built CLI run as a user runs it, in a fresh LORAPROF_HOME with no GPU (`npm run build` first;
 * `npm test` builds before testing). Shared by the unit tests that drive `bin/loraprof.js`.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const cli = join(repoRoot, "bin/loraprof.js");

export function runBuiltCli(args: string[], env: NodeJS.ProcessEnv = {}) {
  if (!existsSync(join(repoRoot, "dist/cli/main.js"))) throw new Error("build first: npm run build");
  const home = mkdtempSync(join(tmpdir(), "lp-cli-"));
  const r = spawnSync(process.execPath, [cli, ...args], {
    encoding: "utf8",
    env: {
      ...process.env,
      LORAPROF_HOME: home,
      LORAPROF_CACHE: join(home, "cache"),
      LORAPROF_NVIDIA_SMI: join(home, "no-nvidia-smi"),
      NO_COLOR: "1",
      ...env,
    },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
