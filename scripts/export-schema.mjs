// Writes the protocol's JSON Schemas for the engine's tests. Run after `npm run build`.
import { writeFileSync, mkdirSync } from "node:fs";
import { protocolJsonSchemas } from "../dist/protocol/index.js";

const { runSpec, event } = protocolJsonSchemas();
mkdirSync(new URL("../engine/schema/", import.meta.url), { recursive: true });
writeFileSync(
  new URL("../engine/schema/runspec.schema.json", import.meta.url),
  JSON.stringify(runSpec, null, 2) + "\n",
);
writeFileSync(
  new URL("../engine/schema/event.schema.json", import.meta.url),
  JSON.stringify(event, null, 2) + "\n",
);
console.log("wrote engine/schema/runspec.schema.json and engine/schema/event.schema.json");
