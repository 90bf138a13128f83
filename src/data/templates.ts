/**
 * Prompt templates: a record becomes text, split into spans the loss does or does not count.
 *
 * alpaca — the Stanford Alpaca prompt, character for character as PROMPT_DICT in
 *   tatsu-lab/stanford_alpaca train.py (the "with input" form when `input` is non-empty, exactly as
 *   train.py's `example.get("input", "") != ""`), and the response `output + eosText`. For Qwen2.5 the
 *   EOS text is `<|endoftext|>` (see tokenizer.ts). LLaMA-Factory's additions render as LLaMA-Factory's
 *   own alpaca template does: a `system` prompt replaces the "Below is an instruction…" preamble, and
 *   each `history` pair comes first as `### Instruction:\n{query}\n\n### Response:{response}{eos}\n\n`,
 *   its response a training target like the final one.
 *   Chat records are refused with this template: Alpaca has no notion of roles beyond that, and any
 *   mapping would silently drop or merge text. Use chatml or a chat template for them.
 *
 * chatml — Qwen's chat format. A system turn is always present (the record's own, else
 *   "You are a helpful assistant."), then the turns, each `<|im_start|>{role}\n{content}<|im_end|>\n`.
 *   The target of an assistant turn is `{content}<|im_end|>\n`; its `<|im_start|>assistant\n` header
 *   is prompt. Every assistant turn of a chat record is a target, not only the last. An instruction
 *   record is its conversation (records.ts instructionMessages).
 *
 * raw — no template: a text record is `text + eos`, all target (continued pre-training); a
 *   completion record is `prompt` (prompt) then `completion + eos` (target), as TRL concatenates them.
 *
 * Jinja chat templates (the model's own chat_template, or a built-in one, chat-templates.ts) are
 *   rendered with @huggingface/jinja over the record's messages, as transformers' apply_chat_template
 *   renders them (bos_token, eos_token, add_generation_prompt false). The training targets are each
 *   assistant message's content plus the end-of-turn text the template writes after every assistant
 *   turn: found once per template by rendering a probe conversation (the common prefix of what follows
 *   an inner and the last assistant turn: `<|im_end|>\n`, `<|eot_id|>`, `</s>`, `<end_of_turn>\n`…).
 *   Each message is then located in the rendering in order; a template that rewrites or drops a
 *   message's text (beyond trimming) is refused for that record rather than mis-marked. Text after
 *   the last assistant turn (Phi-3 writes its EOS there) belongs to the last target.
 *
 * Segments are tokenized one by one and concatenated (shard.ts), so the boundary between prompt and
 * response is exact; this matches inference, where the response is generated after the prompt's
 * last token. (train.py tokenizes prompt+response in one go and can merge the `:` of "### Response:"
 * with the first word; on Alpaca that changes the length by 0.4 tokens per record on average.)
 *
 * `roles` attributes spans of the rendered text to the message roles they came from (for the
 * per-role token counts of `data stats`); template markup belongs to no role.
 */
import { createHash } from "node:crypto";
import { Template as JinjaTemplate } from "@huggingface/jinja";
import { LoraprofError } from "../util/errors.js";
import {
  BUILTIN_CHAT_TEMPLATES,
  BUILTIN_TEMPLATE_NAMES,
  BUILTIN_TEMPLATE_TOKENS,
  TEMPLATE_NAMES,
  type TemplateName,
} from "./chat-templates.js";
import { instructionMessages, type ChatMessage, type ChatRole, type DatasetRecord } from "./records.js";

export { TEMPLATE_NAMES, type TemplateName };
/** Kept for callers of the first API: the names a shard's template can have besides Jinja keys. */
export const TEMPLATES = TEMPLATE_NAMES;

/** A span of the training text; `target` spans are counted in the loss when the prompt is masked. */
export interface Segment {
  text: string;
  target: boolean;
}

/** Who wrote a span of the rendered text: a message role, or `text` for pre-training text. */
export type SpanRole = ChatRole | "text";

export interface RoleSpan {
  role: SpanRole;
  /** Character offsets into the whole rendered text (prompt + response). */
  start: number;
  end: number;
}

export interface RenderedRecord {
  /** Everything before the final response (earlier assistant turns included for multi-turn chats). */
  prompt: string;
  /** The final response, end marker included. Training text = prompt + response. */
  response: string;
  /** The same text as ordered spans; concatenated they equal prompt + response. */
  segments: Segment[];
  roles: RoleSpan[];
}

/** What a template is made of: plain data, so a worker thread can rebuild it. */
export type TemplateSpec =
  | { kind: "alpaca" }
  | { kind: "chatml" }
  | { kind: "raw" }
  | {
      kind: "jinja";
      /** e.g. "qwen2.5" or "model" (the model's own chat_template). */
      name: string;
      text: string;
      bosText: string | null;
      eosText: string;
    };

export interface Template {
  /** Shown to people: "alpaca", "qwen2.5", "model chat_template"… */
  name: string;
  /**
   * Identifies the rendering exactly (shard and stats cache keys; meta.json's `template`): the name
   * for the fixed templates, name + sha256 of the Jinja text for chat templates.
   */
  key: string;
  spec: TemplateSpec;
  render(record: DatasetRecord, eosText: string): RenderedRecord;
}

export const ALPACA_PREAMBLE_WITH_INPUT =
  "Below is an instruction that describes a task, paired with an input that provides further context. " +
  "Write a response that appropriately completes the request.\n\n";
export const ALPACA_PREAMBLE_NO_INPUT =
  "Below is an instruction that describes a task. " +
  "Write a response that appropriately completes the request.\n\n";
export const ALPACA_PROMPT_WITH_INPUT =
  ALPACA_PREAMBLE_WITH_INPUT + "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:";
export const ALPACA_PROMPT_NO_INPUT =
  ALPACA_PREAMBLE_NO_INPUT + "### Instruction:\n{instruction}\n\n### Response:";

export const CHATML_DEFAULT_SYSTEM = "You are a helpful assistant.";
export const CHATML_START = "<|im_start|>";
export const CHATML_END = "<|im_end|>";

/** Accumulates segments (merging neighbours of the same kind) and role spans. */
class Builder {
  readonly segments: Segment[] = [];
  readonly roles: RoleSpan[] = [];
  private length = 0;

  push(text: string, target: boolean, role?: SpanRole): void {
    if (text === "") return;
    if (role) this.roles.push({ role, start: this.length, end: this.length + text.length });
    this.length += text.length;
    const last = this.segments[this.segments.length - 1];
    if (last && last.target === target) last.text += text;
    else this.segments.push({ text, target });
  }

  finish(): RenderedRecord {
    const last = this.segments[this.segments.length - 1];
    if (!last || !last.target) {
      throw new LoraprofError("DATASET_INVALID", "a record must end with an assistant message", {
        hint: "the last message is the training target; drop trailing user/system turns",
      });
    }
    const prompt = this.segments
      .slice(0, -1)
      .map((s) => s.text)
      .join("");
    return { prompt, response: last.text, segments: this.segments, roles: this.roles };
  }
}

/** A template problem: bad input (exit 2), naming `--template` as the setting at fault. */
function templateError(message: string, problem: string, hint: string, cause?: unknown): LoraprofError {
  return new LoraprofError("DATASET_INVALID", message, {
    problems: [{ field: "template", message: problem, hint }],
    cause,
  });
}

function refuse(template: string, kind: DatasetRecord["kind"], hint: string): LoraprofError {
  return templateError(
    `${kind} records cannot use the ${template} template`,
    `${template} does not render ${kind} records`,
    hint,
  );
}

function renderAlpaca(record: DatasetRecord, eosText: string): RenderedRecord {
  if (record.kind === "text" || record.kind === "completion") return renderRaw(record, eosText);
  if (record.kind === "chat") {
    throw refuse("alpaca", "chat", "use --template auto (the model's chat template) or --template chatml");
  }
  const b = new Builder();
  if (record.system) {
    b.push(record.system, false, "system");
    b.push("\n\n", false);
  } else {
    b.push(record.input !== "" ? ALPACA_PREAMBLE_WITH_INPUT : ALPACA_PREAMBLE_NO_INPUT, false);
  }
  for (const [query, response] of record.history ?? []) {
    b.push("### Instruction:\n", false);
    b.push(query, false, "user");
    b.push("\n\n### Response:", false);
    b.push(response, true, "assistant");
    b.push(eosText, true);
    b.push("\n\n", false);
  }
  b.push("### Instruction:\n", false);
  b.push(record.instruction, false, "user");
  if (record.input !== "") {
    b.push("\n\n### Input:\n", false);
    b.push(record.input, false, "user");
  }
  b.push("\n\n### Response:", false);
  b.push(record.output, true, "assistant");
  b.push(eosText, true);
  return b.finish();
}

/** The conversation a record stands for under a chat template. */
function messagesOf(record: DatasetRecord, template: string): ChatMessage[] {
  switch (record.kind) {
    case "chat":
      return record.messages;
    case "instruction":
      return instructionMessages(record);
    case "completion":
      return [
        { role: "user", content: record.prompt },
        { role: "assistant", content: record.completion },
      ];
    case "text":
      throw refuse(template, "text", "text records need no template: use --template auto or raw");
  }
}

function renderChatml(record: DatasetRecord): RenderedRecord {
  if (record.kind === "text") return renderRaw(record, "");
  const messages = messagesOf(record, "chatml");
  const b = new Builder();
  if (messages[0]?.role !== "system")
    b.push(`${CHATML_START}system\n${CHATML_DEFAULT_SYSTEM}${CHATML_END}\n`, false);
  for (const m of messages) {
    b.push(`${CHATML_START}${m.role}\n`, false);
    b.push(m.content, m.role === "assistant", m.role);
    b.push(`${CHATML_END}\n`, m.role === "assistant");
  }
  return b.finish();
}

function renderRaw(record: DatasetRecord, eosText: string): RenderedRecord {
  const b = new Builder();
  if (record.kind === "text") {
    b.push(record.text, true, "text");
    b.push(eosText, true);
  } else if (record.kind === "completion") {
    b.push(record.prompt, false, "user");
    b.push(record.completion, true, "assistant");
    b.push(eosText, true);
  } else {
    throw refuse("raw", record.kind, "use --template auto");
  }
  return b.finish();
}

/**
 * A chat template's text for a conversation, rendered as transformers' apply_chat_template does
 * (messages, bos_token, eos_token, add_generation_prompt false). Exported for the parity test against
 * Python's jinja2 (test/integration/chat-templates.test.ts).
 */
export function renderChatTemplate(
  template: string,
  messages: readonly ChatMessage[],
  tokens: { bosText: string | null; eosText: string },
): string {
  return renderJinja(new JinjaTemplate(template), messages, tokens);
}

function renderJinja(
  tpl: JinjaTemplate,
  messages: readonly ChatMessage[],
  tokens: { bosText: string | null; eosText: string },
): string {
  return tpl.render({
    messages: messages.map((m) => ({ role: m.role, content: m.content })),
    bos_token: tokens.bosText ?? "",
    eos_token: tokens.eosText,
    add_generation_prompt: false,
  });
}

const PROBE = ["loraprofProbeU1", "loraprofProbeA1", "loraprofProbeU2", "loraprofProbeA2"] as const;

/** A Jinja chat template, parsed once; see the file header for how targets are found. */
class JinjaChat {
  private readonly tpl: JinjaTemplate;
  /** Text every assistant turn ends with (its end-of-turn marker), part of the target. */
  readonly turnEnd: string;

  constructor(private readonly spec: Extract<TemplateSpec, { kind: "jinja" }>) {
    try {
      this.tpl = new JinjaTemplate(spec.text);
    } catch (err) {
      throw templateError(
        `the ${spec.name} chat template does not parse: ${(err as Error).message}`,
        "not a valid Jinja template",
        "fix chat_template in tokenizer_config.json, or pick a built-in --template",
        err,
      );
    }
    const probe = this.renderText([
      { role: "user", content: PROBE[0] },
      { role: "assistant", content: PROBE[1] },
      { role: "user", content: PROBE[2] },
      { role: "assistant", content: PROBE[3] },
    ]);
    const after = (s: string) => {
      const i = probe.indexOf(s);
      if (i < 0) {
        throw templateError(
          `the ${spec.name} chat template does not write assistant messages as given`,
          "a probe conversation's assistant text is missing from the rendering",
          "pick another --template",
        );
      }
      return probe.slice(i + s.length);
    };
    const a = after(PROBE[1]);
    const b = after(PROBE[3]);
    let n = 0;
    while (n < a.length && n < b.length && a[n] === b[n]) n++;
    this.turnEnd = a.slice(0, n);
  }

  renderText(messages: readonly ChatMessage[]): string {
    try {
      return renderJinja(this.tpl, messages, this.spec);
    } catch (err) {
      throw templateError(
        `the ${this.spec.name} chat template refused a record: ${(err as Error).message}`,
        (err as Error).message,
        "fix the record, or pick a template that accepts it (--template)",
        err,
      );
    }
  }

  render(record: DatasetRecord): RenderedRecord {
    const messages = messagesOf(record, this.spec.name);
    let text = this.renderText(messages);
    // The shard writer adds the tokenizer's BOS itself (tokenizer.ts); a template writing it too would
    // double it, so the template's leading BOS text is dropped.
    if (this.spec.bosText && text.startsWith(this.spec.bosText)) text = text.slice(this.spec.bosText.length);
    const b = new Builder();
    let cursor = 0;
    messages.forEach((m, i) => {
      const found = this.locate(text, m, cursor);
      if (!found) {
        if (m.content.trim() === "") return;
        throw new LoraprofError(
          "DATASET_INVALID",
          `the ${this.spec.name} chat template rewrites or drops message ${i} (${m.role}), so its tokens cannot be attributed`,
          {
            problems: [
              {
                field: `messages[${i}]`,
                message: "its text is not in the rendering",
                hint: "pick another --template (e.g. chatml or a built-in)",
              },
            ],
          },
        );
      }
      b.push(text.slice(cursor, found.start), false);
      b.push(text.slice(found.start, found.contentEnd), m.role === "assistant", m.role);
      b.push(text.slice(found.contentEnd, found.end), m.role === "assistant");
      cursor = found.end;
    });
    // What the template writes after the last assistant turn (Phi-3's EOS) is part of the final
    // target: it is what the model must learn to emit to stop.
    b.push(text.slice(cursor), messages[messages.length - 1]?.role === "assistant");
    return b.finish();
  }

  /** Where message m's text is, at or after `from`; an assistant turn includes its end marker. */
  private locate(
    text: string,
    m: ChatMessage,
    from: number,
  ): { start: number; contentEnd: number; end: number } | null {
    for (const content of m.content === m.content.trim() ? [m.content] : [m.content, m.content.trim()]) {
      if (m.role === "assistant" && this.turnEnd !== "") {
        const i = text.indexOf(content + this.turnEnd, from);
        if (i >= 0)
          return { start: i, contentEnd: i + content.length, end: i + content.length + this.turnEnd.length };
      }
      if (content === "") continue;
      const i = text.indexOf(content, from);
      if (i >= 0) return { start: i, contentEnd: i + content.length, end: i + content.length };
    }
    return null;
  }
}

const jinjaCache = new Map<string, JinjaChat>();

/** Builds a template from its spec (cached per process for Jinja texts). */
export function templateFromSpec(spec: TemplateSpec): Template {
  switch (spec.kind) {
    case "alpaca":
      return { name: "alpaca", key: "alpaca", spec, render: renderAlpaca };
    case "chatml":
      return { name: "chatml", key: "chatml", spec, render: (r) => renderChatml(r) };
    case "raw":
      return { name: "raw", key: "raw", spec, render: renderRaw };
    case "jinja": {
      const sha = createHash("sha256")
        .update(JSON.stringify([spec.text, spec.bosText, spec.eosText]))
        .digest("hex");
      let chat = jinjaCache.get(sha);
      if (!chat) {
        chat = new JinjaChat(spec);
        jinjaCache.set(sha, chat);
      }
      const c = chat;
      return { name: spec.name, key: `${spec.name}:${sha.slice(0, 16)}`, spec, render: (r) => c.render(r) };
    }
  }
}

/** Renders one record; `eosText` ends Alpaca and raw responses (chatml ends turns with <|im_end|>). */
export function renderRecord(
  record: DatasetRecord,
  template: "alpaca" | "chatml" | "raw" | Template,
  eosText: string,
): RenderedRecord {
  const t = typeof template === "string" ? templateFromSpec({ kind: template }) : template;
  return t.render(record, eosText);
}

/** What resolveTemplate needs to know about the tokenizer. */
export interface TemplateTokenizerInfo {
  name: string;
  /** The model folder's chat_template, when it has one. */
  chatTemplate: string | null;
  /** The built-in template of the tokenizer's family (catalog models), when known. */
  defaultChatTemplate: (typeof BUILTIN_TEMPLATE_NAMES)[number] | null;
  bosText: string | null;
  eosText: string;
  addedTokenId(content: string): number | null;
}

/**
 * The template a run uses. `auto`: Alpaca records → alpaca; chat records → the model's own
 * chat_template, else the built-in one of its family, else chatml when the tokenizer has its tokens;
 * text and completion records → raw. `model`: the model's chat_template, or an error.
 */
export function resolveTemplate(
  requested: TemplateName,
  kinds: ReadonlySet<DatasetRecord["kind"]>,
  tok: TemplateTokenizerInfo,
): Template {
  const jinja = (name: string, text: string) =>
    templateFromSpec({ kind: "jinja", name, text, bosText: tok.bosText, eosText: tok.eosText });
  const own = () => {
    if (tok.chatTemplate !== null) return jinja("model", tok.chatTemplate);
    if (tok.defaultChatTemplate !== null)
      return jinja(tok.defaultChatTemplate, BUILTIN_CHAT_TEMPLATES[tok.defaultChatTemplate]);
    return null;
  };
  if (kinds.size > 0 && [...kinds].every((k) => k === "text")) return templateFromSpec({ kind: "raw" });
  switch (requested) {
    case "auto": {
      if (kinds.has("chat")) {
        const t = own();
        if (t) return t;
        if (tok.addedTokenId(CHATML_START) !== null) return templateFromSpec({ kind: "chatml" });
        throw templateError(
          `tokenizer ${tok.name} has no chat template to render chat records with`,
          "no chat_template in tokenizer_config.json and no built-in for this model",
          `pick one: --template ${BUILTIN_TEMPLATE_NAMES.join("|")}`,
        );
      }
      return templateFromSpec({ kind: kinds.has("instruction") ? "alpaca" : "raw" });
    }
    case "model": {
      const t = tok.chatTemplate !== null ? jinja("model", tok.chatTemplate) : null;
      if (t) return t;
      throw templateError(
        `tokenizer ${tok.name} has no chat_template of its own`,
        "--template model needs chat_template in the model folder's tokenizer_config.json (or chat_template.jinja)",
        `use --template auto, or a built-in: ${BUILTIN_TEMPLATE_NAMES.join(", ")}`,
      );
    }
    case "alpaca":
    case "chatml":
    case "raw":
      return templateFromSpec({ kind: requested });
    default: {
      const missing = BUILTIN_TEMPLATE_TOKENS[requested].filter((t) => tok.addedTokenId(t) === null);
      if (missing.length > 0) {
        throw templateError(
          `the ${requested} template needs ${missing.join(", ")} as special tokens, which tokenizer ${tok.name} lacks`,
          `${requested} with ${tok.name}`,
          "use --template auto (the model's own template), or the template of this model's family",
        );
      }
      return jinja(requested, BUILTIN_CHAT_TEMPLATES[requested]);
    }
  }
}
