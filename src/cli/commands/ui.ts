/**
 * `loraprof ui`: the local dashboard over the run store. Serves until Ctrl-C; reads the store with
 * its own read-only connection, so runs, sweeps and studies started from other terminals show up
 * live and are never slowed or blocked by it.
 */
import type { Command } from "commander";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { setPriority } from "node:os";
import { join } from "node:path";
import pc from "picocolors";
import { LoraprofError } from "../../util/errors.js";
import { defaultDbPath, packageRoot } from "../../util/paths.js";
import { defaultReferencePath } from "../../study/reference.js";

export function registerUi(program: Command): void {
  program
    .command("ui")
    .description("serve the local dashboard: runs live, comparisons, sweeps, reports and the planner")
    .option("--port <n>", "port to listen on (0: any free port)", "7070")
    .option(
      "--host <address>",
      "address to bind (default 127.0.0.1); any other needs the printed access token",
      "127.0.0.1",
    )
    .option("--db <path>", "run store to show (default .loraprof/loraprof.db)")
    .action(async (opts: { port: string; host: string; db?: string }) => {
      const port = Number(opts.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) {
        throw new LoraprofError("FLAG_INVALID", "invalid --port", {
          problems: [
            { field: "--port", message: `"${opts.port}" is not a port number`, hint: "e.g. --port 7070" },
          ],
        });
      }
      const { startUiServer, isLoopback, defaultAssetRoot } = await import("../../server/server.js");
      let assetRoot: string;
      try {
        assetRoot = defaultAssetRoot(packageRoot());
      } catch {
        assetRoot = ""; // the single-file bundle for GPU hosts carries no front end
      }
      if (!assetRoot || !existsSync(join(assetRoot, "index.html"))) {
        throw new LoraprofError(
          "INTERNAL",
          `the dashboard's front end is not built${assetRoot ? ` (${assetRoot})` : ""}`,
          {
            hint: "run `npm run build` in a loraprof checkout (the GPU-host bundle has no dashboard: run `loraprof ui --db` on a machine with one)",
          },
        );
      }
      // The dashboard is best effort: at the lowest CPU priority, a run on the same cores (a CPU run,
      // or the engine's host-side work on a GPU) gets the processor first.
      try {
        setPriority(19);
      } catch {
        // not permitted here: the server stays at the normal priority
      }
      const loopback = isLoopback(opts.host);
      const token = loopback ? null : randomBytes(24).toString("base64url");
      const dbPath = opts.db ?? defaultDbPath();
      const ui = await startUiServer({
        dbPath,
        assetRoot,
        host: opts.host,
        port,
        token,
        referencePath: defaultReferencePath(),
      });
      if (!loopback) {
        process.stderr.write(
          pc.yellow(
            `warning: serving on ${opts.host}, reachable from other machines. Every request needs the access token in the URL below; share it only with people who may read this store.\n`,
          ),
        );
      }
      process.stdout.write(
        `loraprof ui: ${ui.url}\n${pc.dim(`store: ${dbPath} (read-only) · Ctrl-C to stop`)}\n`,
      );
      await new Promise<void>((done) => {
        const stop = () => {
          process.off("SIGINT", stop);
          process.off("SIGTERM", stop);
          void ui.close().then(done);
        };
        process.on("SIGINT", stop);
        process.on("SIGTERM", stop);
      });
    });
}
