import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Cluster from "../../src/cluster/ControlPlane.ts"
import * as DaemonSets from "../../src/cluster/DaemonSets.ts"
import { KubeClient } from "../../src/kube/KubeClient.ts"
import * as Resources from "../../src/kube/Resources.ts"
import { listPods, node, podSpec, readyNode, settle, withKube } from "./support.ts"

const daemonSet = (name: string, spec = podSpec("100m")) => ({
  apiVersion: "apps/v1",
  kind: "DaemonSet",
  metadata: { name, namespace: "default" },
  spec: { selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec } }
})

const placement = Effect.map(listPods, (pods) =>
  pods.map((p) => `${p.spec.nodeName}${p.metadata.deletionTimestamp === undefined ? "" : " (terminating)"}`).sort()
)

describe("DaemonSets", () => {
  it("decides eligibility from labels and NoSchedule/NoExecute taints, with the standard daemon tolerations", () => {
    const spec = podSpec("100m", { nodeSelector: { role: "worker" } })
    const worker = (taints: ReadonlyArray<{ key: string; effect: string; value?: string }> = []) =>
      readyNode("n", { labels: { role: "worker" }, taints })
    assert.deepStrictEqual(DaemonSets.eligibility(spec, worker()), { shouldRun: true, shouldContinueRunning: true })
    assert.deepStrictEqual(DaemonSets.eligibility(spec, readyNode("n")), {
      shouldRun: false,
      shouldContinueRunning: false
    })
    assert.deepStrictEqual(DaemonSets.eligibility(spec, worker([{ key: "gpu", effect: "NoSchedule" }])), {
      shouldRun: false,
      shouldContinueRunning: true
    })
    assert.deepStrictEqual(DaemonSets.eligibility(spec, worker([{ key: "gpu", effect: "PreferNoSchedule" }])), {
      shouldRun: true,
      shouldContinueRunning: true
    })
    for (const key of ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"]) {
      assert.isTrue(DaemonSets.eligibility(spec, worker([{ key, effect: "NoExecute" }])).shouldRun, key)
    }
    assert.isTrue(
      DaemonSets.eligibility(spec, worker([{ key: "node.kubernetes.io/unschedulable", effect: "NoSchedule" }]))
        .shouldRun
    )
    // Real daemon pods do not tolerate Karpenter's registration taint: daemons wait for registration.
    assert.deepStrictEqual(
      DaemonSets.eligibility(spec, worker([{ key: "karpenter.sh/unregistered", effect: "NoExecute" }])),
      {
        shouldRun: false,
        shouldContinueRunning: false
      }
    )
    assert.strictEqual(DaemonSets.podTolerations(podSpec()).length, 6)
    assert.strictEqual(DaemonSets.podTolerations(podSpec("1", { hostNetwork: true })).length, 7)
  })

  it.effect("runs one bound pod per eligible node, follows nodes coming and going, and reports status", () =>
    withKube(
      Effect.gen(function* () {
        const kube = yield* KubeClient
        yield* Cluster.make()
        yield* kube.create(Resources.Nodes, node("n1"))
        yield* kube.create(Resources.Nodes, node("n2"))
        yield* kube.create(
          Resources.Nodes,
          node("new", { taints: [{ key: "karpenter.sh/unregistered", effect: "NoExecute" }] })
        )
        yield* kube.create(Resources.DaemonSets, daemonSet("agent"))
        yield* settle
        assert.deepStrictEqual(yield* placement, ["n1", "n2"])
        const pods = yield* listPods
        for (const p of pods) {
          assert.isTrue(p.metadata.name!.startsWith("agent-"))
          assert.strictEqual(p.metadata.ownerReferences?.[0]?.kind, "DaemonSet")
          assert.strictEqual(p.status?.phase, "Running")
          assert.isTrue(p.spec.tolerations?.some((t) => t.key === "node.kubernetes.io/not-ready"))
        }
        let status = (yield* kube.get(Resources.DaemonSets, "agent", { namespace: "default" })).status
        assert.deepStrictEqual(
          { ...status },
          { desiredNumberScheduled: 2, currentNumberScheduled: 2, numberReady: 2, observedGeneration: 1 }
        )

        // Registration removes the taint: the node gets its daemon.
        yield* kube.patch(Resources.Nodes, "new", { type: "merge", patch: { spec: { taints: null } } })
        yield* settle
        assert.deepStrictEqual(yield* placement, ["n1", "n2", "new"])

        // The node goes: so does its daemon (the pod GC deletes it at once).
        yield* kube.delete(Resources.Nodes, "n1")
        yield* settle
        assert.deepStrictEqual(yield* placement, ["n2", "new"])
        status = (yield* kube.get(Resources.DaemonSets, "agent", { namespace: "default" })).status
        assert.strictEqual(status?.desiredNumberScheduled, 2)
        assert.strictEqual(status?.currentNumberScheduled, 2)

        // A NoExecute taint the daemon does not tolerate evicts it.
        yield* kube.patch(Resources.Nodes, "n2", {
          type: "merge",
          patch: { spec: { taints: [{ key: "maintenance", effect: "NoExecute" }] } }
        })
        yield* settle
        assert.deepStrictEqual(yield* placement, ["n2 (terminating)", "new"])
      })
    )
  )
})
