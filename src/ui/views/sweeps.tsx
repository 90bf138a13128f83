/** Sweeps and studies: progress by status, ETA, and the report, opened inside the app. */
import type { SweepRow } from "../../server/api.js";
import { api } from "../api.js";
import { fmtSeconds, fmtWhen } from "../format.js";
import { ErrorPanel, Status, useApi } from "./common.js";

const PARTS: (keyof SweepRow["counts"])[] = ["completed", "oom", "failed", "cancelled", "running", "queued"];

function Progress({ s }: { s: SweepRow }) {
  return (
    <div class="progress" title={PARTS.map((p) => `${s.counts[p]} ${p}`).join(", ")}>
      {PARTS.map((p) =>
        s.counts[p] ? <span key={p} class={`seg seg-${p}`} style={{ flex: s.counts[p] }} /> : null,
      )}
    </div>
  );
}

function Counts({ s }: { s: SweepRow }) {
  return (
    <span class="counts">
      {PARTS.filter((p) => s.counts[p]).map((p) => (
        <span key={p} class={`count count-${p}`}>
          {s.counts[p]} {p}
        </span>
      ))}
    </span>
  );
}

export function SweepsView({ version }: { version: number }) {
  const sweeps = useApi(() => api.sweeps(), [version]);
  if (sweeps?.error) return <ErrorPanel title="Sweeps cannot be listed" error={sweeps.error} />;
  if (!sweeps) return <p class="muted">loading…</p>;
  return (
    <section>
      <header class="page-head">
        <h1>Sweeps &amp; studies</h1>
        <span class="muted">{sweeps.data.length} in the store</span>
      </header>
      {sweeps.data.length === 0 ? (
        <div class="panel empty">
          <p>
            No sweeps yet: <code>npx loraprof sweep SPEC.yaml</code> or <code>npx loraprof study paper</code>.
          </p>
        </div>
      ) : (
        <div class="table-wrap">
          <table id="sweeps-table">
            <thead>
              <tr>
                <th>sweep</th>
                <th>status</th>
                <th>progress</th>
                <th class="num">ETA</th>
                <th>updated</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {sweeps.data.map((s) => (
                <tr key={s.id} data-sweep={s.id}>
                  <td>
                    <a href={`#/sweeps/${s.id}`}>{s.name}</a>
                    <div class="muted small">{s.id}</div>
                  </td>
                  <td>{s.status}</td>
                  <td class="progress-cell">
                    <Progress s={s} />
                    <Counts s={s} />
                  </td>
                  <td class="num">{s.etaSeconds === null ? "—" : fmtSeconds(s.etaSeconds)}</td>
                  <td class="muted">{fmtWhen(s.updatedAt)}</td>
                  <td>
                    <a href={`#/sweeps/${s.id}`} class="button small">
                      report
                    </a>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

export function SweepView({ id, version }: { id: string; version: number }) {
  const sweep = useApi(() => api.sweep(id), [id, version]);
  if (sweep?.error) return <ErrorPanel title={`Sweep ${id} cannot be shown`} error={sweep.error} />;
  if (!sweep) return <p class="muted">loading…</p>;
  const { sweep: s, entries } = sweep.data;
  return (
    <section>
      <header class="page-head">
        <h1>{s.name}</h1>
        <span class="muted">
          {s.status} · {s.total} planned runs
          {s.etaSeconds !== null ? ` · ETA ${fmtSeconds(s.etaSeconds)}` : ""}
        </span>
      </header>
      <Progress s={s} />
      <Counts s={s} />
      <details class="panel">
        <summary>{entries.length} planned runs</summary>
        <table id="sweep-entries">
          <thead>
            <tr>
              <th>configuration</th>
              <th>repeat</th>
              <th>status</th>
              <th class="num">wall</th>
              <th>run</th>
            </tr>
          </thead>
          <tbody>
            {entries.map((e) => (
              <tr key={e.key}>
                <td>{e.label}</td>
                <td>{e.repeat + 1}</td>
                <td>
                  <Status status={e.status} />
                  {e.error && <div class="muted small">{e.error.message.slice(0, 160)}</div>}
                </td>
                <td class="num">{fmtSeconds(e.wallSeconds)}</td>
                <td>{e.runId ? <a href={`#/runs/${e.runId}`}>{e.runId}</a> : "—"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </details>
      <h2>Report</h2>
      <p class="muted small">
        The same self-contained HTML that <code>loraprof report {s.name}</code> writes;{" "}
        <a href={`/reports/sweep/${encodeURIComponent(s.id)}`} target="_blank" rel="noopener">
          open it alone
        </a>
        .
      </p>
      {/* Rebuilt when a run finishes, not on every step a running one writes. */}
      <iframe
        key={s.counts.completed + s.counts.oom + s.counts.failed + s.counts.cancelled}
        id="sweep-report"
        class="report-frame"
        title={`report of ${s.name}`}
        src={`/reports/sweep/${encodeURIComponent(s.id)}`}
      />
    </section>
  );
}
