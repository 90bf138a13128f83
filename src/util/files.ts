/** Writing files so that a reader (or a crash) never sees half of one, and saying why a path cannot be written. */
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { EXIT, LoraprofError } from "./errors.js";

/** Writes `text` to a temporary file beside `path`, then renames it over `path` (atomic on one file system). */
export function writeAtomic(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}-${Date.now()}`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

/** Why a file or folder could not be created at a path the user gave, in their words. */
export function pathProblem(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  switch (e.code) {
    case "EEXIST":
    case "ENOTDIR":
      return "a parent of this path is a file, not a folder";
    case "EISDIR":
      return "is a folder, not a file";
    case "EACCES":
    case "EPERM":
      return "no permission to create or write it";
    case "EROFS":
      return "the file system is read-only";
    case "ENOSPC":
      return "the disk is full";
    default:
      return e.message ?? String(err);
  }
}

/**
 * Runs `write` for an output path given by a flag; a file-system failure becomes an error naming the flag
 * (exit 2 when the path is at fault, 1 when the disk is full or the error is something else).
 */
export function writingTo<T>(field: string, path: string, write: () => T): T {
  try {
    return write();
  } catch (err) {
    if (err instanceof LoraprofError || typeof (err as NodeJS.ErrnoException).code !== "string") throw err;
    const code = (err as NodeJS.ErrnoException).code!;
    const pathAtFault = ["EEXIST", "ENOTDIR", "EISDIR", "EACCES", "EPERM", "EROFS"].includes(code);
    throw new LoraprofError("FLAG_INVALID", `cannot write ${path}`, {
      problems: [
        {
          field,
          message: pathProblem(err),
          hint: pathAtFault
            ? "pass a path whose folders exist or can be created"
            : "free space, then run it again",
        },
      ],
      exitCode: pathAtFault ? EXIT.badInput : EXIT.failed,
      cause: err,
    });
  }
}
