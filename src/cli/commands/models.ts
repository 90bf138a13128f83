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
            // Families with no offline tokenizer read tokenizer.json from the model's Hugging Face cache.
            { header: "tokenizer", value: (m) => m.tokenizer ?? "hub cache" },
          ],
        ) +
          "\n" +
          'tokenizer "hub cache": run and data read tokenizer.json from the model\'s snapshot in the Hugging Face cache\n' +
          "(huggingface-cli download <hub> tokenizer.json tokenizer_config.json config.json); plan measures lengths with Qwen2.5's.\n",
      );
    });
}
