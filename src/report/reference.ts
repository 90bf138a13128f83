/**
 * The format of published figures a report is compared with (e.g.
 * `../shared/reference/paper-2509.12229.json`): per run, the settings that define it and the
 * figures it reported, plus the hardware and the claims as stated. The report owns the format (it
 * renders it); how a reference's runs map onto configurations and how its claims are checked is a
 * `ReferenceComparison` (./types.ts) that the caller passes in: the paper's is study/claims.ts.
 */
import { existsSync, readFileSync } from "node:fs";
import { z } from "zod";
import { LoraprofError } from "../util/errors.js";

const num = z.number().nullable();

export const ReferenceRunSchema = z.looseObject({
  id: z.string(),
  label: z.string().optional(),
  optimizer: z.string().optional(),
  batch_size: z.number().int().positive().optional(),
  seq_len: z.number().int().positive().optional(),
  precision: z.string().optional(),
  tokens_per_s: num.optional(),
  seconds_per_10k_tokens: num.optional(),
  peak_vram_gb: num.optional(),
  /** One figure, or a published range [low, high]. */
  energy_j_per_token: z
    .union([z.number(), z.tuple([z.number(), z.number()])])
    .nullable()
    .optional(),
});

export const ReferenceSchema = z.looseObject({
  source: z.string(),
  hardware: z
    .looseObject({
      gpu: z.string().optional(),
      vram_gb: z.number().optional(),
      board_power_w_assumed: z.union([z.number(), z.tuple([z.number(), z.number()])]).optional(),
    })
    .optional(),
  common: z.record(z.string(), z.unknown()).optional(),
  runs: z.array(ReferenceRunSchema).min(1),
  claims: z.array(z.string()).default([]),
  notes: z.array(z.string()).default([]),
});

export type ReferenceRun = z.infer<typeof ReferenceRunSchema>;
export type Reference = z.infer<typeof ReferenceSchema>;

export function readReference(path: string): Reference {
  if (!existsSync(path)) {
    throw new LoraprofError("CONFIG_INVALID", `reference file not found: ${path}`, {
      problems: [
        {
          field: "--reference",
          message: "no such file",
          hint: "pass the path of a reference JSON, or leave --reference out",
        },
      ],
    });
  }
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    throw new LoraprofError("CONFIG_INVALID", `cannot parse ${path}`, {
      problems: [{ field: "--reference", message: (err as Error).message, hint: "fix the JSON syntax" }],
    });
  }
  const parsed = ReferenceSchema.safeParse(doc);
  if (!parsed.success) {
    throw new LoraprofError("CONFIG_INVALID", `invalid reference file ${path}`, {
      problems: parsed.error.issues.map((i) => ({
        field: i.path.join(".") || "(file)",
        message: i.message,
        hint: "see ../shared/reference/paper-2509.12229.json for the expected shape",
      })),
    });
  }
  return parsed.data;
}
