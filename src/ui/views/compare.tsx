/** Two or more runs side by side: settings that differ highlighted, metrics with intervals, overlaid curves. */
import { useMemo } from "preact/hooks";
import { api } from "../api.js";
import { Chart } from "../chart.js";
import { compactNumber, fmtNum, formatBytes } from "../format.js";
import { overlay } from "../runcharts.js";
import { ErrorPanel, Status, useApi } from "./common.js";

const fmtMetric = (unit: string, v: number) =>
  unit === "bytes" ? formatBytes(v) : unit === "s" ? `${fmtNum(v)} s` : fmtNum(v);

export function CompareView({ ids, version }: { ids: string[]; version: number }) {
  const cmp = useApi(() => api.compare(ids), [ids.join(","), version]);
  const charts = useMemo(() => {
    if (!cmp?.data) return [];
    const runs = cmp.data.runs.map((d) => ({ name: d.run.label ?? d.run.id, steps: d.steps }));
    return [
      {
        id: "compare-loss",
        chart: overlay(
          "Loss",
          "loss (nats per label token)",
          runs,
          (s) => s.loss,
          (n) => n.toFixed(2),
        ),
      },
      {
        id: "compare-tokens",
        chart: overlay("Real tokens per second", "real tokens per second (tokens/s)", runs, (s) =>
          s.stepSeconds ? s.realTokens / s.stepSeconds : null,
        ),
      },
    ];
  }, [cmp]);
  if (cmp?.error) return <ErrorPanel title="These runs cannot be compared" error={cmp.error} />;
  if (!cmp) return <p class="muted">loading…</p>;
  const { runs, differences, same, metrics } = cmp.data;
  return (
    <section>
      <header class="page-head">
        <h1>Compare {runs.length} runs</h1>
        <span class="muted">
          {differences.length} setting{differences.length === 1 ? "" : "s"} differ
          {differences.length > 1
            ? " — more than one factor changes, so a difference is not the effect of one"
            : ""}
        </span>
      </header>
      <div class="table-wrap">
        <table id="compare-table" class="compare">
          <thead>
            <tr>
              <th />
              {runs.map((d) => (
                <th key={d.run.id}>
                  <a href={`#/runs/${d.run.id}`}>{d.run.label ?? d.run.id}</a>{" "}
                  <Status status={d.run.status} />
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {differences.map((d) => (
              <tr key={d.field} class="diff">
                <th scope="row">{d.field}</th>
                {d.values.map((v, i) => (
                  <td key={i}>{v}</td>
                ))}
              </tr>
            ))}
            <tr class="section">
              <th colSpan={runs.length + 1}>
                metrics (median [95% interval], n = runs with the same settings)
              </th>
            </tr>
            {metrics.map((m) => (
              <tr key={m.key} data-metric={m.key}>
                <th scope="row">{m.label}</th>
                {m.perRun.map((p, i) => (
                  <td key={i} class="num">
                    {p ? (
                      <>
                        {fmtMetric(m.unit, p.median)}
                        {p.low !== null && p.high !== null && (
                          <span class="ci">
                            {" "}
                            [{m.unit === "bytes" ? formatBytes(p.low) : compactNumber(p.low)}–
                            {m.unit === "bytes" ? formatBytes(p.high) : compactNumber(p.high)}]
                          </span>
                        )}
                        <span class="muted small"> n={p.n}</span>
                      </>
                    ) : (
                      "—"
                    )}
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <details class="panel">
        <summary>{same.length} settings all runs share</summary>
        <table class="same">
          <tbody>
            {same.map((s) => (
              <tr key={s.field}>
                <th scope="row">{s.field}</th>
                <td>{s.value}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </details>
      <div class="chart-grid">
        {charts.map((c) => (
          <div class="chart-box" key={c.id}>
            <Chart id={c.id} chart={c.chart} />
          </div>
        ))}
      </div>
    </section>
  );
}
