/**
 * Packing efficiency: how full rows of `seqLen` tokens would be if records were packed into them.
 *
 * Records longer than seqLen are cut to seqLen first (as the shard writer does), then placed by
 * best-fit decreasing: longest first, each into the open row with the least room that still holds it,
 * else into a new row. BFD is within 11/9 of the optimal row count plus a constant and, on
 * instruction-tuning length mixes, leaves well under 1% of a row empty on average; it is the
 * offline bound a `--packing` run can reach (a streaming packer that keeps dataset order does worse).
 *
 * Cost: O(n + seqLen) to sort (a counting sort: lengths are whole numbers ≤ seqLen) and
 * O(n log seqLen) to place, through a tree over "rows with r tokens of room left" for every r.
 */

export interface PackingSummary {
  seqLen: number;
  /** Rows of seqLen tokens the records fill. */
  rows: number;
  /** Record tokens placed (after truncation to seqLen). */
  tokens: number;
  /** tokens / (rows × seqLen): the share of packed rows holding real tokens. */
  efficiency: number;
}

export function packingEfficiency(lengths: ArrayLike<number>, seqLen: number): PackingSummary {
  if (!Number.isInteger(seqLen) || seqLen <= 0)
    throw new RangeError(`seqLen must be a positive integer, got ${seqLen}`);
  // Counting sort of the truncated lengths (zero-length records take no room).
  const byLength = new Uint32Array(seqLen + 1);
  let tokens = 0;
  for (let i = 0; i < lengths.length; i++) {
    const l = Math.min(lengths[i] as number, seqLen);
    byLength[l]!++;
    tokens += l;
  }
  // roomCount[r] = open rows with exactly r tokens of room; `tree` marks ranges holding any.
  const size = 1 << Math.ceil(Math.log2(seqLen + 1));
  const roomCount = new Uint32Array(seqLen + 1);
  const tree = new Uint8Array(2 * size);
  const setHas = (r: number, has: boolean) => {
    let node = size + r;
    tree[node] = has ? 1 : 0;
    for (node >>= 1; node >= 1; node >>= 1) tree[node] = tree[2 * node]! | tree[2 * node + 1]!;
  };
  /** Smallest room ≥ need with an open row, or -1. */
  const smallestAtLeast = (need: number): number => {
    const walk = (node: number, lo: number, hi: number): number => {
      if (hi < need || tree[node] === 0) return -1;
      if (lo === hi) return lo;
      const mid = (lo + hi) >> 1;
      const left = walk(2 * node, lo, mid);
      return left !== -1 ? left : walk(2 * node + 1, mid + 1, hi);
    };
    return walk(1, 0, size - 1);
  };
  let rows = 0;
  for (let l = seqLen; l >= 1; l--) {
    for (let k = byLength[l] as number; k > 0; k--) {
      const room = smallestAtLeast(l);
      if (room === -1) {
        rows++;
        const left = seqLen - l;
        roomCount[left]!++;
        if (roomCount[left] === 1) setHas(left, true);
      } else {
        roomCount[room]!--;
        if (roomCount[room] === 0) setHas(room, false);
        const left = room - l;
        roomCount[left]!++;
        if (roomCount[left] === 1) setHas(left, true);
      }
    }
  }
  return { seqLen, rows, tokens, efficiency: rows === 0 ? 0 : tokens / (rows * seqLen) };
}
