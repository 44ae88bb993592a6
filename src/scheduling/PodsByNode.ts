/**
 * Pods grouped by the node they are bound to, one grouping per pod list, where a node whose pods did not change keeps
 * its array. The informer hands out a new pod list whenever any pod changes; what is worked out per node array (a
 * node's requests, its topology counts, its disruption scan) then carries over to the next list for every node but
 * the changed pod's, instead of being worked out again for the whole cluster.
 */
import * as Arr from "effect/Array"
import * as Equivalence from "effect/Equivalence"
import type { Pod } from "../api/Pod.ts"

/** A grouping of pod lists; build one per kind of grouping with {@link make}. */
export type Grouping = (pods: ReadonlyArray<Pod>) => ReadonlyMap<string, ReadonlyArray<Pod>>

const sameElements = Arr.makeEquivalence(Equivalence.strictEqual<Pod>())

/**
 * Groups each list's pods that `include` keeps by `spec.nodeName` (pods without one are left out), nodes in order of
 * their first pod, pods in list order. The same map for the same list; a node's array is the previous list's array
 * when it holds the same pods in the same order.
 */
export const make = (include: (pod: Pod) => boolean): Grouping => {
  const byList = new WeakMap<ReadonlyArray<Pod>, ReadonlyMap<string, ReadonlyArray<Pod>>>()
  let previous: ReadonlyMap<string, ReadonlyArray<Pod>> = new Map()
  return (pods) => {
    const cached = byList.get(pods)
    if (cached !== undefined) return cached
    const built = new Map<string, Array<Pod>>()
    for (const pod of pods) {
      const name = pod.spec.nodeName
      if (name === undefined || name === "" || !include(pod)) continue
      const onNode = built.get(name)
      if (onNode === undefined) built.set(name, [pod])
      else onNode.push(pod)
    }
    const grouped = new Map<string, ReadonlyArray<Pod>>()
    for (const [name, onNode] of built) {
      const before = previous.get(name)
      grouped.set(name, before !== undefined && sameElements(before, onNode) ? before : onNode)
    }
    byList.set(pods, grouped)
    previous = grouped
    return grouped
  }
}

/** Every pod bound to a node, by node (the grouping disruption and the cluster state read). */
export const bound: Grouping = make(() => true)
