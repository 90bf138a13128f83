/** Telemetry samples at full rate, tagged idle/warmup/measure, with the run they belong to. */
import type { TaggedSample } from "../telemetry/sampler.js";
import type { Db } from "./db.js";

export function insertTelemetrySamples(db: Db, runId: string, samples: readonly TaggedSample[]): void {
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
