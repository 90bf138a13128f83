/**
 * `loraprof ui`'s HTTP server (node:http, no framework): the built front end from its own asset
 * folder, a JSON API validated by the shared schemas (src/server/api.ts), server-sent events that
 * push a run's new rows as the store gains them, and a sweep's HTML report.
 *
 * Security: loopback by default, and then the Host header must name loopback (a page elsewhere
 * cannot reach the API through DNS rebinding). On any other host every request needs the access
 * token (query `token=`, which also sets a same-site cookie, the cookie, or `Authorization: Bearer`).
 * Static files resolve inside the asset root only; anything else is a 404. The store is opened
 * read-only, and a store that cannot be read answers 503 with the reason, never a crash.
 *
 * Cost to a run: one `PRAGMA data_version` per poll while a browser is connected (no query at all
 * otherwise), and reads in short WAL transactions, which never block the run's writes.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { timingSafeEqual } from "node:crypto";
import { readFileSync, realpathSync, statSync } from "node:fs";
import { extname, join, resolve, sep } from "node:path";
import { LoraprofError } from "../util/errors.js";
import { buildReport } from "../report/index.js";
import { paperComparison } from "../study/claims.js";
import { reportCharts } from "../report/charts.js";
import { renderHtml } from "../report/html.js";
import { exportRuns } from "../store/transfer.js";
import { packageVersion } from "../util/paths.js";
import {
  CompareSchema,
  CursorSchema,
  HealthSchema,
  RunDetailSchema,
  SweepDetailSchema,
  SweepListSchema,
  PlanAnswerSchema,
  PlanOptionsSchema,
  type ApiError,
  type Cursor,
  type RunEvent,
  type RunList,
} from "./api.js";
import { planFromForm, planOptions } from "./plan.js";
import {
  compareRuns,
  listRunRows,
  listSweepRows,
  runDetail,
  runEventSince,
  StoreReader,
  sweepDetail,
} from "./store.js";

export interface UiServerOptions {
  dbPath: string;
  /** Folder of the built front end (index.html, app.js, app.css). */
  assetRoot: string;
  host?: string;
  port?: number;
  /** Required on every request when set (the CLI sets one for any non-loopback host). */
  token?: string | null;
  /** How often the store is checked for changes while a browser listens (ms). */
  pollMs?: number;
  /** Published figures for sweep reports (as `loraprof report` uses by default), or null. */
  referencePath?: string | null;
}

export interface UiServer {
  url: string;
  port: number;
  server: Server;
  close(): Promise<void>;
}

const LOOPBACK_HOSTS = new Set(["127.0.0.1", "localhost", "::1", "[::1]"]);
export const isLoopback = (host: string) => LOOPBACK_HOSTS.has(host) || /^127\.\d+\.\d+\.\d+$/.test(host);

const MIME: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".png": "image/png",
  ".svg": "image/svg+xml",
  ".json": "application/json",
  ".map": "application/json",
};

const SECURITY_HEADERS = {
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cross-origin-resource-policy": "same-origin",
};
// The app: its own script only; ECharts and the report set inline styles.
const APP_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-src 'self'; connect-src 'self'; frame-ancestors 'self'; base-uri 'none'; form-action 'none'";
// A report: no script at all.
const REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'";

const TOKEN_COOKIE = "loraprof_ui_token";
const MAX_BODY_BYTES = 64 * 1024;

interface Listener {
  res: ServerResponse;
  runId: string | null;
  cursor: Cursor;
  /** The run's last known status, so a status change alone also produces a run message. */
  status: string | null;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    "content-type": "application/json; charset=utf-8",
    "cache-control": "no-store",
  });
  res.end(text);
}

function errorBody(err: LoraprofError): ApiError {
  return {
    error: {
      code: err.code,
      message: err.message,
      problems: err.problems.map((p) => ({
        field: p.field,
        message: p.message,
        ...(p.hint ? { hint: p.hint } : {}),
      })),
      ...(err.hint ? { hint: err.hint } : {}),
    },
  };
}

function sendError(res: ServerResponse, err: unknown): void {
  if (!(err instanceof LoraprofError)) {
    sendJson(res, 500, errorBody(new LoraprofError("INTERNAL", (err as Error)?.message ?? String(err))));
    return;
  }
  const status =
    err.code === "STORE" ? 503 : err.code === "RUN_NOT_FOUND" ? 404 : err.code === "INTERNAL" ? 500 : 400;
  sendJson(res, status, errorBody(err));
}

function notFound(res: ServerResponse): void {
  res.writeHead(404, { ...SECURITY_HEADERS, "content-type": "text/plain; charset=utf-8" });
  res.end("not found\n");
}

function tokenMatches(given: string | null | undefined, token: string): boolean {
  if (!given) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

function hostOf(origin: string): string | null {
  try {
    return new URL(origin).host;
  } catch {
    return null;
  }
}

function cookie(req: IncomingMessage, name: string): string | null {
  for (const part of (req.headers.cookie ?? "").split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === name) return decodeURIComponent(v.join("="));
  }
  return null;
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES)
      throw new LoraprofError("FLAG_INVALID", `the request body is over ${MAX_BODY_BYTES} bytes`, {
        hint: "send the plan form's fields only",
      });
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch {
    throw new LoraprofError("FLAG_INVALID", "the request body is not JSON", {
      hint: "send a JSON object with the plan form's fields",
    });
  }
}

export async function startUiServer(opts: UiServerOptions): Promise<UiServer> {
  const host = opts.host ?? "127.0.0.1";
  const token = opts.token ?? null;
  if (!isLoopback(host) && !token) {
    throw new LoraprofError("FLAG_INVALID", `serving on ${host} needs an access token`, {
      hint: "the CLI makes one for --host; the library needs `token`",
    });
  }
  const assetRoot = realpathSync(resolve(opts.assetRoot));
  const store = new StoreReader(opts.dbPath);
  const listeners = new Set<Listener>();
  let lastVersion: number | null = null;

  function serveAsset(res: ServerResponse, rel: string): void {
    // Decoded, resolved, and then required to stay inside the root: "..", encoded or not, and
    // symlinks out of the root all end here as 404.
    let decoded: string;
    try {
      decoded = decodeURIComponent(rel);
    } catch {
      return notFound(res);
    }
    if (decoded.includes("\0")) return notFound(res);
    const path = resolve(assetRoot, "." + sep + decoded);
    let real: string;
    try {
      real = realpathSync(path);
      if (!statSync(real).isFile()) return notFound(res);
    } catch {
      return notFound(res);
    }
    if (!real.startsWith(assetRoot + sep)) return notFound(res);
    const type = MIME[extname(real)] ?? "application/octet-stream";
    res.writeHead(200, {
      ...SECURITY_HEADERS,
      "content-type": type,
      "cache-control": "no-cache",
      ...(type.startsWith("text/html") ? { "content-security-policy": APP_CSP } : {}),
    });
    res.end(readFileSync(real));
  }

  function push(l: Listener, event: string, data: unknown): void {
    l.res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  /** One poll: nothing unless another connection committed since the last. */
  function poll(): void {
    if (listeners.size === 0) return;
    let version: number;
    try {
      version = store.version();
    } catch {
      return; // a store that cannot be read: the page shows it on its next request
    }
    if (version === lastVersion) return;
    lastVersion = version;
    for (const l of listeners) {
      push(l, "store", { version });
      if (!l.runId) continue;
      try {
        const ev = store.read((db) => runEventSince(db, l.runId!, l.cursor));
        if (ev.steps.length || ev.samples.length || ev.run.status !== l.status) {
          l.cursor = ev.cursor;
          l.status = ev.run.status;
          // Typed by the schema (z.infer) and parsed by the browser; not re-parsed here, on the path
          // that runs at every commit of a training run.
          push(l, "run", ev satisfies RunEvent);
        }
      } catch {
        // the run vanished or the store broke: the next change retries
      }
    }
  }
  const pollMs = opts.pollMs ?? 250;
  const timer = setInterval(poll, pollMs);
  timer.unref();

  function openEvents(req: IncomingMessage, res: ServerResponse, url: URL): void {
    const runId = url.searchParams.get("run");
    const cursor = CursorSchema.safeParse({
      stepRowid: Number(url.searchParams.get("steps") ?? 0),
      sampleRowid: Number(url.searchParams.get("samples") ?? 0),
    });
    if (!cursor.success || (runId !== null && !/^[\w.-]{1,100}$/.test(runId))) {
      sendError(
        res,
        new LoraprofError("FLAG_INVALID", "invalid event stream parameters", {
          hint: "run=<run id>&steps=<row id>&samples=<row id>",
        }),
      );
      return;
    }
    res.writeHead(200, {
      ...SECURITY_HEADERS,
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
      connection: "keep-alive",
    });
    res.write(`retry: 2000\n\n`);
    const l: Listener = { res, runId, cursor: cursor.data, status: null };
    listeners.add(l);
    // Rows written between the page's fetch and this stream are sent at once.
    lastVersion = null;
    const ping = setInterval(() => res.write(`: ping\n\n`), 15_000);
    ping.unref();
    req.on("close", () => {
      clearInterval(ping);
      listeners.delete(l);
    });
  }

  async function api(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const parts = url.pathname.split("/").filter(Boolean).slice(1); // after "api"
    const [resource, id] = parts;
    if (req.method === "POST" && resource === "plan" && parts.length === 1) {
      // JSON only: a cross-site page cannot send that without a CORS preflight, which is refused.
      if (!/^application\/json\b/.test(req.headers["content-type"] ?? "")) {
        throw new LoraprofError("FLAG_INVALID", "the plan request must be JSON", {
          hint: "send it with content-type: application/json",
        });
      }
      const body = await readBody(req);
      return sendJson(res, 200, PlanAnswerSchema.parse(await planFromForm(body, opts.dbPath)));
    }
    if (req.method !== "GET") {
      res.writeHead(405, { ...SECURITY_HEADERS, allow: "GET" });
      res.end();
      return;
    }
    if (resource === "health" && parts.length === 1) {
      let error: ApiError["error"] | null = null;
      try {
        store.read((db) => db.prepare("SELECT count(*) FROM runs").get());
      } catch (err) {
        error = errorBody(err as LoraprofError).error;
      }
      return sendJson(res, 200, HealthSchema.parse({ ok: error === null, dbPath: opts.dbPath, error }));
    }
    if (resource === "events" && parts.length === 1) return openEvents(req, res, url);
    if (resource === "runs" && parts.length === 1)
      // Refetched at each store change by an open runs page: typed, parsed by the browser only.
      return sendJson(res, 200, store.read((db) => listRunRows(db)) satisfies RunList);
    if (resource === "runs" && parts.length === 2)
      return sendJson(res, 200, RunDetailSchema.parse(store.read((db) => runDetail(db, id!))));
    if (resource === "compare" && parts.length === 1) {
      const ids = (url.searchParams.get("ids") ?? "").split(",").filter(Boolean);
      if (ids.length < 2 || ids.length > 8) {
        throw new LoraprofError("FLAG_INVALID", "compare needs 2 to 8 run ids", {
          problems: [{ field: "ids", message: `got ${ids.length}`, hint: "select 2 to 8 runs in the table" }],
        });
      }
      return sendJson(res, 200, CompareSchema.parse(store.read((db) => compareRuns(db, ids))));
    }
    if (resource === "export" && parts.length === 1) {
      // The selected finished runs as a `runs export` bundle, downloaded as a file (`runs import` reads it).
      const ids = (url.searchParams.get("ids") ?? "").split(",").filter(Boolean);
      if (ids.length < 1 || ids.length > 1000) {
        throw new LoraprofError("FLAG_INVALID", "export needs 1 to 1000 run ids", {
          problems: [{ field: "ids", message: `got ${ids.length}`, hint: "select runs in the table" }],
        });
      }
      const { bundle } = store.read((db) => exportRuns(db, { runIds: ids }, packageVersion()));
      res.writeHead(200, {
        ...SECURITY_HEADERS,
        "content-type": "application/json; charset=utf-8",
        "cache-control": "no-store",
        "content-disposition": `attachment; filename="loraprof-runs-${bundle.runs.length}.json"`,
      });
      res.end(JSON.stringify(bundle, null, 1) + "\n");
      return;
    }
    if (resource === "sweeps" && parts.length === 1)
      return sendJson(res, 200, SweepListSchema.parse(store.read((db) => listSweepRows(db))));
    if (resource === "sweeps" && parts.length === 2)
      return sendJson(res, 200, SweepDetailSchema.parse(store.read((db) => sweepDetail(db, id!))));
    if (resource === "plan-options" && parts.length === 1)
      return sendJson(res, 200, PlanOptionsSchema.parse(planOptions()));
    return notFound(res);
  }

  function report(res: ServerResponse, sweepId: string): void {
    const html = store.read((db) => {
      const model = buildReport(db, {
        targets: [sweepId],
        reference: opts.referencePath ?? null,
        comparison: paperComparison,
      });
      return renderHtml(model, reportCharts(model));
    });
    res.writeHead(200, {
      ...SECURITY_HEADERS,
      "content-type": "text/html; charset=utf-8",
      "cache-control": "no-store",
      "content-security-policy": REPORT_CSP,
    });
    res.end(html);
  }

  function allowed(req: IncomingMessage, res: ServerResponse, url: URL): boolean {
    // A browser names the page that sent a request: only this server's own pages may call it.
    const origin = req.headers.origin;
    if (origin && origin !== "null" && hostOf(origin) !== req.headers.host) {
      res.writeHead(403, { ...SECURITY_HEADERS, "content-type": "text/plain; charset=utf-8" });
      res.end("cross-origin requests are refused\n");
      return false;
    }
    if (token) {
      const given = url.searchParams.get("token");
      const auth = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1];
      if (tokenMatches(given, token)) {
        res.setHeader("set-cookie", `${TOKEN_COOKIE}=${token}; HttpOnly; SameSite=Strict; Path=/`);
        return true;
      }
      if (tokenMatches(auth, token) || tokenMatches(cookie(req, TOKEN_COOKIE), token)) return true;
      res.writeHead(401, { ...SECURITY_HEADERS, "content-type": "text/plain; charset=utf-8" });
      res.end("this loraprof ui needs its access token: open the URL `loraprof ui` printed\n");
      return false;
    }
    // Loopback: the browser must have asked for a loopback name (no DNS rebinding).
    const hostname = (req.headers.host ?? "").replace(/:\d+$/, "");
    if (!isLoopback(hostname)) {
      res.writeHead(403, { ...SECURITY_HEADERS, "content-type": "text/plain; charset=utf-8" });
      res.end("this loraprof ui answers loopback names only\n");
      return false;
    }
    return true;
  }

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://loraprof.invalid");
    void (async () => {
      if (!allowed(req, res, url)) return;
      const path = url.pathname;
      if (path.startsWith("/api/")) return api(req, res, url);
      if (req.method !== "GET" && req.method !== "HEAD") {
        res.writeHead(405, { ...SECURITY_HEADERS, allow: "GET" });
        res.end();
        return;
      }
      const reportMatch = /^\/reports\/sweep\/([\w.-]{1,100})$/.exec(path);
      if (reportMatch) return report(res, reportMatch[1]!);
      if (path === "/" || path === "/index.html") return serveAsset(res, "index.html");
      if (path.startsWith("/assets/")) return serveAsset(res, path.slice("/assets/".length));
      return notFound(res);
    })().catch((err: unknown) => {
      if (res.headersSent) res.end();
      else sendError(res, err);
    });
  });

  const port = await new Promise<number>((ok, fail) => {
    server.once("error", (err: NodeJS.ErrnoException) =>
      fail(
        new LoraprofError(
          "FLAG_INVALID",
          `cannot listen on ${host}:${opts.port ?? 7070}: ${err.code ?? err.message}`,
          {
            problems: [
              {
                field: "--port",
                message: err.code === "EADDRINUSE" ? "the port is in use" : err.message,
                hint: "pass another --port (0 picks a free one)",
              },
            ],
          },
        ),
      ),
    );
    server.listen(opts.port ?? 7070, host, () => {
      const a = server.address();
      ok(typeof a === "object" && a ? a.port : (opts.port ?? 7070));
    });
  });
  const shownHost = host.includes(":") ? `[${host}]` : host;
  const url = `http://${shownHost}:${port}/${token ? `?token=${token}` : ""}`;
  return {
    url,
    port,
    server,
    close: () =>
      new Promise<void>((ok) => {
        clearInterval(timer);
        for (const l of listeners) l.res.end();
        listeners.clear();
        store.close();
        server.close(() => ok());
        server.closeAllConnections();
      }),
  };
}

/** The built front end: dist/ui beside the compiled server (or the repository's, from src/). */
export function defaultAssetRoot(packageRoot: string): string {
  return join(packageRoot, "dist", "ui");
}
