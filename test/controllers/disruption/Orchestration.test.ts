import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as MemoryKube from "../../../layers/kube/memory/MemoryKubeClient.ts"
import * as ConditionTypes from "../../../src/api/Conditions.ts"
import * as Labels from "../../../src/api/Labels.ts"
import * as Taints from "../../../src/api/Taints.ts"
import * as DisruptionLog from "../../../src/controllers/disruption/DisruptionLog.ts"
import * as Metrics from "../../../src/controllers/disruption/DisruptionMetrics.ts"
import * as Orchestration from "../../../src/controllers/disruption/Orchestration.ts"
import type * as Planner from "../../../src/controllers/disruption/Planner.ts"
import * as Conditions from "../../../src/controllers/StatusConditions.ts"
import { KubeClient } from "../../../src/kube/KubeClient.ts"
import * as Resources from "../../../src/kube/Resources.ts"
import * as Requirement from "../../../src/scheduling/Requirement.ts"
import * as Requirements from "../../../src/scheduling/Requirements.ts"
import * as Fixtures from "../provisioning/scheduling/fixtures.ts"
import * as S from "../support.ts"
import * as F from "./fixtures.ts"
import * as D from "./support.ts"

/**
 * The queue on its own: the API server and the process's services, no other controller, so a replacement NodeClaim
 * is Initialized only when a test says so, and the virtual clock is the queue's alone.
 */
const environment = S.processServices.pipe(Layer.provideMerge(MemoryKube.layer()))

const timeout = 10 * 60_000

/** A replacement of the default NodePool, of the type "small". */
const replacement = {
  nodePool: Fixtures.nodePool("default"),
  labels: { [Labels.NodePool]: "default" },
  requirements: Requirements.make(Requirement.make(Labels.NodePool, "In", ["default"])),
  instanceTypes: [D.instanceType("small", 2, 0.1)],
  pods: [],
  requests: {}
}

/** A drift command replacing the node "old" by one NodeClaim. */
const drift: Planner.Command = {
  reason: "Drifted",
  method: "drift",
  candidates: [F.candidate("old")],
  replacements: [replacement]
}

/** The node "old" (Node and NodeClaim), the queue (with a disruption log) at t = 0. */
const start = Effect.gen(function* () {
  yield* S.createNodeClaim(S.nodeClaim("old"))
  yield* S.createNode(S.node("old"))
  const log = DisruptionLog.inMemory()
  const orchestration = yield* Orchestration.make({ commandTimeout: timeout }).pipe(
    Effect.provideService(DisruptionLog.DisruptionLog, log.service)
  )
  yield* S.settle
  return { orchestration, log }
})

const tainted = (name: string) =>
  Effect.map(
    Effect.flatMap(Effect.service(KubeClient), (kube) => kube.get(Resources.Nodes, name)),
    (node) => (node.spec.taints ?? []).some((taint) => Taints.matches(taint, Taints.DisruptedNoSchedule))
  )

const disruptionReason = (name: string) =>
  Effect.map(
    Effect.flatMap(Effect.service(KubeClient), (kube) => kube.get(Resources.NodeClaims, name)),
    (claim) => Conditions.get(claim.status?.conditions, ConditionTypes.DisruptionReason)?.reason
  )

/** Writes one True condition as the NodeClaim's status (what the lifecycle or a crashed command left). */
const setCondition = (name: string, type: string, reason = type) =>
  Effect.flatMap(Effect.service(KubeClient), (kube) =>
    kube.patch(
      Resources.NodeClaims,
      name,
      {
        type: "merge",
        patch: {
          status: {
            conditions: [{ type, status: "True", reason, message: "", lastTransitionTime: "1970-01-01T00:00:00Z" }]
          }
        }
      },
      { subresource: "status" }
    )
  )

/** The names of every NodeClaim. */
const claimNames = Effect.map(S.listNodeClaims, (claims) => claims.map((claim) => claim.metadata.name ?? ""))

/** The NodeClaims other than "old": the replacements the queue launched. */
const replacements = Effect.map(S.listNodeClaims, (claims) =>
  claims.map((claim) => claim.metadata.name ?? "").filter((name) => name !== "old")
)

const failures = Metric.withAttributes(Metrics.queueFailuresTotal, {
  decision: "replace",
  reason: "drifted",
  consolidation_type: ""
})

describe("disruption: orchestration", S.controllerSuite, () => {
  it.effect("taints and marks the candidates, launches the replacements, and records the decision", () =>
    Effect.gen(function* () {
      const { orchestration, log } = yield* start
      yield* orchestration.add(drift)
      yield* S.settle
      assert.isTrue(yield* tainted("old"))
      assert.strictEqual(yield* disruptionReason("old"), "Drifted")
      assert.deepStrictEqual([...orchestration.queued()], ["old"])
      assert.lengthOf(yield* replacements, 1)
      assert.deepStrictEqual(log.entries(), [
        { time: 0, reason: "Drifted", candidates: ["old"], replacements: ["small"] }
      ])
      assert.deepStrictEqual(yield* D.eventsWithReason("DisruptionLaunching"), [
        "old: Disrupting Node: Drifted/Replace"
      ])
    }).pipe(Effect.provide(environment))
  )

  it.effect("deletes the candidates once every replacement is Initialized, not before", () =>
    Effect.gen(function* () {
      const { orchestration } = yield* start
      yield* orchestration.add(drift)
      yield* S.advance(29_500, 500)
      assert.deepStrictEqual((yield* S.listNodeClaims).length, 2, "waiting for the replacement")
      const [name] = yield* replacements
      yield* setCondition(name!, ConditionTypes.Initialized)
      // The queue looks every second: the next look (t = 30 s) deletes the candidate's NodeClaim.
      yield* S.advance(499, 499)
      assert.include(yield* claimNames, "old")
      yield* S.advance(1, 1)
      assert.deepStrictEqual(yield* replacements, [name!])
      assert.notInclude(yield* claimNames, "old")
      assert.deepStrictEqual(orchestration.queued().size, 0)
      assert.deepStrictEqual(yield* D.eventsWithReason("DisruptionTerminating"), ["old: Disrupting Node: Drifted"])
    }).pipe(Effect.provide(environment))
  )

  it.effect("rolls a command back once its timeout has passed without Initialized replacements", () =>
    Effect.gen(function* () {
      const failuresBefore = (yield* Metric.value(failures)).count
      const { orchestration } = yield* start
      yield* orchestration.add(drift)
      // At exactly the timeout the command still stands (the timeout must be exceeded); the look after rolls it back.
      yield* S.advance(timeout, 1_000)
      assert.isTrue(yield* tainted("old"), "at the timeout")
      yield* S.advance(999, 999)
      assert.isTrue(yield* tainted("old"), "a millisecond before the first look past the timeout")
      assert.deepStrictEqual([...orchestration.queued()], ["old"])
      yield* S.advance(1, 1)
      assert.isFalse(yield* tainted("old"), "rolled back")
      assert.isUndefined(yield* disruptionReason("old"))
      assert.deepStrictEqual(orchestration.queued().size, 0)
      assert.strictEqual((yield* Metric.value(failures)).count - failuresBefore, 1)
      // The candidate stays; the replacement is left to the lifecycle (as upstream leaves it).
      assert.include(yield* claimNames, "old")
    }).pipe(Effect.provide(environment))
  )

  it.effect("rolls back when a replacement is gone, once it has had 5 s to appear", () =>
    Effect.gen(function* () {
      const { orchestration } = yield* start
      yield* orchestration.add(drift)
      const [name] = yield* replacements
      const kube = yield* KubeClient
      yield* kube.delete(Resources.NodeClaims, name!)
      yield* S.advance(5_999, 1_000)
      assert.isTrue(yield* tainted("old"), "not yet gone at 5 s, nor a millisecond before the next look")
      yield* S.advance(1, 1)
      assert.isFalse(yield* tainted("old"))
      assert.deepStrictEqual(orchestration.queued().size, 0)
    }).pipe(Effect.provide(environment))
  )

  it.effect("recover takes the taint and DisruptionReason off nodes no command owns, and only those", () =>
    Effect.gen(function* () {
      const { orchestration } = yield* start
      yield* orchestration.add(drift)
      yield* S.createNodeClaim(S.nodeClaim("orphan"))
      yield* S.createNode({ ...S.node("orphan"), spec: { taints: [Taints.DisruptedNoSchedule] } } as never)
      yield* setCondition("orphan", ConditionTypes.DisruptionReason, "Drifted")
      const kube = yield* KubeClient
      const stateNode = (name: string) =>
        Effect.gen(function* () {
          return {
            name,
            deleting: false,
            node: yield* kube.get(Resources.Nodes, name),
            nodeClaim: yield* kube.get(Resources.NodeClaims, name)
          }
        })
      yield* orchestration.recover({ stateNodes: [yield* stateNode("old"), yield* stateNode("orphan")] } as never)
      assert.isFalse(yield* tainted("orphan"))
      assert.isUndefined(yield* disruptionReason("orphan"))
      assert.isTrue(yield* tainted("old"), "its command is under way")
      assert.strictEqual(yield* disruptionReason("old"), "Drifted")
    }).pipe(Effect.provide(environment))
  )
})
