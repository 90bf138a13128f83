/** Telemetry samples at full rate, tagged idle/warmup/measure, with the run they belong to. */
import type { Db } from "./db.js";

/** A sample as written: what is read back (StoredSample) and the readings kept for the record. */
export interface SampleRow extends StoredSample {
  utilizationMemoryPercent: number | null;
  memClockHz: number | null;
  pstate: string | null;
}

/** Writes the sampler's tagged samples (telemetry/sampler.ts TaggedSample has these fields and more). */
export function insertTelemetrySamples(db: Db, runId: string, samples: readonly SampleRow[]): void {
  if (samples.length === 0) return;
  const stmt = db.prepare(
    `INSERT INTO telemetry_samples (run_id, t_ms, gpu_index, phase, power_watts, power_instant_watts, memory_used_bytes,
       utilization_gpu_percent, utilization_memory_percent, sm_clock_hz, mem_clock_hz, temperature_c, pstate)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  db.transaction(() => {
    for (const s of samples) {
      stmt.run(
        runId,
        s.tMs,
        s.gpuIndex,
        s.phase,
        s.powerWatts,
        s.powerInstantWatts,
        s.memoryUsedBytes,
        s.utilizationGpuPercent,
        s.utilizationMemoryPercent,
        s.smClockHz,
        s.memClockHz,
        s.temperatureC,
        s.pstate,
      );
    }
  })();
}

export interface StoredSample {
  tMs: number;
  gpuIndex: number;
  phase: "idle" | "warmup" | "measure";
  powerWatts: number | null;
  powerInstantWatts: number | null;
  memoryUsedBytes: number | null;
  utilizationGpuPercent: number | null;
  smClockHz: number | null;
  temperatureC: number | null;
}

export function getTelemetrySamples(db: Db, runId: string): StoredSample[] {
  return db
    .prepare(
      `SELECT t_ms AS tMs, gpu_index AS gpuIndex, phase, power_watts AS powerWatts, power_instant_watts AS powerInstantWatts,
              memory_used_bytes AS memoryUsedBytes, utilization_gpu_percent AS utilizationGpuPercent, sm_clock_hz AS smClockHz,
              temperature_c AS temperatureC
       FROM telemetry_samples WHERE run_id=? ORDER BY t_ms`,
    )
    .all(runId) as StoredSample[];
}
