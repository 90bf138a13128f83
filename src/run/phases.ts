/**
 * Where a run's wall time went, by the orchestrator's own clock: the measured window is a small part of
 * a short run (data, the telemetry's idle baseline, engine start, model load, warmup steps, the engine's
 * exit), and a profiler should say so rather than leave it a mystery. Seconds per phase, in order; a
 * phase a run never reached (an engine that failed before `loaded`) is absent, its time in the next one
 * the run did reach.
 */
export const RUN_PHASES = [
  /** Model and device resolution, data preparation (tokenize or reuse the shard), the stored row. */
  "prepare",
  /** Telemetry observers start: the sampler's idle-power baseline before the engine (2 s on a GPU). */
  "telemetryStart",
  /** Engine process start (or fork from the zygote) until its `hello`. */
  "engineStart",
  /** `hello` to `loaded`: weights, quantization, adapters, CUDA graphs' capture. */
  "load",
  /** `loaded` to `summary`: warmup and measured steps (the measured window is `measuredSeconds`). */
  "training",
  /** `summary` until the engine process has exited. */
  "engineExit",
  /** Telemetry observers finish: the sampler's last samples and its figures. */
  "telemetryFinish",
] as const;
export type RunPhase = (typeof RUN_PHASES)[number];
export type RunPhases = Partial<Record<RunPhase | "total", number>>;

/** How the CLI and the dashboard name each phase. */
export const PHASE_LABELS: Record<RunPhase, string> = {
  prepare: "data and setup",
  telemetryStart: "telemetry baseline",
  engineStart: "engine start",
  load: "load",
  training: "steps",
  engineExit: "engine exit",
  telemetryFinish: "telemetry finish",
};

export interface PhaseClock {
  /** The phase that ends now: the time since the previous mark is its own. */
  end(phase: RunPhase): void;
  /** Seconds per phase so far, and the total since the clock started. */
  phases(): RunPhases;
}

// globalThis.performance: the module also serves the dashboard's browser bundle (the labels).
export function phaseClock(now: () => number = () => globalThis.performance.now()): PhaseClock {
  const start = now();
  let last = start;
  const out: RunPhases = {};
  return {
    end(phase) {
      const t = now();
      out[phase] = (out[phase] ?? 0) + (t - last) / 1000;
      last = t;
    },
    phases: () => ({ ...out, total: (now() - start) / 1000 }),
  };
}
