/**
 * The engine's record order, reproduced in TypeScript so the planner knows which records a run
 * visits. The engine draws `numpy.random.default_rng(seed).permutation(records)` once per epoch
 * (engine/src/loraprof_engine/data.py, `record_order`); this is the same stream bit for bit:
 * numpy's SeedSequence (entropy pool and state generation), PCG64 (128-bit LCG, XSL-RR output,
 * 32-bit draws taken from halves of 64-bit outputs) and Generator.shuffle (Fisher–Yates from the
 * top, masked rejection sampling of each index). Tested against numpy's output.
 */

const MASK32 = 0xffffffff;
const INIT_A = 0x43b0d7e5;
const MULT_A = 0x931e8875;
const INIT_B = 0x8b51f9dd;
const MULT_B = 0x58f38ded;
const MIX_MULT_L = 0xca01f9dd;
const MIX_MULT_R = 0x4973f715;
const XSHIFT = 16;
const POOL_SIZE = 4;

const mul32 = (a: number, b: number) => Math.imul(a, b) >>> 0;

/** numpy.random.SeedSequence(seed).generate_state(words, uint64), for a non-negative integer seed. */
export function seedSequenceState(seed: number | bigint, words64: number): bigint[] {
  let n = BigInt(seed);
  if (n < 0n) throw new RangeError("seed must be non-negative");
  const entropy: number[] = [];
  if (n === 0n) entropy.push(0);
  while (n > 0n) {
    entropy.push(Number(n & 0xffffffffn));
    n >>= 32n;
  }
  let hashConst = INIT_A;
  const hashmix = (value: number): number => {
    let v = (value ^ hashConst) >>> 0;
    hashConst = mul32(hashConst, MULT_A);
    v = mul32(v, hashConst);
    return (v ^ (v >>> XSHIFT)) >>> 0;
  };
  const mix = (x: number, y: number): number => {
    const r = (mul32(MIX_MULT_L, x) - mul32(MIX_MULT_R, y)) >>> 0;
    return (r ^ (r >>> XSHIFT)) >>> 0;
  };
  const pool: number[] = [];
  for (let i = 0; i < POOL_SIZE; i++) pool.push(hashmix(i < entropy.length ? entropy[i]! : 0));
  for (let src = 0; src < POOL_SIZE; src++)
    for (let dst = 0; dst < POOL_SIZE; dst++)
      if (src !== dst) pool[dst] = mix(pool[dst]!, hashmix(pool[src]!));
  for (let src = POOL_SIZE; src < entropy.length; src++)
    for (let dst = 0; dst < POOL_SIZE; dst++) pool[dst] = mix(pool[dst]!, hashmix(entropy[src]!));

  let h = INIT_B;
  const words32: number[] = [];
  for (let i = 0; i < words64 * 2; i++) {
    let v = (pool[i % POOL_SIZE]! ^ h) >>> 0;
    h = mul32(h, MULT_B);
    v = mul32(v, h);
    words32.push((v ^ (v >>> XSHIFT)) >>> 0);
  }
  // Little-endian view as uint64: (low word, high word) pairs.
  const out: bigint[] = [];
  for (let i = 0; i < words64; i++) out.push((BigInt(words32[2 * i + 1]!) << 32n) | BigInt(words32[2 * i]!));
  return out;
}

const M128 = (1n << 128n) - 1n;
const M64 = (1n << 64n) - 1n;
const PCG_MULT = (2549297995355413924n << 64n) + 4865540595714422341n;

/** numpy's PCG64 bit generator seeded as `default_rng(seed)` does. */
export class Pcg64 {
  private state = 0n;
  private readonly inc: bigint;
  private spare: number | null = null;

  constructor(seed: number | bigint) {
    const [s0, s1, i0, i1] = seedSequenceState(seed, 4) as [bigint, bigint, bigint, bigint];
    const initState = (s0 << 64n) | s1;
    const initSeq = (i0 << 64n) | i1;
    this.inc = ((initSeq << 1n) | 1n) & M128;
    this.step();
    this.state = (this.state + initState) & M128;
    this.step();
  }

  private step(): void {
    this.state = (this.state * PCG_MULT + this.inc) & M128;
  }

  next64(): bigint {
    this.step();
    const x = ((this.state >> 64n) ^ this.state) & M64;
    const rot = Number(this.state >> 122n);
    return ((x >> BigInt(rot)) | (x << BigInt((64 - rot) & 63))) & M64;
  }

  next32(): number {
    if (this.spare !== null) {
      const v = this.spare;
      this.spare = null;
      return v;
    }
    const n = this.next64();
    this.spare = Number(n >> 32n);
    return Number(n & 0xffffffffn);
  }

  /** numpy's `random_interval`: uniform on [0, max] by masked rejection. */
  interval(max: number): number {
    if (max === 0) return 0;
    if (max > MASK32) throw new RangeError("interval above 2^32 is not needed for record orders");
    let mask = max;
    mask |= mask >>> 1;
    mask |= mask >>> 2;
    mask |= mask >>> 4;
    mask |= mask >>> 8;
    mask |= mask >>> 16;
    mask >>>= 0;
    let v: number;
    do v = (this.next32() & mask) >>> 0;
    while (v > max);
    return v;
  }

  /** `Generator.permutation(n)`: arange(n) shuffled in place from the top. */
  permutation(n: number): number[] {
    const a = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i >= 1; i--) {
      const j = this.interval(i);
      const t = a[i]!;
      a[i] = a[j]!;
      a[j] = t;
    }
    return a;
  }
}

/** The first `count` record indices the engine visits: a fresh permutation per epoch, one stream. */
export function recordOrder(records: number, seed: number, count: number): number[] {
  const rng = new Pcg64(seed);
  const out: number[] = [];
  while (out.length < count) {
    for (const i of rng.permutation(records)) {
      if (out.length === count) break;
      out.push(i);
    }
  }
  return out;
}

/** The engine's record order as an endless stream (for the packer, which cannot know its count ahead). */
export function* recordStream(records: number, seed: number): Generator<number, never> {
  const rng = new Pcg64(seed);
  for (;;) yield* rng.permutation(records);
}
