import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { isOutOfMemoryText, OOM_MARKERS, shortReason } from "./failure.js";

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

describe("failure reasons", () => {
  it("shortens PyTorch's OOM paragraph to its three figures", () => {
    const message =
      "CUDA out of memory. Tried to allocate 2.32 GiB. GPU 1 has a total capacity of 139.80 GiB of which 132.87 GiB is free. Including non-PyTorch memory, this process has 6.92 GiB memory in use. 8.00 GiB allowed; Of the allocated memory 6.16 GiB is allocated by PyTorch";
    expect(shortReason({ kind: "oom", message })).toBe(
      "out of memory: tried to allocate 2.32 GiB with 6.92 GiB in use (8.00 GiB allowed)",
    );
    expect(shortReason({ kind: "data", message: "no  such\nfile" })).toBe("data: no such file");
  });
});
