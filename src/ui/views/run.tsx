/**
 * One run: headline cards, live charts (server-sent events append rows while it trains), its error
 * with the fix, the resolved config and the environment.
 */
import { useEffect, useMemo, useState } from "preact/hooks";
import type { RunDetail, RunEvent } from "../../server/api.js";
import { median } from "../../util/stats.js";
import { api, followRun } from "../api.js";
import { Chart } from "../chart.js";
import { fmtNum, fmtSeconds, fmtWhen, formatBytes } from "../format.js";
import { runCharts } from "../runcharts.js";
import { shapeOf } from "./runs.js";
import { PHASE_LABELS, RUN_PHASES } from "../../run/phases.js";
import { Card, ErrorPanel, Status, useApi } from "./common.js";

function merge(d: RunDetail, ev: RunEvent): RunDetail {
  const byStep = new Map(d.steps.map((s) => [s.step, s]));
  for (const s of ev.steps) byStep.set(s.step, s);
  return {
    ...d,
    run: ev.run,
    steps: [...byStep.values()].sort((a, b) => a.step - b.step),
    samples: [...d.samples, ...ev.samples],
    cursor: ev.cursor,
  };
}

export function RunView({ id }: { id: string }) {
  const loaded = useApi(() => api.run(id), [id]);
  const [detail, setDetail] = useState<RunDetail | null>(null);
  const [finishedAt, setFinishedAt] = useState<string | null>(null);
  useEffect(() => {
    if (!loaded?.data) return;
    setDetail(loaded.data);
    const d = loaded.data;
    if (d.run.status !== "running" && d.run.status !== "pending") return;
    return followRun(d.run.id, d.cursor, (ev) => {
      setDetail((cur) => (cur ? merge(cur, ev) : cur));
      // The final metrics are written with the final status: fetch the whole run once then.
      if (ev.run.status !== "running" && ev.run.status !== "pending")
        setFinishedAt(ev.run.finishedAt ?? "done");
    });
  }, [loaded]);
  useEffect(() => {
    if (finishedAt) void api.run(id).then(setDetail);
  }, [finishedAt, id]);
  const charts = useMemo(
    () => (detail ? runCharts(detail.steps, detail.samples) : { charts: [], notMeasured: [] }),
    [detail],
  );
  if (loaded?.error) return <ErrorPanel title={`Run ${id} cannot be shown`} error={loaded.error} />;
  if (!detail) return <p class="muted">loading run…</p>;
  const r = detail.run;
  const m = detail.metrics ?? {};
  const num = (k: string) => (typeof m[k] === "number" ? (m[k] as number) : null);
  const live = r.status === "running" || r.status === "pending";
  // While it trains: the measured steps so far (the engine's final figure comes with the summary).
  const measured = detail.steps.filter((s) => s.phase === "measure" && s.stepSeconds);
  const seconds = measured.reduce((a, s) => a + s.stepSeconds!, 0);
  const soFar = (n: (s: (typeof measured)[number]) => number) =>
    seconds > 0 ? measured.reduce((a, s) => a + n(s), 0) / seconds : null;
  const realRate = r.realTokensPerSecond ?? (live ? soFar((s) => s.realTokens) : null);
  const processedRate = r.processedTokensPerSecond ?? (live ? soFar((s) => s.processedTokens) : null);
  const stepMedian =
    num("stepSecondsMedian") ??
    (live && measured.length ? median(measured.map((s) => s.stepSeconds!)) : null);
  const env = detail.environment as {
    device?: { name?: string; kind?: string };
    libraries?: Record<string, string | null>;
  } | null;
  return (
    <section>
      <header class="page-head">
        <h1>
          {r.label ?? r.id} <Status status={r.status} />
          {live && (
            <span class="live-badge" id="live-badge">
              ● live
            </span>
          )}
        </h1>
        <span class="muted">
          {r.model} · {r.method}/{r.precision} · {r.optimizer} · {shapeOf(r)} · {r.device}
          {r.sweepId && (
            <>
              {" "}
              · sweep <a href={`#/sweeps/${r.sweepId}`}>{r.sweepId}</a>
            </>
          )}
        </span>
      </header>
      <div class="cards">
        <Card
          label="steps"
          value={`${r.stepsDone ?? detail.steps.length}${r.stepsTotal ? ` / ${r.stepsTotal}` : ""}`}
        />
        <Card
          label="real tokens/s"
          value={fmtNum(realRate)}
          sub={live ? "measured steps so far" : "measured window"}
        />
        <Card label="processed tokens/s" value={fmtNum(processedRate)} />
        <Card label="step time (median)" value={fmtSeconds(stepMedian)} />
        {/* Memory and energy are the CUDA allocator's and NVML's: a CPU run has none of them. */}
        {env?.device?.kind !== "cpu" && (
          <>
            <Card label="allocator peak" value={formatBytes(r.peakAllocatedBytes)} />
            <Card label="device peak (NVML)" value={formatBytes(r.peakDeviceBytes)} />
            <Card label="J / real token" value={fmtNum(r.joulesPerRealToken)} />
          </>
        )}
        <Card label="started" value={fmtWhen(r.startedAt ?? r.createdAt)} />
      </div>
      {r.error && (
        <section class={`panel error-panel kind-${r.error.kind}`} id="run-error" role="alert">
          <h2>
            {r.status === "oom"
              ? "Out of memory"
              : r.status === "cancelled"
                ? "Cancelled"
                : `Failed: ${r.error.kind}`}
          </h2>
          <p class="error-message">{r.error.message}</p>
          {r.error.hint && <p class="hint">fix: {r.error.hint}</p>}
          {r.error.stderrTail && (
            <details>
              <summary>engine log (last lines)</summary>
              <pre>{r.error.stderrTail}</pre>
            </details>
          )}
        </section>
      )}
      {Array.isArray(m["warnings"]) && (m["warnings"] as string[]).length > 0 && (
        <ul class="warnings">
          {(m["warnings"] as string[]).map((w) => (
            <li key={w}>{w}</li>
          ))}
        </ul>
      )}
      <div class="chart-grid">
        {charts.charts.map((c) => (
          <div class="chart-box" key={c.id}>
            <Chart id={c.id} chart={c.chart} />
          </div>
        ))}
      </div>
      {charts.notMeasured.length > 0 && (
        <p class="muted small" id="not-measured">
          Not measured on this run: {charts.notMeasured.join(", ")} (no CUDA allocator or NVML on{" "}
          {r.device || "this device"}).
        </p>
      )}
      {!live && phasesOf(m) && <WallTime phases={phasesOf(m)!} measured={num("measuredSeconds")} />}
      <div class="two-col">
        <details open class="panel">
          <summary>Resolved config</summary>
          <pre id="run-config">{JSON.stringify(detail.config, null, 2)}</pre>
        </details>
        <details class="panel">
          <summary>Environment{env?.device?.name ? `: ${env.device.name}` : ""}</summary>
          <pre>{JSON.stringify(detail.environment, null, 2)}</pre>
        </details>
      </div>
      {detail.logPath && <p class="muted small">engine log: {detail.logPath}</p>}
    </section>
  );
}

/** A finished run's `metrics.phases` (src/run/phases.ts), or null for runs stored before it existed. */
function phasesOf(m: Record<string, unknown>): Record<string, number> | null {
  const p = m["phases"];
  return p && typeof p === "object" && typeof (p as Record<string, unknown>)["total"] === "number"
    ? (p as Record<string, number>)
    : null;
}

/** Where the run's wall time went: each phase's seconds and share, the measured window among the steps. */
function WallTime({ phases, measured }: { phases: Record<string, number>; measured: number | null }) {
  const total = phases["total"]!;
  const share = (s: number) => ((100 * s) / total < 1 ? "<1%" : `${fmtNum((100 * s) / total, 2)}%`);
  return (
    <details class="panel" id="run-phases" open>
      <summary>
        Where the time went: {fmtSeconds(total)} in all
        {measured !== null && `, ${share(measured)} of it the measured window`}
      </summary>
      <table class="phases">
        <tbody>
          {RUN_PHASES.filter((p) => phases[p] !== undefined).map((p) => (
            <tr key={p} data-phase={p}>
              <th>{PHASE_LABELS[p]}</th>
              <td>{fmtSeconds(phases[p])}</td>
              <td>{share(phases[p]!)}</td>
              <td class="muted">
                {p === "training" && measured !== null ? `measured window ${fmtSeconds(measured)}` : ""}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </details>
  );
}
