import { assert, describe, it } from "@effect/vitest"
import type { Node } from "../../../../src/api/Node.ts"
import * as ClusterView from "../../../../src/controllers/provisioning/scheduling/ClusterView.ts"
import { boundPod, wellKnown } from "./support.ts"

const apiNode = (name: string): Node => ({
  apiVersion: "v1",
  kind: "Node",
  metadata: { name },
  spec: {},
  status: { allocatable: { cpu: "4", memory: "8Gi", pods: "110" } }
})

const viewOf = (markedForDeletion: ReadonlySet<string>): ClusterView.ClusterView => ({
  nodes: ["node-a", "node-b", "node-c"].map(apiNode),
  nodeClaims: [],
  pods: [
    boundPod("a-1", "node-a"),
    boundPod("b-1", "node-b"),
    boundPod("c-1", "node-c"),
    boundPod("b-2", "node-b"),
    boundPod("a-2", "node-a")
  ],
  daemonSets: [],
  persistentVolumeClaims: [],
  persistentVolumes: [],
  storageClasses: [],
  csiNodes: [],
  podDisruptionBudgets: [],
  namespaces: [],
  markedForDeletion
})

const podSetsOf = (view: ClusterView.ClusterView) =>
  ClusterView.podSets(view, wellKnown, ClusterView.volumeContext(view), 0)

const namesOf = (pods: ReadonlyArray<{ readonly metadata: { readonly name?: string } }>) =>
  pods.map((pod) => pod.metadata.name)

describe("ClusterView.podSets", () => {
  it("leaves a marked node's pods out of the bound pods, node by node in order, and moves them to pending", () => {
    const sets = podSetsOf(viewOf(new Set(["node-b"])))
    assert.deepStrictEqual(namesOf(sets.bound), ["a-1", "a-2", "c-1"])
    assert.deepStrictEqual(
      [...sets.boundByNode].map(([name, pods]) => [name, namesOf(pods)]),
      [
        ["node-a", ["a-1", "a-2"]],
        ["node-c", ["c-1"]]
      ]
    )
    assert.deepStrictEqual(namesOf(sets.pending), ["b-1", "b-2"])
    assert.isTrue(sets.pending.every((pod) => pod.spec.nodeName === undefined))
    // Built on first read, then kept.
    assert.strictEqual(sets.bound, sets.bound)
  })

  it("moves the pods of deleting and marked nodes together, in the pod list's order of nodes", () => {
    const base = viewOf(new Set(["node-a", "node-d"]))
    const deletingB = { ...apiNode("node-b"), metadata: { name: "node-b", deletionTimestamp: "2026-01-01T00:00:00Z" } }
    const view: ClusterView.ClusterView = {
      ...base,
      nodes: [apiNode("node-a"), deletingB, apiNode("node-c"), apiNode("node-d")],
      pods: [...base.pods, boundPod("d-1", "node-d")]
    }
    const sets = podSetsOf(view)
    assert.deepStrictEqual(namesOf(sets.pending), ["a-1", "a-2", "b-1", "b-2", "d-1"])
    assert.deepStrictEqual(namesOf(sets.bound), ["c-1"])
    assert.deepStrictEqual([...sets.boundByNode.keys()], ["node-c"])
  })

  it("simulations share the moving pods' copies while a protection's end or other budgets do not change them", () => {
    const base = viewOf(new Set())
    // b-2 is protected for the first minute after it started (the epoch).
    const protectedPod = boundPod("b-2", "node-b")
    const pods = base.pods.map((pod) =>
      pod.metadata.name === "b-2"
        ? {
            ...protectedPod,
            metadata: { ...protectedPod.metadata, annotations: { "karpenter.sh/do-not-disrupt": "1m" } },
            status: { ...protectedPod.status, startTime: "1970-01-01T00:00:00Z" }
          }
        : pod
    )
    const movingPods: ClusterView.MovingPods = new WeakMap()
    const pass = (marked: ReadonlyArray<string>, now: number) => {
      const view = { ...base, pods, movingPods, markedForDeletion: new Set(marked) }
      return ClusterView.podSets(view, wellKnown, ClusterView.volumeContext(view), now).pending
    }
    const first = pass(["node-b"], 0)
    const second = pass(["node-a", "node-b"], 0)
    assert.deepStrictEqual(namesOf(first), ["b-1"])
    assert.deepStrictEqual(namesOf(second), ["a-1", "a-2", "b-1"])
    assert.strictEqual(second[2], first[0], "the same copy of b-1")
    // Until b-2's protection ends, a later pass moves the same pods: the same copies.
    assert.strictEqual(pass(["node-b"], 59_999)[0], first[0])
    const later = pass(["node-b"], 120_000)
    assert.deepStrictEqual(namesOf(later), ["b-1", "b-2"])
    assert.notStrictEqual(later[0], first[0])
    assert.isTrue(later.every((pod) => pod.spec.nodeName === undefined))
    // Other budgets may hold other pods: worked out again.
    const budgets = { ...base, pods, movingPods, podDisruptionBudgets: [], markedForDeletion: new Set(["node-b"]) }
    const again = ClusterView.podSets(budgets, wellKnown, ClusterView.volumeContext(budgets), 120_000).pending
    assert.deepStrictEqual(namesOf(again), ["b-1", "b-2"])
    assert.notStrictEqual(again[0], later[0])
  })

  it("gives every bound pod when no node leaves", () => {
    const sets = podSetsOf(viewOf(new Set()))
    assert.deepStrictEqual(namesOf(sets.bound), ["a-1", "a-2", "b-1", "b-2", "c-1"])
    assert.deepStrictEqual([...sets.boundByNode.keys()], ["node-a", "node-b", "node-c"])
    assert.deepStrictEqual(sets.pending, [])
  })
})
