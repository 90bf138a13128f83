import type { Command } from "commander";
import type { ResolvedConfig } from "../../run/resolve.js";
import type { RunResult } from "../../run/run.js";
import { deleteRuns, getRun, getSteps, listRuns, RUN_STATUSES, type RunStatus } from "../../store/runs.js";
import { exportRuns, importBundle, readImportSource } from "../../store/transfer.js";
import { LoraprofError } from "../../util/errors.js";
import { writeAtomic, writingTo } from "../../util/files.js";
import { packageVersion } from "../../util/paths.js";
import { openContext, printJson } from "../context.js";
import { formatBytes, formatNumber, renderTable, statusColor } from "../render.js";
import { renderError, renderRunResult } from "./run.js";

export function registerRuns(program: Command): void {
  const runs = program.command("runs").description("list and inspect stored runs");
  runs
    .command("list")
    .description("stored runs, newest first")
    .option("--db <path>", "run database (default .loraprof/loraprof.db)")
    .option("--status <status>", `only runs with this status (${RUN_STATUSES.join("|")})`)
    .option("--limit <n>", "at most N runs", "50")
    .option("--json", "print JSON")
    .action((opts: { db?: string; status?: string; limit: string; json?: boolean }) => {
      if (opts.status && !RUN_STATUSES.includes(opts.status as RunStatus)) {
        throw new LoraprofError("FLAG_INVALID", "invalid --status", {
          problems: [
            {
              field: "--status",
              message: `"${opts.status}" is not a run status`,
              hint: `use one of ${RUN_STATUSES.join(", ")}`,
            },
          ],
        });
      }
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit <= 0) {
        throw new LoraprofError("FLAG_INVALID", "invalid --limit", {
          problems: [
            {
              field: "--limit",
              message: `"${opts.limit}" is not a positive whole number`,
              hint: "e.g. --limit 20",
            },
          ],
        });
      }
      const ctx = openContext(opts);
      try {
        const rows = listRuns<ResolvedConfig>(ctx.db, {
          ...(opts.status ? { status: opts.status as RunStatus } : {}),
          limit,
        });
        if (opts.json) {
          printJson(
            rows.map((r) => ({
              id: r.id,
              createdAt: r.createdAt,
              status: r.status,
              label: r.label,
              sweepId: r.sweepId,
              config: r.config,
              metrics: r.metrics,
              error: r.error,
            })),
          );
          return;
        }
        if (rows.length === 0) {
          process.stdout.write(`no runs in ${ctx.dbPath} yet: try \`loraprof demo\`\n`);
          return;
        }
        process.stdout.write(
          renderTable(rows, [
            { header: "id", value: (r) => r.id },
            { header: "status", value: (r) => statusColor(r.status) },
            { header: "model", value: (r) => `${r.config.model}${r.config.weights === "random" ? "*" : ""}` },
            { header: "method", value: (r) => `${r.config.method}/${r.config.precision}` },
            { header: "optimizer", value: (r) => r.config.optimizer?.name ?? "" },
            { header: "batch×seq", value: (r) => `${r.config.batchSize}×${r.config.seqLen}`, align: "right" },
            {
              header: "real tok/s",
              value: (r) => formatNumber(r.metrics?.realTokensPerSecond),
              align: "right",
            },
            {
              header: "peak alloc",
              value: (r) =>
                formatBytes(r.metrics?.peakAllocatedBytes ?? r.error?.memory?.["peakAllocatedBytes"] ?? null),
              align: "right",
            },
            { header: "device", value: (r) => r.config.device },
          ]) + "\n* random (synthetic) weights\n",
        );
      } finally {
        ctx.db.close();
      }
    });
  runs
    .command("show <id>")
    .description("one run: resolved config, environment, metrics, error (an id prefix is enough)")
    .option("--db <path>", "run database (default .loraprof/loraprof.db)")
    .option("--steps", "also print every step")
    .option("--json", "print JSON (steps included)")
    .action((id: string, opts: { db?: string; steps?: boolean; json?: boolean }) => {
      const ctx = openContext(opts);
      try {
        const run = getRun<ResolvedConfig>(ctx.db, id);
        const steps = getSteps(ctx.db, run.id);
        if (opts.json) {
          printJson({ ...run, steps });
          return;
        }
        const env = run.environment as Parameters<typeof renderRunResult>[0]["environment"];
        if (run.metrics || run.status === "completed") {
          process.stdout.write(
            renderRunResult({
              id: run.id,
              status: run.status as "completed",
              config: run.config,
              metrics: run.metrics,
              environment: env,
              loaded: run.loaded as never,
              data: (run.data ?? { records: NaN, meanTokens: NaN }) as RunResult["data"],
              ...(run.error ? { error: run.error } : {}),
            }) + "\n",
          );
        } else {
          process.stdout.write(`run ${run.id}: ${statusColor(run.status)} (created ${run.createdAt})\n`);
          if (run.error) process.stdout.write(renderError(run.error) + "\n");
        }
        process.stdout.write(
          `steps stored: ${steps.length}${run.logPath ? `; engine log: ${run.logPath}` : ""}\n`,
        );
        if (opts.steps && steps.length) {
          process.stdout.write(
            renderTable(steps, [
              { header: "step", value: (s) => String(s.step), align: "right" },
              { header: "phase", value: (s) => s.phase },
              { header: "loss", value: (s) => formatNumber(s.loss, 4), align: "right" },
              { header: "seconds", value: (s) => formatNumber(s.stepSeconds, 3), align: "right" },
              { header: "real", value: (s) => String(s.realTokens), align: "right" },
              { header: "processed", value: (s) => String(s.processedTokens), align: "right" },
              { header: "lr", value: (s) => (s.lr ?? 0).toExponential(2), align: "right" },
            ]) + "\n",
          );
        }
      } finally {
        ctx.db.close();
      }
    });
  runs
    .command("delete <ids...>")
    .description(
      "delete stored runs with their steps and telemetry (an id prefix is enough; nothing is deleted if one id is unknown or still running)",
    )
    .option("--db <path>", "run database (default .loraprof/loraprof.db)")
    .option("--json", "print the deleted ids as JSON")
    .action((ids: string[], opts: { db?: string; json?: boolean }) => {
      const ctx = openContext(opts);
      try {
        const deleted = deleteRuns(ctx.db, ids);
        if (opts.json) printJson({ deleted });
        else process.stdout.write(`deleted ${deleted.length} run(s): ${deleted.join(", ")}\n`);
      } finally {
        ctx.db.close();
      }
    });
  runs
    .command("export [ids...]")
    .description(
      "write finished runs (steps, telemetry samples and sweeps included) as one JSON bundle, for `runs import` on another machine",
    )
    .option("--db <path>", "run database (default .loraprof/loraprof.db)")
    .option("--sweep <idOrName...>", "every run of these sweeps (id or name), with the sweeps")
    .option("--all", "every finished run and sweep in the store")
    .option("-o, --out <file>", "write the bundle to FILE (default: stdout)")
    .action((ids: string[], opts: { db?: string; sweep?: string[]; all?: boolean; out?: string }) => {
      if (!ids.length && !opts.sweep?.length && !opts.all) {
        throw new LoraprofError("FLAG_INVALID", "nothing to export", {
          problems: [
            {
              field: "<ids>",
              message: "no run ids, --sweep or --all given",
              hint: "e.g. `loraprof runs export --all -o runs.json`, or `runs export ID... --sweep NAME`",
            },
          ],
        });
      }
      const ctx = openContext(opts);
      try {
        const { bundle, unfinished } = exportRuns(
          ctx.db,
          { runIds: ids, sweeps: opts.sweep ?? [], all: Boolean(opts.all) },
          packageVersion(),
        );
        const text = JSON.stringify(bundle, null, 1) + "\n";
        if (opts.out) {
          const out = opts.out;
          writingTo("--out", out, () => writeAtomic(out, text));
        } else process.stdout.write(text);
        const steps = bundle.runs.reduce((n, r) => n + r.steps.length, 0);
        const samples = bundle.runs.reduce((n, r) => n + r.telemetry.length, 0);
        process.stderr.write(
          `exported ${bundle.runs.length} run(s) (${steps} steps, ${samples} telemetry samples) and ${bundle.sweeps.length} sweep(s)` +
            `${opts.out ? ` to ${opts.out}` : ""}` +
            (unfinished.length
              ? `; left out ${unfinished.length} unfinished: ${unfinished.join(", ")}`
              : "") +
            "\n",
        );
      } finally {
        ctx.db.close();
      }
    });
  runs
    .command("import <files...>")
    .description(
      "add the runs of bundles (`runs export`) or of other loraprof store files (loraprof.db) to this store, all or nothing; runs already here are kept",
    )
    .option("--db <path>", "run database (default .loraprof/loraprof.db)")
    .option("--json", "print what was imported as JSON")
    .action((files: string[], opts: { db?: string; json?: boolean }) => {
      // Every file is read and checked before anything is written.
      const sources = files.map((file) => ({ file, ...readImportSource(file, packageVersion()) }));
      const ctx = openContext(opts);
      try {
        const results = ctx.db.transaction(() =>
          sources.map((s) => ({
            file: s.file,
            unfinished: s.unfinished,
            ...importBundle(ctx.db, s.bundle, s.file),
          })),
        )();
        const all = {
          imported: results.flatMap((r) => r.imported),
          present: results.flatMap((r) => r.present),
          sweepsImported: results.flatMap((r) => r.sweepsImported),
          sweepsPresent: results.flatMap((r) => r.sweepsPresent),
          steps: results.reduce((n, r) => n + r.steps, 0),
          samples: results.reduce((n, r) => n + r.samples, 0),
          unfinished: results.flatMap((r) => r.unfinished),
        };
        if (opts.json) {
          printJson({
            ...all,
            files: results.map((r) => ({
              file: r.file,
              imported: r.imported.length,
              present: r.present.length,
            })),
          });
          return;
        }
        const lines = results.map(
          (r) =>
            `imported ${r.imported.length} run(s) (${r.steps} steps, ${r.samples} telemetry samples) and ` +
            `${r.sweepsImported.length} sweep(s) from ${r.file}`,
        );
        if (all.present.length)
          lines.push(`already in this store, kept as they were: ${all.present.length} run(s)`);
        if (all.sweepsPresent.length)
          lines.push(`sweeps already in this store, kept as they were: ${all.sweepsPresent.join(", ")}`);
        if (all.unfinished.length)
          lines.push(`left out ${all.unfinished.length} unfinished run(s): ${all.unfinished.join(", ")}`);
        for (const s of all.sweepsImported.filter((x) => x.sameNameAs))
          lines.push(
            `sweep ${s.name} (${s.id}) has the name of ${s.sameNameAs} in this store: name it by id, e.g. \`loraprof report ${s.id} ${s.sameNameAs}\``,
          );
        if (all.imported.length)
          lines.push(
            all.sweepsImported.length
              ? `report them: loraprof report ${all.sweepsImported.map((x) => x.id).join(" ")}`
              : `report them: loraprof report ${all.imported.join(" ")}`,
          );
        process.stdout.write(lines.join("\n") + "\n");
      } finally {
        ctx.db.close();
      }
    });
}
