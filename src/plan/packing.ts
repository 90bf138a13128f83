/**
 * The engine's packer, mirrored: `pack_rows` in engine/src/loraprof_engine/data.py. Records in the
 * seeded order go best-fit into `rows` rows of `capacity` tokens; a record that fits no row waits at
 * the head of the next micro-batch while up to PACK_LOOKAHEAD later records are tried. Tests on both
 * sides pin the same packing, so the planner walks the micro-batches the engine will train on.
 */
export const PACK_LOOKAHEAD = 64;

/**
 * Micro-batches of record indices (rows of indices) from `order` (a stream of record indices, e.g.
 * recordOrder's), until `batches` micro-batches are made or the order runs out.
 */
export function packRows(
  order: Iterator<number>,
  lengths: ArrayLike<number>,
  rows: number,
  capacity: number,
  batches: number,
): number[][][] {
  const out: number[][][] = [];
  let waiting: number[] = [];
  while (out.length < batches) {
    const free = new Array<number>(rows).fill(capacity);
    const batch: number[][] = Array.from({ length: rows }, () => []);
    const deferred: number[] = [];
    let misses = 0;
    const queue = waiting;
    let head = 0;
    let exhausted = false;
    while (misses <= PACK_LOOKAHEAD) {
      let index: number;
      if (head < queue.length) index = queue[head++]!;
      else {
        const next = order.next();
        if (next.done) {
          exhausted = true;
          break;
        }
        index = next.value;
      }
      const length = lengths[index]!;
      let best = -1;
      for (let r = 0; r < rows; r++) {
        if (length <= free[r]! && (best < 0 || free[r]! < free[best]!)) best = r;
      }
      if (best < 0) {
        deferred.push(index);
        misses++;
        continue;
      }
      batch[best]!.push(index);
      free[best]! -= length;
      if (Math.max(...free) === 0) break;
    }
    waiting = [...deferred, ...queue.slice(head)];
    const filled = batch.filter((row) => row.length > 0);
    if (filled.length > 0) out.push(filled);
    if (exhausted) break;
  }
  return out;
}

/** Token counts of one packed micro-batch: real tokens, and the padded width (its fullest row). */
export function packedBatchTokens(
  batch: number[][],
  lengths: ArrayLike<number>,
): { real: number; width: number } {
  let real = 0;
  let width = 0;
  for (const row of batch) {
    let used = 0;
    for (const i of row) used += lengths[i]!;
    real += used;
    width = Math.max(width, used);
  }
  return { real, width };
}
