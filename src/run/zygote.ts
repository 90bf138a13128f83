/**
 * The engine zygote (engine/src/loraprof_engine/zygote.py): one Python process that imports torch,
 * transformers and PEFT once and forks a child per run. Used where several runs share one CLI call
 * (sweeps, studies): each run then skips the imports (~15 s on a busy CPU host, ~16 s on the H200
 * host) yet stays its own process. A single `loraprof run` does not use it: the zygote would pay
 * the same imports once for one run, so it cannot start that run any sooner.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { engineEnv } from "./engine.js";

export interface Zygote {
  /** The Unix socket that `python -m loraprof_engine.attach` connects to. */
  socket: string;
  pid: number | undefined;
  importSeconds: number;
  stop(): void;
}

export type ZygoteStart = { ok: true; zygote: Zygote } | { ok: false; reason: string };

/** Up to the `ready` line: the imports take ~15 s on a loaded CPU host; a zygote slower than this is not worth it. */
const READY_TIMEOUT_MS = 120_000;
const STDERR_TAIL_CHARS = 2000;

/**
 * Starts a zygote and waits until it listens. Never throws: a zygote that cannot start is a reason
 * the caller logs before running its engines as plain processes.
 */
export function startZygote(opts: { python: string; timeoutMs?: number }): Promise<ZygoteStart> {
  // A short path: Unix socket paths are limited to ~107 bytes.
  const dir = mkdtempSync(join(tmpdir(), "loraprof-z-"));
  const socket = join(dir, "zygote.sock");
  let child: ChildProcess;
  try {
    // stdin stays an open pipe: the zygote exits when it closes (this process died).
    child = spawn(opts.python, ["-m", "loraprof_engine.zygote", socket], {
      stdio: ["pipe", "pipe", "pipe"],
      env: engineEnv(),
    });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    return Promise.resolve({
      ok: false,
      reason: `could not start ${opts.python}: ${(err as Error).message}`,
    });
  }
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString("utf8")).slice(-STDERR_TAIL_CHARS);
  });
  child.stdin?.on("error", () => undefined);
  const stop = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    rmSync(dir, { recursive: true, force: true });
  };
  process.once("exit", stop);

  return new Promise<ZygoteStart>((resolveStart) => {
    let settled = false;
    const fail = (reason: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      process.off("exit", stop);
      stop();
      const tail = stderr.trim().split("\n").slice(-3).join(" | ");
      resolveStart({ ok: false, reason: tail ? `${reason}: ${tail}` : reason });
    };
    const timer = setTimeout(
      () => fail(`not ready within ${(opts.timeoutMs ?? READY_TIMEOUT_MS) / 1000} s`),
      opts.timeoutMs ?? READY_TIMEOUT_MS,
    );
    child.on("error", (err) => fail(`could not start ${opts.python}: ${err.message}`));
    child.on("exit", (code, sig) => fail(`exited before it was ready (${sig ?? `exit ${code}`})`));
    if (child.stdout) {
      createInterface({ input: child.stdout }).once("line", (line) => {
        let ready: {
          ready?: boolean;
          importSeconds?: number;
          cudaInitialized?: boolean;
          cudaInitializedBy?: string | null;
          forkPoisoned?: boolean;
        };
        try {
          ready = JSON.parse(line) as typeof ready;
        } catch {
          return fail(`unexpected first line ${JSON.stringify(line.slice(0, 200))}`);
        }
        if (!ready.ready) return fail(`unexpected first line ${JSON.stringify(line.slice(0, 200))}`);
        if (ready.cudaInitialized)
          return fail(
            `CUDA was initialized by the imports${ready.cudaInitializedBy ? ` (in ${ready.cudaInitializedBy})` : ""}; a fork would share it`,
          );
        if (ready.forkPoisoned)
          return fail("the imports started the CUDA driver, so a forked run could not use CUDA");
        settled = true;
        clearTimeout(timer);
        const z: Zygote = {
          socket,
          pid: child.pid,
          importSeconds: ready.importSeconds ?? 0,
          stop: () => {
            process.off("exit", stop);
            stop();
          },
        };
        resolveStart({ ok: true, zygote: z });
      });
    }
  });
}
