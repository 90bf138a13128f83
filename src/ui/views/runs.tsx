/** Runs: every stored run, filterable and sortable; several selected → compare. */
import { useMemo, useState } from "preact/hooks";
import type { RunRow } from "../../server/api.js";
import { api } from "../api.js";
import { fmtNum, fmtWhen, formatBytes } from "../format.js";
import { ErrorPanel, Status, useApi } from "./common.js";

type SortKey =
  "createdAt" | "status" | "model" | "realTokensPerSecond" | "peakDeviceBytes" | "joulesPerRealToken";

const COLUMNS: { key: SortKey | null; label: string; num?: boolean }[] = [
  { key: null, label: "" },
  { key: "status", label: "status" },
  { key: null, label: "run" },
  { key: "model", label: "model" },
  { key: null, label: "method" },
  { key: null, label: "shape" },
  { key: "realTokensPerSecond", label: "real tok/s", num: true },
  { key: "peakDeviceBytes", label: "device peak", num: true },
  { key: "joulesPerRealToken", label: "J/token", num: true },
  { key: "createdAt", label: "started" },
];

export const shapeOf = (r: RunRow) =>
  `${r.batchSize ?? "?"}×${r.seqLen ?? "?"}${r.gradAccum && r.gradAccum > 1 ? ` ×${r.gradAccum}` : ""} · ${r.padding}`;

export function RunsView({ version }: { version: number }) {
  const runs = useApi(() => api.runs(), [version]);
  const [filter, setFilter] = useState("");
  const [status, setStatus] = useState("");
  const [sort, setSort] = useState<{ key: SortKey; desc: boolean }>({ key: "createdAt", desc: true });
  const [selected, setSelected] = useState<string[]>([]);
  const rows = useMemo(() => {
    if (!runs?.data) return [];
    const f = filter.trim().toLowerCase();
    const kept = runs.data.filter(
      (r) =>
        (!status || r.status === status) &&
        (!f ||
          [r.id, r.model, r.label ?? "", r.method, r.optimizer, r.device, r.padding].some((s) =>
            s.toLowerCase().includes(f),
          )),
    );
    const val = (r: RunRow) => r[sort.key];
    return [...kept].sort((a, b) => {
      const x = val(a);
      const y = val(b);
      if (x === y) return 0;
      if (x === null) return 1;
      if (y === null) return -1;
      return (x < y ? -1 : 1) * (sort.desc ? -1 : 1);
    });
  }, [runs, filter, status, sort]);
  if (runs?.error) return <ErrorPanel title="Runs cannot be listed" error={runs.error} />;
  if (!runs) return <p class="muted">loading runs…</p>;
  const toggle = (id: string) =>
    setSelected((s) => (s.includes(id) ? s.filter((x) => x !== id) : [...s, id]));
  return (
    <section>
      <header class="page-head">
        <h1>Runs</h1>
        <span class="muted">{runs.data.length} in the store</span>
      </header>
      <div class="toolbar">
        <input
          type="search"
          id="run-filter"
          placeholder="filter: id, model, label, optimizer…"
          value={filter}
          onInput={(e) => setFilter((e.target as HTMLInputElement).value)}
        />
        <select
          id="status-filter"
          value={status}
          onChange={(e) => setStatus((e.target as HTMLSelectElement).value)}
        >
          <option value="">any status</option>
          {["running", "completed", "oom", "failed", "cancelled", "pending"].map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
        <a
          id="compare-button"
          class={`button ${selected.length >= 2 ? "" : "disabled"}`}
          href={selected.length >= 2 ? `#/compare?ids=${selected.join(",")}` : undefined}
          aria-disabled={selected.length < 2}
        >
          Compare {selected.length ? `(${selected.length})` : ""}
        </a>
        <a
          id="export-button"
          class={`button ${selected.length >= 1 ? "" : "disabled"}`}
          href={selected.length >= 1 ? api.exportHref(selected) : undefined}
          download={selected.length >= 1 ? `loraprof-runs-${selected.length}.json` : undefined}
          aria-disabled={selected.length < 1}
          title="the selected finished runs as one file for `loraprof runs import` or `loraprof report --from`"
        >
          Download {selected.length ? `(${selected.length})` : ""}
        </a>
      </div>
      {runs.data.length === 0 ? (
        <div class="panel empty">
          <p>No runs yet. Start one in another terminal and it appears here live:</p>
          <pre>npx loraprof demo</pre>
        </div>
      ) : (
        <div class="table-wrap">
          <table id="runs-table" class="runs">
            <thead>
              <tr>
                {COLUMNS.map((c) => (
                  <th
                    key={c.label}
                    class={`${c.num ? "num" : ""} ${c.key ? "sortable" : ""} ${c.key === sort.key ? (sort.desc ? "desc" : "asc") : ""}`}
                    onClick={() =>
                      c.key && setSort((s) => ({ key: c.key!, desc: s.key === c.key ? !s.desc : true }))
                    }
                  >
                    {c.label}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr key={r.id} data-run={r.id} class={selected.includes(r.id) ? "selected" : ""}>
                  <td>
                    <input
                      type="checkbox"
                      aria-label={`select ${r.id}`}
                      checked={selected.includes(r.id)}
                      onChange={() => toggle(r.id)}
                    />
                  </td>
                  <td>
                    <Status status={r.status} />
                    {r.status === "running" && r.stepsTotal ? (
                      <span class="muted small">
                        {" "}
                        {r.stepsDone}/{r.stepsTotal}
                      </span>
                    ) : null}
                  </td>
                  <td>
                    <a href={`#/runs/${r.id}`} class="run-link">
                      {r.label ?? r.id}
                    </a>
                    {r.label && <div class="muted small">{r.id}</div>}
                  </td>
                  <td>
                    {r.model}
                    {r.weights === "random" && <span title="random (synthetic) weights">*</span>}
                  </td>
                  <td>
                    {r.method}/{r.precision} · {r.optimizer}
                  </td>
                  <td>{shapeOf(r)}</td>
                  <td class="num">{fmtNum(r.realTokensPerSecond)}</td>
                  <td class="num">{formatBytes(r.peakDeviceBytes ?? r.peakAllocatedBytes)}</td>
                  <td class="num">{fmtNum(r.joulesPerRealToken)}</td>
                  <td class="muted">{fmtWhen(r.startedAt ?? r.createdAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <p class="muted small">
        * random (synthetic) weights: speed, memory and energy are real, loss values are not.
      </p>
    </section>
  );
}
