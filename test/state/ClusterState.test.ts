import { assert, describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as MemoryKube from "../../layers/kube/memory/MemoryKubeClient.ts"
import * as Labels from "../../src/api/Labels.ts"
import { KubeClient } from "../../src/kube/KubeClient.ts"
import * as Resources from "../../src/kube/Resources.ts"
import * as InformerCache from "../../src/runtime/InformerCache.ts"
import * as Cluster from "../../src/state/Cluster.ts"
import { ClusterState } from "../../src/state/ClusterState.ts"
import * as S from "../controllers/support.ts"

/** ClusterState over a fresh in-memory API server, and nothing else (no controller writes anything). */
const withState = <A, E, R>(body: Effect.Effect<A, E, R>) =>
  Effect.provide(body, Cluster.layer.pipe(Layer.provide(InformerCache.layer), Layer.provideMerge(MemoryKube.layer())))

/** Writes a NodeClaim's status (what the lifecycle does once the instance launched). */
const launch = (name: string, providerID: string, capacity: Record<string, string>) =>
  Effect.flatMap(Effect.service(KubeClient), (kube) =>
    kube.patch(
      Resources.NodeClaims,
      name,
      { type: "merge", patch: { status: { providerID, capacity, allocatable: capacity } } },
      { subresource: "status" }
    )
  )

const inPool = (nodePool: string) => ({ [Labels.NodePool]: nodePool })

describe("ClusterState.synced", S.controllerSuite, () => {
  it.effect("is false while a NodeClaim has no providerID", () =>
    withState(
      Effect.gen(function* () {
        const cluster = yield* ClusterState
        yield* S.settle
        assert.isTrue(yield* cluster.synced)

        yield* S.createNodeClaim(S.nodeClaim("launching"))
        yield* S.settle
        assert.isFalse(yield* cluster.synced, "launching: no providerID yet")

        yield* launch("launching", "fake://launching", { cpu: "4" })
        yield* S.settle
        assert.isTrue(yield* cluster.synced)

        // A second one launching holds it back again.
        yield* S.createNodeClaim(S.nodeClaim("second"))
        yield* S.settle
        assert.isFalse(yield* cluster.synced)
        yield* launch("second", "fake://second", { cpu: "4" })
        yield* S.settle
        assert.isTrue(yield* cluster.synced)
      })
    )
  )

  it.effect("is false until the caches have listed", () =>
    Effect.gen(function* () {
      yield* S.createNodeClaim(S.nodeClaim("launched"))
      yield* launch("launched", "fake://launched", { cpu: "4" })
      const context = yield* Layer.build(Cluster.layer.pipe(Layer.provide(InformerCache.layer)))
      const cluster = Context.get(context, ClusterState)
      // Built, but the informers' first lists have not run yet.
      assert.isFalse(yield* cluster.synced)
      yield* S.settle
      assert.isTrue(yield* cluster.synced)
      assert.deepStrictEqual(
        (yield* cluster.nodes).map((node) => node.name),
        ["launched"]
      )
    }).pipe(Effect.provide(MemoryKube.layer()))
  )
})

describe("ClusterState.nodes", S.controllerSuite, () => {
  it.effect("joins Nodes and NodeClaims by providerID; in-flight NodeClaims count with their own capacity", () =>
    withState(
      Effect.gen(function* () {
        const cluster = yield* ClusterState
        // Registered: NodeClaim + Node.
        yield* S.createNodeClaim(S.nodeClaim("claim-a"))
        yield* launch("claim-a", "fake://a", { cpu: "4", memory: "16Gi" })
        yield* S.createNode(
          S.node("node-a", {
            providerID: "fake://a",
            labels: { ...inPool("default"), [Labels.NodeInitialized]: "true" },
            capacity: { cpu: "4", memory: "16Gi", pods: "110" }
          })
        )
        // In flight: launched, no Node yet.
        yield* S.createNodeClaim(S.nodeClaim("claim-b"))
        yield* launch("claim-b", "fake://b", { cpu: "8", memory: "32Gi" })
        // Not Karpenter's.
        yield* S.createNode(S.node("unmanaged", { providerID: "other://x" }))
        yield* S.settle

        const nodes = yield* cluster.nodes
        assert.deepStrictEqual(
          nodes.map((node) => [
            node.name,
            node.node?.metadata.name,
            node.nodeClaim?.metadata.name,
            node.nodePool,
            node.initialized
          ]),
          [
            ["claim-b", undefined, "claim-b", "default", false],
            ["node-a", "node-a", "claim-a", "default", true],
            ["unmanaged", "unmanaged", undefined, undefined, true]
          ]
        )
        const inFlight = nodes.find((node) => node.name === "claim-b")
        assert.deepStrictEqual(inFlight?.capacity, { cpu: 8_000, memory: 32 * 2 ** 30 * 1000 })
        assert.strictEqual(inFlight?.providerID, "fake://b")
      })
    )
  )

  it.effect("nominations expire after 20 s", () =>
    withState(
      Effect.gen(function* () {
        const cluster = yield* ClusterState
        yield* S.createNode(S.node("node-a", { providerID: "fake://a", labels: inPool("default") }))
        yield* S.settle
        yield* S.advance(5_000)
        yield* cluster.nominate("node-a")
        const nominatedUntil = Effect.map(
          cluster.nodes,
          (nodes) => nodes.find((node) => node.name === "node-a")?.nominatedUntil
        )
        assert.strictEqual(yield* nominatedUntil, 25_000)
        yield* S.advance(19_999, 5_000)
        assert.strictEqual(yield* nominatedUntil, 25_000, "still nominated at 19.999 s")
        yield* S.advance(1, 1)
        assert.isUndefined(yield* nominatedUntil)
        // Nominating again starts a new window.
        yield* cluster.nominate("node-a")
        assert.strictEqual(yield* nominatedUntil, 45_000)
      })
    )
  )

  it.effect("marking for deletion shows in the nodes and the view until unmarked", () =>
    withState(
      Effect.gen(function* () {
        const cluster = yield* ClusterState
        yield* S.createNode(S.node("node-a", { providerID: "fake://a", labels: inPool("default") }))
        yield* S.createNode(S.node("node-b", { providerID: "fake://b", labels: inPool("default") }))
        yield* S.settle
        const marked = Effect.map(cluster.nodes, (nodes) =>
          nodes.filter((node) => node.markedForDeletion).map((node) => node.name)
        )
        yield* cluster.markForDeletion(["node-a"])
        assert.deepStrictEqual(yield* marked, ["node-a"])
        assert.deepStrictEqual([...((yield* cluster.view).markedForDeletion ?? [])], ["node-a"])
        yield* cluster.unmarkForDeletion(["node-a"])
        assert.deepStrictEqual(yield* marked, [])
        assert.deepStrictEqual([...((yield* cluster.view).markedForDeletion ?? [])], [])
      })
    )
  )
})

describe("ClusterState.nodePoolResources", S.controllerSuite, () => {
  it.effect("sums the capacity of a NodePool's nodes and in-flight NodeClaims, without marked or deleting ones", () =>
    withState(
      Effect.gen(function* () {
        const kube = yield* KubeClient
        const cluster = yield* ClusterState
        const cpuAndNodes = (nodePool: string) =>
          Effect.map(cluster.nodePoolResources(nodePool), (resources) => [
            (resources.cpu ?? 0) / 1000,
            (resources.nodes ?? 0) / 1000
          ])
        yield* S.createNode(
          S.node("node-a", { providerID: "fake://a", labels: inPool("default"), capacity: { cpu: "4", pods: "110" } })
        )
        yield* S.createNode(
          S.node("node-b", {
            providerID: "fake://b",
            labels: inPool("default"),
            capacity: { cpu: "2", pods: "110" },
            finalizers: [Labels.TerminationFinalizer]
          })
        )
        yield* S.createNode(
          S.node("node-c", { providerID: "fake://c", labels: inPool("other"), capacity: { cpu: "16", pods: "110" } })
        )
        yield* S.createNodeClaim(S.nodeClaim("claim-d", { finalizers: [Labels.TerminationFinalizer] }))
        yield* launch("claim-d", "fake://d", { cpu: "8", pods: "110" })
        yield* S.settle
        assert.deepStrictEqual(yield* cpuAndNodes("default"), [14, 3])
        assert.deepStrictEqual(yield* cpuAndNodes("other"), [16, 1])
        const memory = yield* cluster.nodePoolResources("default")
        assert.strictEqual(memory.pods, 330_000, "every resource is summed")

        // Marked for deletion: not counted; unmarked: counted again (upstream #2142).
        yield* cluster.markForDeletion(["node-a"])
        assert.deepStrictEqual(yield* cpuAndNodes("default"), [10, 2])
        yield* cluster.unmarkForDeletion(["node-a"])
        assert.deepStrictEqual(yield* cpuAndNodes("default"), [14, 3])
        // Marking twice and unmarking once leaves it unmarked.
        yield* cluster.markForDeletion(["node-a"])
        yield* cluster.markForDeletion(["node-a"])
        yield* cluster.unmarkForDeletion(["node-a"])
        assert.deepStrictEqual(yield* cpuAndNodes("default"), [14, 3])

        // Deleting (held by a finalizer): a Node, and an in-flight NodeClaim.
        yield* kube.delete(Resources.Nodes, "node-b")
        yield* S.settle
        assert.deepStrictEqual(yield* cpuAndNodes("default"), [12, 2])
        yield* kube.delete(Resources.NodeClaims, "claim-d")
        yield* S.settle
        assert.deepStrictEqual(yield* cpuAndNodes("default"), [4, 1])
        // Gone.
        yield* kube.delete(Resources.Nodes, "node-a")
        yield* S.settle
        assert.deepStrictEqual(yield* cpuAndNodes("default"), [0, 0])
        assert.deepStrictEqual(yield* cpuAndNodes("missing"), [0, 0])
      })
    )
  )
})

describe("ClusterState.consolidationState", S.controllerSuite, () => {
  it.effect(
    "changes on what can change a consolidation decision, not on status noise, even within one millisecond",
    () =>
      withState(
        Effect.gen(function* () {
          const cluster = yield* ClusterState
          const kube = yield* KubeClient
          yield* S.settle
          const initial = yield* cluster.consolidationState
          yield* S.createNode(S.node("n1", { providerID: "fake://n1", ready: true }))
          yield* S.settle
          // Same virtual millisecond as the read above: a timestamp would not have moved.
          const afterNode = yield* cluster.consolidationState
          assert.notStrictEqual(afterNode, initial, "a node added")

          yield* S.createPod(S.pod("p"))
          yield* S.settle
          assert.strictEqual(yield* cluster.consolidationState, afterNode, "a pending pod changes nothing")
          yield* kube.patch(
            Resources.Pods,
            "p",
            { type: "merge", patch: { status: { phase: "Running" } } },
            { subresource: "status" }
          )
          yield* S.settle
          assert.strictEqual(yield* cluster.consolidationState, afterNode, "nor its status")

          yield* kube.patch(Resources.Pods, "p", { type: "merge", patch: { spec: { nodeName: "n1" } } })
          yield* S.settle
          const afterBinding = yield* cluster.consolidationState
          assert.notStrictEqual(afterBinding, afterNode, "a binding")

          yield* S.advance(5 * 60_000, 60_000)
          assert.notStrictEqual(yield* cluster.consolidationState, afterBinding, "the 5-minute refresh")
        })
      )
  )
})
