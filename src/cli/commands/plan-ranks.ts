/** `plan --nproc-per-node N`: each rank's memory and the predicted speed-up, as text. */
import pc from "picocolors";
import type { RankPlan } from "../../plan/ranks.js";
import { formatBytes, formatNumber, formatSeconds, renderPairs } from "../render.js";

export function renderRanks(r: RankPlan): string {
  const s = r.scaling;
  const pairs: [string, string][] = [
    ["global batch", `${r.globalBatchRows} rows per step (batchSize × gradAccum × ${r.ranks})`],
    [
      "per rank",
      `device peak ${pc.bold(formatBytes(r.perRank.devicePeakBytes))} = one process ${formatBytes(r.perRank.singleProcessPeakBytes)}` +
        ` + DDP buckets ${formatBytes(r.perRank.ddpBucketBytes)} + NCCL ${formatBytes(r.perRank.communicatorBytes)}`,
    ],
  ];
  if (s) {
    pairs.push([
      "scaling",
      `${pc.bold(formatNumber(s.realTokensPerSecond))} real tokens/s over ${r.ranks} rank(s): ${formatNumber(s.speedup, 2)}× one rank ` +
        `(${formatNumber(s.efficiency * 100, 0)}% efficiency; step ${formatSeconds(s.stepSeconds)} = ${formatSeconds(s.singleRankStepSeconds)} + ${s.allReducesPerStep} all-reduce(s) of ${formatBytes(s.gradientBytes)})`,
    ]);
  }
  const out = [pc.bold(`data-parallel: ${r.ranks} rank(s)`), renderPairs(pairs)];
  out.push(...r.assumptions.map((a) => pc.dim(`  - ${a}`)));
  return out.join("\n");
}
