/**
 * Choosing the records a run trains on: all of them, the first N, or a seeded sample of N.
 *
 * The random sample takes the first N entries of a seeded Fisher–Yates permutation (random.ts) and
 * returns them in their original file order. Two consequences worth knowing: the same (file, N, seed)
 * always yields the same records, and with one seed a smaller sample is contained in a larger one.
 * Training order is not decided here: the engine permutes records with its own seed.
 */
import { LoraprofError } from "../util/errors.js";
import { createRng, permutation } from "./random.js";

export type SubsetMode = "first" | "random";

export function selectSubset<T>(
  records: readonly T[],
  n: number | null,
  mode: SubsetMode,
  seed: number,
): T[] {
  if (n === null) return records.slice();
  if (!Number.isInteger(n) || n <= 0) {
    throw new LoraprofError(
      "DATASET_INVALID",
      `subset must be a positive whole number of records, got ${n}`,
      {
        problems: [
          {
            field: "subset",
            message: `got ${n}`,
            hint: "use e.g. --subset 5000, or leave it out for all records",
          },
        ],
      },
    );
  }
  if (n > records.length) {
    throw new LoraprofError(
      "DATASET_INVALID",
      `subset asks for ${n} records but the dataset holds only ${records.length}`,
      {
        problems: [
          {
            field: "subset",
            message: `${n} > ${records.length} records`,
            hint: `use --subset ${records.length} or less, or leave it out for all records`,
          },
        ],
      },
    );
  }
  if (mode === "first") return records.slice(0, n);
  const chosen = permutation(records.length, createRng(seed)).subarray(0, n).sort();
  return Array.from(chosen, (i) => records[i] as T);
}
