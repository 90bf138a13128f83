/**
 * The live telemetry sampler: ONE long-lived `nvidia-smi --query-gpu=… -lms N` per run, for the GPUs
 * the run uses, read line by line as it streams. One process rather than one per sample because
 * starting nvidia-smi costs tens of milliseconds of CPU and an NVML init each time, which would both
 * perturb the run and cap the rate well below 10 Hz.
 *
 * Times are the host clock (`Date.now()`) at the moment a line is received, not nvidia-smi's
 * `timestamp` column: the engine's window boundaries are host epoch milliseconds, and the column is
 * local wall time with no zone (ambiguous across a DST change, off by the zone if the two processes
 * disagree on TZ) and only to the millisecond of when nvidia-smi began its query round. Receipt time
 * lags that by the round's duration plus the pipe: nvidia-smi flushes each round, and on an H200
 * (driver 580) receipt minus column time was 0 ms median, 6 ms p99, 29–80 ms at worst. The health
 * record keeps those figures so that a buffered pipe, which would deliver readings in bursts, shows
 * up instead of silently smearing the window edges. The streaming process cost 0.12% of one core.
 *
 * nvidia-smi rejects a whole query when one field is unknown to its driver (`Field "x" is not a valid
 * field to query.`, non-zero exit): `power.draw.instant` arrived with the R530 drivers. So a one-shot
 * probe runs first, drops each field the driver names as invalid, and falls back to a reduced list if
 * the driver says something else. No nvidia-smi, no driver, no GPU: `{ available: false, reason }`,
 * never a throw: a run without telemetry is still a run.
 */
import { spawn } from "node:child_process";
import { StringDecoder } from "node:string_decoder";
import type { z } from "zod";
import type { WindowEventSchema } from "../protocol/index.js";
import { RowParser, SAMPLER_FIELDS, layoutFromFields, type TelemetrySample } from "./parse.js";

/** The part of a child process the sampler uses (node's ChildProcess satisfies it; tests fake it). */
export interface SamplerChild {
  readonly stdout: { on(event: "data", listener: (chunk: Buffer | string) => void): unknown } | null;
  readonly stderr: { on(event: "data", listener: (chunk: Buffer | string) => void): unknown } | null;
  on(event: "error", listener: (err: Error) => void): unknown;
  on(event: "close", listener: (code: number | null, signal: NodeJS.Signals | null) => void): unknown;
  kill(signal?: NodeJS.Signals): boolean;
}

export type SpawnImpl = (command: string, args: readonly string[]) => SamplerChild;

const defaultSpawn: SpawnImpl = (command, args) =>
  spawn(command, [...args], { stdio: ["ignore", "pipe", "pipe"], windowsHide: true });

export interface SamplerOptions {
  /** nvidia-smi GPU indices to sample (`-i`). Empty: nothing to sample, the sampler is unavailable. */
  gpuIndices: number[];
  /** Sampling period for `-lms`; default 100. */
  intervalMs?: number;
  spawnImpl?: SpawnImpl;
  /** Called for each sample as it arrives (live displays). Exceptions it throws are ignored. */
  onSample?: (sample: TelemetrySample) => void;
  /** Host clock in epoch ms; default Date.now. */
  now?: () => number;
  /** Executable; default `nvidia-smi` from PATH. */
  command?: string;
  /** Restarts allowed over the sampler's life after nvidia-smi dies; default 5. */
  maxRestarts?: number;
  /** First restart delay, doubled for each consecutive death without a sample; default 250 ms. */
  restartBackoffMs?: number;
  /** Upper bound on a restart delay; default 5000 ms. */
  maxBackoffMs?: number;
  /** How long the probe may take before nvidia-smi is declared hung; default 15000 ms. */
  probeTimeoutMs?: number;
  /**
   * A streaming nvidia-smi silent this long (wall time) is killed and restarted like one that died:
   * a wedged driver call otherwise leaves a live process and no samples. Default max(5000, 20 × intervalMs).
   */
  stallMs?: number;
}

/** A stretch with no samples because nvidia-smi was not running. */
export interface SamplerGap {
  /** Last sample before the death (or the death itself when there was none). */
  fromMs: number;
  /** First sample after the restart, or the stop time when none came. */
  toMs: number;
  reason: string;
}

export interface SamplerHealth {
  command: string;
  args: string[];
  /** The fields sampled, after the probe dropped those the driver does not know. */
  fields: string[];
  droppedFields: { field: string; reason: string }[];
  intervalMs: number;
  startedMs: number;
  stoppedMs: number;
  sampleCount: number;
  restarts: number;
  /** True when nvidia-smi kept dying and the restart budget ran out. */
  gaveUp: boolean;
  gaps: SamplerGap[];
  parseErrors: number;
  /** The first few rejected lines, for diagnosis. */
  parseErrorExamples: { text: string; message: string }[];
  /**
   * Receipt time minus nvidia-smi's own timestamp, over all samples (null without that column). Only
   * the spread (max − min) is meaningful, as the column is local time: a spread far above the pipe's
   * jitter means lines arrived in bursts and the window edges are blurred by that much.
   */
  receiptLagMs: { min: number; median: number; p99: number; max: number; spread: number } | null;
  /** The last bytes nvidia-smi wrote to stderr. */
  stderrTail: string;
}

export interface SamplerResult {
  samples: TelemetrySample[];
  health: SamplerHealth;
}

export interface RunningSampler {
  available: true;
  fields: string[];
  droppedFields: { field: string; reason: string }[];
  /** Samples received so far (a live view; do not mutate). */
  samples(): readonly TelemetrySample[];
  /** Stops nvidia-smi and returns everything sampled, with the health record. Safe to call twice. */
  stop(): Promise<SamplerResult>;
}

export interface SamplerUnavailable {
  available: false;
  reason: string;
}

/** Fields every driver with `--query-gpu` knows; the fallback when the probe cannot name the culprit. */
const REDUCED_FIELDS = ["timestamp", "index", "power.draw", "memory.used", "memory.total", "utilization.gpu"];
const INVALID_FIELD = /Field "([^"]+)" is not a valid field to query/;

interface OnceResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  error: (Error & { code?: string }) | null;
  timedOut: boolean;
}

function runOnce(
  spawnImpl: SpawnImpl,
  command: string,
  args: string[],
  timeoutMs: number,
): Promise<OnceResult> {
  return new Promise((resolve) => {
    let stdout = "";
    let stderr = "";
    let done = false;
    let error: OnceResult["error"] = null;
    let timedOut = false;
    let child: SamplerChild;
    const finish = (code: number | null, signal: NodeJS.Signals | null) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, error, timedOut });
    };
    const timer = setTimeout(() => {
      timedOut = true;
      child?.kill("SIGKILL");
      finish(null, null);
    }, timeoutMs);
    try {
      child = spawnImpl(command, args);
    } catch (e) {
      error = e as OnceResult["error"];
      finish(null, null);
      return;
    }
    child.stdout?.on("data", (c) => (stdout += String(c)));
    child.stderr?.on("data", (c) => (stderr += String(c)));
    child.on("error", (e) => {
      error = e;
      // A process that could not be spawned emits no 'close' on every Node version.
      setTimeout(() => finish(null, null), 20);
    });
    child.on("close", (code, signal) => finish(code, signal));
  });
}

function firstLine(s: string): string {
  return (
    s
      .split(/\r?\n/)
      .map((l) => l.trim())
      .find((l) => l !== "") ?? ""
  );
}

type ProbeResult =
  | { ok: true; fields: string[]; dropped: { field: string; reason: string }[] }
  | { ok: false; reason: string };

/** One-shot queries until nvidia-smi accepts the field list (see the file's comment). */
async function probeFields(
  spawnImpl: SpawnImpl,
  command: string,
  ids: string,
  timeoutMs: number,
): Promise<ProbeResult> {
  let fields: string[] = [...SAMPLER_FIELDS];
  const dropped: { field: string; reason: string }[] = [];
  let triedReduced = false;
  for (let attempt = 0; attempt <= SAMPLER_FIELDS.length + 1; attempt++) {
    const args = [`--query-gpu=${fields.join(",")}`, "--format=csv,noheader,nounits", "-i", ids];
    const r = await runOnce(spawnImpl, command, args, timeoutMs);
    if (r.error) {
      return {
        ok: false,
        reason:
          r.error.code === "ENOENT"
            ? `${command} not found on PATH (no NVIDIA driver installed?)`
            : `${command} could not be started: ${r.error.message}`,
      };
    }
    if (r.timedOut)
      return { ok: false, reason: `${command} did not answer within ${timeoutMs} ms (driver hung?)` };
    const output = `${r.stdout}\n${r.stderr}`;
    if (r.code === 0) {
      const parser = new RowParser(layoutFromFields(fields));
      const lines = r.stdout.split(/\r?\n/).filter((l) => l.trim() !== "");
      const bad = lines.map((l) => parser.parse(l)).find((x) => !x.ok);
      if (lines.length === 0) return { ok: false, reason: `${command} printed no reading for GPU(s) ${ids}` };
      if (bad && !bad.ok)
        return { ok: false, reason: `${command} printed an unreadable line: ${bad.message}` };
      return { ok: true, fields, dropped };
    }
    const invalid = INVALID_FIELD.exec(output)?.[1];
    if (invalid !== undefined && invalid !== "index" && fields.includes(invalid)) {
      fields = fields.filter((f) => f !== invalid);
      dropped.push({ field: invalid, reason: `this driver's nvidia-smi does not know "${invalid}"` });
      continue;
    }
    if (!triedReduced && fields.length > REDUCED_FIELDS.length) {
      // An older nvidia-smi may word its refusal differently: try the fields every driver knows.
      triedReduced = true;
      for (const f of fields) {
        if (!REDUCED_FIELDS.includes(f)) {
          dropped.push({
            field: f,
            reason: `dropped after nvidia-smi refused the full query: ${firstLine(output)}`,
          });
        }
      }
      fields = [...REDUCED_FIELDS];
      continue;
    }
    const how = r.code !== null ? `exit code ${r.code}` : `signal ${r.signal}`;
    return { ok: false, reason: `${command} failed (${how}): ${firstLine(output) || "no output"}` };
  }
  return { ok: false, reason: `${command} kept refusing the query` };
}

/**
 * Starts sampling. Resolves once the probe has settled the field list (or found no nvidia-smi); the
 * streaming process then runs until `stop()`.
 */
export async function startSampler(opts: SamplerOptions): Promise<RunningSampler | SamplerUnavailable> {
  try {
    return await start(opts);
  } catch (e) {
    return { available: false, reason: `telemetry sampler failed to start: ${(e as Error).message}` };
  }
}

async function start(opts: SamplerOptions): Promise<RunningSampler | SamplerUnavailable> {
  const intervalMs = opts.intervalMs ?? 100;
  const spawnImpl = opts.spawnImpl ?? defaultSpawn;
  const now = opts.now ?? Date.now;
  const command = opts.command ?? "nvidia-smi";
  const maxRestarts = opts.maxRestarts ?? 5;
  const backoffMs = opts.restartBackoffMs ?? 250;
  const maxBackoffMs = opts.maxBackoffMs ?? 5000;
  const stallMs = opts.stallMs ?? Math.max(5000, 20 * (opts.intervalMs ?? 100));
  if (opts.gpuIndices.length === 0) return { available: false, reason: "the run uses no GPU" };
  if (!(intervalMs >= 1) || !Number.isInteger(intervalMs)) {
    return { available: false, reason: `intervalMs must be a positive integer, got ${intervalMs}` };
  }
  const ids = opts.gpuIndices.join(",");
  const probe = await probeFields(spawnImpl, command, ids, opts.probeTimeoutMs ?? 15_000);
  if (!probe.ok) return { available: false, reason: probe.reason };

  const fields = probe.fields;
  const args = [
    `--query-gpu=${fields.join(",")}`,
    "--format=csv,noheader,nounits",
    "-lms",
    String(intervalMs),
    "-i",
    ids,
  ];
  const layout = layoutFromFields(fields);
  const startedMs = now();
  const samples: TelemetrySample[] = [];
  const parseErrorExamples: { text: string; message: string }[] = [];
  const gaps: SamplerGap[] = [];
  let parseErrors = 0;
  let restarts = 0;
  let consecutiveDeaths = 0;
  let gaveUp = false;
  let stopping = false;
  let stderrTail = "";
  const lags: number[] = [];
  let openGap: SamplerGap | null = null;
  let child: SamplerChild | null = null;
  let childClosed: Promise<void> = Promise.resolve();
  let restartTimer: NodeJS.Timeout | null = null;
  let result: Promise<SamplerResult> | null = null;

  const noteParseError = (text: string, message: string) => {
    parseErrors++;
    if (parseErrorExamples.length < 20) parseErrorExamples.push({ text: text.slice(0, 200), message });
  };

  const launch = () => {
    // A fresh parser per process: a restarted nvidia-smi owes nothing to the last one's unit style.
    const parser = new RowParser(layout);
    const decoder = new StringDecoder("utf8");
    let pending = "";
    let producedSample = false;
    let settled = false;
    let stalled = false;
    let procStderr = "";
    let lastOutputMs = performance.now();
    let watchdog: NodeJS.Timeout | null = null;
    let resolveClosed: () => void = () => {};
    childClosed = new Promise((r) => (resolveClosed = r));

    const onLine = (line: string, receivedMs: number) => {
      const text = line.trim();
      if (text === "") return;
      const r = parser.parse(text);
      if (!r.ok) return noteParseError(text, r.message);
      const sample: TelemetrySample = { tMs: receivedMs, ...r.row.readings };
      if (r.row.smiTimestampMs !== null) {
        lags.push(receivedMs - r.row.smiTimestampMs);
      }
      samples.push(sample);
      producedSample = true;
      consecutiveDeaths = 0;
      if (openGap) {
        openGap.toMs = receivedMs;
        openGap = null;
      }
      try {
        opts.onSample?.(sample);
      } catch {
        // A display callback must not be able to stop the measurement.
      }
    };

    const onExit = (why: string) => {
      if (settled) return;
      settled = true;
      if (watchdog) clearInterval(watchdog);
      const rest = (pending + decoder.end()).trim();
      pending = "";
      if (rest !== "") noteParseError(rest, "partial line at process exit");
      resolveClosed();
      child = null;
      if (stopping) return;
      const diedMs = now();
      if (!producedSample) consecutiveDeaths++;
      const last = samples.length > 0 ? (samples[samples.length - 1] as TelemetrySample).tMs : startedMs;
      if (!openGap) {
        openGap = { fromMs: Math.min(last, diedMs), toMs: diedMs, reason: why };
        gaps.push(openGap);
      } else {
        openGap.reason += `; then ${why}`;
      }
      if (restarts >= maxRestarts) {
        gaveUp = true;
        return;
      }
      const delay = Math.min(maxBackoffMs, backoffMs * 2 ** Math.max(0, consecutiveDeaths - 1));
      restartTimer = setTimeout(() => {
        restartTimer = null;
        if (stopping) return;
        restarts++;
        launch();
      }, delay);
    };

    let proc: SamplerChild;
    try {
      proc = spawnImpl(command, args);
    } catch (e) {
      // Deferred so that the caller's state is consistent before the restart logic runs.
      setTimeout(() => onExit(`could not start ${command}: ${(e as Error).message}`), 0);
      return;
    }
    child = proc;
    watchdog = setInterval(
      () => {
        if (settled || stopping || performance.now() - lastOutputMs <= stallMs) return;
        stalled = true;
        proc.kill("SIGKILL");
      },
      Math.max(10, stallMs / 4),
    );
    watchdog.unref?.();
    proc.stdout?.on("data", (chunk) => {
      const receivedMs = now();
      lastOutputMs = performance.now();
      pending += typeof chunk === "string" ? chunk : decoder.write(chunk);
      let nl: number;
      while ((nl = pending.indexOf("\n")) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        onLine(line, receivedMs);
      }
    });
    proc.stderr?.on("data", (chunk) => {
      stderrTail = (stderrTail + String(chunk)).slice(-2000);
      procStderr = (procStderr + String(chunk)).slice(-2000);
    });
    proc.on("error", (e) => {
      // Spawn failures may not be followed by 'close'; give it a moment, then treat it as the exit.
      setTimeout(() => onExit(`${command} error: ${e.message}`), 20);
    });
    proc.on("close", (code, signal) => {
      if (stalled) return onExit(`${command} wrote nothing for ${stallMs} ms and was killed`);
      const how = code !== null ? `exit code ${code}` : `signal ${signal}`;
      const said = firstLine(procStderr);
      onExit(`${command} exited (${how})${said ? `: ${said}` : ""}`);
    });
  };

  launch();

  const finish = async (): Promise<SamplerResult> => {
    stopping = true;
    if (restartTimer) clearTimeout(restartTimer);
    const running = child;
    if (running) {
      running.kill("SIGTERM");
      const killed = await Promise.race([childClosed.then(() => true), delay(2000).then(() => false)]);
      if (!killed) {
        running.kill("SIGKILL");
        await Promise.race([childClosed, delay(1000)]);
      }
    }
    const stoppedMs = now();
    const gap = openGap as SamplerGap | null;
    if (gap) gap.toMs = stoppedMs;
    return {
      samples,
      health: {
        command,
        args,
        fields,
        droppedFields: probe.dropped,
        intervalMs,
        startedMs,
        stoppedMs,
        sampleCount: samples.length,
        restarts,
        gaveUp,
        gaps,
        parseErrors,
        parseErrorExamples,
        receiptLagMs: lagStats(lags),
        stderrTail,
      },
    };
  };

  return {
    available: true,
    fields,
    droppedFields: probe.dropped,
    samples: () => samples,
    stop: () => (result ??= finish()),
  };
}

function lagStats(lags: number[]): SamplerHealth["receiptLagMs"] {
  if (lags.length === 0) return null;
  const v = [...lags].sort((a, b) => a - b);
  const at = (q: number) => v[Math.min(v.length - 1, Math.floor(q * v.length))] as number;
  const min = v[0] as number;
  const max = v[v.length - 1] as number;
  return { min, median: at(0.5), p99: at(0.99), max, spread: max - min };
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref?.());
}

export type Phase = "idle" | "warmup" | "measure";
export type TaggedSample = TelemetrySample & { phase: Phase };
type WindowEvent = z.infer<typeof WindowEventSchema>;

export interface TagOptions {
  /**
   * Host time at which the engine was started (the end of the idle baseline): samples before it are
   * idle, samples from it to the window's start are warmup (model load and warmup steps). Without it
   * every sample before the window is warmup, so none can be mistaken for an idle reading.
   */
  warmupStartMs?: number;
}

/**
 * Tags each sample by the engine's window events: measure inside a start…end pair (inclusive; a start
 * with no end, as in a run that crashed, stays open), warmup between warmupStartMs and the window,
 * idle otherwise (before warmup, and after the window while the engine summarizes and exits).
 */
export function tagSamples(
  samples: readonly TelemetrySample[],
  windows: readonly Pick<WindowEvent, "state" | "unixMs">[],
  opts: TagOptions = {},
): TaggedSample[] {
  const intervals: { from: number; to: number }[] = [];
  let open: number | null = null;
  for (const w of [...windows].sort((a, b) => a.unixMs - b.unixMs)) {
    if (w.state === "start") open ??= w.unixMs;
    else if (open !== null) {
      intervals.push({ from: open, to: w.unixMs });
      open = null;
    }
  }
  if (open !== null) intervals.push({ from: open, to: Infinity });
  const firstStart = intervals.length > 0 ? (intervals[0] as { from: number }).from : Infinity;
  const warmupFrom = opts.warmupStartMs ?? -Infinity;

  return samples.map((s) => {
    let phase: Phase;
    if (intervals.some((iv) => s.tMs >= iv.from && s.tMs <= iv.to)) phase = "measure";
    else if (s.tMs < firstStart && s.tMs >= warmupFrom) phase = "warmup";
    else phase = "idle";
    return { ...s, phase };
  });
}
