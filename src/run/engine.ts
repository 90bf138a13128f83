/**
 * One engine process per run. The engine gets its RunSpec as a file, writes events as JSON lines on
 * fd 3 and its log on stderr. It runs in its own process group so that a cancel (or a crash of
 * ours) takes down everything it started; if this process dies without cleaning up, the engine
 * sees its stdin close and exits by itself.
 */
import { spawn, type ChildProcess } from "node:child_process";
import {
  createWriteStream,
  existsSync,
  readFileSync,
  mkdirSync,
  writeFileSync,
  type WriteStream,
} from "node:fs";
import { delimiter, dirname, join } from "node:path";
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import { LoraprofError } from "../util/errors.js";
import { engineSourceDir, loraprofHome } from "../util/paths.js";
import { EngineEventSchema, type EngineEvent, type RunSpec } from "../protocol/index.js";

/**
 * One line of the event stream → a validated event, or what is wrong with it (the field at fault
 * first). Never throws: any text the engine (or a library writing to its fd) produces is a result.
 */
export function parseEventLine(line: string): { event: EngineEvent } | { problem: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch (err) {
    return { problem: `not JSON (${(err as Error).message})` };
  }
  const res = EngineEventSchema.safeParse(parsed);
  if (res.success) return { event: res.data };
  return {
    problem: res.error.issues
      .slice(0, 5)
      .map((i) => `${i.path.join(".") || "(event)"}: ${i.message}`)
      .join("; "),
  };
}

export interface EngineState {
  python: string;
  /** Library versions found by `loraprof setup`. */
  found?: Record<string, string | null>;
  createdAt?: string;
}

export function engineStatePath(home = loraprofHome()): string {
  return join(home, "engine.json");
}

export function readEngineState(home = loraprofHome()): EngineState | null {
  const p = engineStatePath(home);
  if (!existsSync(p)) return null;
  try {
    return JSON.parse(readFileSync(p, "utf8")) as EngineState;
  } catch {
    return null;
  }
}

export function writeEngineState(state: EngineState, home = loraprofHome()): void {
  mkdirSync(home, { recursive: true });
  writeFileSync(engineStatePath(home), JSON.stringify(state, null, 2) + "\n");
}

/** The Python that runs the engine: LORAPROF_PYTHON, else what `loraprof setup` recorded. */
export function resolvePython(home = loraprofHome()): string {
  const fromEnv = process.env["LORAPROF_PYTHON"];
  if (fromEnv) {
    if (fromEnv.includes("/") && !existsSync(fromEnv)) {
      throw new LoraprofError(
        "ENGINE_MISSING",
        `LORAPROF_PYTHON points to ${fromEnv}, which does not exist`,
        {
          hint: "unset LORAPROF_PYTHON to use the environment made by `npx loraprof setup`, or fix the path",
        },
      );
    }
    return fromEnv;
  }
  const state = readEngineState(home);
  if (state && existsSync(state.python)) return state.python;
  const venv = join(home, "venv", "bin", "python");
  if (existsSync(venv)) return venv;
  throw new LoraprofError("ENGINE_MISSING", "the Python engine environment is not set up", {
    hint: "run `npx loraprof setup` (or `loraprof setup --python /path/to/python` to reuse one that has torch)",
  });
}

export function engineEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const src = engineSourceDir();
  const pp = process.env["PYTHONPATH"];
  return {
    ...process.env,
    PYTHONPATH: pp ? `${src}${delimiter}${pp}` : src,
    PYTHONUNBUFFERED: "1",
    // Keep tokenizers/transformers from phoning home or warning about forks.
    TOKENIZERS_PARALLELISM: "false",
    HF_HUB_DISABLE_TELEMETRY: "1",
    ...extra,
  };
}

export interface EngineOutcome {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  cancelled: boolean;
  /** Set when a line on fd 3 was not a valid event; the engine was stopped. */
  protocolError: { line: string; message: string } | null;
  stderrTail: string;
}

export interface EngineHandle {
  pid: number | undefined;
  done: Promise<EngineOutcome>;
  /** Stop the whole process group: SIGTERM, then SIGKILL after `graceMs`. */
  kill(graceMs?: number): void;
}

const TAIL_LINES = 60;

export function startEngine(opts: {
  spec: RunSpec;
  python: string;
  runDir: string;
  onEvent: (event: EngineEvent) => void;
  signal?: AbortSignal;
  /** A zygote's socket (zygote.ts): the run is forked from it, through a small attach process. */
  zygote?: string;
  /** Data-parallel ranks on this host: the engine runs under torchrun (distributed.py); no zygote then. */
  nprocPerNode?: number;
}): EngineHandle {
  mkdirSync(opts.runDir, { recursive: true });
  const specPath = join(opts.runDir, "spec.json");
  writeFileSync(specPath, JSON.stringify(opts.spec, null, 2));
  const log: WriteStream = createWriteStream(join(opts.runDir, "engine.log"));
  // The log is a convenience: a full disk loses its tail, never the run (its stderr tail is kept).
  log.on("error", () => undefined);
  mkdirSync(dirname(specPath), { recursive: true });

  // Through a zygote, the attach process stands in for the engine: same pipes, exit status, signals.
  const ranks = opts.nprocPerNode ?? 1;
  const args =
    ranks > 1
      ? ["-m", "loraprof_engine.launch", String(ranks), specPath]
      : opts.zygote
        ? ["-m", "loraprof_engine.attach", opts.zygote, specPath]
        : ["-m", "loraprof_engine", specPath];
  const child: ChildProcess = spawn(opts.python, args, {
    stdio: ["pipe", "pipe", "pipe", "pipe"],
    detached: true,
    // NVLink SHARP (NVLS) multicast off: it needs fabric support that shared hosts do not grant.
    env: engineEnv(ranks > 1 ? { NCCL_NVLS_ENABLE: "0" } : {}),
  });

  const tail: string[] = [];
  const keepTail = (line: string) => {
    tail.push(line);
    if (tail.length > TAIL_LINES) tail.shift();
  };
  let cancelled = false;
  let protocolError: EngineOutcome["protocolError"] = null;
  let killTimer: NodeJS.Timeout | undefined;

  const killGroup = (sig: NodeJS.Signals) => {
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    try {
      process.kill(-child.pid, sig);
    } catch {
      try {
        child.kill(sig);
      } catch {
        /* already gone */
      }
    }
  };
  const kill = (graceMs = 5000) => {
    killGroup("SIGTERM");
    killTimer ??= setTimeout(() => killGroup("SIGKILL"), graceMs);
    killTimer.unref();
  };
  // If this process exits for any reason, take the engine with it.
  const onExit = () => killGroup("SIGKILL");
  process.on("exit", onExit);

  const onAbort = () => {
    cancelled = true;
    kill();
  };
  if (opts.signal?.aborted) onAbort();
  else opts.signal?.addEventListener("abort", onAbort, { once: true });

  for (const stream of [child.stdout, child.stderr]) {
    if (!stream) continue;
    createInterface({ input: stream }).on("line", (line) => {
      log.write(line + "\n");
      keepTail(line);
    });
  }

  const events = child.stdio[3] as Readable | null;
  const eventsDone = new Promise<void>((resolveEvents) => {
    if (!events) return resolveEvents();
    const rl = createInterface({ input: events });
    rl.on("line", (line) => {
      if (protocolError || line.trim() === "") return;
      const parsed = parseEventLine(line);
      if ("event" in parsed) {
        try {
          opts.onEvent(parsed.event);
        } catch (err) {
          protocolError = { line, message: `event handler failed: ${(err as Error).message}` };
          kill(1000);
        }
        return;
      }
      protocolError = { line: line.length > 500 ? line.slice(0, 500) + "…" : line, message: parsed.problem };
      kill(1000);
    });
    rl.on("close", () => resolveEvents());
  });

  const done = new Promise<EngineOutcome>((resolveDone) => {
    let spawnError: Error | null = null;
    child.on("error", (err) => {
      spawnError = err;
    });
    child.on("close", (code, sig) => {
      void eventsDone.then(() => {
        if (killTimer) clearTimeout(killTimer);
        process.off("exit", onExit);
        opts.signal?.removeEventListener("abort", onAbort);
        log.end();
        if (spawnError) keepTail(`failed to start ${opts.python}: ${spawnError.message}`);
        resolveDone({ exitCode: code, signal: sig, cancelled, protocolError, stderrTail: tail.join("\n") });
      });
    });
  });

  // The engine's parent-death watch reads stdin: keep it open, never write to it.
  child.stdin?.on("error", () => undefined);
  return { pid: child.pid, done, kill };
}
