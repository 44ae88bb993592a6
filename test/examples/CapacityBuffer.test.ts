/**
 * examples/capacity-buffer.yaml through `simulate` as the CLI runs it: a CapacityBuffer keeps a warm node launched
 * before the pods arrive; the new replicas bind to it without waiting for a launch, and the headroom is launched again.
 * With the gate off the same scenario makes the replicas wait for a node.
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

const simulate = (featureGates?: string) =>
  Simulate.run(Simulation.environment, {
    files: [join(root, "examples", "capacity-buffer.yaml")],
    instanceTypes: undefined,
    output: "json",
    featureGates
  }).pipe(
    Effect.provideService(References.MinimumLogLevel, "Warn"),
    Effect.provide(NodeServices.layer),
    Effect.map((json) => JSON.parse(json) as Report)
  )

const at = (report: Report, time: number) => {
  const snapshot = report.snapshots.filter((candidate) => candidate.time === time).at(-1)
  assert.isDefined(snapshot, `a snapshot at ${time}s`)
  return snapshot!
}

const webPods = (snapshot: Report["snapshots"][number]) =>
  snapshot.nodes.flatMap((node) => node.pods.filter((pod) => pod.startsWith("default/web-")))

describe("examples/capacity-buffer.yaml", () => {
  it.effect(
    "a warm node is launched before the pods arrive; they schedule onto it at once; the headroom is launched again",
    () =>
      Effect.gen(function* () {
        const report = yield* simulate()
        const before = at(report, 600)
        assert.lengthOf(webPods(before), 1)
        assert.lengthOf(before.nodes, 3, "two warm nodes hold only headroom before the scale-up")
        const after = at(report, 605)
        assert.lengthOf(webPods(after), 3, "the two new replicas are bound five seconds after the scale-up")
        assert.deepStrictEqual(
          after.nodes.map((node) => node.name),
          before.nodes.map((node) => node.name),
          "on the nodes that were already there"
        )
        const end = report.snapshots.at(-1)!
        assert.lengthOf(end.nodes, 5, "the headroom they took is launched again")
        assert.lengthOf(webPods(end), 3)
      }),
    60_000
  )

  it.effect(
    "with the gate off, nothing is launched ahead and the new replicas wait for a node",
    () =>
      Effect.gen(function* () {
        const report = yield* simulate("CapacityBuffer=false")
        assert.lengthOf(at(report, 600).nodes, 1)
        assert.lengthOf(webPods(at(report, 605)), 1, "the new replicas are still pending")
        assert.lengthOf(webPods(report.snapshots.at(-1)!), 3)
      }),
    60_000
  )
})
