import { describe, expect, it } from "vitest";
import { countLoraParameters } from "../catalog/params.js";
import { architectureOf } from "./types.js";
import { planRun } from "./plan.js";
import { DEFAULT_RANK_LINK, planRanks } from "./ranks.js";
import { gpu, qloraInput } from "./testing.js";

describe("planRanks (data-parallel runs)", () => {
  const input = qloraInput({ gpu: gpu("h200"), gradAccum: 2 });
  const one = planRun(input);
  const lora = countLoraParameters(architectureOf(input.model), input.lora.r, input.lora.targetModules);

  it("one rank is the one-process plan, unchanged", () => {
    const r = planRanks(input, one.memory, one.throughput, 1);
    expect(r.perRank.devicePeakBytes).toBe(one.memory.devicePeakBytes);
    expect(r.perRank.ddpBucketBytes).toBe(0);
    expect(r.scaling!.speedup).toBeCloseTo(1, 12);
    expect(r.globalBatchRows).toBe(input.batchSize * input.gradAccum);
  });

  it("each of N ranks adds DDP's fp32 gradient buckets and NCCL's buffers to the one-process peak", () => {
    const r = planRanks(input, one.memory, one.throughput, 4);
    expect(r.perRank.ddpBucketBytes).toBe(4 * lora);
    expect(r.perRank.communicatorBytes).toBe(DEFAULT_RANK_LINK.communicatorBytes);
    expect(r.perRank.devicePeakBytes).toBe(
      one.memory.devicePeakBytes + 4 * lora + DEFAULT_RANK_LINK.communicatorBytes,
    );
    expect(r.perRank.allocatorPeakBytes).toBe(one.memory.allocatorPeakBytes + 4 * lora);
    expect(r.globalBatchRows).toBe(input.batchSize * input.gradAccum * 4);
    expect(r.assumptions.join("\n")).toMatch(/assumed, not measured/);
  });

  it("scales below N: one all-reduce of the LoRA gradients per optimizer step, 2(N−1)/N of them over the link", () => {
    const link = { ...DEFAULT_RANK_LINK, busBandwidthBytesPerSecond: 10e9, latencySeconds: 0 };
    const two = planRanks(input, one.memory, one.throughput, 2, link).scaling!;
    // gradAccum 2: the first micro-batch accumulates locally (no_sync), the second all-reduces.
    expect(two.allReducesPerStep).toBe(1);
    expect(two.allReduceSeconds).toBeCloseTo((2 * 1 * 4 * lora) / 2 / 10e9, 12);
    expect(two.stepSeconds).toBeCloseTo(one.throughput!.stepSeconds + two.allReduceSeconds, 12);
    expect(two.speedup).toBeGreaterThan(1);
    expect(two.speedup).toBeLessThan(2);
    const eight = planRanks(input, one.memory, one.throughput, 8, link).scaling!;
    expect(eight.efficiency).toBeLessThan(two.efficiency);
    // A faster link scales better.
    const fast = planRanks(input, one.memory, one.throughput, 8, {
      ...link,
      busBandwidthBytesPerSecond: 400e9,
    });
    expect(fast.scaling!.efficiency).toBeGreaterThan(eight.efficiency);
  });

  it("predicts memory without a GPU (no NCCL, no speed), and refuses a rank count below 1", () => {
    const cpu = qloraInput({ gpu: null });
    const p = planRun(cpu);
    const r = planRanks(cpu, p.memory, p.throughput, 2);
    expect(r.scaling).toBeNull();
    expect(r.perRank.communicatorBytes).toBe(0);
    expect(() => planRanks(cpu, p.memory, null, 0)).toThrow(RangeError);
  });
});
