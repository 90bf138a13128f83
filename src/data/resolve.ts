/**
 * Dataset names → something readable: `synthetic`, `alpaca` (downloaded once), a file or folder
 * path, or a hub dataset id (`owner/name`) already in the local Hugging Face cache (never
 * downloaded: its snapshot folder is read like any folder of data files, readers.ts).
 *
 * Names win over paths: a file called "alpaca" in the current folder is reached as `./alpaca`;
 * paths win over hub ids: a folder `owner/name` under the current folder is read as that folder.
 *
 * `alpaca` is the upstream Stanford Alpaca file (52,002 records), fetched once into
 * `<cacheDir>/datasets/alpaca_data.json`. The download streams into a temporary file while hashing,
 * is checked, then renamed into place, so a cut-off download never looks complete.
 * Verification: the size is known (22,773,992 bytes, shared/data/alpaca/SOURCE.md). No published
 * sha256 of the file could be found, so ALPACA_SHA256 is null: the first download is checked by size
 * only and the sha256 it had is recorded in a sidecar (`alpaca_data.json.sha256.json`); every later
 * use checks the cached file against that record (trust on first use). Set ALPACA_SHA256 once an
 * authoritative hash is known, and the first download is checked too.
 */
import { createHash, randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { basename, join, resolve as resolvePath } from "node:path";
import { LoraprofError } from "../util/errors.js";
import { huggingfaceHubCache } from "../util/paths.js";

export const ALPACA_URL = "https://raw.githubusercontent.com/tatsu-lab/stanford_alpaca/main/alpaca_data.json";
export const ALPACA_BYTES = 22_773_992;
/** Not established from any source (see the file header); null = trust on first use. */
export const ALPACA_SHA256: string | null = null;

export const DATASET_NAMES = ["synthetic", "alpaca"] as const;

export type ResolvedDataset =
  | { kind: "synthetic" }
  | {
      kind: "file";
      path: string;
      /** "path": the user's own file or folder; "alpaca": the upstream file in the cache; "hub": a hub dataset's cached snapshot folder. */
      origin: "path" | "alpaca" | "hub";
      /** True when this call downloaded the file. */
      downloaded: boolean;
    };

export interface DownloadProgress {
  receivedBytes: number;
  totalBytes: number;
}

export interface ResolveOptions {
  cacheDir: string;
  fetchImpl?: typeof fetch;
  /** Environment for the Hugging Face cache location (tests point HF_HUB_CACHE at a folder). */
  env?: NodeJS.ProcessEnv;
  /** Overrides for the `alpaca` download (tests point them at a local server). */
  url?: string;
  expectedBytes?: number;
  expectedSha256?: string | null;
  onProgress?: (p: DownloadProgress) => void;
  signal?: AbortSignal;
}

const ACCEPTED_HINT =
  "use `synthetic` (offline, Alpaca-like lengths), `alpaca` (Stanford Alpaca, downloaded once), a path to a dataset file or folder (JSON, JSONL, CSV, TSV, Parquet, Arrow, save_to_disk), or a hub dataset id already in the Hugging Face cache";

export async function resolveDataset(name: string, opts: ResolveOptions): Promise<ResolvedDataset> {
  if (name === "synthetic") return { kind: "synthetic" };
  if (name === "alpaca") return fetchAlpaca(opts);

  const path = resolvePath(name);
  const info = await stat(path).catch(() => null);
  if (info?.isFile() || info?.isDirectory()) return { kind: "file", path, origin: "path", downloaded: false };
  if (/^[\w.-]+\/[\w.-]+$/.test(name)) {
    const snapshot = await hubSnapshot(name, huggingfaceHubCache(opts.env));
    if (snapshot) return { kind: "file", path: snapshot, origin: "hub", downloaded: false };
  }
  const looksLikePath = /[/\\]/.test(name) || /\.(jsonl?|ndjson|csv|tsv|parquet|arrow)$/i.test(name);
  throw new LoraprofError(
    "DATASET_NOT_FOUND",
    looksLikePath ? `dataset file not found: ${path}` : `unknown dataset "${name}" (and no such file)`,
    {
      problems: [
        {
          field: "dataset",
          message: `"${name}" is neither a known name nor an existing file`,
          hint: ACCEPTED_HINT,
        },
      ],
      hint: ACCEPTED_HINT,
    },
  );
}

/**
 * A hub dataset's snapshot folder in the local cache: the revision refs/main names, else the most
 * recently written snapshot. Null when the dataset was never downloaded.
 */
async function hubSnapshot(id: string, hubCache: string): Promise<string | null> {
  const repo = join(hubCache, `datasets--${id.replace("/", "--")}`);
  const main = (await readFile(join(repo, "refs", "main"), "utf8").catch(() => "")).trim();
  if (main && (await stat(join(repo, "snapshots", main)).catch(() => null))?.isDirectory()) {
    return join(repo, "snapshots", main);
  }
  const names = await readdir(join(repo, "snapshots")).catch(() => [] as string[]);
  let best: { path: string; mtimeMs: number } | null = null;
  for (const n of names) {
    const p = join(repo, "snapshots", n);
    const s = await stat(p).catch(() => null);
    if (s?.isDirectory() && (!best || s.mtimeMs > best.mtimeMs)) best = { path: p, mtimeMs: s.mtimeMs };
  }
  return best?.path ?? null;
}

interface Sidecar {
  url: string;
  bytes: number;
  sha256: string;
  /** What the download was checked against when it happened. */
  verifiedBy: "size+sha256" | "size (sha256 recorded on first download)";
  downloadedAt: string;
}

async function fetchAlpaca(opts: ResolveOptions): Promise<ResolvedDataset> {
  const url = opts.url ?? ALPACA_URL;
  const expectedBytes = opts.expectedBytes ?? ALPACA_BYTES;
  const expectedSha = opts.expectedSha256 === undefined ? ALPACA_SHA256 : opts.expectedSha256;
  const dir = join(opts.cacheDir, "datasets");
  const target = join(dir, "alpaca_data.json");
  const sidecarPath = `${target}.sha256.json`;

  // Reuse a cached copy when it still is what was verified.
  const cached = await stat(target).catch(() => null);
  if (cached?.isFile() && cached.size === expectedBytes) {
    const sidecar = await readSidecar(sidecarPath);
    const want = expectedSha ?? sidecar?.sha256 ?? null;
    if (want !== null && (await sha256File(target)) === want) {
      return { kind: "file", path: target, origin: "alpaca", downloaded: false };
    }
  }
  // Anything else in the cache is stale or damaged: fetch again.
  await rm(target, { force: true });

  await mkdir(dir, { recursive: true });
  const tmp = join(dir, `.${basename(target)}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`);
  const fail = (message: string, cause?: unknown) =>
    new LoraprofError("DOWNLOAD_FAILED", `downloading Alpaca from ${url} failed: ${message}`, {
      hint: `without network access, download alpaca_data.json elsewhere and pass its path with --dataset <file> (or use --dataset synthetic)`,
      cause,
    });

  let res: Response;
  try {
    res = await (opts.fetchImpl ?? fetch)(url, { signal: opts.signal });
  } catch (err) {
    throw fail((err as Error).message, err);
  }
  if (!res.ok || !res.body) {
    throw fail(`HTTP ${res.status} ${res.statusText}`.trim());
  }

  const hash = createHash("sha256");
  let received = 0;
  const fh = await open(tmp, "w");
  try {
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        received += chunk.byteLength;
        if (received > expectedBytes) throw fail(`received more than the expected ${expectedBytes} bytes`);
        hash.update(chunk);
        await fh.write(chunk);
        opts.onProgress?.({ receivedBytes: received, totalBytes: expectedBytes });
      }
    } finally {
      await fh.close();
    }
    if (received !== expectedBytes) throw fail(`received ${received} bytes, expected ${expectedBytes}`);
    const sha = hash.digest("hex");
    if (expectedSha !== null && sha !== expectedSha) {
      throw fail(
        `sha256 is ${sha}, expected ${expectedSha} (the upstream file changed, or the download is corrupt)`,
      );
    }
    await rename(tmp, target);
    const sidecar: Sidecar = {
      url,
      bytes: received,
      sha256: sha,
      verifiedBy: expectedSha !== null ? "size+sha256" : "size (sha256 recorded on first download)",
      downloadedAt: new Date().toISOString(),
    };
    await writeFile(sidecarPath, JSON.stringify(sidecar, null, 2) + "\n");
  } catch (err) {
    await rm(tmp, { force: true });
    if (err instanceof LoraprofError) throw err;
    throw fail((err as Error).message, err);
  }
  return { kind: "file", path: target, origin: "alpaca", downloaded: true };
}

async function readSidecar(path: string): Promise<Sidecar | null> {
  try {
    const value = JSON.parse(await readFile(path, "utf8")) as Partial<Sidecar>;
    return typeof value.sha256 === "string" ? (value as Sidecar) : null;
  } catch {
    return null;
  }
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}
