import { configDefaults, defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    // Two cores: keep the worker count small so import time does not dominate.
    maxWorkers: 2,
    projects: [
      {
        extends: true,
        test: { name: "unit", include: ["test/**/*.test.ts"], exclude: [...configDefaults.exclude, "test/e2e/**"] }
      },
      {
        // The end-to-end tests run the built CLI as separate processes; their setup builds dist/ only when stale, and
        // runs only when one of them is selected.
        extends: true,
        test: { name: "e2e", include: ["test/e2e/**/*.test.ts"], globalSetup: ["test/e2e/globalSetup.ts"] }
      }
    ]
  }
})
