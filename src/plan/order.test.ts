import { describe, expect, it } from "vitest";
import { Pcg64, recordOrder, seedSequenceState } from "./order.js";

// Expected values printed by numpy 2.4.6 (python -c "import numpy as np; ..."), the engine's generator.
describe("numpy's record order, reproduced", () => {
  it("seeds PCG64 from SeedSequence like default_rng", () => {
    // np.random.SeedSequence(0).generate_state(4, np.uint64)
    expect(seedSequenceState(0, 4).map(String)).toEqual([
      "15793235383387715774",
      "12390638538380655177",
      "2361836109651742017",
      "3188717715514472916",
    ]);
    // np.random.default_rng(0).bit_generator.random_raw(3)
    const r = new Pcg64(0);
    expect([r.next64(), r.next64(), r.next64()].map(String)).toEqual([
      "11749869230777074271",
      "4976686463289251617",
      "755828109848996024",
    ]);
  });

  it("draws the same permutations as Generator.permutation", () => {
    expect(new Pcg64(0).permutation(20)).toEqual([
      4, 19, 6, 2, 13, 16, 3, 11, 10, 8, 0, 12, 7, 5, 18, 17, 14, 9, 1, 15,
    ]);
    expect(new Pcg64(12345).permutation(7)).toEqual([4, 3, 0, 2, 1, 6, 5]);
    expect(new Pcg64(2n ** 40n + 7n).permutation(10)).toEqual([6, 2, 8, 7, 9, 3, 4, 1, 5, 0]);
    const p = new Pcg64(0).permutation(5000);
    expect(p.slice(0, 12)).toEqual([2221, 1222, 227, 4662, 3029, 3428, 1498, 727, 1385, 50, 4471, 543]);
    expect(p.slice(-5)).toEqual([1974, 4125, 2232, 3023, 607]);
  });

  it("continues the stream with a new permutation each epoch, as the engine's record_order", () => {
    // rng = np.random.default_rng(3); list(rng.permutation(5)) + list(rng.permutation(5))
    expect(recordOrder(5, 3, 10)).toEqual([4, 2, 1, 3, 0, 3, 0, 2, 1, 4]);
    expect(recordOrder(5, 3, 7)).toEqual([4, 2, 1, 3, 0, 3, 0]);
  });

  it("walks long orders across epochs, each epoch a permutation", () => {
    const order = recordOrder(150_000, 1, 200_000);
    expect(order).toHaveLength(200_000);
    expect(new Set(order.slice(0, 150_000)).size).toBe(150_000);
    // The second epoch is a new permutation from the same stream, not the first one again.
    const second = order.slice(150_000);
    expect(new Set(second).size).toBe(50_000);
    expect(second).not.toEqual(order.slice(0, 50_000));
  });
});
