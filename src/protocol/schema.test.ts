import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { OPTIMIZERS, PRECISIONS } from "./vocabulary.js";
import { protocolJsonSchemas } from "./wire.js";

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
