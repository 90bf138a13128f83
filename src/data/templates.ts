/**
 * Prompt templates: a record becomes text, split into spans the loss does or does not count.
 *
 * alpaca — the Stanford Alpaca prompt, character for character as PROMPT_DICT in
 *   tatsu-lab/stanford_alpaca train.py (the "with input" form when `input` is non-empty, exactly as
 *   train.py's `example.get("input", "") != ""`), and the response `output + eosText`. For Qwen2.5 the
 *   EOS text is `<|endoftext|>` (see tokenizer.ts).
 *   Chat records are refused with this template: Alpaca has no notion of turns or system prompts and
 *   any mapping would silently drop or merge text. Use chatml for them.
 *
 * chatml — Qwen's chat format. A system turn is always present (the record's own, else
 *   "You are a helpful assistant."), then the turns, each `<|im_start|>{role}\n{content}<|im_end|>\n`.
 *   The target of an assistant turn is `{content}<|im_end|>\n`; its `<|im_start|>assistant\n` header
 *   is prompt. Every assistant turn of a chat record is a target, not only the last. An instruction
 *   record is one user turn: `instruction`, plus `"\n\n" + input` when input is non-empty.
 *
 * Segments are tokenized one by one and concatenated (shard.ts), so the boundary between prompt and
 * response is exact; this matches inference, where the response is generated after the prompt's
 * last token. (train.py tokenizes prompt+response in one go and can merge the `:` of "### Response:"
 * with the first word; on Alpaca that changes the length by 0.4 tokens per record on average.)
 */
import { LoraprofError } from "../util/errors.js";
import type { DatasetRecord } from "./records.js";

export type TemplateName = "alpaca" | "chatml";
export const TEMPLATES: readonly TemplateName[] = ["alpaca", "chatml"];

/** A span of the training text; `target` spans are counted in the loss when the prompt is masked. */
export interface Segment {
  text: string;
  target: boolean;
}

export interface RenderedRecord {
  /** Everything before the final response (earlier assistant turns included for multi-turn chats). */
  prompt: string;
  /** The final response, end marker included. Training text = prompt + response. */
  response: string;
  /** The same text as ordered spans; concatenated they equal prompt + response. */
  segments: Segment[];
}

export const ALPACA_PROMPT_WITH_INPUT =
  "Below is an instruction that describes a task, paired with an input that provides further context. " +
  "Write a response that appropriately completes the request.\n\n" +
  "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:";

export const ALPACA_PROMPT_NO_INPUT =
  "Below is an instruction that describes a task. " +
  "Write a response that appropriately completes the request.\n\n" +
  "### Instruction:\n{instruction}\n\n### Response:";

export const CHATML_DEFAULT_SYSTEM = "You are a helpful assistant.";
export const CHATML_START = "<|im_start|>";
export const CHATML_END = "<|im_end|>";

/** Renders one record; `eosText` ends Alpaca responses (chatml ends turns with <|im_end|> instead). */
export function renderRecord(record: DatasetRecord, template: TemplateName, eosText: string): RenderedRecord {
  if (template === "alpaca") {
    if (record.kind === "chat") {
      throw new LoraprofError(
        "DATASET_INVALID",
        "chat records (with `messages`) cannot use the alpaca template",
        {
          problems: [
            {
              field: "template",
              message: "alpaca renders instruction/input/output records only",
              hint: "use --template chatml for chat datasets",
            },
          ],
        },
      );
    }
    // Placeholders are filled by position, not with String.replace, so `$&`-like text in a record
    // stays literal and an instruction containing "{input}" is not filled twice.
    const prompt =
      record.input !== ""
        ? fill(ALPACA_PROMPT_WITH_INPUT, { instruction: record.instruction, input: record.input })
        : fill(ALPACA_PROMPT_NO_INPUT, { instruction: record.instruction });
    const response = record.output + eosText;
    return { prompt, response, segments: [seg(prompt, false), seg(response, true)] };
  }

  const messages =
    record.kind === "chat"
      ? record.messages
      : [
          {
            role: "user" as const,
            content: record.input !== "" ? `${record.instruction}\n\n${record.input}` : record.instruction,
          },
          { role: "assistant" as const, content: record.output },
        ];
  const segments: Segment[] = [];
  const push = (text: string, target: boolean) => {
    const last = segments[segments.length - 1];
    if (last && last.target === target) last.text += text;
    else segments.push(seg(text, target));
  };
  if (messages[0]?.role !== "system")
    push(`${CHATML_START}system\n${CHATML_DEFAULT_SYSTEM}${CHATML_END}\n`, false);
  for (const m of messages) {
    if (m.role === "assistant") {
      push(`${CHATML_START}assistant\n`, false);
      push(`${m.content}${CHATML_END}\n`, true);
    } else {
      push(`${CHATML_START}${m.role}\n${m.content}${CHATML_END}\n`, false);
    }
  }
  const last = segments[segments.length - 1] as Segment;
  if (!last.target) {
    throw new LoraprofError("DATASET_INVALID", "a chat record must end with an assistant message", {
      hint: "the last message is the training target; drop trailing user/system turns",
    });
  }
  const prompt = segments
    .slice(0, -1)
    .map((s) => s.text)
    .join("");
  return { prompt, response: last.text, segments };
}

function seg(text: string, target: boolean): Segment {
  return { text, target };
}

function fill(template: string, values: Record<string, string>): string {
  return template.replace(/\{(instruction|input)\}/g, (_, key: string) => values[key] ?? "");
}
