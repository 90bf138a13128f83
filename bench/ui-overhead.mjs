// Does an open dashboard slow a run? Whole CPU runs of tiny-qwen2, alternating (ABBA) with the UI
// closed and open on the same store. "Open" is `loraprof ui` plus a client that does what a browser
// on the run page does: the store's event stream, a runs-list refetch on each change, the running
// run's document, and its own event stream of new steps (in a separate process, so this script's
// blocking calls cannot stall it). Every step is written to the store (--log-every 1), the most the
// UI's reads can meet. Figure: per pair, open ÷ closed real tokens/s − 1; the median and the range.
//
//   node bench/ui-overhead.mjs [--pairs 3] [--cli "node bin/loraprof.js"] [--out FILE] -- [run flags]
//
// The browser's own rendering is not in the figure: on the same few cores it competes for CPU with
// any process, which says nothing about the UI's design (its server reads in short WAL transactions
// that never block the run's writes).
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { median, runCliJson } from "./lib/common.mjs";

const argv = process.argv.slice(2);

// ---- client mode: a browser on the run page, without the rendering ------------------------------
if (argv[0] === "--client") {
  const base = new URL(argv[1]);
  const get = (path) =>
    new Promise((ok) => {
      request({ host: base.hostname, port: base.port, path }, (res) => {
        let body = "";
        res.on("data", (c) => (body += c));
        res.on("end", () => ok(body));
      })
        .on("error", () => ok("null"))
        .end();
    });
  const events = (path, onEvent) =>
    request({ host: base.hostname, port: base.port, path }, (res) => {
      let buf = "";
      res.on("data", (c) => {
        buf += c;
        let i;
        while ((i = buf.indexOf("\n\n")) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const name = /^event: (.*)$/m.exec(block)?.[1];
          if (name) onEvent(name);
        }
      });
    }).end();
  let following = null;
  let received = 0;
  events("/api/events", async () => {
    const runs = JSON.parse(await get("/api/runs")) ?? [];
    const live = runs.find((r) => r.status === "running");
    if (live && live.id !== following) {
      following = live.id;
      const detail = JSON.parse(await get(`/api/runs/${live.id}`));
      const c = detail.cursor;
      events(`/api/events?run=${live.id}&steps=${c.stepRowid}&samples=${c.sampleRowid}`, (name) => {
        if (name === "run") received++;
      });
    }
  });
  process.on("SIGTERM", () => {
    process.stdout.write(JSON.stringify({ runEvents: received }) + "\n");
    process.exit(0);
  });
} else {
  await main();
}

async function main() {
  const dash = argv.indexOf("--");
  const own = dash >= 0 ? argv.slice(0, dash) : argv;
  const extra =
    dash >= 0
      ? argv.slice(dash + 1)
      : [
          "--steps",
          "60",
          "--warmup-steps",
          "5",
          "--seq-len",
          "128",
          "--synthetic-records",
          "200",
          "--device",
          "cpu",
        ];
  const opt = (name, def) => (own.includes(name) ? own[own.indexOf(name) + 1] : def);
  const root = resolve(new URL("..", import.meta.url).pathname);
  const cli = opt("--cli", `node ${join(root, "bin/loraprof.js")}`).split(" ");
  const pairs = Number(opt("--pairs", "3"));
  const out = opt("--out", null);
  const db = join(mkdtempSync(join(tmpdir(), "loraprof-ui-bench-")), "loraprof.db");
  const runArgs = ["run", ...extra, "--log-every", "1", "--db", db, "--json", "-q"];

  const run = () => {
    const r = runCliJson(cli, runArgs);
    if (r.status !== "completed") throw new Error(`run ${r.id} ended ${r.status}: ${r.error?.message ?? ""}`);
    return r.metrics.realTokensPerSecond;
  };

  async function withUi(fn) {
    const ui = spawn(cli[0], [...cli.slice(1), "ui", "--port", "0", "--db", db], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    const url = await new Promise((ok, fail) => {
      let seen = "";
      ui.stdout.on("data", (d) => {
        seen += d;
        const m = /loraprof ui: (http:\/\/\S+)/.exec(seen);
        if (m) ok(m[1]);
      });
      ui.on("exit", (code) => fail(new Error(`loraprof ui exited ${code}`)));
    });
    const client = spawn(process.execPath, [new URL(import.meta.url).pathname, "--client", url], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    await new Promise((r) => setTimeout(r, 500));
    try {
      return fn();
    } finally {
      const report = new Promise((ok) => {
        let s = "";
        client.stdout.on("data", (d) => (s += d));
        client.on("exit", () => ok(s.trim() ? JSON.parse(s) : { runEvents: 0 }));
      });
      client.kill("SIGTERM");
      ui.kill("SIGINT");
      lastClient = await report;
    }
  }

  let lastClient = null;
  run(); // warms the shard and checkpoint caches; not counted
  const rows = [];
  for (let i = 0; i < pairs; i++) {
    // ABBA: open first on even pairs, closed first on odd ones, so drift cancels.
    const order = i % 2 === 0 ? ["open", "closed"] : ["closed", "open"];
    const row = {};
    for (const arm of order) {
      if (arm === "open") {
        row.open = await withUi(run);
        row.runEventsPushed = lastClient.runEvents;
      } else row.closed = run();
    }
    row.relativeChange = row.open / row.closed - 1;
    rows.push(row);
    process.stderr.write(
      `pair ${i + 1}/${pairs}: closed ${row.closed.toFixed(1)}, open ${row.open.toFixed(1)} real tokens/s (${(row.relativeChange * 100).toFixed(2)}%; ${row.runEventsPushed} run events pushed to the client)\n`,
    );
  }
  const changes = rows.map((r) => r.relativeChange);
  const result = {
    benchmark: "ui overhead: real tokens/s of a CPU run with the dashboard open vs closed (paired, ABBA)",
    command: `node bench/ui-overhead.mjs ${argv.join(" ")}`,
    runFlags: runArgs,
    pairs: rows,
    medianClosed: median(rows.map((r) => r.closed)),
    medianOpen: median(rows.map((r) => r.open)),
    medianRelativeChange: median(changes),
    minRelativeChange: Math.min(...changes),
    maxRelativeChange: Math.max(...changes),
  };
  if (out) writeFileSync(out, JSON.stringify(result, null, 2) + "\n");
  const pct = (x) => `${(x * 100).toFixed(2)}%`;
  console.log(
    `UI open vs closed: median ${pct(result.medianRelativeChange)} real tokens/s (range ${pct(result.minRelativeChange)} to ${pct(result.maxRelativeChange)}, ${pairs} pairs); medians ${result.medianOpen.toFixed(1)} open, ${result.medianClosed.toFixed(1)} closed`,
  );
}
