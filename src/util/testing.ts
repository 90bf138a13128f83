/** Test helpers shared by unit tests across folders. */
import { LoraprofError } from "./errors.js";

/** The LoraprofError `fn` throws; fails the test when it throws something else or nothing. */
export function errorOf(fn: () => unknown): LoraprofError {
  try {
    fn();
  } catch (e) {
    if (e instanceof LoraprofError) return e;
    throw e;
  }
  throw new Error("expected an error");
}
