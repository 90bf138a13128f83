/**
 * Byte-for-byte parity of the built-in chat templates with the reference renderer: Python's jinja2
 * configured as transformers configures it (transformers.utils.chat_template_utils, the code behind
 * apply_chat_template), from the engine's environment. Expected strings are produced by the
 * reference at test time, never written down here.
 */
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { BUILTIN_CHAT_TEMPLATES, BUILTIN_TEMPLATE_NAMES } from "../../src/data/chat-templates.js";
import type { ChatMessage } from "../../src/data/records.js";
import { renderChatTemplate, templateFromSpec } from "../../src/data/templates.js";
import { enginePython } from "./helpers.js";

const CONVERSATIONS: ChatMessage[][] = [
  [
    { role: "system", content: "You are a terse assistant. Answer in one line." },
    { role: "user", content: "Name a primary colour." },
    { role: "assistant", content: "Red." },
    { role: "user", content: "And another?" },
    { role: "assistant", content: "Blue." },
  ],
  [
    { role: "system", content: "Réponds en français, avec des accents : é, à, ç — et des emoji 🙂." },
    { role: "user", content: "  leading and trailing spaces  \n" },
    { role: "assistant", content: "Line one\nLine two\n\n- a list\n- with {braces} and {{ jinja }}" },
    { role: "user", content: "Quotes: 'single' \"double\" and a backslash \\ here." },
    { role: "assistant", content: "<tags> & ampersands stay as they are." },
    { role: "user", content: "Last question?" },
    { role: "assistant", content: "Last answer." },
  ],
];
const TOKENS = { bosText: "<BOS>", eosText: "<EOS>" };

const REFERENCE = `
import json, sys
from transformers.utils.chat_template_utils import render_jinja_template
job = json.load(sys.stdin)
out = {}
for name, template in job["templates"].items():
    rendered, _ = render_jinja_template(
        conversations=job["conversations"], chat_template=template,
        bos_token=job["bos"], eos_token=job["eos"], add_generation_prompt=False,
    )
    out[name] = rendered
json.dump(out, sys.stdout)
`;

function reference(): Record<string, string[]> {
  const r = spawnSync(enginePython(), ["-c", REFERENCE], {
    input: JSON.stringify({
      templates: BUILTIN_CHAT_TEMPLATES,
      conversations: CONVERSATIONS,
      bos: TOKENS.bosText,
      eos: TOKENS.eosText,
    }),
    encoding: "utf8",
  });
  if (r.status !== 0) throw new Error(`reference renderer failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, string[]>;
}

describe("built-in chat templates against transformers' jinja2 rendering", () => {
  const expected = reference();

  for (const name of BUILTIN_TEMPLATE_NAMES) {
    it(`${name} renders multi-turn conversations with a system prompt byte for byte`, () => {
      CONVERSATIONS.forEach((conversation, i) => {
        const ours = renderChatTemplate(BUILTIN_CHAT_TEMPLATES[name], conversation, TOKENS);
        expect(ours).toBe(expected[name]?.[i]);
        // The system prompt reaches the text (no template here drops it).
        expect(ours).toContain(conversation[0]!.content.trim());
      });
    });

    it(`${name}: the training targets are exactly the assistant turns and their end markers`, () => {
      const t = templateFromSpec({ kind: "jinja", name, text: BUILTIN_CHAT_TEMPLATES[name], ...TOKENS });
      CONVERSATIONS.forEach((conversation, i) => {
        const r = t.render({ kind: "chat", messages: conversation }, TOKENS.eosText);
        const full = expected[name]![i]!.replace(/^<BOS>/, "");
        expect(r.segments.map((s) => s.text).join("")).toBe(full);
        const targets = r.segments.filter((s) => s.target).map((s) => s.text);
        const assistants = conversation.filter((m) => m.role === "assistant");
        expect(targets).toHaveLength(assistants.length);
        targets.forEach((text, k) => expect(text.startsWith(assistants[k]!.content.trim())).toBe(true));
        // Every target ends with the template's end-of-turn text (never empty); the last one may
        // carry what the template writes after the conversation (Phi-3's EOS).
        const ends = targets.map((text, k) => text.slice(assistants[k]!.content.trim().length));
        expect(ends[0]).not.toBe("");
        for (const end of ends.slice(1, -1)) expect(end).toBe(ends[0]);
        expect(ends[ends.length - 1]!.startsWith(ends[0]!)).toBe(true);
      });
    });
  }
});
