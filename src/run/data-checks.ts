/**
 * What a prepared token shard means for the run about to use it, decided before the engine starts:
 * a shard with nothing to train on is the user's settings at fault (named, with the fix), and records
 * cut by `seqLen` are a warning the run carries, never a silent change of the data.
 */
import { readShard } from "../data/shard.js";
import type { PreparedData } from "../data/index.js";
import { LoraprofError } from "../util/errors.js";

const pct = (part: number, whole: number) => `${((100 * part) / Math.max(whole, 1)).toFixed(0)}%`;

/**
 * Throws CONFIG_INVALID when no token of the shard is a training target the engine can use (the
 * engine ignores a record's first token: nothing predicts it). Returns the warnings to store.
 */
export async function checkPreparedData(data: Pick<PreparedData, "shardDir" | "summary">): Promise<string[]> {
  const s = data.summary;
  // Labels at record starts are at most one per record, so more labels than records means targets
  // remain; only otherwise is the shard read to count them exactly.
  if (s.labelTokens <= s.records && (await usableTargets(data.shardDir)) === 0) {
    const cut = s.truncatedRecords > 0;
    throw new LoraprofError(
      "CONFIG_INVALID",
      cut
        ? `with seqLen ${s.seqLen} no record keeps a token to train on`
        : "no record of the dataset has a token to train on",
      {
        problems: [
          cut
            ? {
                field: "seqLen",
                message: `every record is cut to ${s.seqLen} token${s.seqLen === 1 ? "" : "s"}${s.maskPrompt ? " before its response starts" : ", and a record needs at least 2 (the first one is never a target)"}`,
                hint: `raise --seq-len (\`loraprof data stats ${s.dataset}\` shows the records' lengths)`,
              }
            : {
                field: "dataset",
                message: s.maskPrompt ? "every response is empty" : "every record is a single token",
                hint: s.maskPrompt
                  ? "check the records' output (or assistant) fields, or drop --mask-prompt"
                  : "check the dataset's records",
              },
        ],
      },
    );
  }
  const warnings: string[] = [];
  if (s.truncatedRecords > 0) {
    warnings.push(
      `records longer than seqLen were cut to it (${s.truncatedRecords} of ${s.records}, ${pct(s.truncatedRecords, s.records)}, at seqLen ${s.seqLen}); raise --seq-len to keep them whole`,
    );
  }
  if (s.recordsWithoutTargets > 0) {
    warnings.push(
      `records lost their whole response to truncation (${s.recordsWithoutTargets} of ${s.records}): they cost compute and train nothing`,
    );
  }
  return warnings;
}

async function usableTargets(shardDir: string): Promise<number> {
  const { labels, offsets } = await readShard(shardDir);
  let n = 0;
  for (let r = 0; r + 1 < offsets.length; r++) {
    for (let i = (offsets[r] as number) + 1; i < (offsets[r + 1] as number); i++) n += labels[i] as number;
  }
  return n;
}
