/** Test support: report runs built from a few settings and a throughput (the report's and the study's tests). */
import { decodeMetrics } from "../store/metrics.js";
import type { ReportRun } from "./model.js";

let seq = 0;
export function run(
  config: Record<string, unknown>,
  tps: number | null,
  status: ReportRun["status"] = "completed",
): ReportRun {
  seq++;
  return {
    id: `r${seq}`,
    label: `run ${seq}`,
    status,
    createdAt: new Date(Date.UTC(2026, 0, 1, 0, seq)).toISOString(),
    sweepId: null,
    groups: [],
    config: {
      model: "tiny-qwen2",
      device: "cuda:0",
      batchSize: 1,
      seqLen: 64,
      precision: "bf16",
      optimizer: { name: "adamw_torch" },
      ...config,
    },
    metrics:
      tps === null
        ? null
        : decodeMetrics({
            realTokensPerSecond: tps,
            processedTokensPerSecond: tps * 2,
            peakAllocatedBytes: 1e9,
            warnings: [],
          }),
    error:
      status === "oom"
        ? { kind: "oom", message: "oom", hint: null, memory: { peakReservedBytes: 8e9 } }
        : null,
    device: { kind: "cuda", name: "Test GPU" },
    libraries: null,
    losses: [],
  };
}
