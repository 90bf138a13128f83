/**
 * A stored run's metrics, typed: decoded once where the store reads a row, so no reader picks
 * figures out of a bag by string. The headline figures the telemetry stage measures (energy,
 * J/token, power, MFU/HFU, the study's estimate method) are lifted to the top level here, in one
 * place, when a run is written (run/run.ts) and again when an older run is read (idempotent), so a
 * reader finds every figure it charts as a typed field.
 *
 * Decoding is lenient on purpose: a run stored by an older loraprof loads with what it has (missing
 * figures are null, unknown keys are kept as they were written); the store never drops results.
 */
import { z } from "zod";

/** A number, or a `{ value, reason }` pair as some older runs stored it; anything else is null. */
const figure = () =>
  z
    .preprocess(
      (v) => (v !== null && typeof v === "object" && "value" in v ? (v as { value: unknown }).value : v),
      z.number().nullable(),
    )
    .catch(null);
/** Absent keys stay absent: decoding never invents a figure a run did not store. */
const stored = () => figure().optional();

/** A telemetry figure: `{ value, reason }`, as telemetry/metrics.ts writes it. */
const MeasuredSchema = z.looseObject({
  value: z.number().nullable().catch(null),
  reason: z.string().nullish(),
});
export type Measured = z.infer<typeof MeasuredSchema>;

/** The headline figures lifted from the telemetry stage's measurements (see `liftHeadlines`). */
export const TELEMETRY_HEADLINES = [
  "energyJoules",
  "joulesPerRealToken",
  "joulesPerProcessedToken",
  "averagePowerWatts",
  "mfu",
  "hfu",
  "paperMethodJoulesPerToken",
] as const;

/** The planner's predicted figures by name (peakAllocatedBytes, peakDeviceBytes, realTokensPerSecond), in the order written. */
export const PredictedSchema = z.record(z.string(), figure());
export type Predicted = z.infer<typeof PredictedSchema>;

const STORED_SHAPE = {
  /** Non-padding tokens per second over the measured window: the headline. */
  realTokensPerSecond: stored(),
  processedTokensPerSecond: stored(),
  labelTokensPerSecond: stored(),
  secondsPer10kRealTokens: stored(),
  paddingFraction: stored(),
  stepSecondsMedian: stored(),
  measuredSteps: stored(),
  measuredSeconds: stored(),
  realTokens: stored(),
  processedTokens: stored(),
  labelTokens: stored(),
  peakAllocatedBytes: stored(),
  peakReservedBytes: stored(),
  peakProcessBytes: stored(),
  peakDeviceBytes: stored(),
  lossFirst: stored(),
  lossLast: stored(),
  energyJoules: stored(),
  joulesPerRealToken: stored(),
  joulesPerProcessedToken: stored(),
  averagePowerWatts: stored(),
  mfu: stored(),
  hfu: stored(),
  paperMethodJoulesPerToken: stored(),
  /** Why a null figure is null, by field. */
  nullReasons: z.record(z.string(), z.string()).optional().catch(undefined),
  warnings: z.array(z.string()).optional().catch(undefined),
  /** The telemetry stage's full measurements (telemetry/metrics.ts's TelemetryMetrics). */
  telemetry: z.record(z.string(), z.unknown()).optional().catch(undefined),
  /** The planner's prediction for this run (uncalibrated), beside what it measured. */
  predicted: PredictedSchema.optional().catch(undefined),
  /** Where the run's wall time went, seconds per phase (src/run/phases.ts); absent in older runs. */
  phases: z.record(z.string(), z.number()).optional().catch(undefined),
};
/** Keys it does not know are kept as they were written (an older or newer loraprof's). */
export const StoredMetricsSchema = z.looseObject(STORED_SHAPE);
export type StoredMetrics = z.infer<typeof StoredMetricsSchema>;
type KnownMetrics = z.infer<z.ZodObject<typeof STORED_SHAPE>>;
/** Figures a report can chart: the numeric fields of StoredMetrics. */
export type StoredFigure = {
  [K in keyof KnownMetrics]-?: KnownMetrics[K] extends number | null | undefined ? K : never;
}[keyof KnownMetrics];

function telemetryFigure(
  metrics: { telemetry?: Record<string, unknown> | undefined },
  key: string,
): Measured | null {
  const parsed = MeasuredSchema.safeParse(metrics.telemetry?.[key]);
  return parsed.success ? parsed.data : null;
}

/**
 * Lifts the telemetry stage's headline figures to the top level; derives J per processed token
 * from the energy counter where the telemetry stage did not. Where the headline is the telemetry
 * stage's, so is its null reason (the engine's own note said the same thing twice).
 */
export function liftHeadlines<M extends Partial<StoredMetrics>>(
  m: M,
): M & Partial<Pick<StoredMetrics, (typeof TELEMETRY_HEADLINES)[number]>> {
  const v = (k: string) => telemetryFigure(m, k)?.value ?? null;
  const out: Partial<StoredMetrics> = { ...m };
  if (m.nullReasons && m.telemetry) {
    const nullReasons = { ...m.nullReasons };
    for (const key of Object.keys(nullReasons)) {
      const reason = telemetryFigure(m, key)?.reason;
      if (v(key) === null && typeof reason === "string") nullReasons[key] = reason;
    }
    out.nullReasons = nullReasons;
  }
  const energyJoules = m.energyJoules ?? v("energyJoules");
  const processed = m.processedTokens ?? null;
  const lifted: Pick<StoredMetrics, (typeof TELEMETRY_HEADLINES)[number]> = {
    energyJoules,
    joulesPerRealToken: m.joulesPerRealToken ?? v("joulesPerRealToken"),
    joulesPerProcessedToken:
      m.joulesPerProcessedToken ??
      v("joulesPerProcessedToken") ??
      (energyJoules !== null && processed ? energyJoules / processed : null),
    averagePowerWatts: m.averagePowerWatts ?? v("averagePowerWatts"),
    mfu: m.mfu ?? v("mfu"),
    hfu: m.hfu ?? v("hfu"),
    paperMethodJoulesPerToken: m.paperMethodJoulesPerToken ?? v("paperMethodJoulesPerToken"),
  };
  // A run written with the telemetry stage gets every headline (null with its reason); an older
  // one gets only those it has figures for, so a decoded record is what was stored plus facts.
  for (const key of TELEMETRY_HEADLINES) {
    if (m.telemetry !== undefined || key in m || lifted[key] !== null) out[key] = lifted[key];
  }
  return out as M & Partial<Pick<StoredMetrics, (typeof TELEMETRY_HEADLINES)[number]>>;
}

/** A stored metrics column, decoded (null stays null: the run ended before the engine's summary). */
export function decodeMetrics(raw: unknown): StoredMetrics | null {
  if (raw === null || raw === undefined || typeof raw !== "object") return null;
  return liftHeadlines(StoredMetricsSchema.parse(raw));
}
