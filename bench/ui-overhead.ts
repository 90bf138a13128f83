// Does an open dashboard slow a run? CPU runs of tiny-qwen2 on one store, with `loraprof ui` open
// and a client doing what a browser on the run page does: the store's event stream, a runs-list
// refetch on each change, the running run's document and its own stream of new steps (a separate
// process, so that this script's waits cannot stall it). Every step is written to the store
// (--log-every 1), the most the UI's reads can meet. Two designs:
//
//   paired (default): one run with the UI and its client open throughout, both paused (SIGSTOP) and
//     resumed (SIGCONT) every --period-ms; each measured step is labelled by their state and
//     neighbouring open/paused segments are compared (bench/lib/paired.ts), so the host's drift (a
//     shared machine) cancels. Padding max_length keeps the work per step constant.
//   runs: whole runs, UI open vs closed, in ABBA pairs; per pair open ÷ closed real tokens/s − 1.
//     Simple, but only as sharp as the host's run-to-run spread.
//
//   npm run bench:build && node dist-bench/ui-overhead.mjs [--design paired|runs] [--runs 2] [--pairs 3] [--period-ms 3000]
//        [--cli "node bin/loraprof.js"] [--out FILE] -- [run flags]
//
// The browser's rendering is not in the figure: on the same few cores it competes for CPU as any
// process would, which says nothing about the UI's design (its server reads in short WAL
// transactions on its own connection, which never block the run's writes).
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { clearInterval, setInterval } from "node:timers";
import { join } from "node:path";
import { setTimeout } from "node:timers";
import { median, repoRoot, runCliJson } from "./lib/common.js";
import { labelSteps, pairedEffect, type PairedEffect, type StepRow, type Toggle } from "./lib/paired.js";
import type { RunResult } from "../src/index.js";

/** What the client reports when it is stopped, with the CPU both processes used. */
interface ClientReport {
  runEvents: number;
  uiCpuSeconds: number | null;
  clientCpuSeconds: number | null;
}
interface PairRow {
  open?: number | null;
  closed?: number | null;
  runEventsPushed?: number;
  uiCpuSeconds?: number | null;
  clientCpuSeconds?: number | null;
  relativeChange?: number;
}

const argv = process.argv.slice(2);

// ---- client mode: a browser on the run page, without the rendering ------------------------------
if (argv[0] === "--client") {
  const base = new URL(argv[1] ?? "");
  const get = (path: string) =>
    new Promise<string>((ok) => {
      request({ host: base.hostname, port: base.port, path }, (res) => {
        let body = "";
        res.on("data", (c: Buffer) => (body += c.toString()));
        res.on("end", () => ok(body));
      })
        .on("error", () => ok("null"))
        .end();
    });
  const events = (path: string, onEvent: (name: string) => void) =>
    request({ host: base.hostname, port: base.port, path }, (res) => {
      let buf = "";
      res.on("data", (c: Buffer) => {
        buf += c.toString();
        let i;
        while ((i = buf.indexOf("\n\n")) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const name = /^event: (.*)$/m.exec(block)?.[1];
          if (name) onEvent(name);
        }
      });
    }).end();
  let following: string | null = null;
  let received = 0;
  events("/api/events", async () => {
    const runs = (JSON.parse(await get("/api/runs")) as { id: string; status: string }[] | null) ?? [];
    const live = runs.find((r) => r.status === "running");
    if (live && live.id !== following) {
      following = live.id;
      const detail = JSON.parse(await get(`/api/runs/${live.id}`)) as {
        cursor: { stepRowid: number; sampleRowid: number };
      };
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

/** CPU time (user + system) a process has used so far, from Linux's /proc; null elsewhere. */
function cpuSeconds(pid: number | undefined): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
  } catch {
    return null;
  }
}

async function main() {
  const dash = argv.indexOf("--");
  const own = dash >= 0 ? argv.slice(0, dash) : argv;
  function opt(name: string, def: string): string;
  function opt(name: string, def: null): string | null;
  function opt(name: string, def: string | null): string | null {
    return own.includes(name) ? (own[own.indexOf(name) + 1] ?? def) : def;
  }
  const design = opt("--design", "paired");
  if (!["paired", "runs"].includes(design)) throw new Error(`--design ${design}: use paired or runs`);
  const extra =
    dash >= 0
      ? argv.slice(dash + 1)
      : design === "paired"
        ? ["--steps", "150", "--warmup-steps", "5", "--padding", "max_length", "--seq-len", "128"]
        : ["--steps", "60", "--warmup-steps", "5", "--seq-len", "128"];
  const root = repoRoot();
  const cli = opt("--cli", `node ${join(root, "bin/loraprof.js")}`).split(" ");
  const out = opt("--out", null);
  const db = join(mkdtempSync(join(tmpdir(), "loraprof-ui-bench-")), "loraprof.db");
  const runArgs = ["run", "--synthetic-records", "200", "--device", "cpu", ...extra, "--log-every", "1"];
  runArgs.push("--db", db, "--json", "-q");
  const pct = (x: number | null | undefined) =>
    x === null || x === undefined ? "—" : `${(x * 100).toFixed(2)}%`;
  const command = `node dist-bench/ui-overhead.mjs ${argv.join(" ")}`;

  /** One run as a child process (this process keeps its timers running meanwhile). */
  const runAsync = () =>
    new Promise<RunResult>((ok, fail) => {
      const child = spawn(cli[0]!, [...cli.slice(1), ...runArgs], { stdio: ["ignore", "pipe", "inherit"] });
      let text = "";
      child.stdout.on("data", (d: Buffer) => (text += d.toString()));
      child.on("exit", () => {
        try {
          const r = JSON.parse(text) as RunResult;
          if (r.status !== "completed")
            fail(new Error(`run ${r.id} ended ${r.status}: ${r.error?.message ?? ""}`));
          else ok(r);
        } catch {
          fail(new Error(`loraprof run: no JSON: ${text.slice(-500)}`));
        }
      });
    });

  /** `loraprof ui` on the bench's store and the browser-like client; returns both processes. */
  async function openUi() {
    const ui = spawn(cli[0]!, [...cli.slice(1), "ui", "--port", "0", "--db", db], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    const url = await new Promise<string>((ok, fail) => {
      let seen = "";
      ui.stdout.on("data", (d: Buffer) => {
        seen += d.toString();
        const m = /loraprof ui: (http:\/\/\S+)/.exec(seen);
        if (m) ok(m[1]!);
      });
      ui.on("exit", (code) => fail(new Error(`loraprof ui exited ${code}`)));
    });
    const client = spawn(process.execPath, [new URL(import.meta.url).pathname, "--client", url], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    await new Promise((r) => setTimeout(r, 500));
    // CPU used while the run trains, not the processes' start (module loading).
    const start = { ui: cpuSeconds(ui.pid), client: cpuSeconds(client.pid) };
    const used = (pid: number | undefined, from: number | null) => {
      const now = cpuSeconds(pid);
      return now === null || from === null ? null : Number((now - from).toFixed(2));
    };
    const close = async () => {
      const cpu = { uiCpuSeconds: used(ui.pid, start.ui), clientCpuSeconds: used(client.pid, start.client) };
      const report = new Promise<ClientReport>((ok) => {
        let s = "";
        client.stdout.on("data", (d: Buffer) => (s += d.toString()));
        client.on("exit", () =>
          ok({ ...((s.trim() ? JSON.parse(s) : { runEvents: 0 }) as { runEvents: number }), ...cpu }),
        );
      });
      for (const p of [client, ui]) p.kill("SIGCONT");
      client.kill("SIGTERM");
      ui.kill("SIGINT");
      return report;
    };
    return { pids: [ui.pid, client.pid].filter((p): p is number => p !== undefined), close };
  }

  await runAsync(); // warms the shard and checkpoint caches; not counted
  let result: Record<string, unknown>;
  if (design === "paired") {
    const periodMs = Number(opt("--period-ms", "3000"));
    const runs = Number(opt("--runs", "2"));
    const perRun: ({ runId: string; runSeconds: number | null } & Partial<ClientReport> &
      PairedEffect & {
        runEventsPushed: number;
      })[] = [];
    for (let i = 0; i < runs; i++) {
      const ui = await openUi();
      const toggles: Toggle[] = [{ t: Date.now(), on: true }];
      let on = true;
      const timer = setInterval(() => {
        on = !on;
        for (const pid of ui.pids) process.kill(pid, on ? "SIGCONT" : "SIGSTOP");
        toggles.push({ t: Date.now(), on });
      }, periodMs);
      let r: RunResult;
      try {
        r = await runAsync();
      } finally {
        clearInterval(timer);
      }
      const client = await ui.close();
      const steps = runCliJson<{ steps: StepRow[] }>(cli, ["runs", "show", r.id, "--db", db, "--json"]).steps;
      const effect = pairedEffect(labelSteps(steps, toggles));
      perRun.push({
        runId: r.id,
        runSeconds: r.metrics?.measuredSeconds ?? null,
        runEventsPushed: client.runEvents,
        uiCpuSeconds: client.uiCpuSeconds,
        clientCpuSeconds: client.clientCpuSeconds,
        ...effect,
      });
      process.stderr.write(
        `run ${i + 1}/${runs}: tokens/s with the UI open vs paused ${pct(effect.relativeThroughput)} (${effect.pairs} segment pairs, 95% CI of step time ${effect.ci95 ? effect.ci95.map(pct).join(" to ") : "—"}; ${client.runEvents} run events pushed)\n`,
      );
    }
    const changes = perRun
      .map((r) => r.relativeThroughput)
      .filter((x): x is number => x !== null && x !== undefined);
    const medianRelativeThroughput = changes.length ? median(changes) : null;
    result = {
      benchmark:
        "ui overhead (paired): real tokens/s of a CPU run with the dashboard open vs paused, within each run",
      command,
      design,
      periodMs,
      runFlags: runArgs,
      runs: perRun,
      medianRelativeThroughput,
    };
    console.log(
      `UI open vs paused: median ${pct(medianRelativeThroughput)} real tokens/s over ${runs} runs (${perRun.map((r) => pct(r.relativeThroughput)).join(", ")})`,
    );
  } else {
    const pairs = Number(opt("--pairs", "3"));
    const rows: PairRow[] = [];
    for (let i = 0; i < pairs; i++) {
      // ABBA: open first on even pairs, closed first on odd ones, so a linear drift cancels.
      const order = i % 2 === 0 ? ["open", "closed"] : ["closed", "open"];
      const row: PairRow = {};
      for (const arm of order) {
        if (arm === "open") {
          const ui = await openUi();
          row.open = (await runAsync()).metrics?.realTokensPerSecond ?? null;
          const closed = await ui.close();
          row.runEventsPushed = closed.runEvents;
          row.uiCpuSeconds = closed.uiCpuSeconds;
          row.clientCpuSeconds = closed.clientCpuSeconds;
        } else row.closed = (await runAsync()).metrics?.realTokensPerSecond ?? null;
      }
      row.relativeChange = (row.open ?? NaN) / (row.closed ?? NaN) - 1;
      rows.push(row);
      process.stderr.write(
        `pair ${i + 1}/${pairs}: closed ${row.closed?.toFixed(1)}, open ${row.open?.toFixed(1)} real tokens/s (${pct(row.relativeChange)}; ${row.runEventsPushed} run events pushed)\n`,
      );
    }
    const changes = rows.map((r) => r.relativeChange ?? NaN);
    const summary = {
      medianRelativeChange: median(changes),
      minRelativeChange: Math.min(...changes),
      maxRelativeChange: Math.max(...changes),
    };
    result = {
      benchmark:
        "ui overhead (runs): real tokens/s of CPU runs with the dashboard open vs closed (ABBA pairs)",
      command,
      design,
      runFlags: runArgs,
      pairs: rows,
      ...summary,
    };
    console.log(
      `UI open vs closed: median ${pct(summary.medianRelativeChange)} real tokens/s (range ${pct(summary.minRelativeChange)} to ${pct(summary.maxRelativeChange)}, ${pairs} pairs)`,
    );
  }
  if (out) writeFileSync(out, JSON.stringify(result, null, 2) + "\n");
}
