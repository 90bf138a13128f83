import { describe, expect, it } from "vitest";
import { doctorOk, type Check } from "./environment.js";

const check = (name: string, status: Check["status"]): Check => ({ name, status, detail: "" });

describe("doctor's verdict", () => {
  it("is ok on a CPU machine without a driver: --json says so, and the exit code agrees", () => {
    expect(doctorOk([check("node", "ok"), check("python", "ok"), check("nvidia-smi", "missing")])).toBe(true);
  });

  it("fails when something every run needs is missing", () => {
    expect(doctorOk([check("node", "ok"), check("torch", "missing")])).toBe(false);
  });
});
