import { describe, expect, it } from "vitest";
import { createRng } from "./random.js";
import { packingEfficiency } from "./packing.js";

/** The fewest rows of `cap` that hold the items (exhaustive search; small inputs only). */
function optimalRows(items: number[], cap: number): number {
  const sorted = [...items].sort((a, b) => b - a);
  let best = sorted.length;
  const rooms: number[] = [];
  const place = (i: number) => {
    if (rooms.length >= best) return;
    if (i === sorted.length) {
      best = rooms.length;
      return;
    }
    const item = sorted[i]!;
    const tried = new Set<number>();
    for (let r = 0; r < rooms.length; r++) {
      if (rooms[r]! >= item && !tried.has(rooms[r]!)) {
        tried.add(rooms[r]!);
        rooms[r]! -= item;
        place(i + 1);
        rooms[r]! += item;
      }
    }
    rooms.push(cap - item);
    place(i + 1);
    rooms.pop();
  };
  place(0);
  return best;
}

describe("packingEfficiency (best-fit decreasing)", () => {
  it("fills rows exactly when lengths pair up", () => {
    const p = packingEfficiency([6, 4, 7, 3, 5, 5], 10);
    expect(p).toEqual({ seqLen: 10, rows: 3, tokens: 30, efficiency: 1 });
  });

  it("puts each item into the fullest row that still holds it", () => {
    // Decreasing: 5 → row A (room 3), 4 → row B (room 4), 3 → A (best fit: room 3, not 4), 2 → B.
    expect(packingEfficiency([3, 5, 2, 4], 8).rows).toBe(2);
  });

  it("cuts records longer than seqLen to seqLen first", () => {
    expect(packingEfficiency([25, 3], 10)).toEqual({ seqLen: 10, rows: 2, tokens: 13, efficiency: 13 / 20 });
  });

  it("is within 11/9 OPT + 1 row of the optimum on random small cases", () => {
    const rng = createRng(7);
    for (let trial = 0; trial < 40; trial++) {
      const items = Array.from({ length: 2 + Math.floor(rng() * 9) }, () => 1 + Math.floor(rng() * 20));
      const opt = optimalRows(items, 20);
      const bfd = packingEfficiency(items, 20).rows;
      expect(bfd).toBeGreaterThanOrEqual(opt);
      expect(bfd).toBeLessThanOrEqual(Math.floor((11 / 9) * opt) + 1);
    }
  });

  it("handles 100k records at seqLen 4096 quickly", () => {
    const rng = createRng(1);
    const lengths = Array.from({ length: 100_000 }, () => 20 + Math.floor(rng() * 600));
    const start = performance.now();
    const p = packingEfficiency(lengths, 4096);
    expect(performance.now() - start).toBeLessThan(5000);
    expect(p.efficiency).toBeGreaterThan(0.99);
    expect(p.efficiency).toBeLessThanOrEqual(1);
  });
});
