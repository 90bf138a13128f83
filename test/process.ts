/** Process helpers shared by tests that start, interrupt and watch real processes. */
import type { ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";

/** Running and not a zombie (a container's PID 1 may never reap an orphan, so zombies linger). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, "utf8"));
  } catch {
    return false;
  }
}

/** Resolves with the stderr seen so far once it matches `pattern`. */
export function waitForStderr(child: ChildProcess, pattern: RegExp, timeoutMs = 240_000): Promise<string> {
  return waitForOutput(child, "stderr", pattern, timeoutMs);
}

/** Resolves with what the stream printed so far once it matches `pattern`. */
export function waitForOutput(
  child: ChildProcess,
  stream: "stdout" | "stderr",
  pattern: RegExp,
  timeoutMs = 240_000,
): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = "";
    const timer = setTimeout(
      () => reject(new Error(`timed out waiting for ${pattern}; ${stream} so far:\n${seen}`)),
      timeoutMs,
    );
    child[stream]!.on("data", (d: Buffer) => {
      seen += d.toString();
      if (pattern.test(seen)) {
        clearTimeout(timer);
        resolve(seen);
      }
    });
  });
}

export const exited = (child: ChildProcess) =>
  new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));

/** Polls `check` until it holds or the time is up; returns its last value. */
export async function until(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return check();
}
