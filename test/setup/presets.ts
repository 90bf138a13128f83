// The unit tests' composition root, as the CLI entry (src/cli/main.ts) and the library's front door
// (src/index.ts) are the program's: the paper's presets registered with the config loader.
import { registerPaperPresets } from "../../src/study/presets.js";

registerPaperPresets();
