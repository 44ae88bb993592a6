/**
 * The Registration step on its own (upstream `lifecycle/registration.go`): how the joining Node is synced with its
 * NodeClaim, and what the NodeClaim says with no Node, two Nodes, or its one Node.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as ConditionTypes from "../../../../src/api/Conditions.ts"
import * as Labels from "../../../../src/api/Labels.ts"
import type { Node } from "../../../../src/api/Node.ts"
import type { NodeClaim } from "../../../../src/api/NodeClaim.ts"
import * as Taints from "../../../../src/api/Taints.ts"
import * as Registration from "../../../../src/controllers/nodeclaim/lifecycle/Registration.ts"
import * as Conditions from "../../../../src/controllers/StatusConditions.ts"
import { KubeClient } from "../../../../src/kube/KubeClient.ts"
import * as Resources from "../../../../src/kube/Resources.ts"
import * as Result from "../../../../src/runtime/Result.ts"
import * as S from "../../support.ts"
import * as L from "./support.ts"

const dedicated = (value: string) => ({ key: "example.com/dedicated", value, effect: "NoSchedule" })
const agent = { key: "example.com/agent-not-ready", effect: "NoSchedule" }
const someoneElse = { apiVersion: "v1", kind: "ConfigMap", name: "other", uid: "other-uid" }

const claim = {
  metadata: {
    name: "claim",
    uid: "claim-uid",
    labels: { [Labels.NodePool]: "default", team: "a" },
    annotations: { "example.com/from": "claim" }
  },
  spec: { requirements: [], taints: [dedicated("team-a")], startupTaints: [agent] }
} as unknown as NodeClaim

const node = {
  metadata: {
    name: "node",
    resourceVersion: "7",
    labels: { team: "b", zone: "z" },
    finalizers: ["example.com/other"],
    ownerReferences: [someoneElse]
  },
  spec: { taints: [{ ...Taints.UnregisteredNoExecute }, dedicated("team-b")] }
} as unknown as Node

const ownerReference = {
  apiVersion: "karpenter.sh/v1",
  kind: "NodeClaim",
  name: "claim",
  uid: "claim-uid",
  blockOwnerDeletion: true
}

describe("Registration.nodePatch", () => {
  it("the Node takes the NodeClaim's labels, annotations, taints, owner and finalizer; the unregistered taint goes", () => {
    assert.deepStrictEqual<unknown>(Registration.nodePatch(claim, node), {
      metadata: {
        resourceVersion: "7",
        labels: { [Labels.NodePool]: "default", team: "a", [Labels.NodeRegistered]: "true" },
        annotations: { "example.com/from": "claim" },
        finalizers: ["example.com/other", Labels.TerminationFinalizer],
        ownerReferences: [someoneElse, ownerReference]
      },
      // The Node's own taint of the same key and effect stays; the startup taint is added.
      spec: { taints: [dedicated("team-b"), agent] }
    })
  })

  it("syncing an already synced Node again adds no second owner or finalizer", () => {
    const synced = {
      ...node,
      metadata: {
        ...node.metadata,
        finalizers: [Labels.TerminationFinalizer],
        ownerReferences: [ownerReference]
      }
    } as Node
    const patch = Registration.nodePatch(claim, synced)
    assert.deepStrictEqual(patch.metadata.finalizers, [Labels.TerminationFinalizer])
    assert.deepStrictEqual(patch.metadata.ownerReferences, [ownerReference])
  })
})

const createNode = (name: string, providerID: string) =>
  Effect.flatMap(Effect.service(KubeClient), (kube) =>
    kube.create(Resources.Nodes, {
      ...S.node(name, { providerID, ready: true }),
      spec: { providerID, taints: [Taints.UnregisteredNoExecute] }
    } as never)
  )

const registeredOf = (written: NodeClaim) => Conditions.get(written.status?.conditions, ConditionTypes.Registered)

describe("Registration step", () => {
  it.effect("without its Node, the NodeClaim is Registered=Unknown (NodeNotFound) and waits for it", () =>
    L.run(
      Effect.gen(function* () {
        const launched = yield* L.launchedClaim(S.nodeClaim("claim"))
        const waiting = L.expectTag(yield* Registration.make(yield* L.deps)(launched), "Stop")
        assert.deepStrictEqual(waiting.result, Result.done)
        const registered = registeredOf(waiting.claim)
        assert.deepStrictEqual(
          [registered?.status, registered?.reason, registered?.message],
          ["Unknown", ConditionTypes.NodeNotFound, "Node not registered with cluster"]
        )
      })
    )
  )

  it.effect("two Nodes with its providerID make it Registered=False (MultipleNodesFound)", () =>
    L.run(
      Effect.gen(function* () {
        const launched = yield* L.launchedClaim(S.nodeClaim("claim"))
        const providerID = launched.status?.providerID ?? ""
        yield* createNode("node-a", providerID)
        yield* createNode("node-b", providerID)
        const stopped = L.expectTag(yield* Registration.make(yield* L.deps)(launched), "Stop")
        const registered = registeredOf(stopped.claim)
        assert.deepStrictEqual(
          [registered?.status, registered?.reason, registered?.message],
          ["False", ConditionTypes.MultipleNodesFound, `found 2 nodes with providerID ${providerID}`]
        )
      })
    )
  )

  it.effect("its one Node is synced, the NodeClaim Registered=True on it, and the NodePool registration-healthy", () =>
    L.run(
      Effect.gen(function* () {
        yield* S.createNodePool(S.nodePool("default"))
        const launched = yield* L.launchedClaim(S.nodeClaim("claim"))
        yield* createNode("node-a", launched.status?.providerID ?? "")
        const registration = Registration.make(yield* L.deps)

        const stopped = L.expectTag(yield* registration(launched), "Stop")
        assert.deepStrictEqual(stopped.result, Result.requeue, "Initialization next, on the NodeClaim as written")
        assert.strictEqual(registeredOf(stopped.claim)?.status, "True")
        assert.strictEqual(stopped.claim.status?.nodeName, "node-a")
        const [synced] = yield* S.listNodes
        assert.strictEqual(synced?.metadata.labels?.[Labels.NodeRegistered], "true")
        assert.deepStrictEqual(synced?.spec.taints ?? [], [])
        assert.deepStrictEqual(synced?.metadata.finalizers, [Labels.TerminationFinalizer])
        const health = S.conditionOf(
          (yield* S.getNodePool("default")).status?.conditions,
          ConditionTypes.NodeRegistrationHealthy
        )
        assert.strictEqual(health?.status, "True")

        // Registered: the step has nothing more to do.
        assert.deepStrictEqual(yield* registration(stopped.claim), { _tag: "Continue", claim: stopped.claim })
      })
    )
  )
})
