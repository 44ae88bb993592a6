/**
 * Static capacity (upstream `pkg/controllers/static`, v1.8 to v1.11, behind the StaticCapacity gate): a NodePool
 * with `spec.replicas` keeps that many NodeClaims whatever the pods. `static.provisioning` launches the missing ones
 * from the NodePool's template (the cloud provider picks the instance type), never past `limits.nodes`;
 * `static.deprovisioning` deletes the extra ones after a scale down — launches that have not resolved first, then
 * empty nodes, then the cheapest to disrupt — a forceful disruption that ignores the NodePool's budgets (the
 * termination controller still honours PodDisruptionBudgets and terminationGracePeriod).
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as DoNotDisrupt from "../../api/DoNotDisrupt.ts"
import * as Labels from "../../api/Labels.ts"
import * as NodePoolApi from "../../api/NodePool.ts"
import type { Pod } from "../../api/Pod.ts"
import * as Quantity from "../../api/Quantity.ts"
import { CloudProvider } from "../../cloudprovider/CloudProvider.ts"
import { KubeClient } from "../../kube/KubeClient.ts"
import * as Resources from "../../kube/Resources.ts"
import * as Controller from "../../runtime/Controller.ts"
import * as InformerCache from "../../runtime/InformerCache.ts"
import * as Result from "../../runtime/Result.ts"
import * as Requirements from "../../scheduling/Requirements.ts"
import { ClusterState, type StateNode } from "../../state/ClusterState.ts"
import * as TerminationPods from "../node/termination/Pods.ts"
import * as NodeClasses from "../nodepool/nodeclass/NodeClasses.ts"
import * as Provisioner from "../provisioning/Provisioner.ts"
import type * as Scheduler from "../provisioning/scheduling/Scheduler.ts"

/** The StaticCapacity feature gate (off by default, as upstream). */
export interface Options {
  readonly staticCapacity?: boolean
}

/** How often a static NodePool is looked at again without any change (upstream's one minute). */
export const resyncInterval = Duration.minutes(1)
/** The retry while `limits.nodes` leaves no room (upstream's 30 s). */
export const limitRetry = Duration.seconds(30)
/** The retry while ClusterState has not synced: a partial count would over-provision. */
export const unsyncedRetry = Duration.seconds(1)

/** Upstream's reason on the NodeClaims it launches (`metrics.ProvisionedReason`). */
export const provisionedReason = "provisioned"

/**
 * A static NodePool's NodeClaims, as upstream's NodePoolState counts them: `running` (neither chosen by disruption
 * nor deleting), `pendingDisruption` (chosen by disruption, replacement under way) and `deleting`.
 */
export interface Counts {
  readonly running: ReadonlyArray<StateNode>
  readonly pendingDisruption: number
  readonly deleting: number
}

/** Counts the NodePool's nodes and in-flight NodeClaims in ClusterState. */
export const countsOf = (nodes: ReadonlyArray<StateNode>, nodePool: string): Counts => {
  const running: Array<StateNode> = []
  let pendingDisruption = 0
  let deleting = 0
  for (const node of nodes) {
    if (node.nodePool !== nodePool || node.nodeClaim === undefined) continue
    if (node.deleting) deleting++
    else if (node.markedForDeletion) pendingDisruption++
    else running.push(node)
  }
  return { running, pendingDisruption, deleting }
}

/** `limits.nodes`, or no bound. */
export const nodeLimitOf = (nodePool: NodePoolApi.NodePool): number => {
  const limit = nodePool.spec.limits?.nodes
  const milli = limit === undefined ? undefined : Quantity.toMilli(limit)
  return milli === undefined ? Number.POSITIVE_INFINITY : Math.floor(milli / 1000)
}

/**
 * How many NodeClaims to launch: what the replicas lack (NodeClaims whose replacement disruption is creating count
 * as there), within what `limits.nodes` leaves after every NodeClaim that still exists (upstream ReserveNodeCount).
 */
export const toLaunch = (nodePool: NodePoolApi.NodePool, counts: Counts): number => {
  const replicas = nodePool.spec.replicas ?? 0
  const running = counts.running.length
  if (running + counts.pendingDisruption >= replicas) return 0
  const room = nodeLimitOf(nodePool) - (running + counts.pendingDisruption + counts.deleting)
  return Math.max(0, Math.min(replicas - running, room))
}

/** A NodeClaim of the NodePool's template, with no instance type chosen (upstream leaves it to `Create`). */
export const templateClaim = (nodePool: NodePoolApi.NodePool) => {
  const labels = {
    ...nodePool.spec.template.metadata?.labels,
    ...Provisioner.nodeClassLabels(nodePool),
    [Labels.NodePool]: nodePool.metadata.name ?? ""
  }
  return {
    nodePool,
    labels,
    requirements: Requirements.addAll(
      Requirements.fromNodeSelectorRequirements(nodePool.spec.template.spec.requirements),
      Requirements.fromLabels(labels)
    ),
    instanceTypes: [],
    pods: [],
    requests: {}
  }
}

/** Whether a controller should look at the NodePool: a static, managed NodePool that is not being deleted. */
const isStaticAndLive = (nodePool: NodePoolApi.NodePool | undefined, cloud: CloudProvider["Service"]) =>
  nodePool !== undefined &&
  NodePoolApi.isStatic(nodePool) &&
  nodePool.metadata.deletionTimestamp === undefined &&
  NodeClasses.isManaged(nodePool, cloud)

// Untraced: called thousands of times a simulated day; a span and call frame each cost 1.5 µs.
/**
 * The ready static NodePools with their instance types: disruption's candidates come from every managed NodePool
 * (upstream BuildNodePoolMap), while the provisioner's list leaves static ones out.
 */
export const readyNodePools = Effect.fnUntraced(function* () {
  const cloud = yield* CloudProvider
  const informer = yield* InformerCache.informer(Resources.NodePools)
  yield* informer.synced
  const nodePools: Array<Scheduler.NodePoolInput> = []
  for (const nodePool of yield* informer.list()) {
    if (!isStaticAndLive(nodePool, cloud) || !Provisioner.isReady(nodePool)) continue
    const instanceTypes = yield* cloud.getInstanceTypes(nodePool).pipe(Effect.orElseSucceed(() => []))
    if (instanceTypes.length > 0)
      nodePools.push({ nodePool, instanceTypes, labels: Provisioner.nodeClassLabels(nodePool) })
  }
  return nodePools
})

/** The NodePool of a NodeClaim, as a key. */
const nodePoolKey = (claim: { readonly metadata: { readonly labels?: Readonly<Record<string, string>> } }) => {
  const name = claim.metadata.labels?.[Labels.NodePool]
  return name === undefined ? [] : [name]
}

/** Starts `static.provisioning`: launches NodeClaims until a static NodePool has its replicas. */
export const makeProvisioning = Effect.fn("StaticCapacity.makeProvisioning")(function* () {
  const cloud = yield* CloudProvider
  const cluster = yield* ClusterState
  return yield* Controller.make({
    name: "static.provisioning",
    for: Resources.NodePools,
    // A NodeClaim going away may leave the NodePool short.
    watches: [{ source: Resources.NodeClaims, map: nodePoolKey }],
    reconcile: (_key, nodePool) =>
      Effect.gen(function* () {
        if (nodePool === undefined || !isStaticAndLive(nodePool, cloud) || !Provisioner.isReady(nodePool)) {
          return Result.done
        }
        if (!(yield* cluster.synced)) return Result.requeueAfter(unsyncedRetry)
        const counts = countsOf(yield* cluster.nodes, nodePool.metadata.name ?? "")
        const replicas = nodePool.spec.replicas ?? 0
        if (counts.running.length + counts.pendingDisruption >= replicas) return Result.requeueAfter(resyncInterval)
        const count = toLaunch(nodePool, counts)
        if (count === 0) {
          yield* Effect.logInfo("nodepool node limit reached").pipe(
            Effect.annotateLogs({ NodePool: { name: nodePool.metadata.name } })
          )
          return Result.requeueAfter(limitRetry)
        }
        yield* Effect.logInfo("provisioning nodeclaims to satisfy replica count").pipe(
          Effect.annotateLogs({
            NodePool: { name: nodePool.metadata.name },
            current: counts.running.length,
            desired: replicas,
            "provision-count": count
          })
        )
        const claim = templateClaim(nodePool)
        yield* Provisioner.createNodeClaims(
          Array.from({ length: count }, () => claim),
          provisionedReason
        )
        return Result.requeueAfter(resyncInterval)
      })
  })
})

/**
 * What a running node costs to take away at `now`: its pods other than DaemonSet ones, and whether do-not-disrupt
 * protects one.
 */
const removalCost = (pods: ReadonlyArray<Pod>, now: number) => ({
  pinned: pods.some((pod) => DoNotDisrupt.isProtected(pod, now)),
  pods: pods.filter((pod) => !TerminationPods.isOwnedByDaemonSet(pod)).length
})

/**
 * The NodeClaims a scale down deletes (upstream getDeprovisioningCandidates): unresolved launches first, then empty
 * nodes, then nodes by pods to move, nodes with a do-not-disrupt pod last; ties by name, for a deterministic order.
 */
export const deprovisioningOrder = (
  running: ReadonlyArray<StateNode>,
  podsOf: (node: StateNode) => ReadonlyArray<Pod>,
  now: number
): Array<StateNode> => {
  const ranked = running.map((node) => {
    const cost = removalCost(podsOf(node), now)
    const unresolved = node.nodeClaim?.status?.providerID === undefined
    const empty = cost.pods === 0 && !cost.pinned
    return { node, rank: [unresolved ? 0 : 1, empty ? 0 : 1, cost.pinned ? 1 : 0, cost.pods] as const }
  })
  ranked.sort((a, b) => {
    for (let index = 0; index < a.rank.length; index++) {
      const difference = a.rank[index]! - b.rank[index]!
      if (difference !== 0) return difference
    }
    return a.node.name < b.node.name ? -1 : a.node.name > b.node.name ? 1 : 0
  })
  return ranked.map((entry) => entry.node)
}

/** Starts `static.deprovisioning`: deletes NodeClaims while a static NodePool has more than its replicas. */
export const makeDeprovisioning = Effect.fn("StaticCapacity.makeDeprovisioning")(function* () {
  const kube = yield* KubeClient
  const cloud = yield* CloudProvider
  const cluster = yield* ClusterState
  const pods = yield* InformerCache.informer(Resources.Pods)
  return yield* Controller.make({
    name: "static.deprovisioning",
    for: Resources.NodePools,
    // A new NodeClaim may be one too many.
    watches: [{ source: Resources.NodeClaims, map: nodePoolKey }],
    reconcile: (_key, nodePool) =>
      Effect.gen(function* () {
        if (nodePool === undefined || !isStaticAndLive(nodePool, cloud)) return Result.done
        // Only running NodeClaims count: those disruption is replacing would make a scale down overshoot.
        const { running } = countsOf(yield* cluster.nodes, nodePool.metadata.name ?? "")
        const excess = running.length - (nodePool.spec.replicas ?? 0)
        if (excess <= 0) return Result.requeueAfter(resyncInterval)
        yield* Effect.logInfo("deprovisioning nodeclaims to satisfy replica count").pipe(
          Effect.annotateLogs({
            NodePool: { name: nodePool.metadata.name },
            current: running.length,
            desired: nodePool.spec.replicas,
            "deprovision-count": excess
          })
        )
        const byNode = new Map<string, Array<Pod>>()
        for (const pod of yield* pods.list()) {
          const nodeName = pod.spec.nodeName
          if (nodeName !== undefined) byNode.set(nodeName, [...(byNode.get(nodeName) ?? []), pod])
        }
        const podsOf = (node: StateNode) => byNode.get(node.name) ?? []
        for (const node of deprovisioningOrder(running, podsOf, yield* Clock.currentTimeMillis).slice(0, excess)) {
          yield* kube
            .delete(Resources.NodeClaims, node.nodeClaim?.metadata.name ?? "")
            .pipe(Effect.catchTag("NotFound", () => Effect.void))
        }
        return Result.requeueAfter(resyncInterval)
      })
  })
})

/** Both static capacity controllers, when the gate is on; nothing otherwise (a static NodePool then stays as it is). */
export const make = Effect.fn("StaticCapacity.make")(function* (options?: Options) {
  if (options?.staticCapacity !== true) return []
  return [yield* makeProvisioning(), yield* makeDeprovisioning()] as const
})
