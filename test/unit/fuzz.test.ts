/**
 * Fuzzing (fast-check) of everything a user or the engine can hand loraprof: run configs (documents,
 * files, flags), sweep specs, dataset records and event-stream lines. The property is always the same:
 * an input is either accepted or refused with a typed error (LoraprofError, exit 2) whose every
 * problem names the field at fault and a fix; never an unhandled exception. Each fuzzer prints how
 * many inputs it tried, and the counts CI shows.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { RUN_FLAGS, runConfigFromFlags } from "../../src/cli/flags.js";
import { loadRunConfig } from "../../src/config/load.js";
import { parseDataset } from "../../src/data/readers.js";
import { parseEventLine } from "../../src/run/engine.js";
import { classifyOutcome } from "../../src/run/outcome.js";
import { expandSweep, parseSweepSpec } from "../../src/sweep/spec.js";
import { LoraprofError } from "../../src/util/errors.js";

const RUNS = Number(process.env["LORAPROF_FUZZ_RUNS"] ?? 400);
const dir = mkdtempSync(join(tmpdir(), "loraprof-fuzz-"));
const tally: { name: string; tried: number; accepted: number; refused: number }[] = [];

/** Runs `fn` on one input: accepted, or refused with a typed error naming field and fix. Anything else fails. */
function typed(t: (typeof tally)[number], fn: () => unknown): void {
  t.tried++;
  try {
    fn();
    t.accepted++;
  } catch (err) {
    if (!(err instanceof LoraprofError)) throw err;
    expect(err.exitCode).toBe(2);
    if (err.problems.length === 0) expect(err.hint ?? "").not.toBe("");
    // Every problem names its field; its fix is its own or, for problems that share one, the error's.
    for (const p of err.problems) {
      expect(p.field, err.format()).not.toBe("");
      expect(p.hint ?? err.hint ?? "", err.format()).not.toBe("");
    }
    t.refused++;
  }
}

const counter = (name: string) => {
  const t = { name, tried: 0, accepted: 0, refused: 0 };
  tally.push(t);
  return t;
};

afterAll(() => {
  const total = tally.reduce((a, t) => a + t.tried, 0);
  const lines = tally.map(
    (t) =>
      `  ${t.name}: ${t.tried} inputs tried, ${t.accepted} accepted, ${t.refused} refused with a typed error`,
  );
  console.log(`fuzz: ${total} inputs tried, 0 unhandled exceptions\n${lines.join("\n")}`);
});

// Values a config key could be given: right types, wrong types, edge numbers, nesting.
const leaf = fc.oneof(
  fc.integer({ min: -5, max: 5000 }),
  fc.double({ noNaN: false }),
  fc.string({ maxLength: 12 }),
  fc.boolean(),
  fc.constant(null),
  fc.constantFrom("auto", "cpu", "cuda:0", "8GiB", "synthetic", "qlora", "fp16", "adamw_8bit", "all-linear"),
);
const value = fc.oneof(
  leaf,
  fc.array(leaf, { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 6 }), leaf),
);
const KEYS = [
  ...RUN_FLAGS.map((f) => f.field.split(".")[0]!),
  "optimizer",
  "lora",
  "quant",
  "betas",
  "nonsense",
  "batchsize",
];
const configDoc = fc.dictionary(fc.oneof(fc.constantFrom(...KEYS), fc.string({ maxLength: 8 })), value, {
  maxKeys: 6,
});

describe("fuzzing: every input is accepted or refused with a typed error", () => {
  it("run config documents", () => {
    const t = counter("run config documents");
    fc.assert(
      fc.property(configDoc, (doc) =>
        typed(t, () => loadRunConfig({ document: doc as Record<string, unknown> })),
      ),
      { numRuns: RUNS * 3 },
    );
  });

  it("run config files (YAML and JSON text)", () => {
    const t = counter("run config files");
    const text = fc.oneof(
      fc.string({ maxLength: 80 }),
      configDoc.map((d) => JSON.stringify(d)),
      configDoc.map((d) =>
        Object.entries(d)
          .map(([k, v]) => `${k}: ${JSON.stringify(v)}`)
          .join("\n"),
      ),
    );
    let i = 0;
    fc.assert(
      fc.property(text, fc.constantFrom(".yaml", ".json"), (body, ext) => {
        const file = join(dir, `c${i++}${ext}`);
        writeFileSync(file, body);
        typed(t, () => loadRunConfig({ configPath: file }));
      }),
      { numRuns: RUNS },
    );
  });

  it("run flags", () => {
    const t = counter("run flags");
    const camel = (flag: string) => flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    const flagValue = fc.oneof(
      fc.string({ maxLength: 10 }),
      fc.integer({ min: -3, max: 100000 }).map(String),
      fc.double().map(String),
      fc.constantFrom("none", "1e-4", "0", "-1", "abc", "8GiB", "cpu", "qlora", "adamw_8bit", " 5 "),
    );
    const opts = fc.dictionary(
      fc.constantFrom(...RUN_FLAGS.map((f) => camel(f.flag))),
      fc.oneof(flagValue, fc.boolean()),
      { maxKeys: 6 },
    );
    fc.assert(
      fc.property(opts, (o) => typed(t, () => runConfigFromFlags(o))),
      { numRuns: RUNS * 3 },
    );
  });

  it("sweep specs", () => {
    const t = counter("sweep specs");
    const spec = fc.record(
      {
        name: fc.oneof(fc.string({ maxLength: 8 }), fc.integer()),
        base: configDoc,
        grid: fc.dictionary(
          fc.constantFrom("batchSize", "seqLen", "optimizer.name", "precision", "nope"),
          fc.oneof(fc.array(leaf, { maxLength: 3 }), leaf),
          { maxKeys: 2 },
        ),
        repeats: fc.oneof(fc.integer({ min: -1, max: 4 }), fc.string({ maxLength: 3 })),
        extra: value,
      },
      { requiredKeys: [] },
    );
    // Specs a user might really write: a valid base, a grid over real settings with odd values.
    const plausible = fc.record({
      name: fc.constant("fuzz"),
      base: fc.constant({ model: "tiny-qwen2", steps: 3, device: "cpu" }),
      grid: fc.dictionary(
        fc.constantFrom("batchSize", "seqLen", "optimizer.name", "precision", "padding"),
        fc.array(fc.oneof(leaf, fc.integer({ min: 1, max: 8 })), { minLength: 1, maxLength: 3 }),
        { minKeys: 1, maxKeys: 2 },
      ),
    });
    fc.assert(
      fc.property(fc.oneof(spec, plausible), (s) => typed(t, () => expandSweep(parseSweepSpec(s)))),
      { numRuns: RUNS },
    );
  });

  it("dataset records", () => {
    const t = counter("dataset records");
    const field = fc.oneof(fc.string({ maxLength: 20 }), leaf, fc.array(leaf, { maxLength: 2 }));
    const message = fc.record(
      { role: fc.oneof(fc.constantFrom("system", "user", "assistant", "tool"), leaf), content: field },
      { requiredKeys: [] },
    );
    const record = fc.oneof(
      fc.record({ instruction: fc.string(), input: fc.string(), output: fc.string() }),
      fc.record({ instruction: field, input: field, output: field }, { requiredKeys: [] }),
      fc.record({ messages: fc.oneof(fc.array(message, { maxLength: 4 }), leaf) }, { requiredKeys: [] }),
      value,
    );
    const text = fc.oneof(
      fc.array(record, { maxLength: 5 }).map((rs) => rs.map((r) => JSON.stringify(r)).join("\n")),
      fc.array(record, { maxLength: 5 }).map((rs) => JSON.stringify(rs)),
      fc.string({ maxLength: 60 }),
    );
    fc.assert(
      fc.property(text, fc.constantFrom("fuzz.jsonl", "fuzz.json"), (body, name) =>
        typed(t, () => parseDataset(body, join(dir, name))),
      ),
      { numRuns: RUNS * 2 },
    );
  });

  it("event-stream lines from the engine", () => {
    const t = counter("protocol lines");
    const event = fc.record(
      {
        type: fc.oneof(fc.constantFrom("hello", "loaded", "step", "window", "summary", "error"), leaf),
        protocolVersion: leaf,
        step: leaf,
        phase: fc.oneof(fc.constantFrom("warmup", "measure"), leaf),
        kind: fc.oneof(fc.constantFrom("oom", "cuda", "internal"), leaf),
        message: leaf,
        realTokens: leaf,
      },
      { requiredKeys: [] },
    );
    // Well-formed step and window events, and the same with one field replaced by anything.
    const num = fc.double({ min: 0, max: 1e6, noNaN: true });
    const step = fc.record({
      type: fc.constant("step"),
      step: fc.integer({ min: 1, max: 1000 }),
      phase: fc.constantFrom("warmup", "measure"),
      realTokens: fc.nat(),
      processedTokens: fc.nat(),
      labelTokens: fc.nat(),
      loss: fc.option(num),
      stepSeconds: fc.option(num),
      lr: num,
      gradNorm: fc.option(num),
      allocatedBytes: fc.option(num),
      unixMs: num,
    });
    const window = fc.record({
      type: fc.constant("window"),
      state: fc.constantFrom("start", "end"),
      step: fc.nat(),
      unixMs: num,
    });
    const wellFormed = fc.oneof(step, window) as fc.Arbitrary<Record<string, unknown>>;
    const mutated = fc
      .tuple(wellFormed, fc.nat(), value)
      .map(([e, i, v]) => ({ ...e, [Object.keys(e)[i % Object.keys(e).length]!]: v }));
    const line = fc.oneof(
      fc.string({ maxLength: 80 }),
      event.map((e) => JSON.stringify(e)),
      wellFormed.map((e) => JSON.stringify(e)),
      mutated.map((e) => JSON.stringify(e)),
    );
    fc.assert(
      fc.property(line, (l) => {
        t.tried++;
        const parsed = parseEventLine(l);
        if ("event" in parsed) {
          t.accepted++;
          return;
        }
        // A bad line ends the run as a stored failure with the line, what is wrong and a fix.
        expect(parsed.problem).not.toBe("");
        const { status, error } = classifyOutcome(
          {
            exitCode: null,
            signal: "SIGTERM",
            cancelled: false,
            protocolError: { line: l, message: parsed.problem },
            stderrTail: "",
          },
          null,
          null,
        );
        expect(status).toBe("failed");
        expect(error?.kind).toBe("protocol");
        expect(error?.hint ?? "").not.toBe("");
        t.refused++;
      }),
      { numRuns: RUNS * 3 },
    );
  });
});
