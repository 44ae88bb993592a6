import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as TestClock from "effect/testing/TestClock"
import * as Cluster from "../../src/cluster/ControlPlane.ts"
import * as Workloads from "../../src/cluster/WorkloadControllers.ts"
import { KubeClient } from "../../src/kube/KubeClient.ts"
import * as Resources from "../../src/kube/Resources.ts"
import { deployment, listPods, node, podCondition, podSpec, settle, withKube } from "./support.ts"

const replicaSets = Effect.gen(function* () {
  const kube = yield* KubeClient
  return (yield* kube.list(Resources.ReplicaSets, { namespace: "default" })).items
})

describe("Workloads", () => {
  it.effect("a Deployment of 3 makes one ReplicaSet and 3 pods, which bind and run on a fitting Ready node", () =>
    withKube(
      Effect.gen(function* () {
        const kube = yield* KubeClient
        yield* Cluster.make()
        yield* kube.create(Resources.Deployments, deployment("web", 3))
        yield* settle

        const [replicaSet] = yield* replicaSets
        const hash = Workloads.templateHash((yield* kube.get(Resources.Deployments, "web")).spec.template)
        assert.strictEqual(replicaSet!.metadata.name, `web-${hash}`)
        assert.strictEqual(replicaSet!.metadata.ownerReferences?.[0]?.kind, "Deployment")
        assert.strictEqual(replicaSet!.spec.selector.matchLabels?.[Workloads.PodTemplateHashLabel], hash)
        let pods = yield* listPods
        assert.strictEqual(pods.length, 3)
        for (const p of pods) {
          assert.isTrue(p.metadata.name!.startsWith(`web-${hash}-`))
          assert.deepStrictEqual(p.metadata.labels, { app: "web", [Workloads.PodTemplateHashLabel]: hash })
          assert.strictEqual(p.metadata.ownerReferences?.[0]?.name, replicaSet!.metadata.name)
          assert.strictEqual(p.metadata.ownerReferences?.[0]?.controller, true)
          assert.strictEqual(podCondition(p, "PodScheduled")?.reason, "Unschedulable")
        }

        yield* kube.create(Resources.Nodes, node("n1"))
        yield* settle
        pods = yield* listPods
        for (const p of pods) {
          assert.strictEqual(p.spec.nodeName, "n1")
          assert.strictEqual(p.status?.phase, "Running")
          assert.strictEqual(p.status?.startTime, "1970-01-01T00:00:00Z")
          for (const type of ["PodScheduled", "Initialized", "ContainersReady", "Ready"]) {
            assert.strictEqual(podCondition(p, type)?.status, "True", type)
          }
        }
        const status = (yield* kube.get(Resources.Deployments, "web")).status
        assert.deepStrictEqual(
          { ...status },
          { observedGeneration: 1, replicas: 3, readyReplicas: 3, availableReplicas: 3, updatedReplicas: 3 }
        )
        const rsStatus = (yield* replicaSets)[0]!.status
        assert.deepStrictEqual(
          { ...rsStatus },
          { observedGeneration: 1, replicas: 3, readyReplicas: 3, availableReplicas: 3 }
        )
      })
    )
  )

  it.effect("scaling to 1 deletes 2 pods gracefully, pending ones first", () =>
    withKube(
      Effect.gen(function* () {
        const kube = yield* KubeClient
        yield* Cluster.make()
        // Room for two pods only: the third stays pending and is the first to go.
        yield* kube.create(Resources.Nodes, node("n1", { allocatable: { cpu: "2", memory: "8Gi", pods: "110" } }))
        yield* kube.create(Resources.Deployments, deployment("web", 3))
        yield* settle
        const before = yield* listPods
        const pending = before.filter((p) => p.spec.nodeName === undefined).map((p) => p.metadata.name)
        assert.strictEqual(pending.length, 1)

        yield* kube.patch(Resources.Deployments, "web", { type: "merge", patch: { spec: { replicas: 1 } } })
        yield* settle
        const during = yield* listPods
        // The pending pod went at once; one running pod is terminating for its grace period.
        assert.strictEqual(during.length, 2)
        assert.isFalse(during.some((p) => pending.includes(p.metadata.name)))
        assert.strictEqual(during.filter((p) => p.metadata.deletionTimestamp !== undefined).length, 1)
        assert.strictEqual((yield* replicaSets)[0]!.spec.replicas, 1)

        yield* TestClock.adjust("30 seconds")
        yield* settle
        const after = yield* listPods
        assert.strictEqual(after.length, 1)
        assert.strictEqual(after[0]!.status?.phase, "Running")
        const status = (yield* kube.get(Resources.Deployments, "web")).status
        assert.strictEqual(status?.replicas, 1)
        assert.strictEqual(status?.readyReplicas, 1)
      })
    )
  )

  it.effect("a template change replaces the ReplicaSet and all its pods", () =>
    withKube(
      Effect.gen(function* () {
        const kube = yield* KubeClient
        yield* Cluster.make()
        yield* kube.create(Resources.Nodes, node("n1"))
        yield* kube.create(Resources.Deployments, deployment("web", 2))
        yield* settle
        const [first] = yield* replicaSets
        yield* kube.patch(Resources.Deployments, "web", {
          type: "merge",
          patch: { spec: { template: { spec: podSpec("500m") } } }
        })
        yield* settle
        yield* TestClock.adjust("30 seconds")
        yield* settle
        const sets = yield* replicaSets
        assert.strictEqual(sets.length, 1)
        assert.notStrictEqual(sets[0]!.metadata.name, first!.metadata.name)
        const pods = yield* listPods
        assert.strictEqual(pods.length, 2)
        for (const p of pods) {
          assert.isTrue(p.metadata.name!.startsWith(`${sets[0]!.metadata.name}-`))
          assert.strictEqual(p.spec.containers[0]!.resources?.requests?.cpu, "500m")
          assert.strictEqual(p.status?.phase, "Running")
        }
        const status = (yield* kube.get(Resources.Deployments, "web")).status
        assert.strictEqual(status?.observedGeneration, 2)
        assert.strictEqual(status?.updatedReplicas, 2)
      })
    )
  )

  it("the template hash is stable under key order and changes with the template", () => {
    const a = Workloads.templateHash({ metadata: { labels: { app: "x", tier: "y" } }, spec: podSpec() })
    const b = Workloads.templateHash({ spec: podSpec(), metadata: { labels: { tier: "y", app: "x" } } })
    assert.strictEqual(a, b)
    assert.match(a, /^[bcdfghjklmnpqrstvwxz2456789]{1,10}$/)
    assert.notStrictEqual(a, Workloads.templateHash({ metadata: { labels: { app: "x" } }, spec: podSpec() }))
  })
})
