import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { isOutOfMemoryText, OOM_MARKERS } from "./failure.js";

/** The engine's `_OOM_MARKERS` tuple, read from its source. */
function engineOomMarkers(): string[] {
  const source = readFileSync(new URL("../../engine/src/loraprof_engine/errors.py", import.meta.url), "utf8");
  const tuple = /_OOM_MARKERS = \(([\s\S]*?)\n\)/.exec(source)?.[1];
  expect(tuple, "engine/errors.py defines _OOM_MARKERS").toBeDefined();
  return [...tuple!.matchAll(/"([^"]+)"/g)].map((m) => m[1]!);
}

describe("out-of-memory markers", () => {
  it("are the engine's, so a native-code OOM and a Python one are told apart the same way", () => {
    expect([...OOM_MARKERS]).toEqual(engineOomMarkers());
  });

  it("match PyTorch's, bitsandbytes' and cuBLAS' wording, case aside", () => {
    expect(isOutOfMemoryText("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB")).toBe(
      true,
    );
    expect(isOutOfMemoryText("Error out of memory at line 278 in file csrc/pythonInterface.cpp")).toBe(true);
    expect(isOutOfMemoryText("RuntimeError: CUBLAS_STATUS_ALLOC_FAILED when calling cublasCreate")).toBe(
      true,
    );
    expect(isOutOfMemoryText("Segmentation fault (core dumped)")).toBe(false);
  });
});
