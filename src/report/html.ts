/**
 * The HTML renderer: one self-contained file (inline CSS and SVG, no script, no external request),
 * readable offline and printable.
 */
import type { Chart } from "./charts.js";
import { escapeHtml as esc } from "./format.js";
import type { Finding, ReportModel } from "./model.js";
import {
  claimTable,
  conditionsTable,
  failuresTable,
  predictedTable,
  PREDICTED_NOTE,
  studyTable,
  type Table,
} from "./tables.js";

const CSS = `
:root { --ink:#1f2328; --muted:#59636e; --line:#d1d9e0; --soft:#f6f8fa; --blue:#0072B2; --green:#009E73; --orange:#E69F00; --red:#D55E00; }
* { box-sizing: border-box; }
body { margin:0; font: 15px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color:var(--ink); background:#fff; }
main { max-width: 1180px; margin: 0 auto; padding: 32px 28px 64px; }
h1 { font-size: 28px; margin: 0 0 4px; letter-spacing: -0.01em; }
h2 { font-size: 20px; margin: 40px 0 12px; padding-bottom: 6px; border-bottom: 1px solid var(--line); }
.meta { color: var(--muted); margin: 0 0 18px; }
.cards { display:flex; flex-wrap:wrap; gap:12px; margin: 18px 0 8px; }
.card { border:1px solid var(--line); border-radius:10px; padding:10px 14px; min-width:140px; }
.card b { display:block; font-size:22px; font-variant-numeric: tabular-nums; }
.card span { color: var(--muted); font-size: 13px; }
ul.findings { list-style:none; padding:0; margin:0; }
ul.findings li { border-left: 4px solid var(--line); padding: 8px 12px; margin: 8px 0; background: var(--soft); border-radius: 0 8px 8px 0; }
ul.findings li.effect, ul.findings li.range { border-color: var(--blue); }
ul.findings li.noise { border-color: #8c959f; }
ul.findings li.oom { border-color: var(--red); }
ul.findings li.claim { border-color: var(--orange); background: #fff8eb; }
.tag { display:inline-block; font-size:11px; font-weight:600; text-transform:uppercase; letter-spacing:.04em; padding:1px 7px; border-radius:999px; margin-right:8px; background:#eaeef2; color:var(--muted); vertical-align: 1px; }
.verdict { font-weight:600; white-space:nowrap; padding:2px 8px; border-radius:999px; font-size:13px; }
.verdict.supported { background:#d8f3ea; color:#005c43; }
.verdict.contradicted { background:#fbe2d5; color:#8a3300; }
.verdict.confounded { background:#fdf0d2; color:#7a5200; }
.verdict.noise, .verdict.untested, .verdict.compared { background:#eaeef2; color:var(--muted); }
.table-wrap { overflow-x:auto; border:1px solid var(--line); border-radius:10px; }
table { border-collapse: collapse; width:100%; font-size:13.5px; }
th, td { padding: 7px 10px; border-bottom: 1px solid var(--line); text-align:left; vertical-align: top; }
th { background: var(--soft); font-weight:600; white-space: nowrap; }
thead tr.groups th { text-align:center; color:var(--muted); font-weight:500; border-bottom: 0; }
td.num, th.num { text-align:right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tbody tr:last-child td { border-bottom:0; }
td.first { font-weight: 500; min-width: 18ch; }
thead tr.groups th { white-space: normal; }
.ci { color: var(--muted); font-size: 12px; }
.noise-tag { margin-left:6px; font-size:11px; color: var(--muted); border:1px solid var(--line); border-radius:999px; padding:0 6px; }
tbody tr:hover td { background:#fbfcfd; }
figure { margin: 22px 0; }
figure svg { max-width:100%; height:auto; border:1px solid var(--line); border-radius:10px; }
figcaption { color: var(--muted); font-size: 13.5px; margin-top: 6px; max-width: 80ch; }
.charts { display:block; }
figure.chart { margin: 26px 0 34px; }
article.claim { border:1px solid var(--line); border-radius:10px; padding: 14px 18px; margin: 14px 0; }
article.claim > header { display:flex; gap:12px; align-items: baseline; }
article.claim q { font-weight:600; font-size:16px; }
article.claim .note { color: var(--muted); font-size: 13px; margin: 2px 0 8px; }
article.claim .summary { margin: 8px 0 12px; }
details { margin-top: 10px; color: var(--muted); font-size: 13.5px; }
details summary { cursor: pointer; }
.notes li { margin: 4px 0; color: var(--ink); }
code { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 13px; background: var(--soft); padding: 1px 4px; border-radius: 4px; }
@media print { .charts { display:block; } figure { break-inside: avoid; } }
`;

function renderTable(t: Table, caption?: string): string {
  const groups = t.groups
    ? `<tr class="groups">${t.groups.map((g) => `<th colspan="${g.span}">${esc(g.label)}</th>`).join("")}</tr>`
    : "";
  const head = `<tr>${t.header.map((h, i) => `<th${t.numeric.includes(i) ? ' class="num"' : ""} scope="col">${esc(h)}</th>`).join("")}</tr>`;
  const body = t.rows
    .map(
      (r) =>
        `<tr>${r
          .map((cell, i) => {
            const m = /^(.*\S) (\[[^\]]+\]|\(95% CI [^)]+\))( · noise)?$/.exec(cell);
            const content = m
              ? `${esc(m[1]!)}${m[3] ? `<span class="noise-tag">noise</span>` : ""}<br><span class="ci">${esc(m[2]!)}</span>`
              : esc(cell);
            return `<td${t.numeric.includes(i) ? ' class="num"' : i === 0 ? ' class="first"' : ""}>${content}</td>`;
          })
          .join("")}</tr>`,
    )
    .join("\n");
  return `<div class="table-wrap"><table id="${t.id}">${caption ? `<caption class="sr">${esc(caption)}</caption>` : ""}<thead>${groups}${head}</thead><tbody>\n${body}\n</tbody></table></div>`;
}

const verdictClass = (v: string) => (v.startsWith("not distinguishable") ? "noise" : v);
const capitalize = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

const KIND_TAG: Record<Finding["kind"], string> = {
  effect: "effect",
  range: "range",
  noise: "noise",
  insufficient: "n too small",
  oom: "out of memory",
  claim: "published claim",
};

export function renderHtml(model: ReportModel, charts: Chart[]): string {
  const counts: Record<string, number> = {};
  for (const r of model.runs) counts[r.status] = (counts[r.status] ?? 0) + 1;
  const sources = [
    ...model.sources.sweeps.map((s) => `sweep <code>${esc(s.name)}</code> (${esc(s.id)})`),
    ...(model.sources.runs.length
      ? [`${model.sources.runs.length} run${model.sources.runs.length > 1 ? "s" : ""}`]
      : []),
  ].join(", ");
  const cards = [
    [String(model.runs.length), "runs"],
    [String(model.conditions.length), "configurations"],
    [String(counts["completed"] ?? 0), "completed"],
    [String(counts["oom"] ?? 0), "out of memory"],
    [String((counts["failed"] ?? 0) + (counts["cancelled"] ?? 0)), "failed or cancelled"],
    [model.environment.devices.join(", ") || "—", "device"],
  ]
    .map(([v, k]) => `<div class="card"><b>${esc(v!)}</b><span>${esc(k!)}</span></div>`)
    .join("");
  const findings = model.findings.length
    ? `<ul class="findings">${model.findings.map((f) => `<li class="${f.kind}"><span class="tag">${esc(KIND_TAG[f.kind])}</span>${esc(f.text)}</li>`).join("\n")}</ul>`
    : `<p class="meta">No comparison in these runs changes one factor at a time, so no effect can be computed.</p>`;
  const study = studyTable(model);
  const claims = model.claims.length
    ? model.claims
        .map((c, i) => {
          const [proper, ...rest] = c.claim.split(/\s+--\s+/);
          const t = claimTable(c, i + 1);
          return `<article class="claim"><header><span class="verdict ${verdictClass(c.verdict)}">${esc(c.verdict)}</span><q>${esc(proper ?? c.claim)}</q></header>${
            rest.length ? `<p class="note">the reference notes: ${esc(rest.join(" — "))}</p>` : ""
          }<p class="summary">${esc(capitalize(c.summary))}.</p>${t ? renderTable(t) : ""}<details><summary>every number</summary><p>${esc(c.explanation)}</p></details></article>`;
        })
        .join("\n")
    : "";
  const failures = failuresTable(model);
  const predicted = predictedTable(model);
  const figures = charts
    .map(
      (c) =>
        `<figure id="chart-${c.id}" class="chart">${c.svg}<figcaption>${esc(c.caption)}</figcaption></figure>`,
    )
    .join("\n");
  const libs = Object.entries(model.environment.libraries)
    .map(([k, v]) => `${esc(k)} ${esc(v)}`)
    .join(", ");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(model.title)}</title>
<style>${CSS} .sr { position:absolute; left:-9999px; }</style>
</head>
<body>
<main>
<header>
<h1>${esc(model.title)}</h1>
<p class="meta">Generated ${esc(model.generatedAt.replace("T", " ").slice(0, 16))} UTC by loraprof from ${sources || "no source"}.${model.environment.weights.length ? ` Weights: ${esc(model.environment.weights.join(", "))}.` : ""}</p>
<div class="cards">${cards}</div>
</header>
<section id="findings"><h2>Findings</h2>${findings}</section>
${
  study
    ? `<section id="study"><h2>The study's runs, measured</h2><p class="meta">Beside the published figures of ${esc(model.reference!.source)}. Medians with [95% interval] over repeats.</p>${renderTable(study)}</section>`
    : ""
}
${claims ? `<section id="claims"><h2>Published claims, checked</h2><p class="meta">Throughput claims are judged on processed tokens/s (a Trainer-timed tokens/s counts padding); real tokens/s is shown beside it. Each factor's effect comes from two measured configurations that differ in that factor only.</p>${claims}</section>` : ""}
<section id="charts"><h2>Charts</h2><div class="charts">${figures}</div></section>
<section id="conditions"><h2>All configurations</h2><p class="meta">One row per configuration (repeats pooled); settings shown are those that vary in this report.</p>${renderTable(conditionsTable(model))}</section>
${predicted ? `<section id="predicted"><h2>Predicted beside measured</h2><p class="meta">${esc(PREDICTED_NOTE)}</p>${renderTable(predicted)}</section>` : ""}
${failures ? `<section id="failures"><h2>Runs that did not complete</h2>${renderTable(failures)}</section>` : ""}
<section id="method"><h2>How to read this</h2><ul class="notes">${model.notes.map((n) => `<li>${esc(n)}</li>`).join("")}</ul>${libs ? `<p class="meta">Libraries: ${libs}.</p>` : ""}</section>
</main>
</body>
</html>
`;
}
