import { assert, describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Labels from "../../src/api/Labels.ts"
import * as Counter from "../../src/controllers/nodepool/counter/Counter.ts"
import { KubeClient } from "../../src/kube/KubeClient.ts"
import * as Resources from "../../src/kube/Resources.ts"
import { ClusterState } from "../../src/state/ClusterState.ts"
import * as S from "../controllers/support.ts"

const refreshMillis = 5_000

/** `status.resources` of the NodePool: cpu and nodes. */
const reported = Effect.map(S.getNodePool("default"), (nodePool) => [
  nodePool.status?.resources?.cpu,
  nodePool.status?.resources?.nodes
])

const managedNode = (name: string, cpu: string) =>
  S.node(name, {
    providerID: `fake://${name}`,
    labels: { [Labels.NodePool]: "default", [S.fakeNodeClassLabel]: "default" },
    capacity: { cpu, memory: "8Gi", pods: "110" }
  })

describe("NodePool status.resources", S.controllerSuite, () => {
  it.effect("follows nodes coming and going, and nodes marked then unmarked for deletion", () =>
    Effect.gen(function* () {
      const kube = yield* KubeClient
      assert.strictEqual(Duration.toMillis(Counter.refreshInterval), refreshMillis)
      yield* S.createNodePool(S.nodePool("default"))
      const context = yield* Layer.build(S.karpenter())
      const cluster = Context.get(context, ClusterState)
      yield* S.settle
      assert.deepStrictEqual(yield* reported, ["0", "0"])
      const full = (yield* S.getNodePool("default")).status?.resources
      assert.deepStrictEqual(full, { cpu: "0", memory: "0", pods: "0", "ephemeral-storage": "0", nodes: "0" })

      // A node joins: counted at the next refresh, within 5 s.
      yield* S.createNode(managedNode("node-a", "4"))
      yield* S.settle
      assert.deepStrictEqual(yield* reported, ["0", "0"], "no Node watch: the counter refreshes on its own")
      yield* S.advance(refreshMillis)
      assert.deepStrictEqual(yield* reported, ["4", "1"])
      yield* S.createNode(managedNode("node-b", "2"))
      yield* S.advance(refreshMillis)
      assert.deepStrictEqual(yield* reported, ["6", "2"])
      assert.strictEqual((yield* S.getNodePool("default")).status?.resources?.memory, "16Gi")

      // Marked for deletion by disruption: its capacity no longer counts; unmarked: it counts again.
      yield* cluster.markForDeletion(["node-b"])
      yield* S.advance(refreshMillis)
      assert.deepStrictEqual(yield* reported, ["4", "1"])
      yield* cluster.unmarkForDeletion(["node-b"])
      yield* S.advance(refreshMillis)
      assert.deepStrictEqual(yield* reported, ["6", "2"])

      // A node leaves.
      yield* kube.delete(Resources.Nodes, "node-a")
      yield* S.advance(refreshMillis)
      assert.deepStrictEqual(yield* reported, ["2", "1"])
      yield* kube.delete(Resources.Nodes, "node-b")
      yield* S.advance(refreshMillis)
      assert.deepStrictEqual(yield* reported, ["0", "0"])
    }).pipe(Effect.provide(S.fakeBase))
  )

  it.effect("counts an in-flight NodeClaim from its launch, and stops counting it when it is deleted", () =>
    Effect.gen(function* () {
      const kube = yield* KubeClient
      yield* S.createNodePool(S.nodePool("default"))
      yield* Layer.build(S.karpenter())
      yield* S.settle
      // Launched by the fake provider (the cheapest type that fits: 4 cpu), no Node ever joins.
      yield* S.createNodeClaim(S.nodeClaim("claim"))
      yield* S.advance(refreshMillis)
      const launched = yield* S.findNodeClaim("claim")
      assert.isDefined(launched?.status?.providerID)
      assert.deepStrictEqual(yield* reported, [launched?.status?.capacity?.cpu, "1"])
      yield* kube.delete(Resources.NodeClaims, "claim")
      yield* S.advance(refreshMillis)
      assert.isUndefined(yield* S.findNodeClaim("claim"))
      assert.deepStrictEqual(yield* reported, ["0", "0"])
    }).pipe(Effect.provide(S.fakeBase))
  )
})
