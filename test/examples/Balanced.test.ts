/**
 * examples/balanced-churn.yaml and balanced-steady.yaml run through `simulate` as the CLI runs them, on their ladder
 * catalogue (each size about 5% cheaper than the next): the same shrinking Deployment makes WhenEmptyOrUnderutilized
 * replace the node at every step and Balanced keep it.
 */
import { join } from "node:path"
import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as References from "effect/References"
import * as Simulation from "../../layers/app/SimulationApp.ts"
import type { Report } from "../../src/cluster/Simulation.ts"
import * as Simulate from "../../src/operator/Simulate.ts"
import { root } from "../fixtures.ts"

/** `node dist/bin.js simulate -f examples/<name>.yaml --instance-types examples/balanced-instance-types.json -o json`. */
const simulate = (name: string) =>
  Simulate.run(Simulation.environment, {
    files: [join(root, "examples", `${name}.yaml`)],
    instanceTypes: join(root, "examples", "balanced-instance-types.json"),
    output: "json"
  }).pipe(
    Effect.map((json) => JSON.parse(json) as Report),
    Effect.provideService(References.MinimumLogLevel, "Warn"),
    Effect.provide(NodeServices.layer)
  )

const underutilized = (report: Report) => report.disruptions.filter((d) => d.reason === "Underutilized")

// Each run takes a few seconds of CPU; the margin is for a loaded machine.
const timeout = 60_000

describe("Balanced consolidation examples", () => {
  it.live(
    "WhenEmptyOrUnderutilized replaces the node at each of the four scale-downs, to save about 5% each time",
    () =>
      Effect.gen(function* () {
        const report = yield* simulate("balanced-churn")
        assert.strictEqual(underutilized(report).length, 4)
        assert.strictEqual(report.summary.nodesLaunched, 5)
      }),
    timeout
  )

  it.live(
    "Balanced keeps the first node through the same scale-downs: no replacement is worth its disruption",
    () =>
      Effect.gen(function* () {
        const report = yield* simulate("balanced-steady")
        assert.deepStrictEqual(underutilized(report), [])
        assert.strictEqual(report.summary.nodesLaunched, 1)
        assert.strictEqual(report.summary.nodesTerminated, 0)
      }),
    timeout
  )
})
