import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as TestClock from "effect/testing/TestClock"
import * as Cluster from "../../src/cluster/ControlPlane.ts"
import { KubeClient } from "../../src/kube/KubeClient.ts"
import * as Resources from "../../src/kube/Resources.ts"
import { deployment, listPods, node, podCondition, podSpec, settle, withKube } from "./support.ts"

const antiAffine = podSpec("500m", {
  affinity: {
    podAntiAffinity: {
      requiredDuringSchedulingIgnoredDuringExecution: [
        { labelSelector: { matchLabels: { app: "web" } }, topologyKey: "kubernetes.io/hostname" }
      ]
    }
  }
})

/** A small cluster with every kind of constraint, run to quiet; returns where each pod went. */
const scenario = Effect.gen(function* () {
  // A previous run's teardown (its interrupted informers and controllers) may still have fibers to finish, and the
  // control plane's caches list the empty cluster first: every object then reaches it as a watch event, in the order
  // it was created, however the fibers were scheduled until then.
  yield* settle
  const kube = yield* KubeClient
  for (const [name, zone] of [
    ["n1", "a"],
    ["n2", "b"],
    ["n3", "a"],
    ["n4", "c"]
  ] as const) {
    yield* kube.create(Resources.Nodes, node(name, { labels: { zone } }))
  }
  yield* kube.create(Resources.Deployments, deployment("web", 3, antiAffine))
  yield* kube.create(
    Resources.Deployments,
    deployment(
      "spread",
      6,
      podSpec("250m", {
        topologySpreadConstraints: [
          {
            maxSkew: 1,
            topologyKey: "zone",
            whenUnsatisfiable: "DoNotSchedule",
            labelSelector: { matchLabels: { app: "spread" } }
          }
        ]
      })
    )
  )
  yield* kube.create(
    Resources.Deployments,
    deployment("ports", 3, { containers: [{ name: "c", ports: [{ containerPort: 80, hostPort: 80 }] }] })
  )
  yield* kube.create(Resources.Deployments, deployment("pinned", 2, podSpec("1", { nodeSelector: { zone: "c" } })))
  yield* settle
  yield* TestClock.adjust("1 second")
  yield* settle
  return (yield* listPods).map((pod) => `${pod.metadata.name} → ${pod.spec.nodeName ?? "pending"}`)
})

describe("Cluster", () => {
  it.effect("spreads anti-affine replicas over nodes, and places the one left over when a node appears", () =>
    withKube(
      Effect.gen(function* () {
        const kube = yield* KubeClient
        yield* Cluster.make()
        yield* kube.create(Resources.Nodes, node("n1"))
        yield* kube.create(Resources.Nodes, node("n2"))
        yield* kube.create(Resources.Deployments, deployment("web", 3, antiAffine))
        yield* settle
        let pods = yield* listPods
        assert.deepStrictEqual(pods.map((pod) => pod.spec.nodeName ?? "pending").sort(), ["n1", "n2", "pending"])
        const pending = pods.find((pod) => pod.spec.nodeName === undefined)!
        assert.strictEqual(
          podCondition(pending, "PodScheduled")?.message,
          "0/2 nodes are available: 2 node(s) didn't match pod anti-affinity rules."
        )
        yield* kube.create(Resources.Nodes, node("n3"))
        yield* settle
        pods = yield* listPods
        assert.deepStrictEqual(pods.map((pod) => pod.spec.nodeName).sort(), ["n1", "n2", "n3"])
        assert.isTrue(pods.every((pod) => pod.status?.phase === "Running"))
      })
    )
  )

  it.effect("is deterministic: the same scenario gives the same pod names on the same nodes", () =>
    Effect.gen(function* () {
      const run = scenario.pipe(Effect.provide(Layer.effectDiscard(Cluster.make())), withKube, Effect.scoped)
      const first = yield* run
      const second = yield* run
      assert.deepStrictEqual(second, first)
      assert.strictEqual(first.length, 14)
      // Every constraint held: one web pod per node, ports one per node, pinned pods in zone c (n4).
      const nodesOf = (prefix: string) =>
        first.filter((line) => line.startsWith(prefix)).map((line) => line.slice(line.indexOf("→") + 2))
      assert.strictEqual(new Set(nodesOf("web-")).size, 3)
      assert.strictEqual(new Set(nodesOf("ports-")).size, 3)
      assert.deepStrictEqual(nodesOf("pinned-"), ["n4", "n4"])
      const zoneOf: Record<string, string> = { n1: "a", n2: "b", n3: "a", n4: "c" }
      const perZone = new Map<string, number>()
      for (const nodeName of nodesOf("spread-"))
        perZone.set(zoneOf[nodeName]!, (perZone.get(zoneOf[nodeName]!) ?? 0) + 1)
      assert.deepStrictEqual([...perZone.values()], [2, 2, 2])
    })
  )
})
