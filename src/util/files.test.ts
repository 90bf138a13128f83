import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { LoraprofError } from "./errors.js";
import { writeAtomic, writingTo } from "./files.js";

describe("writingTo", () => {
  it("names the flag and the fix when the path cannot be written, and passes a good write through", () => {
    const dir = mkdtempSync(join(tmpdir(), "loraprof-files-"));
    const file = join(dir, "a-file");
    writeFileSync(file, "x");
    let err: unknown;
    try {
      writingTo("--out", join(file, "below.json"), () => writeAtomic(join(file, "below.json"), "{}"));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(LoraprofError);
    expect((err as LoraprofError).exitCode).toBe(2);
    expect((err as LoraprofError).problems).toEqual([
      {
        field: "--out",
        message: "a parent of this path is a file, not a folder",
        hint: "pass a path whose folders exist or can be created",
      },
    ]);
    const good = join(dir, "sub", "ok.json");
    expect(writingTo("--out", good, () => (writeAtomic(good, "{}\n"), 7))).toBe(7);
    expect(readFileSync(good, "utf8")).toBe("{}\n");
  });

  it("lets errors that are not the file system's through unchanged", () => {
    const boom = new Error("not a path problem");
    expect(() =>
      writingTo("--out", "x", () => {
        throw boom;
      }),
    ).toThrow(boom);
  });
});
