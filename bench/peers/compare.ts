// loraprof side by side with its peers (Unsloth; HF Trainer + PEFT + bitsandbytes, the study's method) on one
// GPU: for each shape, `loraprof run` stores a RunSpec, and each peer runs that RunSpec (same checkpoint, records
// in the same order, batch, padding, LoRA, optimizer, precision, budget: bench/peers/common.py). The order of
// the three tools rotates from repeat to repeat (L U T, U T L, T L U) so that drift favours none; a peer that
// runs before loraprof in a repeat uses the previous repeat's RunSpec (the same configuration and records).
//
//   node dist-bench/peers-compare.mjs (npm run bench:build; on a GPU host: $CARRY/cli/bench/peers-compare.mjs)
//         [--shapes "NAME:FLAGS;NAME:FLAGS"] [--repeats 3] [--peers unsloth,trainer]
//        [--peer-padding spec|longest|max_length|packed] [--deadline-s N] [--run-timeout-s N] [--cli "node bin/loraprof.js"]
//        [--out results.json] -- [loraprof flags for every shape, e.g. --weights random --dataset PATH --recipe fast]
//
// --out is read first when it exists: runs already in it (same shape name and flags) are kept and not
// repeated, so a benchmark stopped by a time limit resumes. It is rewritten after every run.
// The peers follow the RunSpec: a packed one (loraprof's --packing) gives them the engine's packed micro-batches.
// --peer-padding batches the peers' records another way (e.g. `longest` beside loraprof's --recipe fast).
// Figures: real and processed tokens/s, device peak by NVML (loraprof: peakDeviceBytes; peers:
// nvmlPeakDeviceBytes), allocator peak; per tool the median and range over repeats; ratios loraprof ÷ peer
// of the medians, and the range of the per-repeat ratios.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { median, repoRoot, runCliJson } from "../lib/common.js";
import type { RunResult } from "../../src/index.js";

export interface Shape {
  name: string;
  flags: string[];
}
type Peer = "unsloth" | "trainer";
type Figure = "realTokens" | "processedTokens" | "measuredSteps" | "measuredSeconds" | FigureName;
type FigureName = "realTokensPerSecond" | "processedTokensPerSecond" | "deviceBytes" | "peakAllocatedBytes";
type Figures = Partial<Record<Figure, number | null | undefined>>;
export interface Args {
  shapes: Shape[];
  repeats: number;
  peers: Peer[];
  peerPadding: string;
  deadlineSeconds: number | null;
  runTimeoutSeconds: number | null;
  cli: string | null;
  out: string | null;
  extra: string[];
}
/** What one tool's run gave (figures, or an error). */
export interface ToolRunOutcome {
  command?: string | null;
  runId?: string;
  spec?: string;
  figures?: Figures;
  /** Where the run's time outside its measured window began: imports, then model load (seconds). */
  startup?: { importSeconds: number | null; loadSeconds: number | null };
  error?: string;
  options?: unknown;
  nvmlPeakDeviceReason?: unknown;
  overBudget?: unknown;
  engineOnlySettings?: unknown;
}
/** One run of one tool, as stored in --out. */
export interface ToolRun extends ToolRunOutcome {
  tool: string;
  repeat: number;
  position?: number;
  wallSeconds?: number;
}
interface ToolSummary {
  runs: number;
  realTokens: unknown[];
  errors: string[];
  [figure: string]: unknown;
}
type Spread = { median: number | null; range: [number, number] | null };
export interface ShapeSummary {
  tools: Record<string, ToolSummary & Record<FigureName, Spread>>;
  ratios: Record<
    string,
    Record<string, { ofMedians: number | null; perRepeatRange: [number, number] | null }>
  >;
}
interface ShapeEntry extends Shape {
  peerPadding?: string;
  runs: ToolRun[];
  summary: ShapeSummary | null;
}
interface PeerOutput {
  runSpec: string;
  versions?: unknown;
  options?: unknown;
  nvmlPeakDeviceReason?: unknown;
  overBudget?: unknown;
  engineOnlySettings?: unknown;
  realTokens: number;
  processedTokens: number;
  measuredSteps: number;
  measuredSeconds: number;
  realTokensPerSecond: number;
  processedTokensPerSecond: number;
  nvmlPeakDeviceBytes: number | null;
  peakAllocatedBytes: number | null;
  importSeconds?: number;
  loadSeconds?: number;
}
type UsageError = Error & { code: "USAGE" };
interface PeersResult {
  benchmark: string;
  commands: string[];
  gpu: string | null;
  driver: string | null;
  repeats: number;
  versions: Record<string, unknown>;
  date: string;
  shapes: ShapeEntry[];
}

export const DEFAULT_SHAPES = [
  "run1:--preset paper-run1",
  "run2:--preset paper-run2",
  "b32-s512-bf16:--preset paper-run3 --batch-size 32 --seq-len 512 --optimizer adamw_8bit --loss chunked --vram-budget 8GiB",
  "lora-bf16-b16-s2048:--preset paper-run3 --method lora --batch-size 16 --seq-len 2048 --padding max_length --no-grad-checkpointing --loss chunked",
].join(";");
export const TOOLS = ["loraprof", "unsloth", "trainer"];
const PEER_SCRIPTS: Record<Peer, string> = {
  unsloth: "bench/peers/unsloth_run.py",
  trainer: "bench/peers/trainer_run.py",
};

/** Splits argv at `--`: [own options, loraprof flags for every shape]. Throws on an unknown option. */
export function parseArgs(argv: readonly string[]): Args {
  const dash = argv.indexOf("--");
  const own = dash >= 0 ? argv.slice(0, dash) : argv;
  const extra = dash >= 0 ? argv.slice(dash + 1) : [];
  const known: Record<string, string | null> = {
    "--shapes": DEFAULT_SHAPES,
    "--repeats": "3",
    "--peers": "unsloth,trainer",
    "--peer-padding": "spec",
    "--deadline-s": null,
    "--run-timeout-s": "540",
    "--cli": null,
    "--out": null,
  };
  const opts = { ...known };
  for (let i = 0; i < own.length; i += 2) {
    const name = own[i]!;
    if (!(name in known))
      throw usage(
        `unknown option ${name}`,
        `use ${Object.keys(known).join(", ")}, then -- and loraprof flags`,
      );
    const value = own[i + 1];
    if (value === undefined) throw usage(`${name} needs a value`, `e.g. ${name} ${known[name] ?? "VALUE"}`);
    opts[name] = value;
  }
  const repeats = Number(opts["--repeats"]);
  if (!Number.isInteger(repeats) || repeats < 1)
    throw usage(`--repeats: ${opts["--repeats"]}`, "a whole number ≥ 1 (3 or more for a range)");
  const peers = (opts["--peers"] ?? "").split(",").filter(Boolean) as Peer[];
  for (const p of peers)
    if (!(p in PEER_SCRIPTS))
      throw usage(`--peers: ${p}`, `use a subset of ${Object.keys(PEER_SCRIPTS).join(",")}`);
  const peerPadding = opts["--peer-padding"] ?? "spec";
  if (!["spec", "longest", "max_length", "packed"].includes(peerPadding))
    throw usage(`--peer-padding: ${opts["--peer-padding"]}`, "spec, longest, max_length or packed");
  const seconds = (name: string): number | null => {
    if (opts[name] === null || opts[name] === undefined) return null;
    const n = Number(opts[name]);
    if (!(n > 0)) throw usage(`${name}: ${opts[name]}`, "a number of seconds > 0");
    return n;
  };
  return {
    shapes: parseShapes(opts["--shapes"] ?? DEFAULT_SHAPES),
    repeats,
    peers,
    peerPadding,
    deadlineSeconds: seconds("--deadline-s"),
    runTimeoutSeconds: seconds("--run-timeout-s"),
    cli: opts["--cli"] ?? null,
    out: opts["--out"] ?? null,
    extra,
  };
}

/** "NAME:FLAGS;NAME:FLAGS" → [{name, flags: [...]}]; flags split on spaces (no quoting). */
export function parseShapes(text: string): Shape[] {
  const shapes = text
    .split(";")
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      const colon = s.indexOf(":");
      if (colon <= 0)
        throw usage(`--shapes: "${s}" has no name`, 'write NAME:FLAGS, e.g. "run1:--preset paper-run1"');
      return {
        name: s.slice(0, colon).trim(),
        flags: s
          .slice(colon + 1)
          .trim()
          .split(/\s+/)
          .filter(Boolean),
      };
    });
  if (!shapes.length) throw usage("--shapes is empty", 'e.g. --shapes "run1:--preset paper-run1"');
  const names = shapes.map((s) => s.name);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup) throw usage(`--shapes: ${dup} appears twice`, "give each shape its own name");
  return shapes;
}

/** The tools' order in repeat i (0-based): rotated so that each runs first, second and third in turn. */
export function orderOf<T>(i: number, tools: readonly T[]): T[] {
  const k = i % tools.length;
  return [...tools.slice(k), ...tools.slice(0, k)];
}

const FIGURES: FigureName[] = [
  "realTokensPerSecond",
  "processedTokensPerSecond",
  "deviceBytes",
  "peakAllocatedBytes",
];
const range = (xs: number[]): [number, number] | null =>
  xs.length ? [Math.min(...xs), Math.max(...xs)] : null;

/** Per-tool medians and ranges, and loraprof ÷ peer ratios, of one shape's runs. */
export function summarize(runs: readonly ToolRun[], peers: readonly string[]): ShapeSummary {
  const ok = (tool: string) => runs.filter((r) => r.tool === tool && !r.error);
  const tools: ShapeSummary["tools"] = {};
  for (const tool of ["loraprof", ...peers]) {
    const rs = ok(tool);
    tools[tool] = {
      runs: rs.length,
      // The distinct real-token counts of the measured windows: one value, the same as loraprof's, when the
      // tool saw exactly the records loraprof did (unpacked; a packed peer packs its own way).
      realTokens: [...new Set(rs.map((r) => r.figures?.realTokens))],
      errors: runs.filter((r) => r.tool === tool && r.error).map((r) => r.error!),
      ...Object.fromEntries(
        FIGURES.map((f) => {
          const xs = rs.map((r) => r.figures?.[f]).filter((x): x is number => typeof x === "number");
          return [f, { median: xs.length ? median(xs) : null, range: range(xs) }];
        }),
      ),
    } as ToolSummary & Record<FigureName, Spread>;
  }
  const ratios: ShapeSummary["ratios"] = {};
  for (const peer of peers) {
    const byFigure: ShapeSummary["ratios"][string] = {};
    ratios[peer] = byFigure;
    for (const f of ["realTokensPerSecond", "deviceBytes"] as const) {
      const a = tools["loraprof"]![f].median;
      const b = tools[peer]![f].median;
      const perRepeat: number[] = [];
      for (const l of ok("loraprof")) {
        const p = ok(peer).find((r) => r.repeat === l.repeat);
        const x = l.figures?.[f];
        const y = p?.figures?.[f];
        if (typeof x === "number" && typeof y === "number" && y > 0) perRepeat.push(x / y);
      }
      byFigure[f] = { ofMedians: a !== null && b ? a / b : null, perRepeatRange: range(perRepeat) };
    }
  }
  return { tools, ratios };
}

function usage(message: string, fix: string): UsageError {
  return Object.assign(new Error(`${message}: ${fix}`), { code: "USAGE" as const });
}

function figuresOfEngine(engine: RunResult): Figures {
  const m = engine.metrics ?? {};
  return {
    realTokens: m.realTokens,
    processedTokens: m.processedTokens,
    measuredSteps: m.measuredSteps,
    measuredSeconds: m.measuredSeconds,
    realTokensPerSecond: m.realTokensPerSecond,
    processedTokensPerSecond: m.processedTokensPerSecond,
    deviceBytes: m.peakDeviceBytes,
    peakAllocatedBytes: m.peakAllocatedBytes,
  };
}

function figuresOfPeer(p: PeerOutput): Figures {
  return {
    realTokens: p.realTokens,
    processedTokens: p.processedTokens,
    measuredSteps: p.measuredSteps,
    measuredSeconds: p.measuredSeconds,
    realTokensPerSecond: p.realTokensPerSecond,
    processedTokensPerSecond: p.processedTokensPerSecond,
    deviceBytes: p.nvmlPeakDeviceBytes,
    peakAllocatedBytes: p.peakAllocatedBytes,
  };
}

function main(): void {
  let args: Args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    if ((err as Partial<UsageError>).code !== "USAGE") throw err;
    console.error(`error: ${(err as Error).message}`);
    process.exit(2);
  }
  const root = repoRoot();
  const cli = (args.cli ?? `node ${join(root, "bin/loraprof.js")}`).split(" ");
  const home = resolve(process.env.LORAPROF_HOME ?? ".loraprof");
  const python =
    process.env.LORAPROF_PYTHON ??
    (JSON.parse(readFileSync(join(home, "engine.json"), "utf8")) as { python: string }).python;
  const env = {
    ...process.env,
    PYTHONUNBUFFERED: "1",
    // The peers import loraprof_engine (record order, NVML watch) from this tree.
    PYTHONPATH: [process.env.PYTHONPATH, join(root, "engine/src")].filter(Boolean).join(":"),
  };
  const start = Date.now();
  const left = () =>
    args.deadlineSeconds === null ? Infinity : args.deadlineSeconds - (Date.now() - start) / 1000;
  const limitMs = () => Math.floor(Math.max(1, Math.min(args.runTimeoutSeconds ?? Infinity, left())) * 1000);

  let gpu: string | null = null;
  try {
    gpu = execFileSync("nvidia-smi", ["--query-gpu=name,driver_version", "--format=csv,noheader"], {
      encoding: "utf8",
    })
      .trim()
      .split("\n")[0]!;
  } catch {
    /* no nvidia-smi */
  }
  const prior: Partial<PeersResult> | null =
    args.out && existsSync(args.out) ? (JSON.parse(readFileSync(args.out, "utf8")) as PeersResult) : null;
  const result: PeersResult = {
    benchmark: "peers: loraprof vs Unsloth vs HF Trainer + PEFT, same RunSpec",
    commands: [
      ...(prior?.commands ?? []),
      `node dist-bench/peers-compare.mjs ${process.argv.slice(2).join(" ")}`,
    ],
    gpu: gpu?.split(", ")[0] ?? prior?.gpu ?? null,
    driver: gpu?.split(", ")[1] ?? prior?.driver ?? null,
    repeats: args.repeats,
    versions: prior?.versions ?? {},
    date: new Date().toISOString(),
    // Shapes of earlier calls that this call does not run stay as they were: no stored result is lost.
    shapes: (prior?.shapes ?? []).filter(
      (s) =>
        !args.shapes.some((t) =>
          sameShape(s, { name: t.name, flags: [...t.flags, ...args.extra], peerPadding: args.peerPadding }),
        ),
    ),
  };
  // Written whole, then renamed over the old file: a kill mid-write loses nothing stored.
  const save = () => {
    if (!args.out) return;
    writeFileSync(`${args.out}.tmp`, JSON.stringify(result, null, 2) + "\n");
    renameSync(`${args.out}.tmp`, args.out);
  };

  const runEngine = (shape: Shape, repeat: number): ToolRunOutcome => {
    const flags = [
      ...shape.flags,
      ...args.extra,
      "--label",
      `peers-${shape.name}-${repeat}`,
      "--json",
      "--quiet",
    ];
    const command = `loraprof run ${flags.join(" ")}`;
    process.stderr.write(`· ${command}\n`);
    const engine = runCliJson<RunResult>(cli, ["run", ...flags], {
      timeout: limitMs(),
      killSignal: "SIGINT",
    });
    if (engine.status !== "completed")
      throw Object.assign(new Error(`run ${engine.status}: ${engine.error?.message}`), { command });
    result.versions["loraprof"] ??= engine.environment ?? null;
    const spec = join(home, "runs", engine.id, "spec.json");
    if (!existsSync(spec)) throw Object.assign(new Error(`no RunSpec at ${spec}`), { command });
    return {
      command,
      runId: engine.id,
      spec,
      figures: figuresOfEngine(engine),
      startup: {
        importSeconds: engine.environment?.startupSeconds.imports ?? null,
        loadSeconds: engine.loaded?.loadSeconds ?? null,
      },
    };
  };
  const runPeer = (peer: Peer, spec: string): ToolRunOutcome => {
    const padding = args.peerPadding === "spec" ? [] : ["--padding", args.peerPadding];
    const cmd = [join(root, PEER_SCRIPTS[peer]), "--spec", spec, ...padding];
    const command = `${python} ${cmd.join(" ")}`;
    process.stderr.write(`· ${command}\n`);
    // Outside the checkout: Unsloth writes its compiled modules to ./unsloth_compiled_cache.
    const cwd = join(tmpdir(), "loraprof-peers");
    mkdirSync(cwd, { recursive: true });
    const t = spawnSync(python, cmd, { encoding: "utf8", maxBuffer: 64 << 20, env, cwd, timeout: limitMs() });
    let out: PeerOutput;
    try {
      out = JSON.parse(t.stdout.trim().split("\n").pop() ?? "") as PeerOutput;
    } catch {
      const why = t.error ? String(t.error.message) : `exit ${t.status}`;
      throw Object.assign(
        new Error(`${peer} failed (${why}): ${(t.stderr ?? "").split("\n").slice(-12).join("\n")}`),
        {
          command,
        },
      );
    }
    result.versions[peer] ??= out.versions ?? null;
    return {
      command,
      runId: out.runSpec,
      spec,
      figures: figuresOfPeer(out),
      startup: { importSeconds: out.importSeconds ?? null, loadSeconds: out.loadSeconds ?? null },
      options: out.options,
      nvmlPeakDeviceReason: out.nvmlPeakDeviceReason,
      overBudget: out.overBudget,
      engineOnlySettings: out.engineOnlySettings,
    };
  };

  for (const shape of args.shapes) {
    const key = { name: shape.name, flags: [...shape.flags, ...args.extra], peerPadding: args.peerPadding };
    const old = prior?.shapes?.find((s) => sameShape(s, key));
    const runs = old ? old.runs.filter((r) => !r.error) : [];
    const entry: ShapeEntry = { ...key, runs, summary: null };
    result.shapes.push(entry);
    // The last stored loraprof run's RunSpec, while it is still there (a fresh machine has none).
    let spec: string | null = [...runs].reverse().find((r) => r.tool === "loraprof")?.spec ?? null;
    if (spec !== null && !existsSync(spec)) spec = null;
    for (let i = 0; i < args.repeats; i++) {
      let tools: string[] = orderOf(i, ["loraprof", ...args.peers]);
      if (spec === null) tools = ["loraprof", ...tools.filter((t) => t !== "loraprof")];
      for (const tool of tools) {
        if (runs.some((r) => r.tool === tool && r.repeat === i + 1)) continue;
        if (left() < 30) {
          process.stderr.write(`  deadline: ${shape.name} #${i + 1} ${tool} not started\n`);
          continue;
        }
        const t0 = Date.now();
        let run: ToolRunOutcome;
        try {
          if (tool === "loraprof") {
            run = runEngine(shape, i + 1);
            spec = run.spec ?? null;
          } else {
            if (spec === null && runs.some((r) => r.tool === "loraprof" && r.repeat === i + 1 && !r.error)) {
              // Restored results on a fresh machine: loraprof's run is stored, its RunSpec (and synthetic
              // checkpoint) are not. One more loraprof run writes them again; it is not counted.
              spec = runEngine(shape, i + 1).spec ?? null;
              process.stderr.write(
                `  ${shape.name} #${i + 1}: loraprof ran again for its RunSpec (not counted)\n`,
              );
            }
            if (spec === null) throw new Error("no RunSpec: loraprof's run of this shape failed");
            run = runPeer(tool as Peer, spec);
          }
        } catch (err) {
          const e = err as Error & { command?: string };
          run = { command: e.command ?? null, error: String(e.message ?? err) };
        }
        const wallSeconds = (Date.now() - t0) / 1000;
        runs.push({ tool, repeat: i + 1, position: tools.indexOf(tool) + 1, wallSeconds, ...run });
        const f: Figures = run.figures ?? {};
        const start = run.startup;
        const where = start
          ? `; ${wallSeconds.toFixed(0)} s in all: ${[
              start.importSeconds !== null ? `imports ${start.importSeconds.toFixed(1)} s` : null,
              start.loadSeconds !== null ? `load ${start.loadSeconds.toFixed(1)} s` : null,
              `measured ${Number(f.measuredSeconds ?? 0).toFixed(1)} s`,
            ]
              .filter(Boolean)
              .join(", ")}`
          : "";
        process.stderr.write(
          `  ${shape.name} #${i + 1} ${tool}: ${typeof run.error === "string" ? `error: ${run.error.split("\n")[0]}` : `${f.realTokensPerSecond?.toFixed(1)} real tok/s, device ${gib(f.deviceBytes)} GiB${where}`}\n`,
        );
        entry.summary = summarize(runs, args.peers);
        save();
      }
    }
    entry.summary = summarize(runs, args.peers);
    save();
  }
  printTable(result, args.peers);
}

/** One shape of one call: the same name, loraprof flags and peer padding (older results have none: "spec"). */
const sameShape = (a: Shape & { peerPadding?: string }, b: Shape & { peerPadding?: string }) =>
  a.name === b.name &&
  JSON.stringify(a.flags) === JSON.stringify(b.flags) &&
  (a.peerPadding ?? "spec") === (b.peerPadding ?? "spec");
const gib = (b: unknown) => (typeof b === "number" ? (b / 2 ** 30).toFixed(2) : "—");
const fmt = (n: unknown, d = 1) => (typeof n === "number" ? n.toFixed(d) : "—");

function printTable(result: PeersResult, peers: readonly string[]): void {
  console.log(`${result.gpu ?? "no GPU"} (driver ${result.driver ?? "—"})`);
  const head = [
    "shape",
    "tool",
    "runs",
    "real tok/s (range)",
    "device GiB",
    "loraprof÷tool tok/s",
    "loraprof÷tool device",
  ];
  console.log(head.join(" | "));
  for (const s of result.shapes) {
    if (!s.summary) continue;
    for (const tool of ["loraprof", ...peers]) {
      const t = s.summary.tools[tool]!;
      const r = tool === "loraprof" ? null : s.summary.ratios[tool];
      const rr = t.realTokensPerSecond.range;
      console.log(
        [
          s.name,
          tool,
          `${t.runs}${t.errors.length ? ` (+${t.errors.length} failed)` : ""}`,
          `${fmt(t.realTokensPerSecond.median)} (${rr ? `${fmt(rr[0])}–${fmt(rr[1])}` : "—"})`,
          gib(t.deviceBytes.median),
          r ? fmt(r["realTokensPerSecond"]?.ofMedians, 2) : "",
          r ? fmt(r["deviceBytes"]?.ofMedians, 2) : "",
        ].join(" | "),
      );
    }
  }
}

if (import.meta.url === `file://${process.argv[1]}`) main();
