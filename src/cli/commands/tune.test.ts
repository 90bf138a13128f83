import { describe, expect, it } from "vitest";
import { LoraprofError } from "../../util/errors.js";
import { spaceFromFlags } from "./tune.js";

describe("tune's search-space flags", () => {
  it("narrow checkpointing and activation offload separately", () => {
    expect(spaceFromFlags({ checkpointing: "on", offload: "on,off" })).toEqual({
      gradCheckpointing: [true],
      offloadActivations: [true, false],
    });
    expect(spaceFromFlags({ offload: "off" })).toEqual({ offloadActivations: [false] });
  });

  it("refuses an unknown offload value, naming the flag", () => {
    let caught: unknown;
    try {
      spaceFromFlags({ offload: "sometimes" });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(LoraprofError);
    expect((caught as LoraprofError).problems[0]?.field).toBe("--offload");
  });
});
