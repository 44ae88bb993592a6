import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Two cores: keep the worker count small so import time does not dominate.
    maxWorkers: 2
  }
})
