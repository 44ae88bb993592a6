/**
 * What a consolidation simulation of a snapshot reads (Planner.simulate over Provisioner.simulate): the informers'
 * lists, the NodeClaims as scheduling sees them, the nodes marked for deletion or settling, the NodePools with their
 * instance types, and the time where a pod's do-not-disrupt duration makes it matter. Two snapshots with the same
 * inputs simulate a candidate to the same answer, so single-node consolidation need not simulate again a candidate
 * that could not go: upstream's algorithm re-evaluates every candidate after each consolidation-relevant change (a
 * node becoming Consolidatable) and every 5 minutes, and those re-evaluations were most of a simulated day.
 */
import * as Arr from "effect/Array"
import * as Equivalence from "effect/Equivalence"
import * as DoNotDisrupt from "../../api/DoNotDisrupt.ts"
import type { NodeClaim } from "../../api/NodeClaim.ts"
import * as Planner from "./Planner.ts"

/** A snapshot's simulation inputs; compare two with {@link same}. */
export interface Inputs {
  /** Lists compared by identity (the informers hand out the same array until one of its objects changes). */
  readonly lists: ReadonlyArray<unknown>
  /** Each NodeClaim without what scheduling never reads (its conditions and resourceVersion), in list order. */
  readonly nodeClaims: ReadonlyArray<string>
  /** The nodes marked for deletion and those within their consolidateAfter, by name. */
  readonly nodeNames: string
  /** Each ready NodePool with its instance types and labels. */
  readonly nodePools: ReadonlyArray<unknown>
  /** The snapshot's time when some pod has a do-not-disrupt annotation (whose duration may end), else undefined. */
  readonly time: number | undefined
}

// Conditions, the last pod event and resourceVersions change on their own (Consolidatable comes and goes) without
// changing a simulation; what they decide of it (the nodes within consolidateAfter) is compared by name.
const projections = new WeakMap<NodeClaim, string>()

const projection = (claim: NodeClaim): string => {
  let text = projections.get(claim)
  if (text === undefined) {
    const { resourceVersion: _resourceVersion, ...metadata } = claim.metadata
    const { conditions: _conditions, lastPodEventTime: _lastPodEventTime, ...status } = claim.status ?? {}
    text = JSON.stringify([metadata, claim.spec, status])
    projections.set(claim, text)
  }
  return text
}

const ofSnapshot = new WeakMap<Planner.Snapshot, Inputs>()

/** The snapshot's simulation inputs (computed once per snapshot). */
export const of = (state: Planner.Snapshot): Inputs => {
  let inputs = ofSnapshot.get(state)
  if (inputs === undefined) {
    const view = state.view
    inputs = {
      lists: [
        view.pods,
        view.nodes,
        view.daemonSets,
        view.recordedDaemonSetPods,
        view.persistentVolumeClaims,
        view.persistentVolumes,
        view.storageClasses,
        view.csiNodes,
        view.podDisruptionBudgets,
        view.namespaces
      ],
      nodeClaims: view.nodeClaims.map(projection),
      nodeNames: `${[...(view.markedForDeletion ?? [])].sort().join(",")}/${[...Planner.withinConsolidateAfter(state)].sort().join(",")}`,
      // Instance types one by one: the list is built anew each pass, its types are not.
      nodePools: state.nodePools.flatMap((pool) => [
        pool.nodePool,
        JSON.stringify(pool.labels),
        pool.instanceTypes.length,
        ...pool.instanceTypes
      ]),
      time: DoNotDisrupt.anyAnnotated(view.pods) ? state.now : undefined
    }
    ofSnapshot.set(state, inputs)
  }
  return inputs
}

const sameElements = Arr.makeEquivalence(Equivalence.strictEqual<unknown>())

/** Whether a simulation reads the same things in both. */
export const same = (a: Inputs, b: Inputs): boolean =>
  a.time === b.time &&
  a.nodeNames === b.nodeNames &&
  sameElements(a.lists, b.lists) &&
  sameElements(a.nodePools, b.nodePools) &&
  sameElements(a.nodeClaims, b.nodeClaims)
