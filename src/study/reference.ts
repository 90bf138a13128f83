/**
 * The paper's published figures: where they are in a checkout, and how its reference runs' fields
 * map onto loraprof's settings. The file's format (and reading it) is the report's
 * (report/reference.ts).
 */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { packageRoot } from "../util/paths.js";

export { readReference, type Reference, type ReferenceRun } from "../report/reference.js";

/** How a reference run's fields map onto RunConfig fields (dotted). */
export const REFERENCE_FIELDS: Record<string, string> = {
  optimizer: "optimizer.name",
  batch_size: "batchSize",
  seq_len: "seqLen",
  precision: "precision",
};

/** The study's published figures in a checkout (`../shared/reference/`), or null outside one. */
export function defaultReferencePath(): string | null {
  const candidates = [resolve("../shared/reference/paper-2509.12229.json")];
  try {
    candidates.push(resolve(packageRoot(), "../shared/reference/paper-2509.12229.json"));
  } catch {
    // Not inside a checkout: no default reference.
  }
  return candidates.find((p) => existsSync(p)) ?? null;
}
