import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { cli, json, makeEnv } from "./helpers.js";

const dir = mkdtempSync(join(tmpdir(), "loraprof-bad-"));

describe("bad input gets a clear error and runs nothing", () => {
  const { env } = makeEnv();

  it("reports all three mistakes of a config file and exits 2", () => {
    const cfg = join(dir, "run.yaml");
    writeFileSync(cfg, "model: tiny-qwen2\nbatchSize: 0\noptimizer:\n  name: sgd\nlearningrate: 0.001\n");
    const r = cli(["run", "--config", cfg, "--device", "cpu"], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("3 problems");
    expect(r.stderr).toContain("batchSize");
    expect(r.stderr).toContain("optimizer.name");
    expect(r.stderr).toContain("learningrate");
    expect(json<unknown[]>(cli(["runs", "list", "--json"], env))).toEqual([]);
  });

  it("names the file, record and field of a broken dataset record", () => {
    const data = join(dir, "broken.jsonl");
    writeFileSync(
      data,
      [
        JSON.stringify({ instruction: "Say hi", input: "", output: "hi" }),
        JSON.stringify({ instruction: "Count", input: "" }),
        JSON.stringify({ instruction: "Name a colour", input: "", output: "red" }),
      ].join("\n") + "\n",
    );
    const r = cli(["run", "--dataset", data, "--steps", "2", "--warmup-steps", "0", "--device", "cpu"], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("broken.jsonl");
    expect(r.stderr).toMatch(/record 1|line 2/);
    expect(r.stderr).toContain("output");
  });

  it("names the flag of a value that is not a number", () => {
    const r = cli(["run", "--batch-size", "four", "--device", "cpu"], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--batch-size");
  });

  it("points to setup when the engine's Python is missing", () => {
    const r = cli(["run", "--steps", "2", "--warmup-steps", "0", "--device", "cpu"], {
      ...env,
      LORAPROF_PYTHON: "/nonexistent/python3",
    });
    expect(r.code).not.toBe(0);
    expect(r.stderr + r.stdout).toMatch(/setup|doctor/);
  });
});
