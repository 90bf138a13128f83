/**
 * Saved calibrations, one per GPU: a JSON file beside the run store (`calibrations.json` in the
 * folder of the database, so `--db` selects both), written by `loraprof plan calibrate` and read by
 * every `loraprof plan` for that GPU. A file rather than a table: planning stays free of the
 * database (a plan opens no store), and the file can be read, diffed and copied to another machine.
 * Each entry records the runs it was fitted on and its in-sample and held-out error.
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { z } from "zod";
import { LoraprofError } from "../util/errors.js";
import { writeAtomic } from "../util/files.js";
import { DEFAULT_CONSTANTS, type Calibration, type PlannerConstants } from "./constants.js";

export const CALIBRATIONS_FILE = "calibrations.json";
const FORMAT_VERSION = 1;

const stats = z.object({ runs: z.number(), medianAbsPct: z.number(), maxAbsPct: z.number() }).nullable();
const errorSchema = z.object({
  devicePeakBytes: stats,
  allocatorPeakBytes: stats,
  realTokensPerSecond: stats,
});
const constantKeys = Object.keys(DEFAULT_CONSTANTS) as [
  keyof PlannerConstants,
  ...(keyof PlannerConstants)[],
];
// Every key optional: a file written before a constant existed keeps its other constants (the
// missing one takes its default in toCalibration).
const constantsSchema = z.object(
  Object.fromEntries(constantKeys.map((k) => [k, z.number().finite().optional()])) as Record<
    keyof PlannerConstants,
    z.ZodOptional<z.ZodNumber>
  >,
);

export const SavedCalibrationSchema = z.object({
  gpuId: z.string(),
  gpuName: z.string(),
  createdAt: z.string(),
  /** Ids of the runs the fit used (OOM runs included). */
  runIds: z.array(z.string()),
  calibration: z.object({
    constants: constantsSchema,
    fitted: z.array(z.enum(constantKeys)),
    runs: z.number().int().nonnegative(),
    oomRuns: z.number().int().nonnegative().optional(),
    error: errorSchema,
  }),
  /** Error on runs left out of the fit (leave-one-out, or k-fold for many runs); null with too few runs. */
  heldOut: z.object({ method: z.string(), error: errorSchema }).nullable().default(null),
});
export type SavedCalibration = z.infer<typeof SavedCalibrationSchema>;

const FileSchema = z.object({
  version: z.literal(FORMAT_VERSION),
  calibrations: z.record(z.string(), SavedCalibrationSchema),
});

/** The calibrations file that belongs to a run store. */
export function calibrationsPath(dbPath: string): string {
  return join(dirname(dbPath), CALIBRATIONS_FILE);
}

function readAll(path: string): Record<string, SavedCalibration> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return {};
    throw err;
  }
  let parsed: ReturnType<typeof FileSchema.safeParse>;
  try {
    parsed = FileSchema.safeParse(JSON.parse(text));
  } catch {
    parsed = FileSchema.safeParse(undefined);
  }
  if (!parsed.success) {
    throw new LoraprofError("STORE", `cannot read the planner's calibrations in ${path}`, {
      problems: [
        {
          field: path,
          message: "not a calibrations file this version of loraprof understands",
          hint: "delete it and run `loraprof plan calibrate` again",
        },
      ],
    });
  }
  return parsed.data.calibrations;
}

/** The saved calibration for a GPU (catalog id), or null. */
export function loadCalibration(path: string, gpuId: string): SavedCalibration | null {
  return readAll(path)[gpuId] ?? null;
}

/** Saves (replaces) the calibration of one GPU; the others in the file are kept. */
export function saveCalibration(path: string, saved: SavedCalibration): void {
  const all = readAll(path);
  all[saved.gpuId] = SavedCalibrationSchema.parse(saved);
  writeAtomic(path, JSON.stringify({ version: FORMAT_VERSION, calibrations: all }, null, 2) + "\n");
}

/** The planner's Calibration from a saved entry. */
export function toCalibration(saved: SavedCalibration): Calibration {
  return { ...saved.calibration, constants: { ...DEFAULT_CONSTANTS, ...saved.calibration.constants } };
}
