/**
 * examples/reserved-capacity.yaml through `simulate` as the CLI runs it: with the ReservedCapacity gate (the
 * scenario's), three nodes launch into the catalogue's reservation of three and the rest on-demand; with the gate off,
 * the reservation is not offered.
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

const simulate = (environment: Simulate.Environment) =>
  Simulate.run(environment, {
    files: [join(root, "examples", "reserved-capacity.yaml")],
    instanceTypes: join(root, "examples", "reserved-capacity-instance-types.json"),
    output: "json"
  }).pipe(
    Effect.map((json) => JSON.parse(json) as Report),
    Effect.provideService(References.MinimumLogLevel, "Warn"),
    Effect.provide(NodeServices.layer)
  )

const capacityTypes = (report: Report) =>
  report.snapshots[report.snapshots.length - 1]!.nodes.map((node) => node.capacityType).sort()

describe("reserved capacity example", () => {
  it.live(
    "launches into the reservation until it is used up, then on-demand",
    () =>
      Effect.gen(function* () {
        const report = yield* simulate(Simulation.environment)
        assert.deepStrictEqual(capacityTypes(report), ["on-demand", "on-demand", "reserved", "reserved", "reserved"])
        assert.deepStrictEqual(report.snapshots[report.snapshots.length - 1]!.pendingPods, [])
      }),
    60_000
  )

  it.live(
    "offers no reservation with the gate off",
    () =>
      Effect.gen(function* () {
        // The scenario's gate ignored: the defaults (ReservedCapacity off).
        const report = yield* simulate((catalogue) => Simulation.environment(catalogue))
        assert.deepStrictEqual(capacityTypes(report), Array(5).fill("on-demand"))
      }),
    60_000
  )
})
