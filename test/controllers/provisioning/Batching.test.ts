/**
 * The provisioner's triggers and batch windows (upstream `provisioning/batcher.go` and `controller.go`): each pod
 * triggers once per window, and a pod that stays unschedulable triggers again every 10 s.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Fake from "../../../layers/cloudprovider/fake/FakeCloudProvider.ts"
import * as ConditionTypes from "../../../src/api/Conditions.ts"
import * as NodePoolControllers from "../../../src/controllers/nodepool/NodePoolControllers.ts"
import * as Provisioner from "../../../src/controllers/provisioning/Provisioner.ts"
import { KubeClient } from "../../../src/kube/KubeClient.ts"
import * as Resources from "../../../src/kube/Resources.ts"
import * as InformerCache from "../../../src/runtime/InformerCache.ts"
import * as S from "../support.ts"

/** A fake-provider environment with a Ready NodePool and the controllers running. */
const fakeCluster = Effect.gen(function* () {
  const fake = yield* Fake.FakeCloudProvider
  yield* fake.setInstanceTypes(S.fakeCatalogue())
  yield* S.createNodePool(S.nodePool("default"))
  yield* Layer.build(S.karpenter())
  yield* S.settle
})

/** Changes a label of a pod (the pod stays unschedulable). */
const relabel = (name: string, value: string) =>
  Effect.flatMap(Effect.service(KubeClient), (kube) =>
    kube.patch(
      Resources.Pods,
      name,
      { type: "merge", patch: { metadata: { labels: { revision: value } } } },
      { namespace: "default" }
    )
  )

describe("Provisioner batch window dedupe", S.controllerSuite, () => {
  it.effect("updates of a pod already in the window do not extend it", () =>
    Effect.gen(function* () {
      yield* fakeCluster
      yield* S.createPendingPod(S.pod("p1"))
      // The pod changes every 500 ms (a label, the kube-scheduler rewriting its condition) and stays unschedulable.
      for (let i = 0; i < 6; i++) {
        yield* S.advance(500, 100)
        yield* relabel("p1", String(i))
      }
      yield* S.settle
      // t = 3 s: the window closed 1 s after the pod's first trigger instead of running to the 10 s maximum.
      const claims = yield* S.listNodeClaims
      assert.strictEqual(claims.length, 1)
      assert.strictEqual(claims[0]?.metadata.creationTimestamp, "1970-01-01T00:00:01Z")
    }).pipe(Effect.provide(S.fakeBase))
  )

  it.effect("a new pod extends the window, an update of a pod already in it does not", () =>
    Effect.gen(function* () {
      yield* fakeCluster
      yield* S.createPendingPod(S.pod("a"))
      yield* S.advance(600, 100)
      // t = 0.6 s: a second pod extends the window to 1.6 s.
      yield* S.createPendingPod(S.pod("b"))
      yield* S.advance(600, 100)
      // t = 1.2 s: an update of `a` (already in the window) leaves it closing at 1.6 s.
      yield* relabel("a", "1")
      yield* S.advance(399, 133)
      assert.strictEqual((yield* S.listNodeClaims).length, 0, "no NodeClaim before the window closes")
      yield* S.advance(1, 1)
      const claims = yield* S.listNodeClaims
      assert.strictEqual(claims.length, 1)
      // One pass for both pods.
      assert.deepStrictEqual(claims[0]?.spec.resources?.requests, { cpu: "2", memory: "2Gi", pods: "2" })
    }).pipe(Effect.provide(S.fakeBase))
  )
})

describe("Provisioner pod retrigger", S.controllerSuite, () => {
  it.effect("a pending pod is provisioned for once its NodePool becomes Ready, without changing", () =>
    Effect.gen(function* () {
      // Its KWOKNodeClass does not exist yet: the NodePool is not Ready.
      yield* S.createNodePool(S.nodePool("default", { nodeClassRef: S.kwokNodeClassRef }))
      yield* Layer.build(S.karpenter())
      yield* S.createPendingPod(S.pod("a"))
      yield* S.advance(5_000, 1_000)
      assert.strictEqual((yield* S.listNodeClaims).length, 0, "no NodeClaim while the NodePool is not Ready")

      // t = 5 s: the NodeClass appears and the NodePool turns Ready; nothing about the pod changes.
      yield* S.createKwokNodeClass(S.kwokNodeClass("default"))
      yield* S.advance(1_000, 250)
      const nodePool = yield* S.getNodePool("default")
      assert.strictEqual(S.conditionOf(nodePool.status?.conditions, ConditionTypes.Ready)?.status, "True")
      yield* S.advance(3_900, 300)
      assert.strictEqual((yield* S.listNodeClaims).length, 0, "no NodeClaim before the pod's requeue")

      // t = 10 s: the pod's requeue (10 s after its first trigger) opens a window, which closes at 11 s.
      yield* S.advance(1_100, 100)
      const claims = yield* S.listNodeClaims
      assert.strictEqual(claims.length, 1)
      assert.strictEqual(claims[0]?.metadata.creationTimestamp, "1970-01-01T00:00:11Z")
    }).pipe(Effect.provide(S.kwokBase))
  )

  it.effect("a pod already pending in the process's cache when the provisioner starts is provisioned for at once", () =>
    Effect.gen(function* () {
      const fake = yield* Fake.FakeCloudProvider
      yield* fake.setInstanceTypes(S.fakeCatalogue())
      yield* S.createNodePool(S.nodePool("default"))
      yield* S.createPendingPod(S.pod("a"))
      // A (re)started process whose pod informer listed before the provisioner subscribed to it (the cluster state
      // starts it first; on a fast connection it has synced by then).
      const services = yield* Layer.build(S.processServices)
      yield* Effect.flatMap(InformerCache.informer(Resources.Pods), (pods) => pods.synced).pipe(
        Effect.provide(services)
      )
      yield* Layer.build(Layer.mergeAll(NodePoolControllers.layer, Layer.effectDiscard(Provisioner.run()))).pipe(
        Effect.provide(services)
      )
      yield* S.advance(2_000, 100)
      const claims = yield* S.listNodeClaims
      assert.strictEqual(claims.length, 1)
      assert.strictEqual(claims[0]?.metadata.creationTimestamp, "1970-01-01T00:00:01Z")
    }).pipe(Effect.provide(S.fakeBase))
  )

  it.effect("a pod no NodePool can take is looked at again every 10 s, until it is gone", () =>
    Effect.gen(function* () {
      const kube = yield* KubeClient
      yield* fakeCluster
      // Bigger than every instance type: each pass fails to schedule them and says so.
      yield* S.createPendingPod(S.pod("huge", { cpu: "1000" }))
      yield* S.createPendingPod(S.pod("gone", { cpu: "1000" }))
      yield* S.advance(5_000, 500)
      yield* kube.delete(Resources.Pods, "gone", { namespace: "default" })
      const failedOf = (name: string) =>
        Effect.map(S.listEvents, (events) =>
          events.filter((event) => event.involvedObject.name === name && event.reason === "FailedScheduling")
        )
      // Passes at 1 s (first trigger) and every 10 s after (requeues). Upstream's recorder drops a pod's
      // FailedScheduling repeats for 5 minutes: the first pass writes the event, the pass at 311 s counts it again.
      yield* S.advance(305_000, 1_000)
      assert.strictEqual((yield* failedOf("huge"))[0]?.count, 1)
      yield* S.advance(10_000, 1_000)
      assert.strictEqual((yield* S.listNodeClaims).length, 0)
      const huge = yield* failedOf("huge")
      assert.strictEqual(huge.length, 1)
      assert.strictEqual(huge[0]?.count, 2)
      // The deleted pod was only in the first pass.
      const gone = yield* failedOf("gone")
      assert.strictEqual(gone.length, 1)
      assert.strictEqual(gone[0]?.count, 1)
    }).pipe(Effect.provide(S.fakeBase))
  )
})
