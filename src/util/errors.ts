/**
 * Errors carry a code, the setting at fault and a fix. They are thrown by the library and printed in
 * one place (the CLI), which maps `exitCode` to the process exit status.
 */
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

/** Codes that mean the user's input is at fault (exit code 2); every other code exits with 1. */
const BAD_INPUT: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  "CONFIG_INVALID",
  "FLAG_INVALID",
  "DATASET_INVALID",
  "DATASET_NOT_FOUND",
]);

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
    this.exitCode = opts.exitCode ?? (BAD_INPUT.has(code) ? 2 : 1);
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
