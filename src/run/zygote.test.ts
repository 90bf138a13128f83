import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { startZygote } from "./zygote.js";

const dir = mkdtempSync(join(tmpdir(), "loraprof-zygote-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A stand-in interpreter that prints one `ready` line, then waits for its stdin to close. */
function fakePython(ready: object): string {
  const path = join(dir, `python-${Math.random().toString(36).slice(2)}`);
  writeFileSync(path, `#!/bin/sh\necho '${JSON.stringify(ready)}'\ncat > /dev/null\n`);
  chmodSync(path, 0o755);
  return path;
}

describe("startZygote", () => {
  it("is ready when the imports left CUDA alone and forks usable", async () => {
    const started = await startZygote({
      python: fakePython({ ready: true, importSeconds: 4.2, cudaInitialized: false, forkPoisoned: false }),
    });
    expect(started.ok).toBe(true);
    if (started.ok) {
      expect(started.zygote.importSeconds).toBe(4.2);
      started.zygote.stop();
    }
  });

  it("refuses a zygote whose imports started CUDA, naming the module that did", async () => {
    const started = await startZygote({
      python: fakePython({ ready: true, cudaInitialized: true, cudaInitializedBy: "some_lib.probe" }),
    });
    expect(started).toEqual({
      ok: false,
      reason: "CUDA was initialized by the imports (in some_lib.probe); a fork would share it",
    });
  });

  it("refuses a zygote whose forks could not use CUDA", async () => {
    const started = await startZygote({
      python: fakePython({ ready: true, cudaInitialized: false, forkPoisoned: true }),
    });
    expect(started.ok).toBe(false);
    if (!started.ok) expect(started.reason).toMatch(/started the CUDA driver/);
  });
});
