import { describe, expect, it } from "vitest";
import { flopsPerToken } from "./flops.js";
import { model } from "./testing.js";

const qwen = model("qwen2.5-1.5b-instruct").architecture;
const opts = {
  seqLen: 512,
  loraR: 16,
  targetModules: "all-linear" as const,
  gradCheckpointing: false,
  method: "qlora" as const,
};

describe("flopsPerToken", () => {
  it("counts every decoder projection plus the (tied) LM head as matmul parameters", () => {
    const f = flopsPerToken(qwen, opts);
    // 28 layers × 46,792,704 projection weights + 151,936 × 1,536 LM head
    expect(f.matmulParams).toBe(28 * 46_792_704 + 151_936 * 1536);
  });

  it("charges frozen weights 4 FLOPs per parameter and adapters 6", () => {
    const f = flopsPerToken(qwen, opts);
    expect(f.breakdown.baseForward + f.breakdown.baseBackward).toBe(4 * f.matmulParams);
    expect(f.breakdown.loraForward + f.breakdown.loraBackward).toBe(6 * f.loraParams);
    expect(f.loraParams).toBe(18_464_768);
  });

  it("counts causal attention: 2·d·(S+1) per token per layer forward, twice that backward", () => {
    const f = flopsPerToken(qwen, opts);
    expect(f.breakdown.attentionForward).toBe(2 * 1536 * 513 * 28);
    expect(f.breakdown.attentionBackward).toBe(2 * f.breakdown.attentionForward);
    const longer = flopsPerToken(qwen, { ...opts, seqLen: 1024 });
    expect(longer.breakdown.attentionForward / f.breakdown.attentionForward).toBeCloseTo(1025 / 513, 10);
  });

  it("adds the recomputed decoder forward to hardware FLOPs only when checkpointing", () => {
    const plain = flopsPerToken(qwen, opts);
    const ckpt = flopsPerToken(qwen, { ...opts, gradCheckpointing: true });
    expect(plain.hardwareFlopsPerToken).toBe(plain.modelFlopsPerToken);
    expect(ckpt.modelFlopsPerToken).toBe(plain.modelFlopsPerToken);
    const decoderWeights = plain.matmulParams - 151_936 * 1536;
    expect(ckpt.hardwareFlopsPerToken - ckpt.modelFlopsPerToken).toBe(
      2 * decoderWeights + 2 * plain.loraParams + plain.breakdown.attentionForward,
    );
  });

  it("comes to about 6.4 GFLOPs per token for Qwen2.5-1.5B at 512 tokens", () => {
    expect(flopsPerToken(qwen, opts).modelFlopsPerToken / 1e9).toBeCloseTo(6.42, 1);
  });

  it("grows the adapter term with the rank and the chosen targets", () => {
    const qv = flopsPerToken(qwen, { ...opts, targetModules: ["q_proj", "v_proj"] });
    expect(qv.loraParams).toBe(28 * 16 * (1536 + 1536 + 1536 + 256));
    expect(flopsPerToken(qwen, { ...opts, loraR: 64 }).loraParams).toBe(4 * 18_464_768);
  });
});
