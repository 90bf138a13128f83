/**
 * Presets: named starting configurations (`preset: NAME` in a file, `--preset NAME` on the command
 * line) that the loader (./load.ts) applies under the recipe's defaults, the file and the flags.
 * config/ owns the mechanism, not the presets: whoever defines presets registers them here. The
 * paper's three (study/presets.ts) are registered by the composition roots: the CLI entry
 * (cli/main.ts), the library's front door (index.ts) and the unit tests' setup
 * (test/setup/presets.ts). This keeps the import arrow one way (study → config); the price is a
 * registry held by this module, filled before the first configuration that names a preset is loaded.
 */
import type { RunConfigInput } from "./schema.js";

export interface Preset {
  /** One line, shown where presets are listed. */
  description: string;
  config: RunConfigInput;
}

const registry = new Map<string, Preset>();

/** Adds presets by name; registering the same preset again is a no-op, another under a taken name an error. */
export function registerPresets(presets: Readonly<Record<string, Preset>>): void {
  for (const [name, preset] of Object.entries(presets)) {
    const known = registry.get(name);
    if (known && known !== preset) throw new Error(`preset "${name}" is already registered`);
    registry.set(name, preset);
  }
}

/** The registered presets' names, in registration order. */
export function presetNames(): string[] {
  return [...registry.keys()];
}

export function findPreset(name: string): Preset | undefined {
  return registry.get(name);
}
