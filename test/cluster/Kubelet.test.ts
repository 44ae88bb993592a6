import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as TestClock from "effect/testing/TestClock"
import * as Node from "../../src/api/Node.ts"
import * as Kubelet from "../../src/cluster/Kubelet.ts"
import * as Scheduler from "../../src/cluster/KubeScheduler.ts"
import * as PodGarbageCollector from "../../src/cluster/PodGarbageCollector.ts"
import { KubeClient } from "../../src/kube/KubeClient.ts"
import * as Resources from "../../src/kube/Resources.ts"
import { listPods, node, pod, podCondition, podSpec, settle, withKube } from "./support.ts"

describe("Kubelet", () => {
  it.effect(
    "a cordoned node carries the unschedulable taint, kept beside its others, and loses it when uncordoned",
    () =>
      withKube(
        Effect.gen(function* () {
          const kube = yield* KubeClient
          yield* Kubelet.make()
          const other = { key: "team", value: "a", effect: "NoSchedule" }
          yield* kube.create(Resources.Nodes, { ...node("n"), spec: { taints: [other] } })
          yield* settle
          const cordon = (unschedulable: boolean) =>
            kube.patch(Resources.Nodes, "n", { type: "merge", patch: { spec: { unschedulable } } })
          const taints = Effect.map(kube.get(Resources.Nodes, "n"), (n) => n.spec.taints ?? [])
          assert.deepStrictEqual(yield* taints, [other], "not cordoned: nothing added")
          yield* cordon(true)
          yield* settle
          assert.deepStrictEqual(yield* taints, [
            other,
            { key: "node.kubernetes.io/unschedulable", effect: "NoSchedule" }
          ])
          yield* cordon(false)
          yield* settle
          assert.deepStrictEqual(yield* taints, [other])
        })
      )
  )

  it.effect("reports a new node Ready, and leaves a Ready condition someone else wrote alone", () =>
    withKube(
      Effect.gen(function* () {
        const kube = yield* KubeClient
        yield* TestClock.setTime(Date.parse("2025-01-01T00:00:00Z"))
        yield* Kubelet.make()
        yield* kube.create(Resources.Nodes, node("fresh"))
        yield* kube.create(Resources.Nodes, node("broken", { ready: false }))
        yield* settle
        const fresh = yield* kube.get(Resources.Nodes, "fresh")
        assert.isTrue(Node.isReady(fresh))
        const ready = fresh.status?.conditions?.find((condition) => condition.type === "Ready")
        assert.strictEqual(ready?.lastTransitionTime, "2025-01-01T00:00:00Z")
        assert.strictEqual(ready?.lastHeartbeatTime, "2025-01-01T00:00:00Z")
        assert.strictEqual(ready?.reason, "KubeletReady")
        assert.isFalse(Node.isReady(yield* kube.get(Resources.Nodes, "broken")))
      })
    )
  )

  it.effect("starts pods only on Ready nodes, and marks them not Ready when their node stops being Ready", () =>
    withKube(
      Effect.gen(function* () {
        const kube = yield* KubeClient
        yield* Kubelet.make()
        yield* kube.create(Resources.Nodes, node("down", { ready: false }))
        yield* kube.create(Resources.Pods, { ...pod("p"), spec: { ...podSpec(), nodeName: "down" } })
        yield* settle
        assert.strictEqual((yield* listPods)[0]!.status?.phase, "Pending")

        const setReady = (status: string) =>
          kube.patch(
            Resources.Nodes,
            "down",
            { type: "merge", patch: { status: { conditions: [{ type: "Ready", status }] } } },
            { subresource: "status" }
          )
        yield* setReady("True")
        yield* settle
        let [running] = yield* listPods
        assert.strictEqual(running!.status?.phase, "Running")
        assert.strictEqual(podCondition(running!, "Ready")?.status, "True")

        yield* setReady("False")
        yield* settle
        ;[running] = yield* listPods
        assert.strictEqual(running!.status?.phase, "Running")
        assert.strictEqual(podCondition(running!, "Ready")?.status, "False")
        assert.strictEqual(podCondition(running!, "ContainersReady")?.reason, "NodeNotReady")
      })
    )
  )

  it.effect("completes a graceful deletion exactly when the grace period ends", () =>
    withKube(
      Effect.gen(function* () {
        const kube = yield* KubeClient
        yield* Kubelet.make()
        yield* kube.create(Resources.Nodes, node("n1"))
        yield* kube.create(Resources.Pods, {
          ...pod("p"),
          spec: { ...podSpec("1", { terminationGracePeriodSeconds: 45 }), nodeName: "n1" }
        })
        yield* settle
        yield* kube.delete(Resources.Pods, "p", { namespace: "default" })
        yield* settle
        const terminating = yield* listPods
        assert.strictEqual(terminating[0]!.metadata.deletionTimestamp, "1970-01-01T00:00:45Z")

        yield* TestClock.adjust("44999 millis")
        yield* settle
        assert.strictEqual((yield* listPods).length, 1)
        yield* TestClock.adjust("1 milli")
        yield* settle
        assert.strictEqual((yield* listPods).length, 0)

        // An explicit shorter grace period wins.
        yield* kube.create(Resources.Pods, { ...pod("q"), spec: { ...podSpec(), nodeName: "n1" } })
        yield* settle
        yield* kube.delete(Resources.Pods, "q", { namespace: "default", gracePeriodSeconds: 5 })
        yield* TestClock.adjust("4 seconds")
        yield* settle
        assert.strictEqual((yield* listPods).length, 1)
        yield* TestClock.adjust("1 second")
        yield* settle
        assert.strictEqual((yield* listPods).length, 0)
      })
    )
  )
})

describe("PodGarbageCollector", () => {
  it.effect("deletes the pods of a node that is gone, at once, and nothing else", () =>
    withKube(
      Effect.gen(function* () {
        const kube = yield* KubeClient
        yield* Scheduler.make()
        yield* Kubelet.make()
        yield* PodGarbageCollector.make()
        yield* kube.create(Resources.Nodes, node("n1", { allocatable: { cpu: "1", memory: "4Gi", pods: "10" } }))
        yield* kube.create(Resources.Nodes, node("n2", { allocatable: { cpu: "1", memory: "4Gi", pods: "10" } }))
        yield* kube.create(Resources.Pods, pod("a"))
        yield* kube.create(Resources.Pods, pod("b"))
        yield* settle
        const placed = Object.fromEntries((yield* listPods).map((p) => [p.metadata.name, p.spec.nodeName]))
        assert.deepStrictEqual(placed, { a: "n1", b: "n2" })

        yield* kube.delete(Resources.Nodes, "n1")
        yield* settle
        assert.deepStrictEqual(
          (yield* listPods).map((p) => p.metadata.name),
          ["b"]
        )
      })
    )
  )

  it.effect("deletes pods bound to a node that never existed, keeps those on existing nodes", () =>
    withKube(
      Effect.gen(function* () {
        const kube = yield* KubeClient
        yield* PodGarbageCollector.make()
        yield* settle
        yield* kube.create(Resources.Nodes, node("n1"))
        yield* kube.create(Resources.Pods, { ...pod("p"), spec: { ...podSpec(), nodeName: "n1" } })
        yield* kube.create(Resources.Pods, { ...pod("orphan"), spec: { ...podSpec(), nodeName: "ghost" } })
        yield* settle
        assert.deepStrictEqual(
          (yield* listPods).map((p) => p.metadata.name),
          ["p"]
        )
      })
    )
  )
})
