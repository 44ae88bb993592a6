import { assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import { repairPolicies as awsRepairPolicies } from "../../../../layers/cloudprovider/aws/AwsCloudProvider.ts"
import * as KwokCloudProvider from "../../../../layers/cloudprovider/kwok/KwokCloudProvider.ts"
import * as MemoryKube from "../../../../layers/kube/memory/MemoryKubeClient.ts"
import * as Labels from "../../../../src/api/Labels.ts"
import { CloudProvider } from "../../../../src/cloudprovider/CloudProvider.ts"
import * as DisruptionMetrics from "../../../../src/controllers/disruption/DisruptionMetrics.ts"
import * as Health from "../../../../src/controllers/node/health/Health.ts"
import * as HealthMetrics from "../../../../src/controllers/node/health/HealthMetrics.ts"
import * as Conditions from "../../../../src/controllers/StatusConditions.ts"
import { KubeClient } from "../../../../src/kube/KubeClient.ts"
import * as Resources from "../../../../src/kube/Resources.ts"
import * as D from "../../disruption/support.ts"
import * as S from "../../support.ts"

/** The KWOK provider with AWS's repair policies (KWOK declares none at v1.4.0, as upstream's). */
const repairing = Layer.effect(
  CloudProvider,
  Effect.map(Effect.service(CloudProvider), (cloud) =>
    CloudProvider.of({ ...cloud, repairPolicies: awsRepairPolicies })
  )
).pipe(Layer.provide(KwokCloudProvider.layer({ instanceTypes: D.catalogue() })), Layer.provideMerge(MemoryKube.layer()))

/** What a kubelet that lost its node posts: Ready=False since now (the whole conditions list replaced). */
const setReady = (node: string, status: "True" | "False") =>
  Effect.gen(function* () {
    const kube = yield* KubeClient
    const now = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
    yield* kube.patch(
      Resources.Nodes,
      node,
      {
        type: "merge",
        patch: {
          status: { conditions: [{ type: "Ready", status, lastTransitionTime: Conditions.timestamp(now) }] }
        }
      },
      { subresource: "status" }
    )
  })

const minutes = (count: number) => count * 60_000

const gateOn = { health: { nodeRepair: true } } as const

describe("node.health", S.controllerSuite, () => {
  it("allows 20% of the nodes to be unhealthy, rounded up", () => {
    assert.deepStrictEqual([0, 1, 3, 4, 5, 6, 10, 11].map(Health.allowedUnhealthy), [0, 1, 1, 1, 1, 2, 2, 3])
  })

  it("labels conditions in snake case, as upstream's ToSnakeCase", () => {
    assert.deepStrictEqual(["Ready", "AcceleratedHardwareReady", "BadNode"].map(HealthMetrics.snakeCase), [
      "ready",
      "accelerated_hardware_ready",
      "bad_node"
    ])
  })

  it.effect("repairs a node NotReady for 30 minutes at once, past its pod's PDB and a disruption budget of 0", () =>
    Effect.gen(function* () {
      const disrupted = Metric.withAttributes(DisruptionMetrics.nodeClaimsDisruptedTotal, {
        reason: "unhealthy",
        nodepool: "default",
        capacity_type: "on-demand"
      })
      const disruptedBefore = (yield* Metric.value(disrupted)).count
      yield* D.setup(D.nodePool("default", { consolidateAfter: "Never", budgets: [{ nodes: "0" }] }))
      const log = yield* D.start(gateOn)
      yield* D.launch("sick", "small")
      yield* S.advance(2_000, 1_000)
      const unhealthy = Metric.withAttributes(HealthMetrics.unhealthyDisruptedTotal, {
        condition: "ready",
        nodepool: "default",
        capacity_type: "on-demand",
        image_id: (yield* S.findNodeClaim("sick"))?.status?.imageID ?? ""
      })
      const unhealthyBefore = (yield* Metric.value(unhealthy)).count
      yield* D.boundPod("app", "sick")
      yield* D.createPodDisruptionBudget("app", "app", { minAvailable: 1 })
      yield* S.advance(10_000)

      yield* setReady("sick", "False")
      const since = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
      yield* S.advance(minutes(30) - 1_000, 10_000)
      assert.deepStrictEqual(yield* D.liveNodes, ["sick"], "tolerated for 30 minutes")
      yield* S.advance(1_000)

      const claim = yield* S.findNodeClaim("sick")
      assert.isDefined(claim?.metadata.deletionTimestamp, "the NodeClaim is deleted at the toleration's end")
      assert.strictEqual(
        claim?.metadata.annotations?.[Labels.NodeClaimTerminationTimestampAnnotation],
        Conditions.timestamp(since + minutes(30)),
        "its termination time is now: its pods go without waiting for their PDB"
      )
      assert.deepStrictEqual(log.entries(), [
        { time: since + minutes(30), reason: "Unhealthy", candidates: ["sick"], replacements: [] }
      ])
      assert.strictEqual((yield* Metric.value(disrupted)).count - disruptedBefore, 1)
      assert.strictEqual((yield* Metric.value(unhealthy)).count - unhealthyBefore, 1)

      yield* S.advance(minutes(2), 5_000)
      assert.notInclude(yield* D.nodeNames, "sick", "the PDB does not hold the node")
      assert.deepStrictEqual(yield* S.listPods, [], "its (bare) pod was deleted although its PDB forbids evictions")
    }).pipe(Effect.provide(repairing))
  )

  it.effect("repairs nothing while more than 20% of the NodePool is unhealthy, and resumes once it recovers", () =>
    Effect.gen(function* () {
      yield* D.setup(D.nodePool("default", { consolidateAfter: "Never" }))
      yield* D.start(gateOn)
      for (const name of ["a", "b", "c", "d"]) yield* D.launch(name, "small")
      yield* S.advance(2_000, 1_000)

      // Two of four unhealthy: one is allowed (20% of 4, rounded up).
      yield* setReady("a", "False")
      yield* setReady("b", "False")
      yield* S.advance(minutes(60), 30_000)
      assert.deepStrictEqual(yield* D.liveNodes, ["a", "b", "c", "d"])
      const blocked = yield* D.eventsOn("NodeRepairBlocked")
      assert.includeMembers(blocked, [
        "Node/a: more than 20% nodes are unhealthy in the nodepool",
        "Node/b: more than 20% nodes are unhealthy in the nodepool"
      ])
      assert.notInclude(
        blocked.map((event) => event.split(":")[0]),
        "Node/c",
        "a healthy node of the unhealthy NodePool gets no event"
      )

      // b recovers: a is repaired at the next check (upstream v1.4.0 waited until a itself changed).
      yield* setReady("b", "True")
      yield* S.advance(Duration.toMillis(Health.blockedRequeue), 10_000)
      assert.deepStrictEqual(yield* D.liveNodes, ["b", "c", "d"])
    }).pipe(Effect.provide(repairing))
  )

  it.effect("with the NodeRepair gate off, an unhealthy node is left alone", () =>
    Effect.gen(function* () {
      yield* D.setup(D.nodePool("default", { consolidateAfter: "Never" }))
      const log = yield* D.start()
      yield* D.launch("sick", "small")
      yield* S.advance(2_000, 1_000)
      yield* setReady("sick", "False")
      yield* S.advance(minutes(120), 60_000)
      assert.deepStrictEqual(yield* D.liveNodes, ["sick"])
      assert.deepStrictEqual(log.entries(), [])
    }).pipe(Effect.provide(repairing))
  )

  it.effect("with the gate on, a provider without repair policies (KWOK, as upstream's) repairs nothing", () =>
    Effect.gen(function* () {
      yield* D.setup(D.nodePool("default", { consolidateAfter: "Never" }))
      yield* D.start(gateOn)
      yield* D.launch("sick", "small")
      yield* S.advance(2_000, 1_000)
      yield* setReady("sick", "False")
      yield* S.advance(minutes(120), 60_000)
      assert.deepStrictEqual(yield* D.liveNodes, ["sick"])
    }).pipe(Effect.provide(D.base()))
  )
})
