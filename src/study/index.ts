/**
 * The study room: everything about arXiv 2509.12229 (the paper loraprof reproduces): its sweep
 * (./sweep.ts: the three runs and the ablations), its published figures (./reference.ts) and the
 * checks of its claims (./claims.ts), its presets (./presets.ts: `preset: paper-run1` …, registered
 * with the config loader by the CLI entry and the library's front door), and what `loraprof study`
 * does with them.
 */
import { buildReport, writeReport, type WrittenReport } from "../report/index.js";
import type { Db } from "../store/db.js";
import { LoraprofError } from "../util/errors.js";
import { paperComparison } from "./claims.js";
import { defaultReferencePath } from "./reference.js";
import { paperStudy, type StudyOptions } from "./sweep.js";

export { defaultReferencePath, readReference, type Reference } from "./reference.js";
export { paperComparison } from "./claims.js";
export {
  PAPER_PRESETS,
  PAPER_UNSTATED_DEFAULTS,
  registerPaperPresets,
  type PaperPresetName,
} from "./presets.js";
export { syntheticStudyRuns, type FixtureOptions } from "./fixture.js";
export { plannedFastArm, FAST_ARM_SEQ_LENS, type FastArm, type FastArmOptions } from "./fast.js";
export {
  DEFAULT_STUDY_BUDGET,
  DEFAULT_STUDY_REPEATS,
  paperStudy,
  parseStudyGroups,
  studyGroupsProblem,
  studyOverrides,
  studySweepName,
  STUDY_GROUPS,
  STUDY_NAME,
  type StudyGroup,
  type StudyOptions,
} from "./sweep.js";

export const STUDIES = ["paper"] as const;
export type StudyName = (typeof STUDIES)[number];

/** An unknown study name is an error naming the known ones. */
export function checkStudyName(name: string): asserts name is StudyName {
  if (!(STUDIES as readonly string[]).includes(name)) {
    throw new LoraprofError("FLAG_INVALID", `unknown study "${name}"`, {
      problems: [{ field: "name", message: "not a known study", hint: "use `loraprof study paper`" }],
    });
  }
}

/** The sweep a named study runs (today one: `paper`). */
export function planStudy(name: string, opts: StudyOptions): ReturnType<typeof paperStudy> {
  checkStudyName(name);
  return paperStudy(opts);
}

/** The study's report for a finished sweep, with the published figures beside it when they are here. */
export function writeStudyReport(db: Db, sweepId: string, outDir: string): WrittenReport {
  const model = buildReport(db, {
    targets: [sweepId],
    reference: defaultReferencePath(),
    comparison: paperComparison,
    title: "loraprof: the paper study",
  });
  return writeReport(model, outDir);
}
