import type { Command } from "commander";
import pc from "picocolors";
import { buildReport, writeReport } from "../../report/index.js";
import { paperComparison } from "../../study/claims.js";
import { defaultReferencePath } from "../../study/reference.js";
import { openStore, type Db } from "../../store/db.js";
import { listRuns } from "../../store/runs.js";
import { importBundle, readImportSource } from "../../store/transfer.js";
import { LoraprofError } from "../../util/errors.js";
import { writingTo } from "../../util/files.js";
import { packageVersion } from "../../util/paths.js";
import { openContext, printJson } from "../context.js";

function parseLast(value: string | undefined): number | null {
  if (value === undefined) return null;
  if (!/^\d+$/.test(value.trim()) || Number(value) < 1) {
    throw new LoraprofError("FLAG_INVALID", "invalid --last", {
      problems: [{ field: "--last", message: `"${value}" is not a whole number ≥ 1`, hint: "e.g. --last 5" }],
    });
  }
  return Number(value);
}

/**
 * A store in memory holding the runs of bundles (`runs export`) or store files: `report --from` reports on
 * them without adding them to any store on disk.
 */
function storeFrom(files: string[]): Db {
  const db = openStore(":memory:");
  try {
    for (const file of files) importBundle(db, readImportSource(file, packageVersion()).bundle, file);
  } catch (e) {
    db.close();
    throw e;
  }
  return db;
}

/** The newest runs that have an outcome (none still pending or running), newest first. */
function endedRunIds(db: Db, limit: number | null): string[] {
  const ended = listRuns(db).filter((r) => r.status !== "pending" && r.status !== "running");
  const ids = (limit === null ? ended : ended.slice(0, limit)).map((r) => r.id);
  if (!ids.length) {
    throw new LoraprofError("RUN_NOT_FOUND", "no finished run in this store to report on", {
      hint: "run something first (`loraprof demo`), or check --db",
    });
  }
  return ids;
}

export function registerReport(program: Command): void {
  program
    .command("report [targets...]")
    .description(
      "write a report (one self-contained HTML file, Markdown, SVG charts) for sweeps (id or name) and/or runs (ids), or --all / --last N stored runs",
    )
    .option("--all", "every stored run that has ended")
    .option("--last <n>", "the N newest stored runs that have ended")
    .option("--out <dir>", "output folder", "loraprof-report")
    .option(
      "--reference <file>",
      "published figures to compare with (default: ../shared/reference/paper-2509.12229.json when present)",
    )
    .option("--no-reference", "compare with no published figures")
    .option("--title <title>", "report title")
    .option("--db <path>", "run database (default .loraprof/loraprof.db)")
    .option(
      "--from <files...>",
      "report on the runs of these bundles (`runs export`) or store files instead of a store (default: all of them)",
    )
    .option("--json", "print the written paths and the findings as JSON")
    .action(
      (
        targets: string[],
        opts: {
          out: string;
          reference?: string | false;
          title?: string;
          db?: string;
          from?: string[];
          json?: boolean;
          all?: boolean;
          last?: string;
        },
      ) => {
        const last = parseLast(opts.last);
        const selectors = [targets.length > 0, Boolean(opts.all), last !== null].filter(Boolean).length;
        if (opts.from && opts.db !== undefined) {
          throw new LoraprofError("FLAG_INVALID", "--from and --db both given", {
            problems: [
              {
                field: "--from",
                message: "reads its runs from the files given, not from a store",
                hint: "drop --db, or `loraprof runs import FILE --db …` first and report from that store",
              },
            ],
          });
        }
        // From files, every run in them unless ids or --last say otherwise.
        if (opts.from && selectors === 0) opts.all = true;
        else if (selectors !== 1) {
          throw new LoraprofError("FLAG_INVALID", "say which runs to report on", {
            problems: [
              {
                field: "targets",
                message:
                  selectors === 0
                    ? "no sweep, run id, --all or --last given"
                    : "give only one of ids, --all, --last",
                hint: "e.g. `loraprof report --last 5`, `loraprof report --all` or `loraprof report RUN_ID SWEEP_ID`",
              },
            ],
          });
        }
        const ctx = opts.from ? { db: storeFrom(opts.from) } : openContext(opts);
        try {
          if (opts.all || last !== null) targets = endedRunIds(ctx.db, last);
          const reference = opts.reference === false ? null : (opts.reference ?? defaultReferencePath());
          const model = buildReport(ctx.db, {
            targets,
            reference,
            comparison: paperComparison,
            ...(opts.title ? { title: opts.title } : {}),
          });
          const written = writingTo("--out", opts.out, () => writeReport(model, opts.out));
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
