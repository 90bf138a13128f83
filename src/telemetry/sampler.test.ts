import { EventEmitter } from "node:events";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { emptyReadings, parseSmiTimestamp, type TelemetrySample } from "./parse.js";
import {
  startSampler,
  tagSamples,
  type RunningSampler,
  type SamplerChild,
  type SpawnImpl,
} from "./sampler.js";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const FIXTURE = path.resolve(repoRoot, "../shared/fixtures/nvidia-smi/h200-lora-training-100ms.csv");

/** The recorded log as cells: timestamp, power.draw, power.draw.instant, power.draw.average, memory.used, utilization.gpu. */
const FIXTURE_COLUMNS = [
  "timestamp",
  "power.draw",
  "power.draw.instant",
  "power.draw.average",
  "memory.used",
  "utilization.gpu",
];
const fixtureRows: string[][] = readFileSync(FIXTURE, "utf8")
  .split("\n")
  .slice(1)
  .filter((l) => l.trim() !== "")
  .map((l) => l.split(",").map((c) => c.trim()));
const rowTime = (row: string[]) => parseSmiTimestamp(row[0] as string) as number;
const tick = () => new Promise<void>((r) => setImmediate(r));
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

class FakeChild extends EventEmitter implements SamplerChild {
  readonly stdout = new EventEmitter();
  readonly stderr = new EventEmitter();
  closed = false;
  kill(signal: NodeJS.Signals = "SIGTERM"): boolean {
    if (this.closed) return false;
    setImmediate(() => this.close(null, signal));
    return true;
  }
  close(code: number | null, signal: NodeJS.Signals | null = null): void {
    if (this.closed) return;
    this.closed = true;
    this.emit("close", code, signal);
  }
}

/** nvidia-smi's answer to a query of `fields` for one fixture row, as `nounits` prints it (index 0). */
function rowLine(row: string[], fields: string[]): string {
  return fields
    .map((f) =>
      f === "index" ? "0" : (row[FIXTURE_COLUMNS.indexOf(f)] as string).replace(/\s*(W|MiB|%)$/, ""),
    )
    .join(", ");
}

/**
 * A fake nvidia-smi that knows only the fields the fixture recorded (plus index), refusing any other
 * the way a real driver refuses a field it does not know. One-shot queries print the first row;
 * streaming ones (`-lms`) are handed to `stream`.
 */
function fakeSmi(stream: (child: FakeChild, fields: string[], n: number) => void) {
  const known = new Set(["index", ...FIXTURE_COLUMNS]);
  const calls: string[][] = [];
  let streams = 0;
  const spawnImpl: SpawnImpl = (_command, args) => {
    calls.push([...args]);
    const child = new FakeChild();
    const fields = (args.find((a) => a.startsWith("--query-gpu=")) as string)
      .slice("--query-gpu=".length)
      .split(",");
    const unknown = fields.find((f) => !known.has(f));
    setImmediate(() => {
      if (unknown) {
        child.stdout.emit("data", Buffer.from(`Field "${unknown}" is not a valid field to query.\n\n`));
        child.close(2);
      } else if (!args.includes("-lms")) {
        child.stdout.emit("data", Buffer.from(`${rowLine(fixtureRows[0] as string[], fields)}\n`));
        child.close(0);
      } else stream(child, fields, streams++);
    });
    return child;
  };
  return { spawnImpl, calls, streamCount: () => streams };
}

describe("startSampler", () => {
  it("replays the recorded log through chunks cut mid-line and a process that dies once", async () => {
    const clock = { ms: 0 };
    const lost = { from: 200, resume: 210 };
    let streamDone!: () => void;
    const done = new Promise<void>((r) => (streamDone = r));

    // Write rows as nvidia-smi would, cut into 37-byte chunks (shorter than a line, so each chunk
    // ends at most one line); the clock reads the row's own time + 3 ms when its newline arrives.
    const emitRows = async (child: FakeChild, fields: string[], rows: string[][], cutAfter?: number) => {
      let text = rows.map((r) => `${rowLine(r, fields)}\n`).join("");
      if (cutAfter !== undefined) text = text.slice(0, cutAfter);
      let rowIndex = 0;
      for (let i = 0; i < text.length; i += 37) {
        const chunk = text.slice(i, i + 37);
        if (chunk.includes("\n")) clock.ms = rowTime(rows[rowIndex++] as string[]) + 3;
        child.stdout.emit("data", Buffer.from(chunk));
        await tick();
      }
    };
    const smi = fakeSmi((child, fields, n) => {
      void (async () => {
        if (n === 0) {
          const rows = fixtureRows.slice(0, lost.from + 1);
          const whole = fixtureRows
            .slice(0, lost.from)
            .reduce((s, r) => s + rowLine(r, fields).length + 1, 0);
          await emitRows(child, fields, rows, whole + 20); // the last row is cut 20 bytes in
          child.stderr.emit(
            "data",
            "Unable to determine the device handle for GPU0000:18:00.0: Unknown Error\n",
          );
          child.close(1);
        } else {
          await emitRows(child, fields, fixtureRows.slice(lost.resume));
          streamDone();
        }
      })();
    });

    let seen = 0;
    const sampler = (await startSampler({
      gpuIndices: [0],
      spawnImpl: smi.spawnImpl,
      now: () => clock.ms,
      restartBackoffMs: 1,
      onSample: () => {
        seen++;
        if (seen === 1) throw new Error("a display callback failing");
      },
    })) as RunningSampler;
    expect(sampler.available).toBe(true);
    await done;
    const { samples, health } = await sampler.stop();

    const expected = [...fixtureRows.slice(0, lost.from), ...fixtureRows.slice(lost.resume)];
    expect(samples).toHaveLength(expected.length);
    expect(seen).toBe(expected.length);
    samples.forEach((s, i) => {
      const row = expected[i] as string[];
      expect(s.tMs).toBe(rowTime(row) + 3);
      expect(s.gpuIndex).toBe(0);
      expect(s.powerWatts).toBe(parseFloat(row[1] as string));
      expect(s.powerInstantWatts).toBe(parseFloat(row[2] as string));
      expect(s.memoryUsedBytes).toBe(parseFloat(row[4] as string) * 1024 ** 2);
      expect(s.utilizationGpuPercent).toBe(parseFloat(row[5] as string));
    });

    expect(health.restarts).toBe(1);
    expect(health.gaveUp).toBe(false);
    expect(health.gaps).toEqual([
      {
        fromMs: rowTime(fixtureRows[lost.from - 1] as string[]) + 3,
        toMs: rowTime(fixtureRows[lost.resume] as string[]) + 3,
        reason: expect.stringMatching(/exit code 1.*Unable to determine the device handle/),
      },
    ]);
    expect(health.parseErrors).toBe(1);
    expect(health.parseErrorExamples[0]?.message).toBe("partial line at process exit");
    expect(health.receiptLagMs).toEqual({ min: 3, median: 3, p99: 3, max: 3, spread: 0 });
    // The probe dropped, one by one, each field this (fake) driver refused.
    expect(health.droppedFields.map((d) => d.field)).toEqual([
      "memory.total",
      "utilization.memory",
      "clocks.sm",
      "clocks.mem",
      "temperature.gpu",
      "pstate",
    ]);
    expect(health.fields).toEqual([
      "timestamp",
      "index",
      "power.draw",
      "power.draw.instant",
      "memory.used",
      "utilization.gpu",
    ]);
    const streamCalls = smi.calls.filter((a) => a.includes("-lms"));
    expect(streamCalls).toHaveLength(2);
    expect(streamCalls[0]).toEqual([
      "--query-gpu=timestamp,index,power.draw,power.draw.instant,memory.used,utilization.gpu",
      "--format=csv,noheader,nounits",
      "-lms",
      "100",
      "-i",
      "0",
    ]);
  });

  it("gives up after its restart budget and leaves the gap open until stop", async () => {
    const clock = { ms: 1000 };
    const smi = fakeSmi((child) => {
      child.stdout.emit(
        "data",
        "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\n",
      );
      child.close(9);
    });
    const sampler = (await startSampler({
      gpuIndices: [0],
      spawnImpl: smi.spawnImpl,
      now: () => clock.ms,
      maxRestarts: 2,
      restartBackoffMs: 1,
    })) as RunningSampler;
    for (let i = 0; i < 200 && smi.streamCount() < 3; i++) await sleep(2);
    await sleep(20);
    clock.ms = 5000;
    const { samples, health } = await sampler.stop();
    expect(smi.streamCount()).toBe(3);
    expect(samples).toEqual([]);
    expect(health.restarts).toBe(2);
    expect(health.gaveUp).toBe(true);
    expect(health.gaps).toHaveLength(1);
    expect(health.gaps[0]).toMatchObject({ fromMs: 1000, toMs: 5000 });
    // The line nvidia-smi printed instead of readings is a parse error, not a sample.
    expect(health.parseErrorExamples[0]?.text).toMatch(/NVIDIA-SMI has failed/);
  });

  it("kills and restarts an nvidia-smi that stops writing", async () => {
    const clock = { ms: 0 };
    const smi = fakeSmi((child, fields, n) => {
      // The first process writes three rows and then hangs; the second writes on.
      const rows = n === 0 ? fixtureRows.slice(0, 3) : fixtureRows.slice(10, 13);
      for (const r of rows) {
        clock.ms = rowTime(r);
        child.stdout.emit("data", `${rowLine(r, fields)}\n`);
      }
    });
    const sampler = (await startSampler({
      gpuIndices: [0],
      spawnImpl: smi.spawnImpl,
      now: () => clock.ms,
      stallMs: 40,
      restartBackoffMs: 1,
    })) as RunningSampler;
    for (let i = 0; i < 300 && sampler.samples().length < 6; i++) await sleep(2);
    const { samples, health } = await sampler.stop();
    expect(samples).toHaveLength(6);
    expect(health.restarts).toBe(1);
    expect(health.gaps).toEqual([
      {
        fromMs: rowTime(fixtureRows[2] as string[]),
        toMs: rowTime(fixtureRows[10] as string[]),
        reason: "nvidia-smi wrote nothing for 40 ms and was killed",
      },
    ]);
  });

  it("returns the same result when stopped twice", async () => {
    const smi = fakeSmi(() => {});
    const sampler = (await startSampler({ gpuIndices: [0], spawnImpl: smi.spawnImpl })) as RunningSampler;
    const a = await sampler.stop();
    const b = await sampler.stop();
    expect(b).toBe(a);
  });

  it("is unavailable, without throwing, when nvidia-smi is not installed", async () => {
    const r = await startSampler({
      gpuIndices: [0],
      command: path.join(os.tmpdir(), "no-such-nvidia-smi-7f3a"),
    });
    expect(r).toEqual({ available: false, reason: expect.stringMatching(/not found on PATH/) });
  });

  it("is unavailable for a run on the CPU", async () => {
    expect(await startSampler({ gpuIndices: [] })).toEqual({
      available: false,
      reason: "the run uses no GPU",
    });
  });

  it("is unavailable with nvidia-smi's own words when the driver cannot be reached", async () => {
    const spawnImpl: SpawnImpl = () => {
      const child = new FakeChild();
      setImmediate(() => {
        child.stdout.emit(
          "data",
          "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running.\n",
        );
        child.close(9);
      });
      return child;
    };
    const r = await startSampler({ gpuIndices: [0], spawnImpl });
    expect(r).toEqual({
      available: false,
      reason: expect.stringMatching(/exit code 9\): NVIDIA-SMI has failed because it couldn't communicate/),
    });
  });

  it("is unavailable when the probe hangs", async () => {
    const r = await startSampler({ gpuIndices: [0], spawnImpl: () => new FakeChild(), probeTimeoutMs: 30 });
    expect(r).toEqual({ available: false, reason: expect.stringMatching(/did not answer within 30 ms/) });
  });

  it("falls back to the fields every driver knows when the refusal names no field", async () => {
    const reduced = ["timestamp", "index", "power.draw", "memory.used", "memory.total", "utilization.gpu"];
    const spawnImpl: SpawnImpl = (_c, args) => {
      const child = new FakeChild();
      const fields = (args[0] as string).slice("--query-gpu=".length).split(",");
      setImmediate(() => {
        if (fields.some((f) => !reduced.includes(f))) {
          child.stderr.emit(
            "data",
            "Invalid combination of input arguments. Please run 'nvidia-smi -h' for help.\n",
          );
          child.close(2);
        } else {
          child.stdout.emit("data", "2025/11/03 12:00:01.100, 0, 80.00, 4, 81559, 0\n");
          child.close(0);
        }
      });
      return child;
    };
    const r = await startSampler({ gpuIndices: [0], spawnImpl });
    expect(r.available).toBe(true);
    const s = r as RunningSampler;
    expect(s.fields).toEqual(reduced);
    expect(s.droppedFields.map((d) => d.field)).toEqual([
      "power.draw.instant",
      "utilization.memory",
      "clocks.sm",
      "clocks.mem",
      "temperature.gpu",
      "pstate",
    ]);
    await s.stop();
  });

  describe("with a real process", () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "loraprof-fake-smi-"));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it("streams from a long-lived child and stops it", async () => {
      const script = path.join(dir, "nvidia-smi");
      const row = "2025/11/03 12:00:01.100, 0, 100.00, 101.00, 10, 20, 30, 40, 1000, 2000, 50, P0";
      writeFileSync(
        script,
        `#!/bin/sh\ncase "$*" in\n  *-lms*) while true; do echo "${row}"; sleep 0.02; done ;;\n  *) echo "${row}" ;;\nesac\n`,
      );
      chmodSync(script, 0o755);
      const sampler = (await startSampler({ gpuIndices: [0], command: script })) as RunningSampler;
      expect(sampler.available).toBe(true);
      await sleep(300);
      const { samples, health } = await sampler.stop();
      expect(samples.length).toBeGreaterThanOrEqual(3);
      expect(health.restarts).toBe(0);
      expect(health.parseErrors).toBe(0);
      expect(samples[0]).toMatchObject({ gpuIndex: 0, powerWatts: 100, smClockHz: 1e9, pstate: "P0" });
      for (let i = 1; i < samples.length; i++) {
        expect((samples[i] as TelemetrySample).tMs).toBeGreaterThanOrEqual(
          (samples[i - 1] as TelemetrySample).tMs,
        );
      }
      const n = samples.length;
      await sleep(100);
      expect(sampler.samples()).toHaveLength(n);
    });
  });
});

describe("tagSamples", () => {
  const at = (tMs: number): TelemetrySample => ({ ...emptyReadings(0), tMs, powerWatts: 100 });
  const samples = [0, 100, 200, 300, 400, 500, 600].map(at);

  it("tags idle before the engine, warmup before the window, measure inside it and idle after", () => {
    const windows = [
      { state: "start" as const, unixMs: 300 },
      { state: "end" as const, unixMs: 500 },
    ];
    expect(tagSamples(samples, windows, { warmupStartMs: 150 }).map((s) => s.phase)).toEqual([
      "idle",
      "idle",
      "warmup",
      "measure",
      "measure",
      "measure",
      "idle",
    ]);
  });

  it("tags everything before the window warmup when the engine's start time is unknown", () => {
    const windows = [
      { state: "start" as const, unixMs: 300 },
      { state: "end" as const, unixMs: 500 },
    ];
    expect(
      tagSamples(samples, windows)
        .slice(0, 3)
        .map((s) => s.phase),
    ).toEqual(["warmup", "warmup", "warmup"]);
  });

  it("keeps a window with no end open, as after a crash", () => {
    const tags = tagSamples(samples, [{ state: "start", unixMs: 450 }], { warmupStartMs: 0 }).map(
      (s) => s.phase,
    );
    expect(tags).toEqual(["warmup", "warmup", "warmup", "warmup", "warmup", "measure", "measure"]);
  });
});
