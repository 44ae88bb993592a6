import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as TestClock from "effect/testing/TestClock"
import type * as Pod from "../../src/api/Pod.ts"
import type * as PodDisruptionBudget from "../../src/api/PodDisruptionBudget.ts"
import * as Cluster from "../../src/cluster/ControlPlane.ts"
import * as DisruptionBudgets from "../../src/cluster/DisruptionBudgets.ts"
import { KubeClient } from "../../src/kube/KubeClient.ts"
import * as Resources from "../../src/kube/Resources.ts"
import { boundPod, deployment, listPods, node, settle, withKube } from "./support.ts"

const budget = (
  spec: Partial<PodDisruptionBudget.PodDisruptionBudget["spec"]>,
  disruptedPods?: Record<string, string>
) =>
  ({
    metadata: { name: "pdb", namespace: "default", generation: 1 },
    spec: { selector: { matchLabels: { app: "web" } }, ...spec },
    ...(disruptedPods === undefined ? {} : { status: { disruptedPods } })
  }) as PodDisruptionBudget.PodDisruptionBudget

const readyPod = (name: string, owner?: { kind: string; uid: string }, ready = true): Pod.Pod => {
  const pod = boundPod(name, { labels: { app: "web" }, nodeName: "n1" })
  return {
    ...pod,
    metadata: {
      ...pod.metadata,
      ...(owner === undefined
        ? {}
        : {
            ownerReferences: [{ apiVersion: "apps/v1", kind: owner.kind, name: "rs", uid: owner.uid, controller: true }]
          })
    },
    status: { phase: "Running", conditions: [{ type: "Ready", status: ready ? "True" : "False" }] }
  }
}

const scaled =
  (scale: number) =>
  (pod: Pod.Pod): DisruptionBudgets.ControllerScale =>
    pod.metadata.ownerReferences === undefined
      ? { _tag: "Unmanaged" }
      : pod.metadata.ownerReferences[0]!.kind === "DaemonSet"
        ? { _tag: "NotFound", message: `found no controllers for pod "${pod.metadata.name}"` }
        : { _tag: "Scale", uid: pod.metadata.ownerReferences[0]!.uid, scale }

const numbers = (computation: DisruptionBudgets.Computation) =>
  computation.ok
    ? {
        expected: computation.status.expectedPods,
        desired: computation.status.desiredHealthy,
        healthy: computation.status.currentHealthy,
        allowed: computation.status.disruptionsAllowed
      }
    : computation.message

describe("DisruptionBudgets.compute", () => {
  const rs = { kind: "ReplicaSet", uid: "u1" }
  const three = [readyPod("a", rs), readyPod("b", rs), readyPod("c", rs)]

  it("minAvailable as an integer counts the selected pods", () => {
    assert.deepStrictEqual(numbers(DisruptionBudgets.compute(budget({ minAvailable: 2 }), three, scaled(3), 0)), {
      expected: 3,
      desired: 2,
      healthy: 3,
      allowed: 1
    })
    const oneDown = [readyPod("a", rs), readyPod("b", rs), readyPod("c", rs, false)]
    assert.deepStrictEqual(numbers(DisruptionBudgets.compute(budget({ minAvailable: 2 }), oneDown, scaled(3), 0)), {
      expected: 3,
      desired: 2,
      healthy: 2,
      allowed: 0
    })
  })

  it("minAvailable as a percentage rounds up over the controllers' scale", () => {
    assert.deepStrictEqual(numbers(DisruptionBudgets.compute(budget({ minAvailable: "50%" }), three, scaled(5), 0)), {
      expected: 5,
      desired: 3,
      healthy: 3,
      allowed: 0
    })
    assert.deepStrictEqual(numbers(DisruptionBudgets.compute(budget({ minAvailable: "50%" }), three, scaled(4), 0)), {
      expected: 4,
      desired: 2,
      healthy: 3,
      allowed: 1
    })
  })

  it("maxUnavailable subtracts from the scale, rounded up", () => {
    assert.deepStrictEqual(numbers(DisruptionBudgets.compute(budget({ maxUnavailable: 1 }), three, scaled(3), 0)), {
      expected: 3,
      desired: 2,
      healthy: 3,
      allowed: 1
    })
    assert.deepStrictEqual(numbers(DisruptionBudgets.compute(budget({ maxUnavailable: "30%" }), three, scaled(3), 0)), {
      expected: 3,
      desired: 2,
      healthy: 3,
      allowed: 1
    })
    assert.deepStrictEqual(
      numbers(DisruptionBudgets.compute(budget({ maxUnavailable: "100%" }), three, scaled(3), 0)),
      {
        expected: 3,
        desired: 0,
        healthy: 3,
        allowed: 3
      }
    )
  })

  it("unmanaged pods count for nothing, and pods without a scalable controller fail the sync", () => {
    const unmanaged = [readyPod("a"), readyPod("b")]
    assert.deepStrictEqual(numbers(DisruptionBudgets.compute(budget({ maxUnavailable: 1 }), unmanaged, scaled(3), 0)), {
      expected: 0,
      desired: 0,
      healthy: 2,
      allowed: 0
    })
    const daemons = [readyPod("a", { kind: "DaemonSet", uid: "d" })]
    assert.strictEqual(
      numbers(DisruptionBudgets.compute(budget({ maxUnavailable: 1 }), daemons, scaled(1), 0)),
      'found no controllers for pod "a"'
    )
    assert.deepStrictEqual(numbers(DisruptionBudgets.compute(budget({ minAvailable: 1 }), daemons, scaled(1), 0)), {
      expected: 1,
      desired: 1,
      healthy: 1,
      allowed: 0
    })
  })

  it("keeps fresh disruptedPods entries out of currentHealthy and drops them after 2 minutes", () => {
    const pdb = budget({ minAvailable: 1 }, { a: "1970-01-01T00:00:10Z", gone: "1970-01-01T00:00:10Z" })
    const fresh = DisruptionBudgets.compute(pdb, three, scaled(3), 60_000)
    assert.deepStrictEqual(numbers(fresh), { expected: 3, desired: 1, healthy: 2, allowed: 1 })
    assert.isTrue(
      fresh.ok && fresh.status.disruptedPods.a !== undefined && fresh.status.disruptedPods.gone === undefined
    )
    assert.strictEqual(fresh.ok ? fresh.recheckAfterMillis : undefined, 70_000)
    const expired = DisruptionBudgets.compute(pdb, three, scaled(3), 130_001)
    assert.deepStrictEqual(numbers(expired), { expected: 3, desired: 1, healthy: 3, allowed: 2 })
    assert.deepStrictEqual(expired.ok ? expired.status.disruptedPods : undefined, {})
  })
})

describe("DisruptionBudgets controller", () => {
  const pdbManifest = (spec: Record<string, unknown>) => ({
    apiVersion: "policy/v1",
    kind: "PodDisruptionBudget",
    metadata: { name: "web", namespace: "default" },
    spec: { selector: { matchLabels: { app: "web" } }, ...spec }
  })
  const status = Effect.gen(function* () {
    const kube = yield* KubeClient
    const pdb = yield* kube.get(Resources.PodDisruptionBudgets, "web", { namespace: "default" })
    const { expectedPods, desiredHealthy, currentHealthy, disruptionsAllowed, observedGeneration } = pdb.status ?? {}
    return { expectedPods, desiredHealthy, currentHealthy, disruptionsAllowed, observedGeneration }
  })

  it.effect("keeps the status current through evictions, and follows scale changes", () =>
    withKube(
      Effect.gen(function* () {
        const kube = yield* KubeClient
        yield* Cluster.make()
        yield* kube.create(Resources.Nodes, node("n1", { allocatable: { cpu: "8", memory: "32Gi", pods: "110" } }))
        yield* kube.create(Resources.Deployments, deployment("web", 3))
        yield* kube.create(Resources.PodDisruptionBudgets, pdbManifest({ maxUnavailable: 1 }))
        yield* settle
        assert.deepStrictEqual(yield* status, {
          expectedPods: 3,
          desiredHealthy: 2,
          currentHealthy: 3,
          disruptionsAllowed: 1,
          observedGeneration: 1
        })

        const [first, second] = yield* listPods
        yield* kube.evict("default", first!.metadata.name!)
        const refused = yield* Effect.flip(kube.evict("default", second!.metadata.name!))
        assert.strictEqual(refused._tag, "TooManyRequests")
        yield* settle
        // The evicted pod terminates; its replacement starts at once on the node.
        assert.deepStrictEqual(yield* status, {
          expectedPods: 3,
          desiredHealthy: 2,
          currentHealthy: 3,
          disruptionsAllowed: 1,
          observedGeneration: 1
        })
        assert.strictEqual((yield* listPods).length, 4)

        yield* kube.patch(Resources.Deployments, "web", { type: "merge", patch: { spec: { replicas: 5 } } })
        yield* settle
        assert.deepStrictEqual(yield* status, {
          expectedPods: 5,
          desiredHealthy: 4,
          currentHealthy: 5,
          disruptionsAllowed: 1,
          observedGeneration: 1
        })
      })
    )
  )

  it.effect("writes minAvailable budgets, percentages and the observed generation of spec changes", () =>
    withKube(
      Effect.gen(function* () {
        const kube = yield* KubeClient
        yield* Cluster.make()
        yield* kube.create(Resources.Nodes, node("n1"))
        yield* kube.create(Resources.Deployments, deployment("web", 4))
        yield* kube.create(Resources.PodDisruptionBudgets, pdbManifest({ minAvailable: 4 }))
        yield* settle
        assert.deepStrictEqual(yield* status, {
          expectedPods: 4,
          desiredHealthy: 4,
          currentHealthy: 4,
          disruptionsAllowed: 0,
          observedGeneration: 1
        })
        const refused = yield* Effect.flip(kube.evict("default", (yield* listPods)[0]!.metadata.name!))
        assert.strictEqual(refused._tag, "TooManyRequests")

        yield* kube.patch(
          Resources.PodDisruptionBudgets,
          "web",
          {
            type: "merge",
            patch: { spec: { minAvailable: "25%" } }
          },
          { namespace: "default" }
        )
        yield* settle
        assert.deepStrictEqual(yield* status, {
          expectedPods: 4,
          desiredHealthy: 1,
          currentHealthy: 4,
          disruptionsAllowed: 3,
          observedGeneration: 2
        })
      })
    )
  )

  it.effect("expires a disruptedPods entry of a pod that was never deleted after 2 minutes", () =>
    withKube(
      Effect.gen(function* () {
        const kube = yield* KubeClient
        yield* Cluster.make()
        yield* kube.create(Resources.Nodes, node("n1"))
        yield* kube.create(Resources.Deployments, deployment("web", 2))
        yield* kube.create(Resources.PodDisruptionBudgets, pdbManifest({ minAvailable: 1 }))
        yield* settle
        const [victim] = yield* listPods
        // What an eviction whose delete never happened leaves behind.
        const pdb = yield* kube.get(Resources.PodDisruptionBudgets, "web", { namespace: "default" })
        yield* kube.patch(
          Resources.PodDisruptionBudgets,
          "web",
          {
            type: "merge",
            patch: {
              metadata: { resourceVersion: pdb.metadata.resourceVersion },
              status: { disruptionsAllowed: 0, disruptedPods: { [victim!.metadata.name!]: "1970-01-01T00:00:00Z" } }
            }
          },
          { namespace: "default", subresource: "status" }
        )
        yield* settle
        assert.strictEqual((yield* status).currentHealthy, 1)
        assert.strictEqual((yield* status).disruptionsAllowed, 0)
        yield* TestClock.adjust("2 minutes")
        yield* settle
        const after = yield* kube.get(Resources.PodDisruptionBudgets, "web", { namespace: "default" })
        assert.strictEqual(after.status?.currentHealthy, 2)
        assert.strictEqual(after.status?.disruptionsAllowed, 1)
        assert.strictEqual(after.status?.disruptedPods, undefined)
      })
    )
  )
})
