/**
 * `simulate -o json` as the CLI contract defines it: a schema that rejects missing and extra fields, and the
 * invariants every report must satisfy whatever the scenario. Shared by the tests that run scenarios.
 */
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { assert } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { parseAllDocuments } from "yaml"
import * as Scenario from "../../src/cluster/Scenario.ts"
import { root } from "../fixtures.ts"

// -- The CLI contract's JSON, as a schema that rejects missing and extra fields -------------------------------------

const Conditions = Schema.Record(Schema.String, Schema.Literals(["True", "False", "Unknown"]))
const Names = Schema.Array(Schema.String)
const Snapshot = Schema.Struct({
  time: Schema.Int,
  nodes: Schema.Array(
    Schema.Struct({
      name: Schema.String,
      nodePool: Schema.String,
      instanceType: Schema.String,
      zone: Schema.String,
      capacityType: Schema.String,
      pods: Names,
      deleting: Schema.optionalKey(Schema.Literal(true))
    })
  ),
  nodeClaims: Schema.Array(Schema.Struct({ name: Schema.String, nodePool: Schema.String, conditions: Conditions })),
  nodePools: Schema.Array(
    Schema.Struct({
      name: Schema.String,
      conditions: Conditions,
      resources: Schema.Record(Schema.String, Schema.String)
    })
  ),
  pendingPods: Names
})
export const Report = Schema.Struct({
  snapshots: Schema.Array(Snapshot),
  disruptions: Schema.Array(
    Schema.Struct({
      time: Schema.Int,
      // Unhealthy: node repair (NodeRepair gate), recorded as expiration is.
      reason: Schema.Literals(["Empty", "Underutilized", "Drifted", "Expired", "Unhealthy"]),
      candidates: Names,
      replacements: Names
    })
  ),
  events: Schema.Array(
    Schema.Struct({
      time: Schema.Int,
      reason: Schema.String,
      kind: Schema.String,
      name: Schema.String,
      message: Schema.String
    })
  ),
  summary: Schema.Struct({
    nodesLaunched: Schema.Int,
    nodesTerminated: Schema.Int,
    costUSD: Schema.Finite,
    peakNodes: Schema.Int
  })
})
export type Report = typeof Report.Type
const decodeReport = Schema.decodeUnknownSync(Report)

/** Parses `simulate -o json` and checks it against the contract field for field (no field missing, none extra). */
export const parseReport = (json: string): Report => decodeReport(JSON.parse(json), { onExcessProperty: "error" })

export const isScenario = (document: unknown): document is { apiVersion: string; kind: string } =>
  typeof document === "object" &&
  document !== null &&
  (document as { kind?: unknown }).kind === "Scenario" &&
  (document as { apiVersion?: unknown }).apiVersion === "karpenter-effect.dev/v1alpha1"

export const yamlDocuments = (path: string): Array<unknown> =>
  parseAllDocuments(readFileSync(path, "utf8")).map((document) => document.toJS() as unknown)

/** The Scenario document of an example, decoded. */
export const scenarioOf = (path: string) =>
  Scenario.decode(yamlDocuments(join(root, path)).find(isScenario)).pipe(Effect.orDie)

/** What every report must satisfy whatever the scenario (beyond its shape). */
export const checkInvariants = (report: Report, scenario: Scenario.Scenario) => {
  const duration = Scenario.millis(scenario.spec.duration) / 1000
  const stepTimes = (scenario.spec.steps ?? [])
    .map((step) => Scenario.millis(step.at) / 1000)
    .filter((at) => at <= duration)
    .sort((a, b) => a - b)
  assert.deepStrictEqual(
    report.snapshots.map((snapshot) => snapshot.time),
    [...stepTimes, duration],
    "one snapshot before each step and one at the end, in seconds since spec.start"
  )
  const sorted = (values: ReadonlyArray<string>) => [...values].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
  for (const snapshot of report.snapshots) {
    assert.deepStrictEqual(
      snapshot.nodes.map((node) => node.name),
      sorted(snapshot.nodes.map((node) => node.name))
    )
    assert.deepStrictEqual(
      snapshot.nodeClaims.map((claim) => claim.name),
      sorted(snapshot.nodeClaims.map((claim) => claim.name))
    )
    assert.deepStrictEqual(snapshot.pendingPods, sorted(snapshot.pendingPods))
    const placed = [...snapshot.pendingPods, ...snapshot.nodes.flatMap((node) => node.pods)]
    assert.strictEqual(new Set(placed).size, placed.length, `t=${snapshot.time}: a pod is listed once`)
    for (const node of snapshot.nodes) assert.deepStrictEqual(node.pods, sorted(node.pods))
    for (const pod of placed) assert.match(pod, /^[a-z0-9-]+\/[a-z0-9.-]+$/, "pods are namespace/name")
  }
  const eventTimes = report.events.map((event) => event.time)
  assert.deepStrictEqual(
    eventTimes,
    [...eventTimes].sort((a, b) => a - b)
  )
  for (const event of report.events) {
    assert.isTrue(event.time >= 0 && event.time <= duration, `event at ${event.time}`)
    assert.notStrictEqual(event.reason, "")
    assert.notStrictEqual(event.kind, "")
  }
  for (const disruption of report.disruptions) {
    assert.isTrue(disruption.time >= 0 && disruption.time <= duration)
    assert.isAbove(disruption.candidates.length, 0)
  }
  const { summary } = report
  const last = report.snapshots[report.snapshots.length - 1]!
  assert.isAtLeast(summary.peakNodes, Math.max(...report.snapshots.map((snapshot) => snapshot.nodes.length)))
  assert.isAtLeast(summary.nodesLaunched, summary.peakNodes)
  assert.strictEqual(summary.nodesLaunched - summary.nodesTerminated, last.nodes.length, "nodes at the end")
  assert.isAtLeast(summary.costUSD, 0)
  if (summary.nodesLaunched > 0) assert.isAbove(summary.costUSD, 0)
}
