import type { Command } from "commander";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import pc from "picocolors";
import { buildReport, writeReport } from "../../report/index.js";
import { packageRoot } from "../../util/paths.js";
import { openContext, printJson } from "../context.js";

/** The study's published figures, when this checkout sits beside the shared reference data. */
export function defaultReferencePath(): string | null {
  const candidates = [resolve("../shared/reference/paper-2509.12229.json")];
  try {
    candidates.push(resolve(packageRoot(), "../shared/reference/paper-2509.12229.json"));
  } catch {
    // Not inside a checkout: no default reference.
  }
  return candidates.find((p) => existsSync(p)) ?? null;
}

export function registerReport(program: Command): void {
  program
    .command("report <targets...>")
    .description(
      "write a report (one self-contained HTML file, Markdown, SVG charts) for sweeps (id or name) and/or runs (ids)",
    )
    .option("--out <dir>", "output folder", "loraprof-report")
    .option(
      "--reference <file>",
      "published figures to compare with (default: ../shared/reference/paper-2509.12229.json when present)",
    )
    .option("--no-reference", "compare with no published figures")
    .option("--title <title>", "report title")
    .option("--db <path>", "run database (default .loraprof/loraprof.db)")
    .option("--json", "print the written paths and the findings as JSON")
    .action(
      (
        targets: string[],
        opts: { out: string; reference?: string | false; title?: string; db?: string; json?: boolean },
      ) => {
        const ctx = openContext(opts);
        try {
          const reference = opts.reference === false ? null : (opts.reference ?? defaultReferencePath());
          const model = buildReport(ctx.db, {
            targets,
            reference,
            ...(opts.title ? { title: opts.title } : {}),
          });
          const written = writeReport(model, opts.out);
          if (opts.json) {
            printJson({
              ...written,
              runs: model.runs.length,
              conditions: model.conditions.length,
              findings: model.findings,
              claims: model.claims.map((c) => ({ claim: c.claim, verdict: c.verdict, summary: c.summary })),
            });
            return;
          }
          process.stdout.write(
            [
              `report on ${model.runs.length} runs in ${model.conditions.length} configurations${reference ? ` (compared with ${reference})` : ""}:`,
              `  ${pc.bold(written.html)}`,
              `  ${written.markdown} (+ ${written.charts.length} SVG charts)`,
              "",
              pc.bold("findings"),
              ...(model.findings.length
                ? model.findings.map((f) => `  - ${f.text}`)
                : ["  (no one-factor comparison in these runs)"]),
            ].join("\n") + "\n",
          );
        } finally {
          ctx.db.close();
        }
      },
    );
}
