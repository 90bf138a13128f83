import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { EXIT, LoraprofError } from "../util/errors.js";
import { openStore, storeFailure } from "./db.js";

const dir = mkdtempSync(join(tmpdir(), "loraprof-db-"));

function storeError(path: string): LoraprofError {
  try {
    openStore(path).close();
  } catch (err) {
    expect(err).toBeInstanceOf(LoraprofError);
    return err as LoraprofError;
  }
  throw new Error("expected openStore to refuse " + path);
}

describe("openStore on a path it cannot use", () => {
  it("names --db when a parent of the path is a file (no EEXIST stack)", () => {
    const file = join(dir, "a-file");
    writeFileSync(file, "x");
    const err = storeError(join(file, "loraprof.db"));
    expect(err.exitCode).toBe(EXIT.badInput);
    expect(err.problems[0]).toMatchObject({ field: "--db", message: expect.stringMatching(/is a file/) });
  });

  it("names --db when the file is not a SQLite store", () => {
    const file = join(dir, "notes.txt");
    writeFileSync(file, "these are notes, not a database\n".repeat(200));
    const err = storeError(file);
    expect(err.exitCode).toBe(EXIT.badInput);
    expect(err.problems[0]?.message).toMatch(/not a loraprof store/);
  });
});

describe("a store that stops taking writes", () => {
  it("says another writer holds the lock, or that the disk is full, with what to do", () => {
    expect(storeFailure({ code: "SQLITE_BUSY", message: "database is locked" }, "x.db").hint).toMatch(
      /another loraprof process holds the store's write lock/,
    );
    const full = storeFailure({ code: "SQLITE_FULL", message: "database or disk is full" }, "x.db");
    expect(full.hint).toMatch(/disk .* is full/);
    expect(full.exitCode).toBe(EXIT.failed);
  });
});
