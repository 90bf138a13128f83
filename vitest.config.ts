import { defineConfig } from "vitest/config";

// Two of the three tiers: unit (fast, no Python) and integration (real CLI + engine on a tiny model on
// the CPU). The GPU tier (test/gpu) uses Node's own test runner so that it runs on GPU hosts without
// node_modules: `npm run test:gpu`.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          setupFiles: ["test/setup/presets.ts"],
          include: ["src/**/*.test.ts", "test/unit/**/*.test.ts", "bench/**/*.test.ts"],
        },
      },
      {
        test: {
          name: "integration",
          setupFiles: ["test/setup/presets.ts"],
          include: ["test/integration/**/*.test.ts"],
          testTimeout: 600_000,
          hookTimeout: 600_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
