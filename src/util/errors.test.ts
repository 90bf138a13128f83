import { describe, expect, it } from "vitest";
import { EXIT, EXIT_CODES_TEXT, LoraprofError, exitCodeOf } from "./errors.js";

describe("the exit-code policy", () => {
  it("exits 2 for bad input of every kind, dataset and model errors included", () => {
    for (const code of [
      "CONFIG_INVALID",
      "FLAG_INVALID",
      "DATASET_INVALID",
      "DATASET_NOT_FOUND",
      "MODEL_NOT_FOUND",
      "RUN_NOT_FOUND",
    ] as const) {
      expect(new LoraprofError(code, "x").exitCode).toBe(EXIT.badInput);
    }
  });

  it("exits 1 when the environment broke rather than the input", () => {
    for (const code of ["ENGINE_MISSING", "DOWNLOAD_FAILED", "INTERNAL", "ENGINE_PROTOCOL"] as const) {
      expect(exitCodeOf(code)).toBe(EXIT.failed);
    }
  });

  it("prints every code of the policy in the help text", () => {
    for (const code of Object.values(EXIT)) expect(EXIT_CODES_TEXT).toMatch(new RegExp(`^  ${code} `, "m"));
  });
});
