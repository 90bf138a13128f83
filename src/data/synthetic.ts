/**
 * The offline default dataset: seeded, readable pseudo-English instruction records whose token
 * lengths follow Stanford Alpaca's, so that throughput, memory and padding measured on it carry over
 * to the real thing (loss values do not: the text means nothing).
 *
 * How the lengths are made to match, without running a tokenizer here:
 * 1. Every word in the lists below is one Qwen2.5 token when written with its leading space (" model"),
 *    and the words that can open a text or sentence are one token capitalized as well, with or without
 *    the space. Punctuation marks are one token each. So a text is built as a list of tokens and its
 *    length is known exactly. synthetic.test.ts checks every word and the exact totals.
 * 2. Each record's total length (Alpaca template, EOS included) is drawn from ALPACA_TOTAL_QUANTILES by
 *    inverse-CDF sampling, linear between knots, stratified in blocks of 100 records. The knots are nearest-rank percentiles measured on
 *    the 9,229-record Alpaca sample in shared/data/alpaca with the Qwen2.5 tokenizer; SOURCE.md's
 *    published figures (median 88, p90 169, p99 305, max 924) are the same measurement without the
 *    EOS token, i.e. one less.
 * 3. The total is split into template overhead, instruction, optional input and output: the
 *    instruction and input lengths are drawn from their own Alpaca quantiles (about 40% of records
 *    have an input) and the output takes the rest, as Alpaca's outputs carry most of the length.
 *
 * Template overheads (the Alpaca prompt around the instruction/input, measured once with the Qwen2.5
 * tokenizer): the no-input prompt adds 24 tokens and the with-input prompt 36, given that every part
 * ends with "." or "?" as generated here (Qwen has ".\n\n" as one token, so a part ending in a letter
 * would cost one more).
 */
import type { DatasetRecord } from "./records.js";
import { createRng, permutation, pick, type Rng } from "./random.js";

/** Records per stratified block of total lengths (see syntheticDatasetWithPlans). */
const STRATA = 100;

/** [cumulative probability, total tokens]; see point 2 above. */
// prettier-ignore
export const ALPACA_TOTAL_QUANTILES: readonly (readonly [number, number])[] = [
  [0, 32], [0.001, 34], [0.005, 37], [0.01, 39], [0.02, 42], [0.03, 44], [0.05, 47], [0.075, 50], [0.1, 53],
  [0.15, 57], [0.2, 61], [0.25, 64], [0.3, 68], [0.35, 73], [0.4, 77], [0.45, 83], [0.5, 89], [0.55, 97],
  [0.6, 105], [0.65, 112], [0.7, 120], [0.75, 129], [0.8, 139], [0.85, 151], [0.875, 159], [0.9, 170], [0.925, 183],
  [0.95, 202], [0.96, 214], [0.97, 232], [0.98, 259], [0.985, 281], [0.99, 306], [0.993, 328], [0.995, 346], [0.997, 378],
  [0.998, 414], [0.999, 511], [0.9995, 601], [1, 925],
];
// prettier-ignore
const INSTRUCTION_QUANTILES: readonly (readonly [number, number])[] = [
  [0, 4], [0.01, 5], [0.02, 6], [0.05, 7], [0.1, 8], [0.2, 9], [0.3, 10], [0.45, 11], [0.55, 12],
  [0.65, 13], [0.75, 14], [0.8, 15], [0.85, 16], [0.9, 17], [0.925, 19], [0.95, 20], [0.975, 23], [0.99, 27],
  [0.999, 39], [1, 92],
];
// prettier-ignore
const INPUT_QUANTILES: readonly (readonly [number, number])[] = [
  [0, 1], [0.05, 2], [0.1, 3], [0.15, 4], [0.25, 5], [0.3, 6], [0.35, 7], [0.45, 8], [0.5, 9],
  [0.55, 10], [0.6, 11], [0.65, 12], [0.7, 13], [0.75, 15], [0.8, 18], [0.85, 22], [0.9, 28], [0.925, 33],
  [0.95, 40], [0.975, 58], [0.99, 76], [0.995, 96], [0.999, 139], [1, 301],
];

/** Tokens the Alpaca prompt adds around the parts (see the header). */
export const PROMPT_OVERHEAD = { noInput: 24, withInput: 36 } as const;
/** Records shorter than this never get an input (Alpaca's shortest record with one has 47 tokens). */
const MIN_TOTAL_WITH_INPUT = 47;
/** P(input | total ≥ 47), so that ~39.7% of all records have an input, as in Alpaca. */
const P_INPUT_IF_LONG = 0.42;

// One token each with a leading space; OPENERS/IMPERATIVES/SINGLES/QUESTION also capitalized.
export const WORDS = {
  nouns:
    "model system data team city river market energy plan school music garden letter report student teacher company water forest computer language story process method result problem answer question idea network signal light power price value design product service customer community history science nature health family friend country world book paper picture window table street road bridge mountain ocean island animal plant tree flower food kitchen dinner morning evening winter summer season weather change growth policy budget project task goal skill habit rule law court office meeting event game player song movie artist camera phone message email website software program device engine machine tool material metal glass stone wood cloud sun moon star planet space rocket car train ship plane village farm field crop bank money account record list chart graph image sound voice word sentence paragraph essay poem article review summary title topic theme argument reason example detail feature benefit risk cost effect cause source view test trial study survey sample group member leader manager worker doctor nurse patient child parent neighbor guest user client partner".split(
      " ",
    ),
  adjectives:
    "simple quick small large new old bright dark quiet loud warm cold strong weak clear short long happy calm busy early late modern ancient local global public private basic complex useful careful common rare fresh clean safe free open green blue red white black young wise fair rich poor deep high low main key major minor final first last next good great important different similar popular natural social political economic digital human personal national special real whole full easy hard heavy light fast slow smart creative".split(
      " ",
    ),
  verbs:
    "explains describes shows helps builds creates improves supports follows changes finds gives makes keeps takes uses needs brings leads moves opens reads writes tests plans starts grows holds meets sends shares tells turns values visits watches wants carries covers drives enjoys faces fills forms joins learns lists offers owns passes points protects reaches reduces requires saves serves solves teaches tracks trains reviews measures".split(
      " ",
    ),
  prepositions:
    "in on with for from about near through under over after before during without within around between".split(
      " ",
    ),
  adverbs: "often always usually finally really also".split(" "),
  openers: "the this that every each some our their its".split(" "),
  imperatives:
    "describe write list compare create generate translate name find give provide evaluate outline design edit choose convert predict calculate".split(
      " ",
    ),
  questions: "what how why when where which who".split(" "),
  singles:
    "yes no true false positive negative neutral red blue green paris london water energy music science history nature health money time people yellow orange apple summer winter".split(
      " ",
    ),
} as const;

const cap = (w: string) => w.charAt(0).toUpperCase() + w.slice(1);
const sp = (w: string) => ` ${w}`;

/** Inverse-CDF sample from [p, value] knots, linear between knots, rounded to a whole token count. */
function sampleQuantiles(rng: Rng, knots: readonly (readonly [number, number])[], u = rng()): number {
  for (let i = 1; i < knots.length; i++) {
    const [p1, v1] = knots[i] as readonly [number, number];
    if (u <= p1) {
      const [p0, v0] = knots[i - 1] as readonly [number, number];
      return Math.round(v0 + ((u - p0) / (p1 - p0)) * (v1 - v0));
    }
  }
  return (knots[knots.length - 1] as readonly [number, number])[1];
}

/** A noun phrase of exactly `n` tokens, 1 ≤ n ≤ 4: " water", " the river", " the quick red model". */
function nounPhrase(rng: Rng, n: number): string[] {
  if (n === 1) return [sp(pick(rng, WORDS.nouns))];
  const out = [sp(pick(rng, WORDS.openers))];
  for (let i = 0; i < n - 2; i++) out.push(sp(pick(rng, WORDS.adjectives)));
  out.push(sp(pick(rng, WORDS.nouns)));
  return out;
}

/** Exactly `n` ≥ 0 tokens of prepositional phrases (" in the city about a plan"), an adverb if n = 1. */
function prepositions(rng: Rng, n: number): string[] {
  const out: string[] = [];
  let left = n;
  while (left > 0) {
    if (left === 1) {
      out.push(sp(pick(rng, WORDS.adverbs)));
      left = 0;
    } else if (left <= 5) {
      out.push(sp(pick(rng, WORDS.prepositions)), ...nounPhrase(rng, left - 1));
      left = 0;
    } else if (left >= 8 && rng() < 0.15) {
      out.push(",", sp(pick(rng, WORDS.adverbs)));
      left -= 2;
    } else {
      const np = 2 + Math.floor(rng() * 2);
      out.push(sp(pick(rng, WORDS.prepositions)), ...nounPhrase(rng, np));
      left -= 1 + np;
    }
  }
  return out;
}

/** One sentence of exactly `n` ≥ 2 tokens, period included, first word capitalized. */
function sentence(rng: Rng, n: number, leadingSpace: boolean): string[] {
  const first = (w: string) => (leadingSpace ? sp(cap(w)) : cap(w));
  if (n === 2) return [first(pick(rng, WORDS.singles)), "."];
  // Subject ("The (adj) model"), verb, object, prepositional phrases.
  const subject = n >= 7 && rng() < 0.5 ? 3 : 2;
  const out = [first(pick(rng, WORDS.openers)), ...nounPhrase(rng, subject).slice(1)];
  let left = n - 1 - subject;
  if (left > 0) {
    out.push(sp(pick(rng, WORDS.verbs)));
    left--;
  }
  if (left > 0) {
    const object = left <= 4 ? left : 2 + Math.floor(rng() * 2);
    out.push(...nounPhrase(rng, object));
    left -= object;
  }
  out.push(...prepositions(rng, left), ".");
  return out;
}

/** Prose of exactly `n` ≥ 1 tokens: sentences of 6–24 tokens, or one word when n = 1. */
export function prose(rng: Rng, n: number, leadingSpace = false): string[] {
  if (n === 1) return [leadingSpace ? sp(cap(pick(rng, WORDS.singles))) : cap(pick(rng, WORDS.singles))];
  const out: string[] = [];
  let left = n;
  while (left > 0) {
    let len = left <= 24 ? left : 6 + Math.floor(rng() * 19);
    if (left - len > 0 && left - len < 6) len = left - 6; // never leave a stub sentence
    out.push(...sentence(rng, len, leadingSpace || out.length > 0));
    left -= len;
  }
  return out;
}

/** An instruction of exactly `n` ≥ 2 tokens ending in "." or "?". */
export function instruction(rng: Rng, n: number): string[] {
  if (n === 2) return [cap(pick(rng, WORDS.imperatives)), "."];
  if (n >= 4 && n <= 7 && rng() < 0.3) {
    // "What is the large model?"
    return [cap(pick(rng, WORDS.questions)), " is", ...nounPhrase(rng, n - 3), "?"];
  }
  // Long instructions are a command followed by sentences of context, as in Alpaca.
  const head = n > 16 ? 8 + Math.floor(rng() * 5) : n;
  const object = Math.min(head - 2, 1 + Math.floor(rng() * 3));
  const out = [
    cap(pick(rng, WORDS.imperatives)),
    ...nounPhrase(rng, object),
    ...prepositions(rng, head - 2 - object),
    ".",
  ];
  if (n > head) out.push(...prose(rng, n - head, true));
  return out;
}

/** How the record's lengths were planned (exported for tests). */
export interface SyntheticPlan {
  totalTokens: number;
  instructionTokens: number;
  inputTokens: number;
  outputTokens: number;
}

function plan(rng: Rng, u: number): SyntheticPlan {
  const total = sampleQuantiles(rng, ALPACA_TOTAL_QUANTILES, u);
  const hasInput = total >= MIN_TOTAL_WITH_INPUT && rng() < P_INPUT_IF_LONG;
  const overhead = hasInput ? PROMPT_OVERHEAD.withInput : PROMPT_OVERHEAD.noInput;
  const budget = total - overhead - 1; // 1 = EOS
  let ins = Math.max(3, sampleQuantiles(rng, INSTRUCTION_QUANTILES));
  let inp = hasInput ? Math.max(2, sampleQuantiles(rng, INPUT_QUANTILES)) : 0;
  // The output needs at least one token; shrink instruction and input proportionally if they crowd it.
  const room = budget - 1;
  if (ins + inp > room) {
    const scale = room / (ins + inp);
    ins = Math.max(3, Math.floor(ins * scale));
    inp = hasInput ? Math.max(2, room - ins) : 0;
    if (ins + inp > room) ins = Math.max(2, room - inp);
  }
  return { totalTokens: total, instructionTokens: ins, inputTokens: inp, outputTokens: budget - ins - inp };
}

/**
 * `records` seeded instruction records. Same (records, seed) → same records; record i does not depend
 * on `records`, so a smaller dataset is a prefix of a larger one.
 */
export function syntheticDataset(opts: { records: number; seed: number }): DatasetRecord[] {
  return syntheticDatasetWithPlans(opts).map((r) => r.record);
}

/** The records with their planned token counts (for tests and diagnostics). */
export function syntheticDatasetWithPlans(opts: {
  records: number;
  seed: number;
}): { record: DatasetRecord; plan: SyntheticPlan }[] {
  if (!Number.isInteger(opts.records) || opts.records <= 0) {
    throw new RangeError(`records must be a positive whole number, got ${opts.records}`);
  }
  const rng = createRng(opts.seed);
  const out: { record: DatasetRecord; plan: SyntheticPlan }[] = [];
  for (let block = 0; block * STRATA < opts.records; block++) {
    // Stratified draw of total lengths: in every block of STRATA records, each 1/STRATA slice of the
    // distribution is hit once, in random order. Small datasets and every seed then match Alpaca's
    // percentiles far more tightly than independent draws would (the mean of 5,000 independent
    // draws wanders by ±1%). Blocks are drawn whole, so record i never depends on `records`.
    const slots = permutation(STRATA, rng);
    const us = Array.from(slots, (k) => (k + rng()) / STRATA);
    for (let k = 0; k < STRATA && block * STRATA + k < opts.records; k++) {
      const p = plan(rng, us[k] as number);
      out.push({
        record: {
          kind: "instruction",
          instruction: instruction(rng, p.instructionTokens).join(""),
          input: p.inputTokens > 0 ? prose(rng, p.inputTokens).join("") : "",
          output: prose(rng, p.outputTokens).join(""),
        },
        plan: p,
      });
    }
  }
  return out;
}
