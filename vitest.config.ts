import { defineConfig } from "vitest/config";

// Three tiers: unit (fast, no Python), integration (real CLI + engine on a tiny model on the CPU),
// gpu (tagged by folder; each test skips itself when no CUDA device is present).
export default defineConfig({
  test: {
    projects: [
      { test: { name: "unit", include: ["src/**/*.test.ts", "test/unit/**/*.test.ts"] } },
      {
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts"],
          testTimeout: 600_000,
          hookTimeout: 600_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: "gpu",
          include: ["test/gpu/**/*.test.ts"],
          testTimeout: 900_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
