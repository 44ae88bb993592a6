import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Fake from "../../../../layers/cloudprovider/fake/FakeCloudProvider.ts"
import * as ConditionTypes from "../../../../src/api/Conditions.ts"
import * as Labels from "../../../../src/api/Labels.ts"
import * as CloudProvider from "../../../../src/cloudprovider/CloudProvider.ts"
import { KubeClient } from "../../../../src/kube/KubeClient.ts"
import * as Resources from "../../../../src/kube/Resources.ts"
import * as S from "../../support.ts"

const kwokPool = { nodeClassRef: S.kwokNodeClassRef } as const

const pdb = (minAvailable: number) => ({
  apiVersion: "policy/v1",
  kind: "PodDisruptionBudget",
  metadata: { name: "web", namespace: "default" },
  spec: { minAvailable, selector: { matchLabels: { app: "web" } } }
})

const findNode = (name: string) => Effect.map(S.listNodes, (nodes) => nodes.find((node) => node.metadata.name === name))

const findPod = (name: string) => Effect.map(S.listPods, (pods) => pods.find((pod) => pod.metadata.name === name))

/**
 * KWOK + control plane + controllers, with one `web` pod (its spec with `spec`) running on a Karpenter node; returns
 * that node's name.
 */
const runningPodWith = (spec: Record<string, unknown>) =>
  Effect.gen(function* () {
    yield* S.createKwokNodeClass(S.kwokNodeClass("default"))
    yield* S.createNodePool(S.nodePool("default", kwokPool))
    yield* Layer.build(Layer.mergeAll(S.karpenter(), S.controlPlane))
    yield* S.settle
    yield* S.createPod(S.pod("web", { labels: { app: "web" }, spec }))
    yield* S.settle
    yield* S.advance(2_000, 250)
    const pod = yield* S.getPod("web")
    assert.strictEqual(pod.status?.phase, "Running")
    return pod.spec.nodeName ?? ""
  })

/** {@link runningPodWith} a plain pod. */
const runningPod = runningPodWith({})

describe("Node termination", S.controllerSuite, () => {
  it.effect(
    "deleting a registered Node drains it through the eviction API (honouring the PDB), then terminates it",
    () =>
      Effect.gen(function* () {
        const kube = yield* KubeClient
        const cloud = yield* CloudProvider.CloudProvider
        yield* kube.create(Resources.PodDisruptionBudgets, pdb(1) as never, { namespace: "default" })
        const nodeName = yield* runningPod
        const budget = yield* kube.get(Resources.PodDisruptionBudgets, "web", { namespace: "default" })
        assert.strictEqual(budget.status?.disruptionsAllowed, 0)
        const providerID = (yield* findNode(nodeName))?.spec.providerID ?? ""

        yield* kube.delete(Resources.Nodes, nodeName)
        yield* S.advance(10_000)
        // Tainted and excluded from load balancers; the pod stays while its budget allows no disruption.
        const draining = yield* findNode(nodeName)
        assert.isDefined(draining?.metadata.deletionTimestamp)
        assert.include(draining?.metadata.finalizers ?? [], Labels.TerminationFinalizer)
        assert.isTrue(
          (draining?.spec.taints ?? []).some(
            (taint) => taint.key === "karpenter.sh/disrupted" && taint.effect === "NoSchedule"
          )
        )
        assert.strictEqual(
          draining?.metadata.labels?.["node.kubernetes.io/exclude-from-external-load-balancers"],
          "karpenter"
        )
        const blocked = yield* findPod("web")
        assert.strictEqual(blocked?.spec.nodeName, nodeName)
        assert.isUndefined(blocked?.metadata.deletionTimestamp)
        assert.isDefined(yield* cloud.get(providerID), "the instance still runs")
        // Its NodeClaim is being deleted too, and waits for the Node.
        const claim = yield* S.findNodeClaim(nodeName)
        assert.isDefined(claim?.metadata.deletionTimestamp)
        assert.include(claim?.metadata.finalizers ?? [], Labels.TerminationFinalizer)

        // The budget allows one disruption: the pod is evicted (graceful, 30 s) and the Node waits for it.
        yield* kube.patch(
          Resources.PodDisruptionBudgets,
          "web",
          { type: "merge", patch: { spec: { minAvailable: 0 } } },
          { namespace: "default" }
        )
        yield* S.advance(3_000)
        const evicted = yield* findPod("web")
        assert.isDefined(evicted?.metadata.deletionTimestamp)
        assert.isTrue(
          (evicted?.status?.conditions ?? []).some(
            (condition) => condition.type === "DisruptionTarget" && condition.reason === "EvictionByEvictionAPI"
          ),
          "evicted through the eviction API"
        )
        assert.isDefined(yield* findNode(nodeName), "the Node waits for its pods")

        // The pod is gone: the instance is terminated and the finalizer removed.
        yield* S.advance(30_000)
        assert.isUndefined(yield* findPod("web"))
        assert.isUndefined(yield* findNode(nodeName))
        assert.strictEqual((yield* Effect.flip(cloud.get(providerID)))._tag, "NodeClaimNotFound")
        assert.notInclude(
          (yield* cloud.list()).map((instance) => instance.status?.providerID),
          providerID
        )
        // Then the NodeClaim's finalizer goes.
        assert.isUndefined(yield* S.findNodeClaim(nodeName))
      }).pipe(Effect.provide(S.kwokBase))
  )

  it.effect("deleting a NodeClaim deletes and drains its Node first, then removes the NodeClaim's finalizer", () =>
    Effect.gen(function* () {
      const kube = yield* KubeClient
      const cloud = yield* CloudProvider.CloudProvider
      const nodeName = yield* runningPod
      const claim = yield* S.findNodeClaim(nodeName)
      const providerID = claim?.status?.providerID ?? ""
      assert.strictEqual(providerID, (yield* findNode(nodeName))?.spec.providerID)

      yield* kube.delete(Resources.NodeClaims, nodeName)
      yield* S.advance(3_000)
      // The NodeClaim waits for its Node, which waits for its pod.
      const deleting = yield* S.findNodeClaim(nodeName)
      assert.isDefined(deleting?.metadata.deletionTimestamp)
      assert.include(deleting?.metadata.finalizers ?? [], Labels.TerminationFinalizer)
      assert.isDefined((yield* findNode(nodeName))?.metadata.deletionTimestamp)
      assert.isDefined((yield* findPod("web"))?.metadata.deletionTimestamp)
      assert.isDefined(yield* cloud.get(providerID))

      yield* S.advance(30_000)
      assert.isUndefined(yield* findPod("web"))
      assert.isUndefined(yield* findNode(nodeName))
      assert.isUndefined(yield* S.findNodeClaim(nodeName), "finalized once the Node is gone")
      assert.strictEqual((yield* Effect.flip(cloud.get(providerID)))._tag, "NodeClaimNotFound")
      assert.notInclude(
        (yield* cloud.list()).map((instance) => instance.status?.providerID),
        providerID
      )
    }).pipe(Effect.provide(S.kwokBase))
  )

  it.effect("a pod's CSI volume holds the instance until its VolumeAttachment is detached", () =>
    Effect.gen(function* () {
      const kube = yield* KubeClient
      const cloud = yield* CloudProvider.CloudProvider
      yield* S.createCsiClaim("data", "pv-data")
      const nodeName = yield* runningPodWith({
        volumes: [{ name: "data", persistentVolumeClaim: { claimName: "data" } }]
      })
      const providerID = (yield* findNode(nodeName))?.spec.providerID ?? ""
      assert.deepStrictEqual(
        (yield* S.listVolumeAttachments).map((attachment) => [attachment.spec.nodeName, attachment.status?.attached]),
        [[nodeName, true]]
      )

      yield* kube.delete(Resources.NodeClaims, nodeName)
      // The pod goes after its 30 s grace period; its volume then takes 5 s to detach, and the instance waits.
      yield* S.advance(32_000, 1_000)
      assert.isUndefined(yield* findPod("web"))
      assert.isDefined((yield* S.listVolumeAttachments)[0]?.metadata.deletionTimestamp)
      assert.isDefined(yield* cloud.get(providerID), "the instance waits for the volume")
      assert.isDefined(yield* findNode(nodeName))

      yield* S.advance(10_000, 1_000)
      assert.lengthOf(yield* S.listVolumeAttachments, 0)
      assert.strictEqual((yield* Effect.flip(cloud.get(providerID)))._tag, "NodeClaimNotFound")
      assert.isUndefined(yield* findNode(nodeName))
      assert.isUndefined(yield* S.findNodeClaim(nodeName))
    }).pipe(Effect.provide(S.kwokBase))
  )

  it.effect("termination retries a failed instance termination before removing the finalizer (fake provider)", () =>
    Effect.gen(function* () {
      const kube = yield* KubeClient
      const fake = yield* Fake.FakeCloudProvider
      yield* S.createNodePool(S.nodePool("default"))
      yield* Layer.build(S.karpenter())
      yield* S.settle
      yield* S.createNodeClaim(S.nodeClaim("claim"))
      yield* S.settle
      const launched = yield* S.findNodeClaim("claim")
      const providerID = launched?.status?.providerID ?? ""
      assert.isTrue((yield* fake.instances).has(providerID))
      // The instance's Node joins.
      yield* S.createNode(
        S.node("node-1", {
          providerID,
          labels: { [Labels.NodePool]: "default", [S.fakeNodeClassLabel]: "default" },
          ready: true
        })
      )
      yield* S.settle
      assert.strictEqual(
        S.conditionOf((yield* S.findNodeClaim("claim"))?.status?.conditions, ConditionTypes.Registered)?.status,
        "True"
      )
      assert.include((yield* findNode("node-1"))?.metadata.finalizers ?? [], Labels.TerminationFinalizer)

      // The provider fails the first Delete: termination tries again, and removes the finalizer only once the
      // instance is gone.
      yield* fake.failNextDelete(new CloudProvider.CloudProviderError({ method: "delete", message: "throttled" }))
      yield* kube.delete(Resources.Nodes, "node-1")
      yield* S.advance(15_000)
      assert.isUndefined(yield* findNode("node-1"))
      assert.isFalse((yield* fake.instances).has(providerID))
      assert.isUndefined(yield* S.findNodeClaim("claim"), "the NodeClaim is finalized after its Node")
      const deletes = (yield* fake.deleteCalls).map((call) => call.status?.providerID)
      assert.isAtLeast(deletes.filter((id) => id === providerID).length, 2)
    }).pipe(Effect.provide(S.fakeBase))
  )
})
