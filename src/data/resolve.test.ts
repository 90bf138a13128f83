import { createHash } from "node:crypto";
import { createServer, type Server } from "node:http";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { LoraprofError } from "../util/errors.js";
import { resolveDataset, type ResolveOptions } from "./resolve.js";

const BODY = Buffer.from(JSON.stringify([{ instruction: "Say hi.", input: "", output: "Hi" }]));
const SHA = createHash("sha256").update(BODY).digest("hex");

let server: Server;
let base: string;
let requests: string[] = [];
let body = BODY;
let tmp: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    requests.push(req.url ?? "");
    if (req.url === "/missing") {
      res.writeHead(404, { "content-type": "text/plain" }).end("not here");
      return;
    }
    res.writeHead(200, { "content-type": "application/json", "content-length": body.length }).end(body);
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  tmp = await mkdtemp(join(tmpdir(), "loraprof-resolve-"));
});
afterAll(async () => {
  await new Promise((ok) => server.close(ok));
  await rm(tmp, { recursive: true, force: true });
});
beforeEach(() => {
  requests = [];
  body = BODY;
});

let n = 0;
async function freshCache(): Promise<string> {
  const dir = join(tmp, `cache${n++}`);
  await mkdir(dir);
  return dir;
}
const opts = (cacheDir: string, extra: Partial<ResolveOptions> = {}): ResolveOptions => ({
  cacheDir,
  url: `${base}/alpaca_data.json`,
  expectedBytes: BODY.length,
  expectedSha256: SHA,
  ...extra,
});

describe("resolveDataset", () => {
  it("resolves synthetic without touching the disk or the network", async () => {
    expect(await resolveDataset("synthetic", { cacheDir: join(tmp, "never") })).toEqual({
      kind: "synthetic",
    });
    expect(requests).toEqual([]);
  });

  it("resolves an existing file to its absolute path", async () => {
    const file = join(tmp, "mine.jsonl");
    await writeFile(file, "{}\n");
    expect(await resolveDataset(file, { cacheDir: tmp })).toEqual({
      kind: "file",
      path: file,
      origin: "path",
      downloaded: false,
    });
  });

  it("downloads alpaca once, verifies it and reuses it without a second request", async () => {
    const cacheDir = await freshCache();
    const progress: number[] = [];
    const first = await resolveDataset(
      "alpaca",
      opts(cacheDir, { onProgress: (p) => progress.push(p.receivedBytes) }),
    );
    const target = join(cacheDir, "datasets", "alpaca_data.json");
    expect(first).toEqual({ kind: "file", path: target, origin: "alpaca", downloaded: true });
    expect(await readFile(target)).toEqual(BODY);
    expect(progress[progress.length - 1]).toBe(BODY.length);
    const sidecar = JSON.parse(await readFile(`${target}.sha256.json`, "utf8")) as {
      sha256: string;
      verifiedBy: string;
    };
    expect(sidecar).toMatchObject({ sha256: SHA, verifiedBy: "size+sha256" });

    const second = await resolveDataset("alpaca", opts(cacheDir));
    expect(second).toMatchObject({ path: target, downloaded: false });
    expect(requests).toHaveLength(1);
  });

  it("refuses a download of the wrong size and leaves nothing behind", async () => {
    const cacheDir = await freshCache();
    const err = await resolveDataset("alpaca", opts(cacheDir, { expectedBytes: BODY.length + 5 })).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(LoraprofError);
    expect(err).toMatchObject({
      code: "DOWNLOAD_FAILED",
      message: expect.stringContaining(`received ${BODY.length} bytes`),
    });
    expect(await readdir(join(cacheDir, "datasets"))).toEqual([]);
  });

  it("refuses a download larger than expected as soon as it overflows", async () => {
    const cacheDir = await freshCache();
    await expect(resolveDataset("alpaca", opts(cacheDir, { expectedBytes: 10 }))).rejects.toMatchObject({
      code: "DOWNLOAD_FAILED",
      message: expect.stringContaining("more than the expected 10 bytes"),
    });
    expect(await readdir(join(cacheDir, "datasets"))).toEqual([]);
  });

  it("refuses a download whose sha256 differs", async () => {
    const cacheDir = await freshCache();
    await expect(
      resolveDataset("alpaca", opts(cacheDir, { expectedSha256: "0".repeat(64) })),
    ).rejects.toMatchObject({
      code: "DOWNLOAD_FAILED",
      message: expect.stringContaining(`sha256 is ${SHA}`),
    });
    expect(await readdir(join(cacheDir, "datasets"))).toEqual([]);
  });

  it("reports an HTTP error with its status and a way forward offline", async () => {
    const err = (await resolveDataset("alpaca", opts(await freshCache(), { url: `${base}/missing` })).catch(
      (e: unknown) => e,
    )) as LoraprofError;
    expect(err.code).toBe("DOWNLOAD_FAILED");
    expect(err.message).toContain("HTTP 404");
    expect(err.hint).toMatch(/--dataset synthetic/);
  });

  it("reports an unreachable server as a failed download", async () => {
    const closed = createServer();
    await new Promise<void>((ok) => closed.listen(0, "127.0.0.1", ok));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((ok) => closed.close(ok));
    await expect(
      resolveDataset("alpaca", opts(await freshCache(), { url: `http://127.0.0.1:${port}/x` })),
    ).rejects.toMatchObject({ code: "DOWNLOAD_FAILED" });
  });

  it("without a known sha256, records the first download's and re-downloads a cached copy that no longer matches", async () => {
    const cacheDir = await freshCache();
    const o = opts(cacheDir, { expectedSha256: null });
    await resolveDataset("alpaca", o);
    const target = join(cacheDir, "datasets", "alpaca_data.json");
    const sidecar = JSON.parse(await readFile(`${target}.sha256.json`, "utf8")) as {
      sha256: string;
      verifiedBy: string;
    };
    expect(sidecar.sha256).toBe(SHA);
    expect(sidecar.verifiedBy).toMatch(/first download/);

    await resolveDataset("alpaca", o);
    expect(requests).toHaveLength(1);

    // Same size, different bytes: the cache no longer matches what was recorded.
    const damaged = Buffer.from(BODY);
    damaged[2] = damaged[2]! ^ 1;
    await writeFile(target, damaged);
    const again = await resolveDataset("alpaca", o);
    expect(again).toMatchObject({ downloaded: true });
    expect(requests).toHaveLength(2);
    expect(await readFile(target)).toEqual(BODY);
  });

  it("names what is accepted when the dataset is unknown", async () => {
    const err = (await resolveDataset("alpacca", { cacheDir: tmp }).catch(
      (e: unknown) => e,
    )) as LoraprofError;
    expect(err.code).toBe("DATASET_NOT_FOUND");
    expect(err.message).toContain('unknown dataset "alpacca"');
    expect(err.hint).toMatch(/synthetic.*alpaca.*JSONL/);
    const missing = (await resolveDataset("data/none.jsonl", { cacheDir: tmp }).catch(
      (e: unknown) => e,
    )) as LoraprofError;
    expect(missing.code).toBe("DATASET_NOT_FOUND");
    expect(missing.message).toMatch(/dataset file not found: .*data\/none\.jsonl/);
  });
});
