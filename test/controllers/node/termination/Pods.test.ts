import { assert, describe, it } from "@effect/vitest"
import type { Node } from "../../../../src/api/Node.ts"
import type { Pod } from "../../../../src/api/Pod.ts"
import * as Pods from "../../../../src/controllers/node/termination/Pods.ts"
import * as Termination from "../../../../src/controllers/node/termination/Termination.ts"

const pod = (
  name: string,
  options: {
    readonly priorityClassName?: string
    readonly owner?: { readonly apiVersion: string; readonly kind: string }
    readonly annotations?: Record<string, string>
    readonly tolerations?: Pod["spec"]["tolerations"]
    readonly phase?: string
    readonly deletionTimestamp?: string
    readonly grace?: number
  } = {}
): Pod => ({
  metadata: {
    name,
    namespace: "default",
    ...(options.annotations === undefined ? {} : { annotations: options.annotations }),
    ...(options.deletionTimestamp === undefined ? {} : { deletionTimestamp: options.deletionTimestamp }),
    ...(options.owner === undefined ? {} : { ownerReferences: [{ ...options.owner, name: "owner", uid: "u" }] })
  },
  spec: {
    containers: [{ name: "app" }],
    ...(options.priorityClassName === undefined ? {} : { priorityClassName: options.priorityClassName }),
    ...(options.tolerations === undefined ? {} : { tolerations: options.tolerations }),
    ...(options.grace === undefined ? {} : { terminationGracePeriodSeconds: options.grace })
  },
  ...(options.phase === undefined ? {} : { status: { phase: options.phase } })
})

const daemonSet = { apiVersion: "apps/v1", kind: "DaemonSet" }
const names = (pods: ReadonlyArray<Pod>) => pods.map((p) => p.metadata.name)

describe("termination Pods", () => {
  it("groups pods non-critical before critical, and non-DaemonSet before DaemonSet within each", () => {
    const groups = Pods.groupByPriority([
      pod("critical-ds", { priorityClassName: "system-node-critical", owner: daemonSet }),
      pod("critical", { priorityClassName: "system-cluster-critical" }),
      pod("ds", { owner: daemonSet }),
      pod("app"),
      pod("high", { priorityClassName: "high-priority" }),
      // A DaemonSet of another API group is not a DaemonSet to upstream.
      pod("other-ds", { owner: { apiVersion: "example.com/v1", kind: "DaemonSet" } })
    ])
    assert.deepStrictEqual(groups.map(names), [["app", "high", "other-ds"], ["ds"], ["critical"], ["critical-ds"]])
  })

  it("evicts only active pods that neither tolerate the disrupted taint, mirror a static pod, nor forbid disruption", () => {
    assert.isTrue(Pods.isEvictable(pod("app"), 0))
    assert.isFalse(Pods.isEvictable(pod("done", { phase: "Succeeded" }), 0))
    assert.isFalse(Pods.isEvictable(pod("leaving", { deletionTimestamp: "1970-01-01T00:00:10Z" }), 0))
    assert.isFalse(Pods.isEvictable(pod("tolerant", { tolerations: [{ operator: "Exists" }] }), 0))
    assert.isFalse(
      Pods.isEvictable(pod("tolerant-key", { tolerations: [{ key: "karpenter.sh/disrupted", operator: "Exists" }] }), 0)
    )
    assert.isTrue(
      Pods.isEvictable(
        pod("other-effect", { tolerations: [{ key: "karpenter.sh/disrupted", effect: "NoExecute" }] }),
        0
      )
    )
    assert.isFalse(Pods.isEvictable(pod("mirror", { owner: { apiVersion: "v1", kind: "Node" } }), 0))
    assert.isFalse(Pods.isEvictable(pod("static", { annotations: { "kubernetes.io/config.mirror": "abc" } }), 0))
    assert.isFalse(Pods.isEvictable(pod("protected", { annotations: { "karpenter.sh/do-not-disrupt": "true" } }), 0))
    assert.isTrue(
      Pods.isEvictable(pod("not-protected", { annotations: { "karpenter.sh/do-not-disrupt": "false" } }), 0)
    )
  })

  it("waits for do-not-disrupt and terminating pods, but not for tolerant, mirror, terminal or stuck ones", () => {
    const now = Date.parse("1970-01-01T00:10:00Z")
    const waiting = (p: Pod) => Pods.isWaitingEviction(p, now)
    assert.isTrue(waiting(pod("protected", { annotations: { "karpenter.sh/do-not-disrupt": "true" } })))
    // Terminating up to a minute past its deletionTimestamp (which includes the grace period).
    assert.isTrue(waiting(pod("leaving", { deletionTimestamp: "1970-01-01T00:09:00Z" })))
    assert.isFalse(waiting(pod("stuck", { deletionTimestamp: "1970-01-01T00:08:59Z" })))
    assert.isFalse(waiting(pod("tolerant", { tolerations: [{ operator: "Exists" }] })))
    assert.isFalse(waiting(pod("mirror", { owner: { apiVersion: "v1", kind: "Node" } })))
    assert.isFalse(waiting(pod("failed", { phase: "Failed" })))
    assert.isTrue(waiting(pod("running", { phase: "Running" })))
  })

  it("deletes a pod its grace period before the node's termination time, granting the seconds left", () => {
    const terminationTime = Date.parse("1970-01-01T00:05:00Z")
    assert.strictEqual(Pods.deleteTime(pod("a", { grace: 30 }), terminationTime), Date.parse("1970-01-01T00:04:30Z"))
    // Without a grace period, Kubernetes' default of 30 s.
    assert.strictEqual(Pods.deleteTime(pod("b"), terminationTime), Date.parse("1970-01-01T00:04:30Z"))
    // A grace period longer than the node has left: delete at once.
    assert.strictEqual(Pods.deleteTime(pod("c", { grace: 600 }), terminationTime), Date.parse("1969-12-31T23:55:00Z"))
    assert.isUndefined(Pods.deleteTime(pod("d", { grace: 30 }), undefined))
    assert.strictEqual(Pods.remainingGraceSeconds(terminationTime, Date.parse("1970-01-01T00:04:30Z")), 30)
    assert.strictEqual(Pods.remainingGraceSeconds(terminationTime, Date.parse("1970-01-01T00:04:30.5Z")), 29)
    assert.strictEqual(Pods.remainingGraceSeconds(terminationTime, Date.parse("1970-01-01T00:06:00Z")), 0)
  })

  it("replaces a taint of the disrupted key with another effect, and keeps a matching one as it is", () => {
    const disrupted = { key: "karpenter.sh/disrupted", effect: "NoSchedule" }
    const other = { key: "team", value: "a", effect: "NoSchedule" }
    assert.deepStrictEqual(
      Termination.withTaint([other, { key: "karpenter.sh/disrupted", effect: "NoExecute" }], disrupted),
      [other, disrupted]
    )
    const already = [other, { ...disrupted, value: "x" }]
    assert.strictEqual(Termination.withTaint(already, disrupted), already)
  })

  it("manages only nodes labelled with a NodeClass kind of the provider", () => {
    const node = (labels: Record<string, string>): Node => ({ metadata: { name: "n", labels }, spec: {} })
    const kinds = [{ group: "karpenter.test.sh", kind: "TestNodeClass" }]
    assert.isTrue(Termination.isManaged(node({ "karpenter.test.sh/testnodeclass": "default" }), kinds))
    assert.isFalse(Termination.isManaged(node({ "karpenter.sh/nodepool": "default" }), kinds))
  })
})
