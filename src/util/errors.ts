/**
 * Errors carry a code, the setting at fault and a fix. They are thrown by the library and printed in
 * one place (the CLI), which maps `exitCode` to the process exit status.
 */

/**
 * The one exit-code policy, applied by every command (the CLI's help and the README print
 * EXIT_CODES_TEXT): scripts can tell a bad invocation from a failed run from an OOM.
 */
export const EXIT = { ok: 0, failed: 1, badInput: 2, oom: 3, cancelled: 130 } as const;

export const EXIT_CODES_TEXT = [
  "Exit codes (every command):",
  "  0    ok (a sweep: every planned run has an outcome, OOM rows included, and none failed)",
  "  1    a run failed, a check failed (doctor), or the environment broke (engine, disk, download)",
  "  2    bad input of any kind: flags, config, dataset, model, run id, --db path; nothing ran",
  "  3    a run ran out of memory (in a sweep an OOM is a result row: exit 0)",
  "  130  cancelled (Ctrl-C)",
].join("\n");
export type ErrorCode =
  | "CONFIG_INVALID"
  | "FLAG_INVALID"
  | "DATASET_INVALID"
  | "DATASET_NOT_FOUND"
  | "DOWNLOAD_FAILED"
  | "ENGINE_MISSING"
  | "ENGINE_PROTOCOL"
  | "MODEL_NOT_FOUND"
  | "RUN_NOT_FOUND"
  | "STORE"
  | "TOKENIZER"
  | "INTERNAL";

/** Codes that mean the user's input is at fault: exit 2, whatever the command. */
const BAD_INPUT: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  "CONFIG_INVALID",
  "FLAG_INVALID",
  "DATASET_INVALID",
  "DATASET_NOT_FOUND",
  "MODEL_NOT_FOUND",
  "RUN_NOT_FOUND",
  "TOKENIZER",
]);

export function exitCodeOf(code: ErrorCode): number {
  return BAD_INPUT.has(code) ? EXIT.badInput : EXIT.failed;
}

export interface Problem {
  /** Dotted path of the setting at fault, e.g. `optimizer.lr`, or a file:record location. */
  field: string;
  /** What is wrong with it. */
  message: string;
  /** How to fix it. */
  hint?: string;
}

export class LoraprofError extends Error {
  readonly code: ErrorCode;
  readonly problems: Problem[];
  readonly hint: string | undefined;
  readonly exitCode: number;

  constructor(
    code: ErrorCode,
    message: string,
    opts: { problems?: Problem[]; hint?: string; exitCode?: number; cause?: unknown } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = "LoraprofError";
    this.code = code;
    this.problems = opts.problems ?? [];
    this.hint = opts.hint;
    this.exitCode = opts.exitCode ?? exitCodeOf(code);
  }

  /** Human-readable, multi-line rendering used by the CLI. */
  format(): string {
    const lines = [`error[${this.code}]: ${this.message}`];
    for (const p of this.problems) {
      lines.push(`  - ${p.field}: ${p.message}${p.hint ? `\n      fix: ${p.hint}` : ""}`);
    }
    if (this.hint) lines.push(`  hint: ${this.hint}`);
    return lines.join("\n");
  }

  toJSON(): { code: ErrorCode; message: string; problems: Problem[]; hint?: string } {
    return {
      code: this.code,
      message: this.message,
      problems: this.problems,
      ...(this.hint ? { hint: this.hint } : {}),
    };
  }
}
