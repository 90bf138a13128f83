/**
 * GPU tier: the real CLI and engine on a CUDA GPU with bitsandbytes (synthetic Qwen2.5-1.5B weights).
 *
 * Written for Node's built-in test runner so that it runs on a GPU host that has only a Node binary
 * and the bundled CLI (no node_modules): `npm run test:gpu` here, or on such a host
 *   LORAPROF_CLI=/tmp/carry/cli/loraprof.mjs LORAPROF_TEST_DATASET=PATH node --test test/gpu/
 * Every test skips itself where nvidia-smi finds no GPU. The engine's Python is LORAPROF_PYTHON or the
 * one `loraprof setup` recorded (LORAPROF_HOME's engine.json); runs go to a temporary store.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const cliPath = resolve(process.env.LORAPROF_CLI ?? join(root, "bin/loraprof.js"));
const dataset = resolve(
  process.env.LORAPROF_TEST_DATASET ?? join(root, "../shared/data/alpaca/alpaca_random_9k.json"),
);

function hasGpu() {
  try {
    return execFileSync("nvidia-smi", ["-L"], { encoding: "utf8" }).includes("GPU");
  } catch {
    return false;
  }
}

function enginePython() {
  if (process.env.LORAPROF_PYTHON) return process.env.LORAPROF_PYTHON;
  const state = join(resolve(process.env.LORAPROF_HOME ?? join(root, ".loraprof")), "engine.json");
  if (!existsSync(state)) throw new Error("no engine environment: run `loraprof setup` first");
  return JSON.parse(readFileSync(state, "utf8")).python;
}

function run(env, args) {
  const r = spawnSync(process.execPath, [cliPath, "run", ...args, "--json", "--quiet"], {
    env,
    encoding: "utf8",
    maxBuffer: 64 << 20,
  });
  try {
    return JSON.parse(r.stdout);
  } catch {
    throw new Error(`not JSON (exit ${r.status}):\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  }
}

const base = ["--weights", "random", "--dataset", dataset, "--steps", "12", "--warmup-steps", "2"];
const gpu = hasGpu();

describe("loraprof run on a GPU", { skip: gpu ? false : "no GPU (nvidia-smi finds none)" }, () => {
  const env = gpu
    ? {
        ...process.env,
        LORAPROF_HOME: mkdtempSync(join(tmpdir(), "loraprof-gpu-")),
        LORAPROF_PYTHON: enginePython(),
        NO_COLOR: "1",
      }
    : {};

  it("runs the study's run 1 with QLoRA and measures memory, energy and MFU", () => {
    const out = run(env, ["--preset", "paper-run1", ...base]);
    assert.equal(out.status, "completed", JSON.stringify(out.error));
    const m = out.metrics;
    assert.equal(m.measuredSteps, 10);
    assert.ok(m.realTokens > 0 && m.realTokens < m.processedTokens, "max_length padding: real < processed");
    assert.ok(m.peakAllocatedBytes > 0 && m.peakReservedBytes >= m.peakAllocatedBytes);
    assert.ok(m.peakProcessBytes >= m.peakReservedBytes, "NVML's process figure includes the context");
    assert.ok(m.peakDeviceBytes >= m.peakProcessBytes);
    assert.ok(m.energyJoules > 0 && m.joulesPerRealToken > 0);
    assert.ok(m.mfu > 0 && m.hfu > m.mfu, "checkpointing's recompute counts in HFU only");
    assert.equal(m.telemetry.energyCrossCheck.flagged, false);
    assert.ok(Math.abs(m.telemetry.energyCrossCheck.relativeDifference) < 0.1);
    assert.ok(m.lossLast < m.lossFirst);
  });

  it("records an out-of-memory as a result, and the next run still succeeds", () => {
    const oom = run(env, [
      "--preset",
      "paper-run2",
      "--vram-budget",
      "2GiB",
      "--no-grad-checkpointing",
      ...base,
    ]);
    assert.equal(oom.status, "oom");
    assert.equal(oom.error.kind, "oom");
    assert.ok(oom.error.memory, "the memory figures at failure are recorded");
    const next = run(env, ["--preset", "paper-run1", ...base]);
    assert.equal(next.status, "completed", JSON.stringify(next.error));
  });
});
