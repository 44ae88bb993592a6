/**
 * The ClusterState implementation: the process's informers (from its InformerCache) over the objects a pass reads,
 * joined on demand, plus the bookkeeping only Karpenter has (nominations, nodes marked for deletion, the consolidation
 * timestamp, when pending pods were first seen and decided on).
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as PubSub from "effect/PubSub"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as ConditionTypes from "../api/Conditions.ts"
import * as Labels from "../api/Labels.ts"
import * as Meta from "../api/Meta.ts"
import type { Node } from "../api/Node.ts"
import type { NodeClaim } from "../api/NodeClaim.ts"
import type { Pod } from "../api/Pod.ts"
import type { DaemonSet } from "../api/Workloads.ts"
import * as ClusterView from "../controllers/provisioning/scheduling/ClusterView.ts"
import type { KubeObject } from "../kube/Resource.ts"
import * as Resources from "../kube/Resources.ts"
import * as Informer from "../runtime/Informer.ts"
import * as InformerCache from "../runtime/InformerCache.ts"
import * as PodsByNode from "../scheduling/PodsByNode.ts"
import * as ResourceMath from "../scheduling/ResourceLists.ts"
import { ClusterState, type StateNode } from "./ClusterState.ts"
import * as ClusterStateMetrics from "./ClusterStateMetrics.ts"

/** How long a nomination keeps a node out of consolidation (upstream's nomination window, 20 s). */
export const nominationMillis = 20_000
/** The consolidation timestamp is refreshed at least this often, so a quiet cluster is reconsidered. */
export const consolidationRefreshMillis = 5 * 60_000

const isDeleting = (object: KubeObject): boolean => object.metadata.deletionTimestamp !== undefined

const noPods: ReadonlyArray<Pod> = []

// A node's pods are one array while none of them changes (PodsByNode): their sorted keys are built once.
const keysOfPods = new WeakMap<ReadonlyArray<Pod>, ReadonlyArray<string>>()

const podKeys = (pods: ReadonlyArray<Pod>): ReadonlyArray<string> => {
  let keys = keysOfPods.get(pods)
  if (keys === undefined) {
    keys = pods.map(ClusterView.podKey).sort()
    keysOfPods.set(pods, keys)
  }
  return keys
}

/** What joining nodes and NodeClaims into state nodes reads of a view. */
type Joinable = Pick<ClusterView.ClusterView, "nodes" | "nodeClaims" | "pods">

/** Every node and in-flight NodeClaim, joined by providerID, sorted by name. */
export const stateNodes = (
  view: Joinable,
  marked: ReadonlySet<string>,
  nominated: ReadonlyMap<string, number>
): Array<StateNode> => {
  const claimsByProviderID = new Map<string, NodeClaim>()
  for (const claim of view.nodeClaims) {
    if (claim.status?.providerID !== undefined) claimsByProviderID.set(claim.status.providerID, claim)
  }
  const podsByNode = PodsByNode.bound(view.pods)
  const joined = new Set<NodeClaim>()
  const result: Array<StateNode> = []
  const make = (name: string, node: Node | undefined, nodeClaim: NodeClaim | undefined): StateNode => {
    const labels = node?.metadata.labels ?? nodeClaim?.metadata.labels ?? {}
    const managed = nodeClaim !== undefined || labels[Labels.NodePool] !== undefined
    return {
      name,
      providerID: node?.spec.providerID ?? nodeClaim?.status?.providerID,
      node,
      nodeClaim,
      nodePool: labels[Labels.NodePool] ?? nodeClaim?.metadata.labels?.[Labels.NodePool],
      capacity: ResourceMath.fromResourceList(node?.status?.capacity ?? nodeClaim?.status?.capacity),
      pods: podKeys(podsByNode.get(name) ?? noPods),
      markedForDeletion: marked.has(name),
      deleting:
        (nodeClaim !== undefined && isDeleting(nodeClaim)) ||
        (nodeClaim === undefined && node !== undefined && isDeleting(node)),
      nominatedUntil: nominated.get(name),
      initialized: !managed || node?.metadata.labels?.[Labels.NodeInitialized] === "true"
    }
  }
  for (const node of view.nodes) {
    const claim = node.spec.providerID === undefined ? undefined : claimsByProviderID.get(node.spec.providerID)
    if (claim !== undefined) joined.add(claim)
    result.push(make(node.metadata.name ?? "", node, claim))
  }
  for (const claim of view.nodeClaims) {
    if (!joined.has(claim)) result.push(make(claim.metadata.name ?? "", undefined, claim))
  }
  return result.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
}

/** What a NodePool's nodes and in-flight NodeClaims add up to, less those leaving; `nodes` in milli-units. */
const nodePoolTotal = (nodes: ReadonlyArray<StateNode>, nodePool: string): ResourceMath.Resources => {
  let total: ResourceMath.Resources = ResourceMath.empty
  let count = 0
  for (const node of nodes) {
    if (node.nodePool !== nodePool || node.markedForDeletion || node.deleting) continue
    total = ResourceMath.add(total, node.capacity)
    count++
  }
  return { ...total, nodes: count * 1000 }
}

// The NodePool counter asks for every NodePool's total every 5 s; the joined nodes change only with the informers'
// lists and the bookkeeping, so a total is summed once per joined array.
const resourcesOfNodes = new WeakMap<ReadonlyArray<StateNode>, Map<string, ResourceMath.Resources>>()

const initializedLabel = (node: Node | undefined) => node?.metadata.labels?.[Labels.NodeInitialized]

// Consolidatable too: a node becoming consolidatable is a new candidate, worth a look before the 5-minute refresh.
const claimReadiness = (claim: NodeClaim | undefined) =>
  `${Meta.isConditionTrue(claim?.status?.conditions, ConditionTypes.Initialized)}/${Meta.isConditionTrue(claim?.status?.conditions, ConditionTypes.Consolidatable)}`

/** ClusterState fed by the process's informers (from the InformerCache). */
export const layer = Layer.effect(
  ClusterState,
  Effect.gen(function* () {
    const nodes = yield* InformerCache.informer(Resources.Nodes)
    const nodeClaims = yield* InformerCache.informer(Resources.NodeClaims)
    const pods = yield* InformerCache.informer(Resources.Pods)
    const daemonSets = yield* InformerCache.informer(Resources.DaemonSets)
    const pvcs = yield* InformerCache.informer(Resources.PersistentVolumeClaims)
    const pvs = yield* InformerCache.informer(Resources.PersistentVolumes)
    const storageClasses = yield* InformerCache.informer(Resources.StorageClasses)
    const csiNodes = yield* InformerCache.informer(Resources.CSINodes)
    const budgets = yield* InformerCache.informer(Resources.PodDisruptionBudgets)
    const namespaces = yield* InformerCache.informer(Resources.Namespaces)
    const nodePools = yield* InformerCache.informer(Resources.NodePools)
    const informers: ReadonlyArray<Informer.Syncable> = [
      nodes,
      nodeClaims,
      pods,
      daemonSets,
      pvcs,
      pvs,
      storageClasses,
      csiNodes,
      budgets,
      namespaces,
      nodePools
    ]

    const marked = new Set<string>()
    const nominated = new Map<string, number>()
    let bufferNodes: ReadonlySet<string> = new Set()
    // Bumped when `marked` or `nominated` change: with the informers' list identities, the key of the joined nodes.
    let bookkeeping = 0
    let joined:
      | {
          readonly nodes: ReadonlyArray<Node>
          readonly nodeClaims: ReadonlyArray<NodeClaim>
          readonly pods: ReadonlyArray<unknown>
          readonly bookkeeping: number
          readonly result: ReadonlyArray<StateNode>
        }
      | undefined
    // Disruption keeps its candidates marked until they are gone; then the mark has nothing left to hold back.
    const forgetVanished = (current: Joinable) => {
      if (marked.size === 0) return
      const present = new Set([
        ...current.nodes.map((node) => node.metadata.name ?? ""),
        ...current.nodeClaims.map((claim) => claim.metadata.name ?? "")
      ])
      for (const name of marked) {
        if (present.has(name)) continue
        marked.delete(name)
        bookkeeping++
      }
    }
    // Several controllers ask for the state nodes every few seconds; between changes the answer is the same.
    const joinedNodes = (current: Joinable): ReadonlyArray<StateNode> => {
      if (
        joined === undefined ||
        joined.nodes !== current.nodes ||
        joined.nodeClaims !== current.nodeClaims ||
        joined.pods !== current.pods ||
        joined.bookkeeping !== bookkeeping
      ) {
        forgetVanished(current)
        joined = {
          nodes: current.nodes,
          nodeClaims: current.nodeClaims,
          pods: current.pods,
          bookkeeping,
          result: stateNodes(current, marked, nominated)
        }
      }
      return joined.result
    }
    // Each DaemonSet's newest pod, refreshed when the DaemonSets or pods change; a pod stays recorded after it is gone.
    let recorded:
      | {
          readonly daemonSets: ReadonlyArray<DaemonSet>
          readonly pods: ReadonlyArray<Pod>
          readonly newest: ReadonlyMap<string, Pod>
        }
      | undefined
    const recordDaemonSetPods = (
      currentDaemonSets: ReadonlyArray<DaemonSet>,
      currentPods: ReadonlyArray<Pod>
    ): ReadonlyMap<string, Pod> => {
      if (recorded?.daemonSets !== currentDaemonSets || recorded.pods !== currentPods) {
        recorded = {
          daemonSets: currentDaemonSets,
          pods: currentPods,
          newest: ClusterView.newestDaemonSetPods(currentDaemonSets, currentPods, recorded?.newest)
        }
      }
      return recorded.newest
    }
    // A version, not a time: in virtual time a change and the pass that read the state share a millisecond, and a
    // timestamp would hide that change from the pass after (upstream compares wall-clock times, which rarely tie).
    let consolidationState = 0
    let unconsolidatedAt = yield* Clock.currentTimeMillis
    const changed = yield* PubSub.unbounded<void>()

    const markUnconsolidated = Effect.map(Clock.currentTimeMillis, (now) => {
      consolidationState++
      unconsolidatedAt = now
    })
    const onChange = Effect.andThen(markUnconsolidated, PubSub.publish(changed, undefined))
    const watch = <A extends KubeObject>(
      informer: Informer.Informer<A>,
      unconsolidates: (change: Informer.Change<A>) => boolean
    ): Effect.Effect<void, never, Scope.Scope> =>
      Informer.forEachChange(informer, (change) =>
        unconsolidates(change) ? onChange : Effect.asVoid(PubSub.publish(changed, undefined))
      )
    // Upstream MarkUnconsolidated: only changes that can change a consolidation decision restart it (a pod's status
    // or a NodeClaim's other conditions do not); the 5-minute refresh covers the rest. Re-running every candidate's
    // simulation on each pod status update made consolidation the bulk of a simulated day.
    yield* watch(
      nodes,
      (change) => change.type !== "MODIFIED" || initializedLabel(change.previous) !== initializedLabel(change.object)
    )
    yield* watch(
      nodeClaims,
      (change) => change.type !== "MODIFIED" || claimReadiness(change.previous) !== claimReadiness(change.object)
    )
    yield* watch(
      pods,
      (change) =>
        change.type === "DELETED" ||
        (change.object.spec.nodeName !== undefined && change.object.spec.nodeName !== change.previous?.spec.nodeName)
    )
    yield* watch(nodePools, (change) => change.object.metadata.generation !== change.previous?.metadata.generation)
    for (const informer of [daemonSets, pvcs, pvs, budgets] as const) {
      yield* watch(informer as Informer.Informer<KubeObject>, () => false)
    }

    // Upstream's podAcks, podsSchedulingAttempted and podsSchedulableTimes: first times only, forgotten with the pod.
    const acked = new Map<string, number>()
    const decided = new Map<string, number>()
    const schedulable = new Map<string, number>()
    const clearPodSchedulingTimes = (pod: string) =>
      Effect.sync(() => {
        acked.delete(pod)
        decided.delete(pod)
        schedulable.delete(pod)
      })
    yield* Informer.forEachChange(pods, (change) =>
      change.type === "DELETED" ? clearPodSchedulingTimes(ClusterView.podKey(change.object)) : Effect.void
    )

    // What the state nodes are joined from, asked for every few seconds (NodePool counts, disruption) without the rest
    // of a view. Like every view, it records the DaemonSets' newest pods, which are kept once the pods are gone. Both
    // read the informers' lists in one step, not an effect per informer.
    const joinableNow = () => {
      const currentPods = pods.listUnsafe()
      const currentDaemonSets = daemonSets.listUnsafe()
      return {
        nodes: nodes.listUnsafe(),
        nodeClaims: nodeClaims.listUnsafe(),
        pods: currentPods,
        daemonSets: currentDaemonSets,
        recordedDaemonSetPods: recordDaemonSetPods(currentDaemonSets, currentPods)
      }
    }
    const joinable = Effect.sync(joinableNow)
    const view = Effect.sync(
      (): ClusterView.ClusterView => ({
        ...joinableNow(),
        persistentVolumeClaims: pvcs.listUnsafe(),
        persistentVolumes: pvs.listUnsafe(),
        storageClasses: storageClasses.listUnsafe(),
        csiNodes: csiNodes.listUnsafe(),
        podDisruptionBudgets: budgets.listUnsafe(),
        namespaces: namespaces.listUnsafe(),
        markedForDeletion: new Set(marked)
      })
    )

    const liveNominations = Effect.map(Clock.currentTimeMillis, (now) => {
      for (const [name, until] of nominated) {
        if (until > now) continue
        nominated.delete(name)
        bookkeeping++
      }
      return nominated
    })

    let informersSynced = false

    return ClusterState.of({
      synced: Effect.gen(function* () {
        // An informer that has synced stays synced: once all have, every later ask skips them.
        if (!informersSynced) {
          for (const informer of informers) if (!(yield* informer.hasSynced)) return false
          informersSynced = true
        }
        return (yield* nodeClaims.list()).every((claim) => isDeleting(claim) || claim.status?.providerID !== undefined)
      }),
      view,
      nodes: Effect.gen(function* () {
        const current = yield* joinable
        yield* liveNominations
        return joinedNodes(current)
      }),
      nominate: (name) =>
        Effect.map(Clock.currentTimeMillis, (now) => {
          nominated.set(name, now + nominationMillis)
          bookkeeping++
        }),
      markForDeletion: (names) =>
        Effect.andThen(
          Effect.sync(() => {
            for (const name of names) marked.add(name)
            bookkeeping++
          }),
          onChange
        ),
      unmarkForDeletion: (names) =>
        Effect.andThen(
          Effect.sync(() => {
            for (const name of names) marked.delete(name)
            bookkeeping++
          }),
          onChange
        ),
      nodePoolResources: (nodePool) =>
        Effect.map(joinable, (current) => {
          const nodes = joinedNodes(current)
          let byNodePool = resourcesOfNodes.get(nodes)
          if (byNodePool === undefined) {
            byNodePool = new Map()
            resourcesOfNodes.set(nodes, byNodePool)
          }
          let resources = byNodePool.get(nodePool)
          if (resources === undefined) {
            resources = nodePoolTotal(nodes, nodePool)
            byNodePool.set(nodePool, resources)
          }
          return resources
        }),
      consolidationState: Effect.map(Clock.currentTimeMillis, (now) => {
        if (now - unconsolidatedAt >= consolidationRefreshMillis) {
          consolidationState++
          unconsolidatedAt = now
        }
        return consolidationState
      }),
      markUnconsolidated,
      bufferNodes: Effect.sync(() => bufferNodes),
      setBufferNodes: (names) =>
        Effect.suspend(() => {
          const changed = names.size !== bufferNodes.size || [...names].some((name) => !bufferNodes.has(name))
          bufferNodes = names
          // Headroom that moved may leave a node empty: emptiness must look again.
          return changed ? markUnconsolidated : Effect.void
        }),
      ackPods: (keys) =>
        Effect.map(Clock.currentTimeMillis, (now) => {
          for (const key of keys) if (!acked.has(key)) acked.set(key, now)
        }),
      markPodSchedulingDecisions: (keys, failed) =>
        Effect.gen(function* () {
          const now = yield* Clock.currentTimeMillis
          for (const key of keys) {
            if (!failed.has(key) && !schedulable.has(key)) schedulable.set(key, now)
            if (decided.has(key)) continue
            decided.set(key, now)
            const ackedAt = acked.get(key)
            if (ackedAt !== undefined) {
              yield* Metric.update(ClusterStateMetrics.schedulingDecisionDurationSeconds, (now - ackedAt) / 1000)
            }
          }
        }),
      podSchedulingTimes: (key) =>
        Effect.sync(() => ({ acked: acked.get(key), decided: decided.get(key), schedulable: schedulable.get(key) })),
      clearPodSchedulingTimes,
      changes: Stream.fromPubSub(changed)
    })
  })
)
