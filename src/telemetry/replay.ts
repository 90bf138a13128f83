/**
 * `loraprof telemetry replay FILE.csv`: summarizes an nvidia-smi CSV log as people record it
 * (`--query-gpu=timestamp,power.draw,memory.used,… --format=csv -lms 100`): duration, energy by
 * trapezoidal integration of power.draw between the first and last sample, mean and peak power, peak
 * memory.used, per GPU and in all. Times come from the log's own timestamp column.
 */
import { integrateEnergyJoules, type PowerField, type PowerGap } from "./energy.js";
import { parseNvidiaSmiCsv, type ParseCsvOptions, type ParseIssue, type TelemetrySample } from "./parse.js";

export interface ReplayGpu {
  gpuIndex: number;
  sampleCount: number;
  firstMs: number;
  lastMs: number;
  durationSeconds: number;
  /** Trapezoidal integral of `powerField` from the first sample to the last; null without power readings. */
  energyJoules: number | null;
  /** energyJoules ÷ durationSeconds (the time-weighted mean). */
  meanPowerWatts: number | null;
  peakPowerWatts: number | null;
  peakMemoryUsedBytes: number | null;
  /** Stretches over 1 s without a power reading (bridged by a straight line, reported here). */
  gaps: PowerGap[];
}

export interface ReplayResult {
  /** From the earliest sample to the latest, any GPU. */
  durationSeconds: number;
  samples: TelemetrySample[];
  /** Sum over GPUs; null when any GPU has no power reading. */
  energyJoules: number | null;
  /** Sum of the GPUs' mean power (the whole set's draw). */
  meanPowerWatts: number | null;
  /** The highest single reading of any one GPU. */
  peakPowerWatts: number | null;
  /** The highest memory.used of any one GPU. */
  peakMemoryUsedBytes: number | null;
  gpus: ReplayGpu[];
  /** `powerWatts` (power.draw, or power.draw.average when only that was logged) or, failing both, the instant reading. */
  powerField: PowerField | null;
  /** Lines that could not be read (a cut last line, a garbled row), with why. */
  issues: ParseIssue[];
  notes: string[];
}

const max = (values: (number | null)[]): number | null =>
  values.reduce<number | null>((m, v) => (v === null ? m : m === null ? v : Math.max(m, v)), null);

/** Parses and summarizes an nvidia-smi CSV log; throws LoraprofError only when the text is no such log. */
export function replayCsv(text: string, opts: ParseCsvOptions = {}): ReplayResult {
  const parsed = parseNvidiaSmiCsv(text, opts);
  const samples = parsed.samples;
  const notes: string[] = [];
  if (parsed.timeSource === "interval")
    notes.push(`no timestamp column: times synthesized at ${opts.intervalMs} ms per row`);

  const hasDraw = samples.some((s) => s.powerWatts !== null);
  const hasInstant = samples.some((s) => s.powerInstantWatts !== null);
  const powerField: PowerField | null = hasDraw ? "powerWatts" : hasInstant ? "powerInstantWatts" : null;
  if (!hasDraw && hasInstant) notes.push("no power.draw column: integrated power.draw.instant instead");
  if (powerField === null) notes.push("no power readings in the log: no energy");

  const groups = new Map<number, TelemetrySample[]>();
  for (const s of samples) {
    const g = groups.get(s.gpuIndex);
    if (g) g.push(s);
    else groups.set(s.gpuIndex, [s]);
  }
  let outOfOrder = 0;
  const gpus: ReplayGpu[] = [];
  for (const [gpuIndex, list] of [...groups].sort((a, b) => a[0] - b[0])) {
    for (let i = 1; i < list.length; i++)
      if ((list[i] as TelemetrySample).tMs < (list[i - 1] as TelemetrySample).tMs) outOfOrder++;
    const firstMs = list.reduce((m, s) => Math.min(m, s.tMs), Infinity);
    const lastMs = list.reduce((m, s) => Math.max(m, s.tMs), -Infinity);
    let energyJoules: number | null = null;
    let gaps: PowerGap[] = [];
    if (powerField !== null && lastMs > firstMs) {
      const r = integrateEnergyJoules(list, { fromMs: firstMs, toMs: lastMs, field: powerField, gpuIndex });
      energyJoules = r.energyJoules;
      gaps = r.gaps;
      if (r.reason) notes.push(r.reason);
    }
    const durationSeconds = (lastMs - firstMs) / 1000;
    gpus.push({
      gpuIndex,
      sampleCount: list.length,
      firstMs,
      lastMs,
      durationSeconds,
      energyJoules,
      meanPowerWatts: energyJoules !== null && durationSeconds > 0 ? energyJoules / durationSeconds : null,
      peakPowerWatts: powerField === null ? null : max(list.map((s) => s[powerField])),
      peakMemoryUsedBytes: max(list.map((s) => s.memoryUsedBytes)),
      gaps,
    });
  }
  if (outOfOrder > 0)
    notes.push(`${outOfOrder} sample(s) out of time order (a clock change, or logs appended); sorted`);

  const first = Math.min(...gpus.map((g) => g.firstMs));
  const last = Math.max(...gpus.map((g) => g.lastMs));
  const all = gpus.length > 0 && gpus.every((g) => g.energyJoules !== null);
  return {
    durationSeconds: gpus.length > 0 ? (last - first) / 1000 : 0,
    samples,
    energyJoules: all ? gpus.reduce((s, g) => s + (g.energyJoules as number), 0) : null,
    meanPowerWatts:
      all && gpus.every((g) => g.meanPowerWatts !== null)
        ? gpus.reduce((s, g) => s + (g.meanPowerWatts as number), 0)
        : null,
    peakPowerWatts: max(gpus.map((g) => g.peakPowerWatts)),
    peakMemoryUsedBytes: max(gpus.map((g) => g.peakMemoryUsedBytes)),
    gpus,
    powerField,
    issues: parsed.issues,
    notes,
  };
}

const fmt = (v: number | null, digits: number, unit: string): string =>
  v === null ? "n/a" : `${v.toFixed(digits)} ${unit}`;
const gib = (b: number | null): string => (b === null ? "n/a" : `${(b / 1024 ** 3).toFixed(2)} GiB`);

/** A few lines for the terminal. */
export function renderReplayText(r: ReplayResult): string {
  const lines: string[] = [];
  const skipped = r.issues.length > 0 ? `, ${r.issues.length} line(s) skipped` : "";
  lines.push(
    `${r.samples.length} samples, ${r.gpus.length} GPU(s), ${r.durationSeconds.toFixed(1)} s${skipped}`,
  );
  const wh = r.energyJoules === null ? "" : ` (${(r.energyJoules / 3600).toFixed(3)} Wh)`;
  lines.push(
    `energy ${fmt(r.energyJoules, 1, "J")}${wh}, mean power ${fmt(r.meanPowerWatts, 1, "W")}, peak power ${fmt(r.peakPowerWatts, 1, "W")}, peak memory.used ${gib(r.peakMemoryUsedBytes)}`,
  );
  if (r.gpus.length > 1) {
    for (const g of r.gpus) {
      lines.push(
        `  GPU ${g.gpuIndex}: ${g.sampleCount} samples, ${fmt(g.energyJoules, 1, "J")}, mean ${fmt(g.meanPowerWatts, 1, "W")}, peak ${fmt(g.peakPowerWatts, 1, "W")}, memory.used ≤ ${gib(g.peakMemoryUsedBytes)}`,
      );
    }
  }
  const gaps = r.gpus.flatMap((g) => g.gaps);
  if (gaps.length > 0) {
    const total = gaps.reduce((s, g) => s + (g.toMs - g.fromMs), 0) / 1000;
    lines.push(
      `${gaps.length} gap(s) over 1 s without a reading (${total.toFixed(1)} s in all), bridged by a straight line`,
    );
  }
  lines.push(
    `energy is the trapezoidal integral of ${r.powerField === "powerInstantWatts" ? "power.draw.instant" : "power.draw"}`,
  );
  for (const n of r.notes) lines.push(`note: ${n}`);
  return lines.join("\n");
}
