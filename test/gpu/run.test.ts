/**
 * GPU tier: the real CLI and engine on a CUDA GPU with bitsandbytes (synthetic Qwen2.5-1.5B weights).
 * Skipped where nvidia-smi finds no GPU; run with `npm run test:gpu` on a GPU machine.
 */
import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { alpacaPath, cli, json, makeEnv } from "../integration/helpers.js";

function hasGpu(): boolean {
  try {
    return execFileSync("nvidia-smi", ["-L"], { encoding: "utf8" }).includes("GPU");
  } catch {
    return false;
  }
}

interface RunJson {
  id: string;
  status: string;
  metrics: Record<string, unknown> | null;
  error?: { kind: string; memory?: Record<string, number | null> };
}

describe.skipIf(!hasGpu())("loraprof run on a GPU", () => {
  const { env } = makeEnv();
  const base = [
    "--weights",
    "random",
    "--dataset",
    alpacaPath,
    "--steps",
    "12",
    "--warmup-steps",
    "2",
    "--json",
    "--quiet",
  ];

  it("runs the study's run 1 with QLoRA and measures memory, energy and MFU", () => {
    const out = json<RunJson>(cli(["run", "--preset", "paper-run1", ...base], env));
    expect(out.status).toBe("completed");
    const m = out.metrics!;
    expect(m["peakAllocatedBytes"]).toBeGreaterThan(0);
    expect(m["peakDeviceBytes"]).toBeGreaterThanOrEqual(m["peakReservedBytes"] as number);
    expect(m["energyJoules"]).toBeGreaterThan(0);
    expect(m["mfu"]).toBeGreaterThan(0);
    const telemetry = m["telemetry"] as { energyCrossCheck: { flagged: boolean } };
    expect(telemetry.energyCrossCheck.flagged).toBe(false);
  });

  it("records an out-of-memory as a result, and the next run still succeeds", () => {
    const oom = json<RunJson>(
      cli(
        ["run", "--preset", "paper-run2", "--vram-budget", "2GiB", "--no-grad-checkpointing", ...base],
        env,
      ),
    );
    expect(oom.status).toBe("oom");
    expect(oom.error?.kind).toBe("oom");
    const next = json<RunJson>(cli(["run", "--preset", "paper-run1", ...base], env));
    expect(next.status).toBe("completed");
  });
});
