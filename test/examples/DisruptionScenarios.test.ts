/**
 * The disruption examples (examples/consolidation.yaml, drift.yaml, expiration.yaml, static-capacity.yaml) run through
 * `simulate` as the CLI runs them, and the disruptions each is written to show: consolidation after a scale-down within
 * a 50% budget, drift replacing every node two at a time, expiration replacing nodes although the budget allows no
 * disruption, a static NodePool keeping its replicas while a dynamic one scales and is consolidated, and NodeOverlay
 * prices deciding the launched type without a consolidation to follow (node-overlay-simulate.yaml).
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

/**
 * `node dist/bin.js simulate -f examples/<name>.yaml -o json`: the same command, environment, renderer and log level
 * (bin.ts logs warnings only).
 */
const simulate = (name: string, featureGates?: string) =>
  Simulate.run(Simulation.environment, {
    files: [join(root, "examples", `${name}.yaml`)],
    instanceTypes: undefined,
    output: "json",
    featureGates
  }).pipe(Effect.provideService(References.MinimumLogLevel, "Warn"), Effect.provide(NodeServices.layer))

const simulateReport = (name: string, featureGates?: string) =>
  Effect.map(simulate(name, featureGates), (json) => JSON.parse(json) as Report)

const snapshotAt = (report: Report, time: number, which: "first" | "last" = "last") => {
  const matching = report.snapshots.filter((snapshot) => snapshot.time === time)
  assert.isAbove(matching.length, 0, `a snapshot at ${time}s`)
  return which === "first" ? matching[0]! : matching[matching.length - 1]!
}

const lastSnapshot = (report: Report) => report.snapshots[report.snapshots.length - 1]!

const names = (snapshot: Report["snapshots"][number]) => snapshot.nodes.map((node) => node.name)

const reasons = (report: Report) => report.disruptions.map((disruption) => disruption.reason)

const count = (values: ReadonlyArray<string>, value: string) => values.filter((candidate) => candidate === value).length

const sorted = (values: Iterable<string>) => [...values].sort()

// Each run takes a few seconds of CPU; the margin is for a loaded machine.
const timeout = 60_000

describe("disruption examples", () => {
  it.live(
    "consolidation: after the scale-down, empty nodes go (Empty) and an underused one is merged (Underutilized)",
    () =>
      Effect.gen(function* () {
        const report = yield* simulateReport("consolidation")
        // Scale-up at 5m (one web replica per node): ten nodes, every pod placed, before the scale-down at 15m.
        const peak = snapshotAt(report, 15 * 60, "first")
        assert.strictEqual(peak.nodes.length, 10)
        assert.deepStrictEqual(peak.pendingPods, [])
        assert.strictEqual(report.summary.peakNodes, 10)

        const kinds = reasons(report)
        assert.isAtLeast(count(kinds, "Empty"), 1, `reasons ${kinds.join(", ")}`)
        assert.isAtLeast(count(kinds, "Underutilized"), 1, `reasons ${kinds.join(", ")}`)
        assert.deepStrictEqual(
          kinds.filter((reason) => reason !== "Empty" && reason !== "Underutilized"),
          [],
          "nothing drifts or expires here"
        )
        for (const disruption of report.disruptions) {
          // Fully used nodes are left alone; consolidation waits for consolidateAfter (30s) after the scale-down.
          assert.isAtLeast(disruption.time, 15 * 60 + 30, `${disruption.reason} at ${disruption.time}s`)
          // Only nodes of the peak are disrupted.
          for (const candidate of disruption.candidates) assert.include(names(peak), candidate)
        }
        // The budget (nodes: "50%" of 10) lets more than the default 10% (one node) go at once, but no more than 5.
        const largest = Math.max(...report.disruptions.map((disruption) => disruption.candidates.length))
        assert.isAbove(largest, 1, "more than one node in a command: the 50% budget, not the default 10%")
        assert.isAtMost(largest, 5, "at most 50% of 10 nodes in a command")

        const end = lastSnapshot(report)
        assert.isBelow(end.nodes.length, report.summary.peakNodes, "fewer nodes at the end than at the peak")
        // 2 web replicas (one per node) and 4 workers (300m each) fit on 3 nodes of 1 cpu.
        assert.strictEqual(end.nodes.length, 3)
        assert.deepStrictEqual(end.pendingPods, [])
        assert.strictEqual(
          end.nodes.reduce((sum, node) => sum + node.pods.length, 0),
          6
        )
        const disrupted = report.disruptions.flatMap((disruption) => disruption.candidates)
        assert.strictEqual(new Set(disrupted).size, disrupted.length, "a node is disrupted once")
        for (const node of disrupted) assert.notInclude(names(end), node)
        assert.strictEqual(report.summary.nodesTerminated, disrupted.length)
      }),
    timeout
  )

  it.live(
    "drift: every node of the old template is replaced (Drifted), at most two at a time; the output is deterministic",
    () =>
      Effect.gen(function* () {
        const json = yield* simulate("drift")
        assert.strictEqual(yield* simulate("drift"), json, "the same scenario twice gives the same bytes")
        const report = JSON.parse(json) as Report

        const before = snapshotAt(report, 10 * 60, "first")
        assert.strictEqual(before.nodes.length, 6)
        const kinds = reasons(report)
        assert.isAtLeast(kinds.length, 1)
        assert.deepStrictEqual(
          kinds.filter((reason) => reason !== "Drifted"),
          [],
          "only drift (consolidation is off)"
        )
        for (const disruption of report.disruptions) {
          assert.isAtLeast(disruption.time, 10 * 60, "nothing drifts before the template changes")
          assert.strictEqual(disruption.replacements.length, disruption.candidates.length, "replaced, not deleted")
        }
        assert.deepStrictEqual(
          sorted(report.disruptions.flatMap((disruption) => disruption.candidates)),
          sorted(names(before)),
          "each node present before the template change is disrupted once"
        )

        const end = lastSnapshot(report)
        for (const node of names(before)) assert.notInclude(names(end), node, "drifted nodes are gone")
        assert.strictEqual(end.nodes.length, 6)
        assert.deepStrictEqual(end.pendingPods, [])
        for (const node of end.nodes) assert.strictEqual(node.pods.length, 1, `${node.name}: one web replica`)
        for (const claim of end.nodeClaims) assert.notStrictEqual(claim.conditions.Drifted, "True", claim.name)
        // Budget nodes: "2": six nodes plus at most two replacements in flight.
        assert.isAtMost(report.summary.peakNodes, 8)
        assert.strictEqual(report.summary.nodesLaunched, 12)
        assert.strictEqual(report.summary.nodesTerminated, 6)
      }),
    timeout
  )

  it.live(
    "expiration: the original nodes expire and are replaced although the budget is 0",
    () =>
      Effect.gen(function* () {
        const report = yield* simulateReport("expiration")
        const original = snapshotAt(report, 30 * 60, "first")
        assert.strictEqual(original.nodes.length, 3)

        const expired = report.disruptions.filter((disruption) => disruption.reason === "Expired")
        assert.strictEqual(expired.length, report.disruptions.length, "budget 0: no voluntary disruption")
        assert.deepStrictEqual(
          sorted(expired.flatMap((disruption) => disruption.candidates)),
          sorted(names(original)),
          "each original node expires once; the node added at 30m is not an hour old at the end"
        )
        for (const disruption of expired) {
          // Launched within the first seconds, expireAfter 1h.
          assert.isAtLeast(disruption.time, 3600)
          assert.isBelow(disruption.time, 3600 + 60)
          assert.deepStrictEqual(disruption.replacements, [], "forceful: no replacement launched first")
        }
        const disruptedEvents = report.events.filter(
          (event) => event.reason === "Disrupted" && event.kind === "NodeClaim" && event.message.includes("Expired")
        )
        assert.deepStrictEqual(sorted(disruptedEvents.map((event) => event.name)), sorted(names(original)))

        // The evicted pods run on new nodes at the end.
        const end = lastSnapshot(report)
        assert.deepStrictEqual(end.pendingPods, [])
        assert.strictEqual(end.nodes.length, 4)
        for (const node of names(original)) assert.notInclude(names(end), node)
        const web = end.nodes.flatMap((node) => node.pods.filter((pod) => pod.startsWith("default/web-")))
        assert.strictEqual(web.length, 4)
        assert.strictEqual(report.summary.nodesLaunched, 7)
        assert.strictEqual(report.summary.nodesTerminated, 3)
      }),
    timeout
  )

  it.live(
    "static capacity: the static NodePool keeps its replicas (3, 5, then 2 as steps scale it) while the dynamic one scales",
    () =>
      Effect.gen(function* () {
        const report = yield* simulateReport("static-capacity")
        const perPool = (snapshot: Report["snapshots"][number]) => {
          const counts: Record<string, number> = {}
          for (const node of snapshot.nodes) counts[node.nodePool] = (counts[node.nodePool] ?? 0) + 1
          return counts
        }
        // Static nodes with no pod at all; the dynamic pool follows the web replicas.
        assert.deepStrictEqual(perPool(snapshotAt(report, 5 * 60)), { dynamic: 1, static: 3 })
        assert.deepStrictEqual(perPool(snapshotAt(report, 10 * 60)), { dynamic: 6, static: 3 })
        assert.deepStrictEqual(perPool(snapshotAt(report, 15 * 60)), { dynamic: 6, static: 5 })
        assert.deepStrictEqual(perPool(snapshotAt(report, 20 * 60)), { dynamic: 1, static: 5 })
        assert.deepStrictEqual(perPool(lastSnapshot(report)), { dynamic: 1, static: 2 })
        for (const snapshot of report.snapshots) {
          for (const node of snapshot.nodes) {
            if (node.nodePool === "static") assert.deepStrictEqual(node.pods, [], `${node.name} runs no pod`)
          }
        }
        // Consolidation empties the dynamic pool after its scale down, and never touches a static node.
        const disrupted = report.disruptions.flatMap((disruption) => disruption.candidates)
        assert.strictEqual(disrupted.length, 5)
        for (const name of disrupted) assert.match(name, /^dynamic-/)
        assert.deepStrictEqual(lastSnapshot(report).pendingPods, [])
      }),
    timeout
  )

  it.live(
    "node overlay: the Scenario's gate launches the overlaid-cheaper m family and nothing churns; off, list prices win",
    () =>
      Effect.gen(function* () {
        const typesOf = (report: Report) => sorted(lastSnapshot(report).nodes.map((node) => node.instanceType))
        const overlaid = yield* simulateReport("node-overlay-simulate")
        assert.deepStrictEqual(typesOf(overlaid), ["m-4x-amd64-linux", "m-4x-amd64-linux"])
        assert.deepStrictEqual(overlaid.disruptions, [], "consolidation has nothing cheaper to launch")
        assert.strictEqual(overlaid.summary.nodesLaunched, 2)
        const listPrices = yield* simulateReport("node-overlay-simulate", "NodeOverlay=false")
        assert.deepStrictEqual(typesOf(listPrices), ["c-4x-amd64-linux", "c-4x-amd64-linux"])
        assert.deepStrictEqual(listPrices.disruptions, [])
      }),
    timeout
  )
})
