/** The Markdown renderer: the same tables and findings; charts as SVG files beside it. */
import type { Chart } from "./charts.js";
import type { ReportModel } from "./model.js";
import {
  claimTable,
  conditionsTable,
  failuresTable,
  predictedTable,
  PREDICTED_NOTE,
  studyTable,
  type Table,
} from "./tables.js";

const cell = (s: string) => s.replace(/\|/g, "\\|").replace(/\n/g, " ");

function mdTable(t: Table): string {
  const header = t.groups
    ? t.header.map((h, i) => {
        let acc = 0;
        for (const g of t.groups!) {
          if (i < acc + g.span) return g.label ? `${h} (${g.label})` : h;
          acc += g.span;
        }
        return h;
      })
    : t.header;
  const align = header.map((_, i) => (t.numeric.includes(i) ? "---:" : "---"));
  return [
    `| ${header.map(cell).join(" | ")} |`,
    `| ${align.join(" | ")} |`,
    ...t.rows.map((r) => `| ${r.map(cell).join(" | ")} |`),
  ].join("\n");
}

/** `chartPath(chart)` gives the relative path the chart's SVG is written to. */
export function renderMarkdown(model: ReportModel, charts: Chart[], chartPath: (c: Chart) => string): string {
  const out: string[] = [`# ${model.title}`, ""];
  const sources = [
    ...model.sources.sweeps.map((s) => `sweep \`${s.name}\` (${s.id})`),
    ...(model.sources.runs.length ? [`${model.sources.runs.length} run(s)`] : []),
  ].join(", ");
  out.push(
    `Generated ${model.generatedAt.replace("T", " ").slice(0, 16)} UTC by loraprof from ${sources || "no source"}: ${model.runs.length} runs in ${model.conditions.length} configurations on ${model.environment.devices.join(", ") || "an unknown device"}${model.environment.weights.length ? ` (weights: ${model.environment.weights.join(", ")})` : ""}.`,
    "",
    "## Findings",
    "",
  );
  if (model.findings.length) for (const f of model.findings) out.push(`- **${f.kind}** — ${f.text}`);
  else out.push("No comparison in these runs changes one factor at a time, so no effect can be computed.");
  const study = studyTable(model);
  if (study) {
    out.push(
      "",
      "## The study's runs, measured",
      "",
      `Beside the published figures of ${model.reference!.source}. Medians with [95% interval] over repeats.`,
      "",
      mdTable(study),
    );
  }
  if (model.claims.length) {
    out.push(
      "",
      "## Published claims, checked",
      "",
      "Throughput claims are judged on processed tokens/s (a Trainer-timed tokens/s counts padding); real tokens/s is shown beside it. Each factor's effect comes from two measured configurations that differ in that factor only.",
    );
    model.claims.forEach((c, i) => {
      const t = claimTable(c, i + 1);
      out.push(
        "",
        `### "${c.claim.split(/\s+--\s+/)[0]}" — ${c.verdict}`,
        "",
        `${c.summary.charAt(0).toUpperCase()}${c.summary.slice(1)}.`,
      );
      if (t) out.push("", mdTable(t));
      out.push("", `<details><summary>every number</summary>\n\n${c.explanation}\n\n</details>`);
    });
  }
  out.push("", "## Charts", "");
  for (const c of charts) out.push(`![${c.title}](${chartPath(c)})`, "", `*${c.caption}*`, "");
  out.push("## All configurations", "", mdTable(conditionsTable(model)));
  const predicted = predictedTable(model);
  if (predicted) out.push("", "## Predicted beside measured", "", PREDICTED_NOTE, "", mdTable(predicted));
  const failures = failuresTable(model);
  if (failures) out.push("", "## Runs that did not complete", "", mdTable(failures));
  out.push("", "## How to read this", "", ...model.notes.map((n) => `- ${n}`), "");
  const libs = Object.entries(model.environment.libraries).map(([k, v]) => `${k} ${v}`);
  if (libs.length) out.push(`Libraries: ${libs.join(", ")}.`, "");
  return out.join("\n");
}
