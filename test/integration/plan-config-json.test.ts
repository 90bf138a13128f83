/**
 * `loraprof plan --model <folder with a config.json>` through the built CLI, offline: the folder is
 * written here, no network and no engine are involved.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { HF_CONFIGS } from "../../src/catalog/fixtures/hf-configs.js";
import { cliPath } from "./helpers.js";

function plan(args: string[]) {
  const home = mkdtempSync(join(tmpdir(), "lp-plan-cfg-"));
  const r = spawnSync(process.execPath, [cliPath, "plan", ...args], {
    encoding: "utf8",
    env: {
      ...process.env,
      LORAPROF_HOME: home,
      LORAPROF_CACHE: join(home, "cache"),
      HF_HUB_CACHE: join(home, "hf"),
      LORAPROF_NVIDIA_SMI: join(home, "no-nvidia-smi"),
      // Any attempt to reach the network fails fast.
      HTTPS_PROXY: "http://127.0.0.1:9",
      HF_HUB_OFFLINE: "1",
      NO_COLOR: "1",
    },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function modelFolder(name: keyof typeof HF_CONFIGS | "unsupported", cfg: unknown): string {
  const dir = join(mkdtempSync(join(tmpdir(), "lp-model-")), name);
  mkdirSync(dir);
  writeFileSync(join(dir, "config.json"), JSON.stringify(cfg));
  return dir;
}

describe("plan --model <folder with a config.json>", () => {
  for (const name of ["mistral-7b-v0.1", "gemma-2-9b"] as const) {
    it(`${name} on an RTX 4090`, () => {
      const dir = modelFolder(name, HF_CONFIGS[name]);
      const r = plan(["--model", dir, "--gpu", "rtx-4090", "--method", "qlora", "--json"]);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      const out = JSON.parse(r.stdout) as {
        model: string;
        gpu: { id: string };
        memory: { devicePeakBytes: number };
        parameters?: { total: number };
      };
      expect(out.gpu.id).toBe("rtx-4090");
      expect(out.model).toBe(dir);
      // 4-bit weights of a 7-9B model: more than 3 GiB, and it fits on 24 GiB.
      expect(out.memory.devicePeakBytes).toBeGreaterThan(3 * 2 ** 30);
      expect(out.memory.devicePeakBytes).toBeLessThan(24 * 2 ** 30);
    });
  }

  it("an unsupported architecture is exit 2 naming the supported families", () => {
    const dir = modelFolder("unsupported", { model_type: "gpt2", n_embd: 768 });
    const r = plan(["--model", dir, "--gpu", "rtx-4090"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/gpt2/);
    expect(r.stderr).toMatch(/Mistral/);
    expect(r.stderr).not.toMatch(/at .*\.js:\d+/);
  });
});
