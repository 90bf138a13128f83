import { describe, expect, it } from "vitest";
import { expandSweep } from "../sweep/spec.js";
import { LoraprofError } from "../util/errors.js";
import {
  paperStudy,
  parseStudyGroups,
  STUDY_GROUPS,
  STUDY_NAME,
  studyGroupsProblem,
  studySweepName,
} from "./sweep.js";

describe("the paper study's groups (study paper --groups)", () => {
  it("keeps only the chosen groups, in the study's order, whatever order they were given in", () => {
    const { spec, overrides } = paperStudy({ groups: ["fast", "presets"], repeats: 1 });
    expect(spec.groups!.map((g) => g.name)).toEqual(["presets", "fast"]);
    const planned = expandSweep(spec, { overrides });
    expect(planned).toHaveLength(3 + 4);
    for (const p of planned) expect(p.groups.every((g) => g === "presets" || g === "fast")).toBe(true);
  });

  it("runs the whole study without a choice, or with every group chosen", () => {
    const all = paperStudy({ repeats: 1 }).spec;
    expect(all.name).toBe(STUDY_NAME);
    expect(all.groups!.map((g) => g.name)).toEqual([...STUDY_GROUPS]);
    const chosen = paperStudy({ repeats: 1, groups: [...STUDY_GROUPS].reverse() }).spec;
    expect(chosen.name).toBe(STUDY_NAME);
    expect(chosen).toEqual(all);
  });

  it("names a subset's sweep after its groups in the study's order, so it never resumes the full study", () => {
    expect(studySweepName()).toBe("paper-study");
    expect(studySweepName(STUDY_GROUPS)).toBe("paper-study");
    expect(studySweepName(["fast", "presets"])).toBe("paper-study.presets.fast");
    expect(studySweepName(["shape"])).toBe("paper-study.shape");
    expect(paperStudy({ groups: ["padding", "optimizer"] }).spec.name).toBe("paper-study.optimizer.padding");
  });

  it("reads a comma-separated list, tolerating whitespace and collapsing duplicates", () => {
    expect(parseStudyGroups(" presets , fast,presets,")).toEqual(["presets", "fast"]);
    expect(parseStudyGroups("")).toEqual([]);
  });

  it("names unknown groups, and an empty choice, with the valid names as the hint", () => {
    const hint = "use one or more of presets, optimizer, precision, shape, padding, fast, comma-separated";
    expect(studyGroupsProblem(["presets", "bogus"])).toEqual({
      field: "--groups",
      message: '"bogus" is not a group of the study',
      hint,
    });
    expect(studyGroupsProblem(["a", "b"])?.message).toBe('"a", "b" are not groups of the study');
    expect(studyGroupsProblem([])).toEqual({ field: "--groups", message: "no group given", hint });
    expect(studyGroupsProblem(["fast"])).toBeNull();
    let error: unknown;
    try {
      paperStudy({ groups: ["bogus"] });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(LoraprofError);
    expect((error as LoraprofError).code).toBe("FLAG_INVALID");
    expect((error as LoraprofError).problems[0]?.field).toBe("--groups");
  });
});
