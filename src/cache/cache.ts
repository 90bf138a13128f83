/**
 * What loraprof keeps in its cache folder (`cacheDir()`: LORAPROF_CACHE, else the user cache) and how to
 * give the disk back: synthetic checkpoints (one folder per architecture and seed, 2 bytes a parameter: 29.5 GB
 * for a 14B model), token shards (one folder per dataset, tokenizer and template), downloaded datasets, and
 * the length and statistics caches of `plan` and `data`. Everything here is rebuilt on demand, so clearing
 * it loses no result (results live in the store under LORAPROF_HOME). Folders being written (a leading dot:
 * the engine's and the shard writer's temporary siblings, renamed into place when complete) are never
 * counted or removed: a writer may be filling them.
 */
import { existsSync, readdirSync, rmSync, statfsSync, statSync } from "node:fs";
import { join } from "node:path";

export const CACHE_KINDS = ["checkpoints", "shards", "datasets", "lengths"] as const;
export type CacheKind = (typeof CACHE_KINDS)[number];

/** The folders under the cache that hold each kind. */
const FOLDERS: Record<CacheKind, string[]> = {
  checkpoints: ["checkpoints"],
  shards: ["shards"],
  datasets: ["datasets"],
  lengths: ["plan-lengths", "stats"],
};

export const CACHE_KIND_DESCRIPTIONS: Record<CacheKind, string> = {
  checkpoints: "synthetic checkpoints (--weights random), one per architecture and seed",
  shards: "tokenized datasets (token shards), one per dataset, tokenizer and template",
  datasets: "downloaded datasets",
  lengths: "record-length and statistics caches of plan and data",
};

export interface CacheEntry {
  kind: CacheKind;
  name: string;
  path: string;
  bytes: number;
  /** Last change, ISO time. */
  modified: string;
}

export interface CacheSummary {
  dir: string;
  /** Free bytes on the cache's disk (null where the folder does not exist yet). */
  freeBytes: number | null;
  kinds: { kind: CacheKind; entries: number; bytes: number }[];
  entries: CacheEntry[];
  totalBytes: number;
}

/** Bytes under `path` (files and folders, links not followed). */
function sizeOf(path: string): number {
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st || st.isSymbolicLink()) return 0;
  if (!st.isDirectory()) return st.size;
  let total = 0;
  for (const name of readdirSync(path)) total += sizeOf(join(path, name));
  return total;
}

/** The complete entries of one kind (temporary folders being written are skipped). */
function entriesOf(dir: string, kind: CacheKind): CacheEntry[] {
  const out: CacheEntry[] = [];
  for (const folder of FOLDERS[kind]) {
    const base = join(dir, folder);
    if (!existsSync(base)) continue;
    for (const name of readdirSync(base).sort()) {
      if (name.startsWith(".")) continue;
      const path = join(base, name);
      const st = statSync(path, { throwIfNoEntry: false });
      if (!st) continue;
      out.push({ kind, name, path, bytes: sizeOf(path), modified: st.mtime.toISOString() });
    }
  }
  return out;
}

export function summarizeCache(dir: string): CacheSummary {
  const entries = CACHE_KINDS.flatMap((kind) => entriesOf(dir, kind));
  const kinds = CACHE_KINDS.map((kind) => {
    const mine = entries.filter((e) => e.kind === kind);
    return { kind, entries: mine.length, bytes: mine.reduce((a, e) => a + e.bytes, 0) };
  });
  let freeBytes: number | null = null;
  if (existsSync(dir)) {
    const fs = statfsSync(dir);
    freeBytes = Number(fs.bavail) * Number(fs.bsize);
  }
  return { dir, freeBytes, kinds, entries, totalBytes: entries.reduce((a, e) => a + e.bytes, 0) };
}

/** Removes the complete entries of `kinds`; returns what was removed. */
export function clearCache(dir: string, kinds: readonly CacheKind[]): CacheEntry[] {
  const removed: CacheEntry[] = [];
  for (const kind of kinds) {
    for (const entry of entriesOf(dir, kind)) {
      rmSync(entry.path, { recursive: true, force: true });
      removed.push(entry);
    }
  }
  return removed;
}
