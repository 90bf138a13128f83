import type { Command } from "commander";
import {
  CACHE_KIND_DESCRIPTIONS,
  CACHE_KINDS,
  clearCache,
  summarizeCache,
  type CacheKind,
} from "../../cache/cache.js";
import { LoraprofError } from "../../util/errors.js";
import { cacheDir } from "../../util/paths.js";
import { printJson } from "../context.js";
import { formatBytes, renderTable } from "../render.js";

/** `cache clear` kinds from its arguments: one or more of CACHE_KINDS, or `all`. */
function kindsFrom(args: string[]): CacheKind[] {
  const unknown = args.filter((a) => a !== "all" && !CACHE_KINDS.includes(a as CacheKind));
  if (!args.length || unknown.length) {
    throw new LoraprofError("FLAG_INVALID", "invalid cache kind", {
      problems: [
        {
          field: "KIND",
          message: args.length ? `unknown: ${unknown.join(", ")}` : "name what to clear",
          hint: `use one or more of ${CACHE_KINDS.join(", ")}, or all (e.g. loraprof cache clear checkpoints)`,
        },
      ],
    });
  }
  return args.includes("all") ? [...CACHE_KINDS] : [...new Set(args as CacheKind[])];
}

export function registerCache(program: Command): void {
  const cache = program
    .command("cache")
    .description(
      "what loraprof keeps in its cache folder (synthetic checkpoints, token shards, datasets), and clearing it",
    )
    .option("--json", "print JSON")
    .option("--entries", "list every entry, not only the totals")
    .action((opts: { json?: boolean; entries?: boolean }) => {
      const s = summarizeCache(cacheDir());
      if (opts.json) return printJson(s);
      const lines = [
        `cache  ${s.dir}${s.freeBytes === null ? " (not created yet)" : `  (${formatBytes(s.freeBytes)} free on its disk)`}`,
        "",
        renderTable(s.kinds, [
          { header: "kind", value: (k) => k.kind },
          { header: "entries", value: (k) => String(k.entries), align: "right" },
          { header: "size", value: (k) => formatBytes(k.bytes), align: "right" },
          { header: "what", value: (k) => CACHE_KIND_DESCRIPTIONS[k.kind] },
        ]),
        `total  ${formatBytes(s.totalBytes)}`,
      ];
      if (opts.entries && s.entries.length) {
        lines.push(
          "",
          renderTable(s.entries, [
            { header: "kind", value: (e) => e.kind },
            { header: "name", value: (e) => e.name },
            { header: "size", value: (e) => formatBytes(e.bytes), align: "right" },
            { header: "modified", value: (e) => e.modified.slice(0, 16).replace("T", " ") },
          ]),
        );
      }
      lines.push(
        "",
        "Everything here is rebuilt when needed; results live in the store, not here. Free space with",
        "`loraprof cache clear checkpoints` (or shards, datasets, lengths, all).",
      );
      process.stdout.write(lines.join("\n") + "\n");
    });
  cache
    .command("clear")
    .description(`remove cached ${CACHE_KINDS.join(", ")} or all (rebuilt when a run needs them again)`)
    .argument("<kinds...>", `${CACHE_KINDS.join(", ")} or all`)
    .option("--json", "print JSON")
    .action((args: string[], opts: { json?: boolean }) => {
      const kinds = kindsFrom(args);
      const dir = cacheDir();
      const removed = clearCache(dir, kinds);
      const bytes = removed.reduce((a, e) => a + e.bytes, 0);
      // `--json` after `clear` is parsed by `cache` itself, which has the same option
      if (opts.json || cache.opts<{ json?: boolean }>().json)
        return printJson({ dir, kinds, removed, bytes });
      process.stdout.write(
        `removed ${removed.length} ${kinds.join(", ")} entr${removed.length === 1 ? "y" : "ies"} from ${dir}: ${formatBytes(bytes)} freed\n`,
      );
    });
}
