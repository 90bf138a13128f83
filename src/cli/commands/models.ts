import type { Command } from "commander";
import { MODELS } from "../../catalog/models.js";
import { printJson } from "../context.js";
import { renderTable } from "../render.js";

export function registerModels(program: Command): void {
  program
    .command("models")
    .description("the model catalog: ids usable with --model and their architecture facts")
    .option("--json", "print JSON")
    .action((opts: { json?: boolean }) => {
      if (opts.json) return printJson(MODELS);
      process.stdout.write(
        renderTable(
          [...MODELS],
          [
            { header: "id", value: (m) => m.id },
            { header: "hub", value: (m) => m.hubId ?? "(synthetic only)" },
            { header: "layers", value: (m) => String(m.architecture.numLayers), align: "right" },
            { header: "hidden", value: (m) => String(m.architecture.hiddenSize), align: "right" },
            {
              header: "heads/kv",
              value: (m) => `${m.architecture.numHeads}/${m.architecture.numKvHeads}`,
              align: "right",
            },
            { header: "vocab", value: (m) => String(m.architecture.vocabSize), align: "right" },
            { header: "tied", value: (m) => (m.architecture.tieWordEmbeddings ? "yes" : "no") },
          ],
        ) + "\n",
      );
    });
}
