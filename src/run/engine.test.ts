import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { alive } from "../../test/process.js";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { startEngine, type EngineOutcome } from "./engine.js";
import { PROTOCOL_VERSION, type EngineEvent, type RunSpec } from "../protocol/index.js";
import { classifyOutcome } from "./outcome.js";

// Fakes at the process boundary: small shell scripts stand in for the Python engine, so the
// orchestrator's handling of protocol violations, crashes and cancellation is tested without torch.
const dir = mkdtempSync(join(tmpdir(), "loraprof-engine-"));
function fakeEngine(name: string, body: string): string {
  const p = join(dir, name);
  writeFileSync(p, `#!/usr/bin/env bash\n${body}\n`);
  chmodSync(p, 0o755);
  return p;
}

const spec = { protocolVersion: PROTOCOL_VERSION, runId: "t" } as unknown as RunSpec;

async function runFake(python: string, signal?: AbortSignal) {
  const events: EngineEvent[] = [];
  const handle = startEngine({
    spec,
    python,
    runDir: join(dir, `run-${Math.random()}`),
    onEvent: (e) => events.push(e),
    ...(signal ? { signal } : {}),
  });
  return { events, outcome: await handle.done, handle };
}

const hello = JSON.stringify({
  type: "hello",
  protocolVersion: PROTOCOL_VERSION,
  engineVersion: "0",
  pid: 1,
  python: "3.11",
  platform: "linux",
  libraries: { torch: "2" },
  device: {
    kind: "cpu",
    index: null,
    name: "cpu",
    totalMemoryBytes: null,
    capability: null,
    driver: null,
    bf16Supported: false,
    cpuThreads: 2,
  },
  startupSeconds: { imports: 3.1, device: 0.4 },
});

describe("engine process", () => {
  it("passes valid events from fd 3 to the handler", async () => {
    const py = fakeEngine("ok.sh", `echo '${hello}' >&3; echo 'library noise on stdout'; exit 0`);
    const { events, outcome } = await runFake(py);
    expect(events.map((e) => e.type)).toEqual(["hello"]);
    expect(outcome.exitCode).toBe(0);
    expect(outcome.protocolError).toBeNull();
  });

  it("fails the run on an event line that is not valid and quotes the line", async () => {
    const py = fakeEngine("bad.sh", `echo '{"type":"step","step":"one"}' >&3; sleep 5`);
    const { outcome } = await runFake(py);
    expect(outcome.protocolError?.line).toContain('"step":"one"');
    const { status, error } = classifyOutcome(outcome, null, null);
    expect(status).toBe("failed");
    expect(error?.kind).toBe("protocol");
    expect(error?.message).toContain('{"type":"step","step":"one"}');
  });

  it("reports a crash with the tail of the engine's stderr", async () => {
    const py = fakeEngine("crash.sh", `echo 'Traceback: boom happened' >&2; exit 7`);
    const { outcome } = await runFake(py);
    const { status, error } = classifyOutcome(outcome, null, null);
    expect(status).toBe("failed");
    expect(error?.kind).toBe("crash");
    expect(error?.message).toContain("code 7");
    expect(error?.stderrTail).toContain("boom happened");
  });

  it("classifies a native out-of-memory seen only on stderr as oom", async () => {
    const py = fakeEngine(
      "native-oom.sh",
      `echo 'Error out of memory at line 401 in file pythonInterface.cpp' >&2; exit 1`,
    );
    const { outcome } = await runFake(py);
    const { status, error } = classifyOutcome(outcome, null, null);
    expect(status).toBe("oom");
    expect(error?.stderrTail).toContain("line 401");
  });

  it("kills the engine's whole process group on cancel", async () => {
    const pidFile = join(dir, "child.pid");
    // The fake engine starts a grandchild that would outlive a plain kill of its parent.
    const py = fakeEngine("slow.sh", `sleep 300 & echo $! > ${pidFile}; wait`);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 500);
    const { outcome } = await runFake(py, controller.signal);
    expect(outcome.cancelled).toBe(true);
    const grandchild = Number(readFileSync(pidFile, "utf8"));
    await new Promise((r) => setTimeout(r, 200));
    expect(alive(grandchild)).toBe(false);
    expect(classifyOutcome(outcome, null, null).status).toBe("cancelled");
  });

  it("classifies an engine oom error event as status oom with the memory at failure", () => {
    const outcome: EngineOutcome = {
      exitCode: 3,
      signal: null,
      cancelled: false,
      protocolError: null,
      stderrTail: "",
    };
    const res = classifyOutcome(outcome, null, {
      type: "error",
      kind: "oom",
      message: "CUDA out of memory",
      hint: null,
      stage: "train",
      step: 3,
      memory: {
        allocatedBytes: 1,
        reservedBytes: 2,
        peakAllocatedBytes: 3,
        peakReservedBytes: 4,
        deviceUsedBytes: 5,
        deviceTotalBytes: 6,
        budgetBytes: null,
      },
      traceback: null,
    });
    expect(res.status).toBe("oom");
    expect(res.error?.memory?.["peakAllocatedBytes"]).toBe(3);
    expect(res.error?.hint).toMatch(/batch-size/);
  });
});

describe("missing figures", () => {
  it("carry one reason each: the telemetry stage's, where it supplies the headline", async () => {
    const { liftHeadlines } = await import("../store/metrics.js");
    const m = liftHeadlines({
      energyJoules: null,
      joulesPerRealToken: null,
      nullReasons: { energyJoules: "disabled (telemetry.energy is false)" },
      warnings: [],
      telemetry: {
        energyJoules: { value: null, reason: "the run used the CPU" },
        joulesPerRealToken: { value: null, reason: "the run used the CPU" },
      },
    });
    expect(m.nullReasons["energyJoules"]).toBe("the run used the CPU");
  });
});
