import { execFileSync } from "node:child_process";
import { mkdtempSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const root = resolve(import.meta.dirname, "../..");

describe("loraprof as a library", () => {
  it("imports by name from a project that installs the package, and plans and loads configs without printing", () => {
    // A project whose node_modules holds loraprof (linked, as `npm install ../loraprof` does), built dist/.
    const project = mkdtempSync(join(tmpdir(), "loraprof-lib-"));
    mkdirSync(join(project, "node_modules"));
    symlinkSync(root, join(project, "node_modules", "loraprof"), "dir");
    writeFileSync(join(project, "package.json"), JSON.stringify({ name: "consumer", type: "module" }));
    const script = `
      import("loraprof").then((m) => {
        const config = m.loadRunConfig({ overrides: { recipe: "fast", device: "cpu" } });
        const fns = ["executeRun", "planRun", "runSweep", "buildReport", "openStore", "exportRuns", "importBundle"].filter((k) => typeof m[k] === "function");
        const preset = m.loadRunConfig({ overrides: { preset: "paper-run2" } });
        console.log(JSON.stringify({ fns, padding: config.padding, loss: config.loss, optimizers: m.OPTIMIZERS.length,
          presets: m.presetNames(), presetSeqLen: preset.seqLen, comparison: typeof m.paperComparison.match }));
      });`;
    const out = execFileSync(process.execPath, ["--input-type=module", "-e", script], {
      cwd: project,
      encoding: "utf8",
    });
    expect(JSON.parse(out)).toEqual({
      fns: ["executeRun", "planRun", "runSweep", "buildReport", "openStore", "exportRuns", "importBundle"],
      padding: "packed",
      loss: "fused",
      optimizers: 5,
      // The front door registers the paper's presets (study/presets.ts) with the config loader.
      presets: ["paper-run1", "paper-run2", "paper-run3"],
      presetSeqLen: 2048,
      comparison: "function",
    });
  });
});
