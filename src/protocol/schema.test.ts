import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { OPTIMIZERS, PRECISIONS } from "./vocabulary.js";
import { EngineEventSchema, protocolJsonSchemas } from "./wire.js";

const committed = (name: string): unknown =>
  JSON.parse(readFileSync(new URL(`../../engine/schema/${name}.schema.json`, import.meta.url), "utf8"));
/** What `npm run schema` would write, read back the way the engine's tests read it. */
const exported = (doc: unknown): unknown => JSON.parse(JSON.stringify(doc));

describe("the committed JSON Schema", () => {
  it("is what the zod RunSpec exports (run `npm run schema` after changing src/protocol/)", () => {
    expect(committed("runspec")).toEqual(exported(protocolJsonSchemas().runSpec));
  });

  it("is what the zod event union exports (run `npm run schema` after changing src/protocol/)", () => {
    expect(committed("event")).toEqual(exported(protocolJsonSchemas().event));
  });

  it("carries the vocabulary's precisions and optimizers", () => {
    const schema = committed("runspec") as {
      properties: {
        train: { properties: { precision: { enum: string[] } } };
        optimizer: { properties: { name: { enum: string[] } } };
      };
    };
    expect(schema.properties.train.properties.precision.enum).toEqual([...PRECISIONS]);
    expect(schema.properties.optimizer.properties.name.enum).toEqual([...OPTIMIZERS]);
  });
});

describe("the error event", () => {
  const event = {
    type: "error",
    kind: "disk",
    message: "the disk is full: OSError: [Errno 28] No space left on device: '/cache/checkpoints/x'",
    hint: "Free space there, or point LORAPROF_CACHE at a disk with room.",
    stage: "load",
    step: null,
    memory: null,
    traceback: null,
  };

  it("accepts kind disk (a full disk or a used-up quota)", () => {
    expect(EngineEventSchema.safeParse(event).success).toBe(true);
    const schema = committed("event") as {
      oneOf: { properties: { type: { const?: string }; kind?: { enum: string[] } } }[];
    };
    const error = schema.oneOf.find((e) => e.properties.type.const === "error");
    expect(error?.properties.kind?.enum).toContain("disk");
  });

  it("refuses a kind the engine does not have", () => {
    expect(EngineEventSchema.safeParse({ ...event, kind: "diskfull" }).success).toBe(false);
  });
});
