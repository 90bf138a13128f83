/**
 * Seeded randomness for everything the data stage samples (subsets, synthetic records).
 *
 * The generator is mulberry32 (Tommy Ettinger's 32-bit-state generator): tiny, fast and good enough for
 * sampling records (it passes gjrand's and PractRand's small tests; its period is 2^32, far more draws
 * than any dataset here needs). It is NOT for cryptography. The seed is first scrambled with the
 * splitmix32 finalizer so that neighbouring seeds (0, 1, 2, …) start from unrelated states, and seeds
 * above 2^32 still matter (their high bits are folded in).
 *
 * The same seed gives the same sequence on every platform and Node version: only 32-bit integer
 * arithmetic (Math.imul, >>>) is used, never Math.random.
 */

/** A source of uniform floats in [0, 1). */
export type Rng = () => number;

function splitmix32(x: number): number {
  let z = (x + 0x9e3779b9) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}

/** A mulberry32 generator seeded from a non-negative integer seed. */
export function createRng(seed: number): Rng {
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw new RangeError(`seed must be a non-negative safe integer, got ${seed}`);
  }
  const low = seed >>> 0;
  const high = Math.floor(seed / 0x1_0000_0000) >>> 0;
  let state = splitmix32(low ^ splitmix32(high));
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 0x1_0000_0000;
  };
}

/** A uniform integer in [0, n). The bias of floor(u·n) is below n/2^32, negligible for record counts. */
export function randomInt(rng: Rng, n: number): number {
  return Math.floor(rng() * n);
}

/** One element chosen uniformly. */
export function pick<T>(rng: Rng, items: readonly T[]): T {
  if (items.length === 0) throw new RangeError("pick from an empty list");
  return items[randomInt(rng, items.length)] as T;
}

/**
 * A seeded permutation of 0..n-1 (Fisher–Yates, Durstenfeld's in-place form: for i from n-1 down to 1,
 * swap i with a uniform j in [0, i]). Every permutation is equally likely up to the generator's quality.
 */
export function permutation(n: number, rng: Rng): Uint32Array {
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) out[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = randomInt(rng, i + 1);
    const tmp = out[i] as number;
    out[i] = out[j] as number;
    out[j] = tmp;
  }
  return out;
}
