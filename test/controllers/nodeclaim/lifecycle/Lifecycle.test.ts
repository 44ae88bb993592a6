import { assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as TestClock from "effect/testing/TestClock"
import * as ConditionTypes from "../../../../src/api/Conditions.ts"
import * as Labels from "../../../../src/api/Labels.ts"
import * as CloudProvider from "../../../../src/cloudprovider/CloudProvider.ts"
import * as Liveness from "../../../../src/controllers/nodeclaim/lifecycle/Liveness.ts"
import { KubeClient } from "../../../../src/kube/KubeClient.ts"
import * as Resources from "../../../../src/kube/Resources.ts"
import * as S from "../../support.ts"

const kwokPool = { nodeClassRef: S.kwokNodeClassRef } as const

const health = Effect.map(S.getNodePool("default"), (nodePool) =>
  S.conditionOf(nodePool.status?.conditions, ConditionTypes.NodeRegistrationHealthy)
)

const claimCondition = (name: string, type: string) =>
  Effect.map(S.findNodeClaim(name), (claim) => S.conditionOf(claim?.status?.conditions, type))

/** Jumps the clock by `millis` (the TestClock runs every timer due on the way, in order) and lets fibers settle. */
const jump = (millis: number) => Effect.andThen(TestClock.adjust(millis), S.settle)

describe("NodeClaim lifecycle: registration TTL", S.controllerSuite, () => {
  it.effect("a NodeClaim whose Node never registers is deleted at 15 minutes, and its NodePool is unhealthy", () =>
    Effect.gen(function* () {
      const cloud = yield* CloudProvider.CloudProvider
      yield* S.createKwokNodeClass(S.kwokNodeClass("default", { failRegistration: true }))
      yield* S.createNodePool(S.nodePool("default", kwokPool))
      yield* Layer.build(S.karpenter())
      yield* S.settle
      const before = yield* health
      assert.deepStrictEqual([before?.status, before?.reason], ["Unknown", "AwaitingReconciliation"])

      yield* S.createPendingPod(S.pod("a"))
      yield* S.settle
      yield* S.advance(1_000, 250)
      const [claim] = yield* S.listNodeClaims
      const name = claim?.metadata.name ?? ""
      assert.strictEqual(claim?.metadata.creationTimestamp, "1970-01-01T00:00:01Z")
      assert.strictEqual((yield* claimCondition(name, ConditionTypes.Launched))?.status, "True")
      const registered = yield* claimCondition(name, ConditionTypes.Registered)
      assert.deepStrictEqual([registered?.status, registered?.reason], ["Unknown", ConditionTypes.NodeNotFound])
      const providerID = claim?.status?.providerID ?? ""

      // 14m59s after its creation: still waiting.
      yield* jump(Duration.toMillis(Liveness.registrationTTL) - 1_000)
      assert.isDefined(yield* S.findNodeClaim(name))
      assert.isUndefined((yield* S.findNodeClaim(name))?.metadata.deletionTimestamp)
      assert.strictEqual((yield* health)?.status, "Unknown")

      // 15m: deleted, its instance terminated, the NodePool marked.
      yield* jump(1_000)
      assert.isUndefined(yield* S.findNodeClaim(name), "deleted and finalized")
      const failure = yield* Effect.flip(cloud.get(providerID))
      assert.strictEqual(failure._tag, "NodeClaimNotFound")
      const after = yield* health
      assert.deepStrictEqual(
        [after?.status, after?.reason, after?.message],
        ["False", ConditionTypes.RegistrationFailed, "Failed to register node"]
      )
      // Not part of Ready: the NodePool still provisions.
      const nodePool = yield* S.getNodePool("default")
      assert.strictEqual(S.conditionOf(nodePool.status?.conditions, ConditionTypes.Ready)?.status, "True")

      // The pod is still pending: the next pass tries again.
      yield* S.advance(2_000, 500)
      const replacements = yield* S.listNodeClaims
      assert.strictEqual(replacements.length, 1)
      assert.notStrictEqual(replacements[0]?.metadata.name, name)
    }).pipe(Effect.provide(S.kwokBase))
  )

  it.effect("NodeRegistrationHealthy turns True when a NodeClaim registers and a later failure leaves it True", () =>
    Effect.gen(function* () {
      const kube = yield* KubeClient
      yield* S.createKwokNodeClass(S.kwokNodeClass("default"))
      yield* S.createKwokNodeClass(S.kwokNodeClass("broken", { failRegistration: true }))
      yield* S.createNodePool(S.nodePool("default", kwokPool))
      yield* Layer.build(S.karpenter())
      yield* S.settle
      assert.strictEqual((yield* health)?.status, "Unknown")

      yield* S.createPendingPod(S.pod("a"))
      yield* S.settle
      yield* S.advance(2_000, 250)
      const [registered] = yield* S.listNodeClaims
      assert.strictEqual(
        (yield* claimCondition(registered?.metadata.name ?? "", ConditionTypes.Registered))?.status,
        "True"
      )
      assert.strictEqual((yield* health)?.status, "True")

      // A NodeClaim of the same NodePool whose Node never comes.
      yield* S.createNodeClaim(S.nodeClaim("stray", { nodeClassRef: { ...S.kwokNodeClassRef, name: "broken" } }))
      yield* S.settle
      assert.strictEqual((yield* claimCondition("stray", ConditionTypes.Launched))?.status, "True")
      yield* jump(Duration.toMillis(Liveness.registrationTTL) + 1_000)
      assert.isUndefined(yield* S.findNodeClaim("stray"))
      const after = yield* health
      assert.strictEqual(after?.status, "True")
      // The first NodeClaim and its Node are untouched.
      assert.isDefined(yield* S.findNodeClaim(registered?.metadata.name ?? ""))
      assert.strictEqual((yield* kube.list(Resources.Nodes)).items.length, 1)
    }).pipe(Effect.provide(S.kwokBase))
  )
})

describe("NodeClaim lifecycle: registration and initialization", S.controllerSuite, () => {
  it.effect(
    "the Node takes the NodeClaim's labels, taints and finalizer; initialization waits for Ready and startup taints",
    () =>
      Effect.gen(function* () {
        const kube = yield* KubeClient
        const startupTaint = { key: "example.com/agent-not-ready", effect: "NoSchedule" } as const
        const taint = { key: "example.com/dedicated", value: "team-a", effect: "NoSchedule" } as const
        yield* S.createKwokNodeClass(S.kwokNodeClass("default"))
        yield* S.createNodePool(
          S.nodePool("default", { ...kwokPool, labels: { team: "a" }, taints: [taint], startupTaints: [startupTaint] })
        )
        // No control plane: no kubelet marks the Node Ready.
        yield* Layer.build(S.karpenter())
        yield* S.settle
        const tolerating = {
          tolerations: [
            { key: taint.key, operator: "Exists" },
            { key: startupTaint.key, operator: "Exists" }
          ]
        }
        yield* S.createPendingPod(S.pod("a", { spec: tolerating }))
        yield* S.settle
        yield* S.advance(1_000, 250)

        const [claim] = yield* S.listNodeClaims
        const name = claim?.metadata.name ?? ""
        assert.deepStrictEqual(claim?.spec.taints, [taint])
        assert.deepStrictEqual(claim?.spec.startupTaints, [startupTaint])
        assert.include(claim?.metadata.finalizers ?? [], Labels.TerminationFinalizer)
        const [node] = yield* S.listNodes
        assert.strictEqual(node?.metadata.name, name)
        assert.strictEqual(node?.metadata.labels?.team, "a")
        assert.strictEqual(node?.metadata.labels?.[Labels.NodePool], "default")
        assert.strictEqual(node?.metadata.labels?.[Labels.NodeRegistered], "true")
        assert.isUndefined(node?.metadata.labels?.[Labels.NodeInitialized])
        assert.include(node?.metadata.finalizers ?? [], Labels.TerminationFinalizer)
        assert.deepStrictEqual(
          (node?.spec.taints ?? []).map((t) => t.key).sort(),
          [startupTaint.key, taint.key].sort(),
          "the NodeClaim's taints; the unregistered taint is gone"
        )
        const registered = yield* claimCondition(name, ConditionTypes.Registered)
        assert.strictEqual(registered?.status, "True")
        assert.strictEqual((yield* S.findNodeClaim(name))?.status?.nodeName, name)
        const notReady = yield* claimCondition(name, ConditionTypes.Initialized)
        assert.deepStrictEqual([notReady?.status, notReady?.reason], ["Unknown", ConditionTypes.NodeNotReady])

        // The kubelet reports Ready: the startup taint still holds initialization back.
        yield* kube.patch(
          Resources.Nodes,
          name,
          { type: "merge", patch: { status: { conditions: [{ type: "Ready", status: "True" }] } } },
          { subresource: "status" }
        )
        yield* S.settle
        const tainted = yield* claimCondition(name, ConditionTypes.Initialized)
        assert.deepStrictEqual([tainted?.status, tainted?.reason], ["Unknown", ConditionTypes.StartupTaintsExist])

        // The agent removes its startup taint.
        yield* kube.patch(Resources.Nodes, name, { type: "merge", patch: { spec: { taints: [taint] } } })
        yield* S.settle
        assert.strictEqual((yield* claimCondition(name, ConditionTypes.Initialized))?.status, "True")
        assert.strictEqual((yield* claimCondition(name, ConditionTypes.Ready))?.status, "True")
        const initialized = yield* kube.get(Resources.Nodes, name)
        assert.strictEqual(initialized.metadata.labels?.[Labels.NodeInitialized], "true")
        // The startup taint is not put back.
        assert.deepStrictEqual(initialized.spec.taints, [taint])
      }).pipe(Effect.provide(S.kwokBase))
  )
})

describe("NodeClaim lifecycle: registration syncs the NodeClaim's metadata onto the Node", S.controllerSuite, () => {
  it.effect(
    "labels and annotations merged (the NodeClaim's win), taints and startup taints added once, the Node's own kept",
    () =>
      Effect.gen(function* () {
        const kube = yield* KubeClient
        const dedicated = { key: "example.com/dedicated", value: "team-a", effect: "NoSchedule" } as const
        const gpu = { key: "example.com/gpu", effect: "NoSchedule" } as const
        const agent = { key: "example.com/agent-not-ready", effect: "NoExecute" } as const
        yield* S.createNodePool(S.nodePool("default"))
        yield* Layer.build(S.karpenter())
        yield* S.settle
        const claim = S.nodeClaim("claim")
        yield* S.createNodeClaim({
          ...claim,
          metadata: {
            ...claim.metadata,
            labels: { ...claim.metadata.labels, team: "a" },
            annotations: { [Labels.DoNotDisruptAnnotation]: "true", "example.com/owner": "team-a" }
          },
          // gpu twice (a NodeClaim written by hand): the Node gets it once.
          spec: { ...claim.spec, taints: [dedicated, gpu], startupTaints: [agent, gpu] }
        } as never)
        yield* S.settle
        const launched = yield* S.findNodeClaim("claim")
        const providerID = launched?.status?.providerID ?? ""
        assert.notStrictEqual(providerID, "")

        // The instance's Node joins with metadata of its own, some of it conflicting with the NodeClaim's.
        const joining = S.node("node-1", { providerID, labels: { team: "b", "example.com/rack": "r1" } })
        const ownTaint = { key: "example.com/maintenance", effect: "NoExecute" } as const
        const nodeDedicated = { key: dedicated.key, value: "from-kubelet", effect: dedicated.effect } as const
        const foreignOwner = { apiVersion: "v1", kind: "ConfigMap", name: "owner", uid: "owner-uid" } as const
        yield* S.createNode({
          ...joining,
          metadata: {
            ...joining.metadata,
            annotations: { "example.com/owner": "kubelet", "node.alpha.kubernetes.io/ttl": "0" },
            ownerReferences: [foreignOwner]
          },
          spec: {
            ...joining.spec,
            taints: [{ key: "karpenter.sh/unregistered", effect: "NoExecute" }, nodeDedicated, ownTaint]
          }
        } as never)
        yield* S.settle
        assert.strictEqual(
          S.conditionOf((yield* S.findNodeClaim("claim"))?.status?.conditions, ConditionTypes.Registered)?.status,
          "True"
        )

        const node = yield* kube.get(Resources.Nodes, "node-1")
        const labels = node.metadata.labels ?? {}
        assert.deepStrictEqual(
          [labels.team, labels["example.com/rack"], labels[Labels.NodePool], labels[Labels.NodeRegistered]],
          ["a", "r1", "default", "true"],
          "the NodeClaim's labels win; the Node's others stay"
        )
        assert.deepStrictEqual(node.metadata.annotations, {
          [Labels.DoNotDisruptAnnotation]: "true",
          "example.com/owner": "team-a",
          "node.alpha.kubernetes.io/ttl": "0"
        })
        assert.deepStrictEqual(
          node.spec.taints,
          [nodeDedicated, ownTaint, gpu, agent],
          "the Node's taints first (its own value kept for a key and effect the NodeClaim also has), then the " +
            "NodeClaim's taints and startup taints not yet there; the unregistered taint is gone"
        )
        assert.deepStrictEqual(
          (node.metadata.ownerReferences ?? []).map((owner) => owner.uid),
          [foreignOwner.uid, launched?.metadata.uid],
          "the NodeClaim's owner reference is added to the Node's"
        )
        assert.include(node.metadata.finalizers ?? [], Labels.TerminationFinalizer)
      }).pipe(Effect.provide(S.fakeBase))
  )
})
