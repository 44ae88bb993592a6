import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as ConditionTypes from "../../../../src/api/Conditions.ts"
import * as PodEvents from "../../../../src/controllers/nodeclaim/podevents/PodEvents.ts"
import { KubeClient } from "../../../../src/kube/KubeClient.ts"
import * as Resources from "../../../../src/kube/Resources.ts"
import {
  advance,
  createNode,
  createNodeClaim,
  createPod,
  getNodeClaim,
  patchNodeClaimStatus,
  run,
  settle,
  trueConditions
} from "../disruption/support.ts"

/** A NodeClaim `nc` with providerID fake://nc, its Node `node-nc`, and the controller running. */
const setup = Effect.gen(function* () {
  yield* createNodeClaim("nc")
  yield* patchNodeClaimStatus("nc", {
    providerID: "fake://nc",
    conditions: yield* trueConditions([ConditionTypes.Launched])
  })
  yield* createNode("node-nc", "fake://nc")
  yield* PodEvents.make
  yield* settle
})

const lastPodEventTime = Effect.map(getNodeClaim("nc"), (claim) => claim.status?.lastPodEventTime)

const daemonSetOwner = [{ apiVersion: "apps/v1", kind: "DaemonSet", name: "ds", uid: "ds-uid", controller: true }]

describe("nodeclaim.podevents", () => {
  it.effect("records a pod bound to the node, at most once per dedupe window", () =>
    run(
      Effect.gen(function* () {
        const kube = yield* KubeClient
        yield* setup
        assert.isUndefined(yield* lastPodEventTime)

        yield* advance(5_000)
        yield* createPod("a")
        yield* settle
        assert.isUndefined(yield* lastPodEventTime, "a pending pod is no event")
        yield* kube.bind("default", "a", "node-nc")
        yield* settle
        assert.strictEqual(yield* lastPodEventTime, "1970-01-01T00:00:05Z")

        yield* advance(9_000)
        yield* createPod("b", { nodeName: "node-nc" })
        yield* settle
        assert.strictEqual(yield* lastPodEventTime, "1970-01-01T00:00:05Z", "within 10 s of the last write")

        yield* advance(1_000)
        yield* createPod("c", { nodeName: "node-nc" })
        yield* settle
        assert.strictEqual(yield* lastPodEventTime, "1970-01-01T00:00:15Z")
      })
    )
  )

  it.effect("records a bound pod going terminal or starting to terminate", () =>
    run(
      Effect.gen(function* () {
        const kube = yield* KubeClient
        yield* createPod("job", { nodeName: "node-nc" })
        yield* createPod("web", { nodeName: "node-nc" })
        yield* setup
        // Pods already bound when the controller starts count as created now (controller-runtime's initial list).
        assert.strictEqual(yield* lastPodEventTime, "1970-01-01T00:00:00Z")

        yield* advance(20_000)
        yield* kube.patch(
          Resources.Pods,
          "job",
          { type: "merge", patch: { status: { phase: "Succeeded" } } },
          { namespace: "default", subresource: "status" }
        )
        yield* settle
        assert.strictEqual(yield* lastPodEventTime, "1970-01-01T00:00:20Z")

        yield* advance(20_000)
        yield* kube.patch(
          Resources.Pods,
          "web",
          { type: "merge", patch: { metadata: { labels: { touched: "yes" } } } },
          { namespace: "default" }
        )
        yield* settle
        assert.strictEqual(yield* lastPodEventTime, "1970-01-01T00:00:20Z", "other updates are no event")

        yield* kube.delete(Resources.Pods, "web", { namespace: "default", gracePeriodSeconds: 30 })
        yield* settle
        assert.isDefined((yield* kube.get(Resources.Pods, "web", { namespace: "default" })).metadata.deletionTimestamp)
        assert.strictEqual(yield* lastPodEventTime, "1970-01-01T00:00:40Z")
      })
    )
  )

  it.effect("ignores DaemonSet pods and pods on nodes without a NodeClaim", () =>
    run(
      Effect.gen(function* () {
        yield* setup
        yield* createNode("unmanaged", "other://1")
        yield* advance(1_000)
        yield* createPod("ds-pod", { nodeName: "node-nc", ownerReferences: daemonSetOwner })
        yield* createPod("elsewhere", { nodeName: "unmanaged" })
        yield* settle
        assert.isUndefined(yield* lastPodEventTime)
      })
    )
  )

  it("filters pod changes as upstream's predicate does", () => {
    const pod = (nodeName?: string, phase?: string, deleting = false) => ({
      metadata: { name: "p", ...(deleting ? { deletionTimestamp: "1970-01-01T00:00:00Z" } : {}) },
      spec: { containers: [], ...(nodeName === undefined ? {} : { nodeName }) },
      ...(phase === undefined ? {} : { status: { phase } })
    })
    const modified = (previous: ReturnType<typeof pod>, object: ReturnType<typeof pod>) =>
      PodEvents.isPodEvent({ type: "MODIFIED", previous, object })
    assert.isTrue(PodEvents.isPodEvent({ type: "ADDED", object: pod() }))
    assert.isTrue(PodEvents.isPodEvent({ type: "DELETED", object: pod("n") }))
    assert.isTrue(modified(pod(), pod("n")))
    assert.isTrue(modified(pod("n", "Running"), pod("n", "Failed")))
    assert.isTrue(modified(pod("n"), pod("n", undefined, true)))
    assert.isFalse(modified(pod("n", "Running"), pod("n", "Running")))
    assert.isFalse(modified(pod(undefined, "Pending"), pod(undefined, "Failed")))
    assert.isFalse(modified(pod("n", "Failed"), pod("n", "Failed")))
  })
})
