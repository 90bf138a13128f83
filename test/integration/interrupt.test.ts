import { describe, expect, it } from "vitest";
import { alive, exited, until, waitForStderr as waitFor } from "../process.js";
import { cli, cliAsync, json, makeEnv } from "./helpers.js";

interface Listed {
  id: string;
  status: string;
  error: { kind: string } | null;
}

const longRun = [
  "run",
  "--steps",
  "5000",
  "--warmup-steps",
  "1",
  "--log-every",
  "1",
  "--seq-len",
  "128",
  "--synthetic-records",
  "200",
  "--device",
  "cpu",
];

describe("interrupting a run", () => {
  const { env } = makeEnv();

  it("Ctrl-C cancels: the engine's process group is stopped and the run is stored as cancelled", async () => {
    const child = cliAsync(longRun, env);
    const done = exited(child);
    await waitFor(child, /step \d+\/5000/);
    child.kill("SIGINT");
    expect(await done).toBe(130);
    const runs = json<Listed[]>(cli(["runs", "list", "--json"], env));
    expect(runs[0]?.status).toBe("cancelled");
    const shown = json<{ environment: { pid: number } }>(cli(["runs", "show", runs[0]!.id, "--json"], env));
    expect(await until(() => !alive(shown.environment.pid), 10_000)).toBe(true);
  });

  it("a killed CLI leaves no orphan engine, and the next start marks its run failed (interrupted)", async () => {
    const child = cliAsync(longRun, env);
    const done = exited(child);
    await waitFor(child, /step \d+\/5000/);
    child.kill("SIGKILL");
    await done;
    const before = json<Listed[]>(cli(["runs", "list", "--json"], env));
    // `runs list` itself is a start: it reaps the run whose owner died.
    expect(before[0]?.status).toBe("failed");
    expect(before[0]?.error?.kind).toBe("interrupted");
    const shown = json<{ environment: { pid: number } }>(cli(["runs", "show", before[0]!.id, "--json"], env));
    // The engine notices its parent is gone (stdin closes) and exits by itself.
    expect(await until(() => !alive(shown.environment.pid), 20_000)).toBe(true);
  });
});
