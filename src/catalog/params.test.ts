import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { MODEL_TYPES } from "../protocol/vocabulary.js";
import { ligerPatched } from "./params.js";

describe("ligerPatched", () => {
  it("names exactly the families the engine patches with Liger (kernels.py, LIGER_PATCHES)", () => {
    const here = dirname(fileURLToPath(import.meta.url));
    const source = readFileSync(join(here, "../../engine/src/loraprof_engine/kernels.py"), "utf8");
    const block = /^LIGER_PATCHES = \{([^}]*)\}/m.exec(source);
    expect(block).not.toBeNull();
    const engine = [...(block?.[1] ?? "").matchAll(/"([a-z0-9_]+)":/g)].map((m) => m[1]).sort();
    expect(engine.length).toBeGreaterThan(0);
    expect(MODEL_TYPES.filter((modelType) => ligerPatched({ modelType })).sort()).toEqual(engine);
  });
});
