import { request } from "node:http";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { StepEvent } from "../protocol/index.js";
import { openStore, type Db } from "../store/db.js";
import { createRun, finishRun, insertSteps, markRunning } from "../store/runs.js";
import { checkBundle } from "../store/transfer.js";
import { RunDetailSchema, RunEventSchema, RunListSchema } from "./api.js";
import { startUiServer, type UiServer } from "./server.js";

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), "loraprof-ui-"));
}

/** An asset root beside a secret file that traversal must not reach. */
function assets(): string {
  const dir = tempDir();
  const root = join(dir, "ui");
  mkdirSync(root);
  writeFileSync(join(root, "index.html"), "<!doctype html><title>app</title>");
  writeFileSync(join(root, "app.js"), "console.log(1)");
  writeFileSync(join(dir, "secret.txt"), "secret");
  return root;
}

const step = (n: number, loss: number): StepEvent => ({
  type: "step",
  step: n,
  phase: n === 1 ? "warmup" : "measure",
  realTokens: 100,
  processedTokens: 120,
  labelTokens: 100,
  loss,
  stepSeconds: 0.5,
  lr: 1e-4,
  gradNorm: 1,
  allocatedBytes: 0,
  unixMs: Date.now(),
});

function storeWithRuns(): { path: string; db: Db; running: string; done: string } {
  const path = join(tempDir(), "loraprof.db");
  const db = openStore(path);
  const cfg = {
    model: "tiny-qwen2",
    batchSize: 2,
    seqLen: 96,
    steps: 10,
    optimizer: { name: "adamw_torch" },
  };
  const done = createRun(db, { config: cfg, label: "done" });
  markRunning(db, done, {});
  insertSteps(db, done, [step(1, 2), step(2, 1.5)]);
  finishRun(db, done, { status: "completed", metrics: { realTokensPerSecond: 200 } });
  const running = createRun(db, { config: { ...cfg, batchSize: 4 }, label: "live" });
  markRunning(db, running, {});
  insertSteps(db, running, [step(1, 3)]);
  return { path, db, running, done };
}

/** A raw request: the path is sent as written (no URL normalization), headers as given. */
function get(
  ui: UiServer,
  path: string,
  headers: Record<string, string> = {},
  method = "GET",
  body?: string,
): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((ok, fail) => {
    const req = request(
      {
        host: "127.0.0.1",
        port: ui.port,
        path,
        method,
        headers: { host: `127.0.0.1:${ui.port}`, ...headers },
      },
      (res) => {
        let text = "";
        res.on("data", (c: Buffer) => (text += c.toString()));
        res.on("end", () => ok({ status: res.statusCode ?? 0, body: text, headers: res.headers }));
      },
    );
    req.on("error", fail);
    req.end(body);
  });
}

const servers: UiServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});
async function serve(
  opts: Partial<Parameters<typeof startUiServer>[0]> & { dbPath: string },
): Promise<UiServer> {
  const ui = await startUiServer({ assetRoot: assets(), port: 0, pollMs: 20, ...opts });
  servers.push(ui);
  return ui;
}

describe("loraprof ui server", () => {
  it("serves the app and the runs, validated by the shared schema", async () => {
    const { path, running } = storeWithRuns();
    const ui = await serve({ dbPath: path });
    expect(ui.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const index = await get(ui, "/");
    expect(index.status).toBe(200);
    expect(index.headers["content-security-policy"]).toContain("script-src 'self'");
    const runs = RunListSchema.parse(JSON.parse((await get(ui, "/api/runs")).body));
    expect(runs.map((r) => r.label).sort()).toEqual(["done", "live"]);
    expect(runs.find((r) => r.label === "live")!.stepsDone).toBe(1);
    const js = await get(ui, "/assets/app.js");
    expect(js.status).toBe(200);
    expect(js.headers["content-type"]).toContain("text/javascript");
    const detail = RunDetailSchema.parse(JSON.parse((await get(ui, `/api/runs/${running}`)).body));
    expect(detail.steps.map((s) => s.loss)).toEqual([3]);
  });

  it("downloads the selected finished runs as a runs-export bundle", async () => {
    const { path, running, done } = storeWithRuns();
    const ui = await serve({ dbPath: path });
    const res = await get(ui, `/api/export?ids=${done},${running}`);
    expect(res.status, res.body).toBe(200);
    expect(res.headers["content-disposition"]).toBe('attachment; filename="loraprof-runs-1.json"');
    const bundle = checkBundle(JSON.parse(res.body), "download");
    // The running run is left out: only finished runs travel.
    expect(bundle.runs.map((r) => r["id"])).toEqual([done]);
    expect(bundle.runs[0]!.steps).toHaveLength(2);
    expect((await get(ui, "/api/export?ids=")).status).toBe(400);
    expect((await get(ui, "/api/export?ids=no-such-run")).status).toBe(404);
  });

  it.each([
    "/assets/../secret.txt",
    "/assets/..%2fsecret.txt",
    "/assets/%2e%2e/secret.txt",
    "/assets/%2e%2e%2fsecret.txt",
    "/assets/..%5csecret.txt",
    "/assets//etc/passwd",
    "/assets/%2fetc%2fpasswd",
    "/assets/%00app.js",
    "/../../etc/passwd",
    "/assets/",
  ])("answers 404 to a path outside its asset root: %s", async (path) => {
    const ui = await serve({ dbPath: storeWithRuns().path });
    const r = await get(ui, path);
    expect(r.status).toBe(404);
    expect(r.body).not.toContain("secret");
    expect(r.body).not.toContain("root:");
  });

  it("refuses a request whose Host is not a loopback name (DNS rebinding), and other origins", async () => {
    const ui = await serve({ dbPath: storeWithRuns().path });
    expect((await get(ui, "/api/runs", { host: "evil.example:80" })).status).toBe(403);
    expect((await get(ui, "/api/runs", { origin: "http://evil.example" })).status).toBe(403);
    expect((await get(ui, "/api/runs", { origin: `http://127.0.0.1:${ui.port}` })).status).toBe(200);
  });

  it("needs the access token on every request when it has one, from the URL, a cookie or a header", async () => {
    const { path } = storeWithRuns();
    const ui = await serve({ dbPath: path, token: "s3cret-token" });
    expect(ui.url).toContain("?token=s3cret-token");
    expect((await get(ui, "/")).status).toBe(401);
    expect((await get(ui, "/api/runs")).status).toBe(401);
    expect((await get(ui, "/api/runs?token=wrong")).status).toBe(401);
    const first = await get(ui, "/?token=s3cret-token");
    expect(first.status).toBe(200);
    const setCookie = String(first.headers["set-cookie"]);
    expect(setCookie).toContain("HttpOnly");
    expect((await get(ui, "/api/runs", { cookie: setCookie.split(";")[0]! })).status).toBe(200);
    expect((await get(ui, "/api/runs", { authorization: "Bearer s3cret-token" })).status).toBe(200);
  });

  it("will not serve a non-loopback address without a token", async () => {
    await expect(
      startUiServer({ dbPath: "x.db", assetRoot: assets(), host: "0.0.0.0", port: 0 }),
    ).rejects.toThrow(/needs an access token/);
  });

  it("names each invalid plan field and refuses a body that is not JSON", async () => {
    const ui = await serve({ dbPath: storeWithRuns().path });
    const json = { "content-type": "application/json" };
    const bad = await get(
      ui,
      "/api/plan",
      json,
      "POST",
      JSON.stringify({ model: "qwen2.5-0.5b", gpu: "h200", batchSize: 0, x: 1 }),
    );
    expect(bad.status).toBe(400);
    const fields = (JSON.parse(bad.body) as { error: { problems: { field: string }[] } }).error.problems.map(
      (p) => p.field,
    );
    expect(fields).toEqual(expect.arrayContaining(["batchSize", "x"]));
    expect((await get(ui, "/api/plan", json, "POST", "{nope")).status).toBe(400);
    expect((await get(ui, "/api/plan", { "content-type": "text/plain" }, "POST", "{}")).status).toBe(400);
    const ok = await get(
      ui,
      "/api/plan",
      json,
      "POST",
      JSON.stringify({ model: "qwen2.5-0.5b", gpu: "h200", padding: "max_length" }),
    );
    expect(ok.status, ok.body).toBe(200);
    expect((JSON.parse(ok.body) as { fits: { verdict: boolean } }).fits.verdict).toBe(true);
    // The fast recipe's packing applies unless the form names a padding.
    const fast = await get(
      ui,
      "/api/plan",
      json,
      "POST",
      JSON.stringify({ model: "qwen2.5-0.5b", gpu: "h200", recipe: "fast" }),
    );
    expect(fast.status, fast.body).toBe(200);
    expect((JSON.parse(fast.body) as { shape: string }).shape).toContain("padding packed");
    expect((await get(ui, "/api/compare?ids=one")).status).toBe(400);
    expect((await get(ui, "/api/runs/nope")).status).toBe(404);
  });

  it("explains a corrupt store instead of crashing, and keeps serving", async () => {
    const path = join(tempDir(), "loraprof.db");
    writeFileSync(path, "this is not a database, it is a text file long enough to have a header".repeat(20));
    const ui = await serve({ dbPath: path });
    const health = JSON.parse((await get(ui, "/api/health")).body) as {
      ok: boolean;
      error: { message: string };
    };
    expect(health.ok).toBe(false);
    expect(health.error.message).toMatch(/not a readable loraprof store/);
    const runs = await get(ui, "/api/runs");
    expect(runs.status).toBe(503);
    expect(runs.body).toContain("hint");
    expect((await get(ui, "/")).status).toBe(200);
  });

  it("says there is no store yet, and reads it once it appears", async () => {
    const dir = tempDir();
    const path = join(dir, "loraprof.db");
    const ui = await serve({ dbPath: path });
    const before = await get(ui, "/api/runs");
    expect(before.status).toBe(503);
    expect(before.body).toContain("there is no store");
    storeWithRunsAt(path);
    expect(RunListSchema.parse(JSON.parse((await get(ui, "/api/runs")).body))).toHaveLength(1);
  });

  it("pushes a run's new steps over server-sent events as the store gains them", async () => {
    const { path, db, running } = storeWithRuns();
    const ui = await serve({ dbPath: path });
    const detail = RunDetailSchema.parse(JSON.parse((await get(ui, `/api/runs/${running}`)).body));
    const events: unknown[] = [];
    const req = request({
      host: "127.0.0.1",
      port: ui.port,
      path: `/api/events?run=${running}&steps=${detail.cursor.stepRowid}&samples=${detail.cursor.sampleRowid}`,
    });
    const got = new Promise<void>((done) => {
      req.on("response", (res) => {
        expect(res.headers["content-type"]).toContain("text/event-stream");
        let buf = "";
        res.on("data", (c: Buffer) => {
          buf += c.toString();
          for (const m of buf.matchAll(/event: run\ndata: (.*)\n\n/g)) events.push(JSON.parse(m[1]!));
          buf = buf.slice(buf.lastIndexOf("\n\n") + 2);
          const steps = events.flatMap((e) => RunEventSchema.parse(e).steps.map((s) => s.step));
          if (steps.includes(3)) done();
        });
      });
    });
    req.end();
    await new Promise((r) => setTimeout(r, 100));
    insertSteps(db, running, [step(2, 2.5)]);
    await new Promise((r) => setTimeout(r, 100));
    insertSteps(db, running, [step(3, 2)]);
    await got;
    req.destroy();
    const steps = events.flatMap((e) => RunEventSchema.parse(e).steps.map((s) => s.step));
    // Each step once, none before the cursor.
    expect(steps).toEqual([2, 3]);
  });
});

function storeWithRunsAt(path: string): void {
  const db = openStore(path);
  createRun(db, { config: { model: "tiny-qwen2" } });
  db.close();
}
