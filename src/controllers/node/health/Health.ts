/**
 * The `node.health` controller (upstream `pkg/controllers/node/health`, v1.4.0; the `NodeRepair` feature gate): the
 * NodeClaim of a Node whose condition matches one of the cloud provider's repair policies for longer than the policy
 * tolerates is deleted at once, with its termination time set to now, so termination neither waits for
 * PodDisruptionBudgets nor for disruption budgets. Repair stops while more than 20% of the NodePool's Nodes (of the
 * cluster's, for a NodeClaim of no NodePool) are unhealthy: a fault that wide is more likely the cluster's than the
 * nodes', and replacing every node would not help.
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Labels from "../../../api/Labels.ts"
import type { Node, NodeCondition } from "../../../api/Node.ts"
import type { NodeClaim } from "../../../api/NodeClaim.ts"
import type { NodePool } from "../../../api/NodePool.ts"
import { CloudProvider, type RepairPolicy } from "../../../cloudprovider/CloudProvider.ts"
import { type Event, EventRecorder } from "../../../kube/EventRecorder.ts"
import { KubeClient } from "../../../kube/KubeClient.ts"
import * as Resources from "../../../kube/Resources.ts"
import * as Controller from "../../../runtime/Controller.ts"
import * as Indices from "../../../runtime/Indices.ts"
import * as InformerCache from "../../../runtime/InformerCache.ts"
import * as Result from "../../../runtime/Result.ts"
import { DisruptionLog } from "../../disruption/DisruptionLog.ts"
import * as Conditions from "../../StatusConditions.ts"
import * as Termination from "../termination/Termination.ts"
import * as HealthMetrics from "./HealthMetrics.ts"

/** The options the operator hands the controller. */
export interface Options {
  /** The NodeRepair feature gate (off by default, as upstream v1.4.0). */
  readonly nodeRepair?: boolean
}

/** The share of unhealthy Nodes up to which repair goes on (upstream `allowedUnhealthyPercent`). */
export const allowedUnhealthyPercent = 20

/**
 * How many Nodes of `total` may be unhealthy: 20%, rounded up (upstream `GetScaledValueFromIntOrPercent` with
 * roundUp, as a PDB's maxUnavailable): of 3 Nodes one may be unhealthy, of 10 two, of 11 three.
 */
export const allowedUnhealthy = (total: number): number => Math.ceil((total * allowedUnhealthyPercent) / 100)

/** A matched policy: the Node's condition and the time the Node may be repaired at (epoch millis). */
export interface Unhealthy {
  readonly condition: NodeCondition
  readonly repairAt: number
}

const conditionOf = (node: Node, type: string): NodeCondition | undefined =>
  node.status?.conditions?.find((condition) => condition.type === type)

const matches = (node: Node, policy: RepairPolicy): NodeCondition | undefined => {
  const condition = conditionOf(node, policy.conditionType)
  return condition?.status === policy.conditionStatus ? condition : undefined
}

/**
 * The Node's condition that matches a policy and is due first (upstream `findUnhealthyConditions`); undefined when
 * the Node is healthy. A condition without lastTransitionTime counts from Go's zero time: due at once.
 */
export const findUnhealthy = (node: Node, policies: ReadonlyArray<RepairPolicy>): Unhealthy | undefined => {
  let found: Unhealthy | undefined
  for (const policy of policies) {
    const condition = matches(node, policy)
    if (condition === undefined) continue
    const since = Date.parse(condition.lastTransitionTime ?? "")
    const repairAt = (Number.isNaN(since) ? Number.NEGATIVE_INFINITY : since) + policy.tolerationMillis
    if (found === undefined || repairAt < found.repairAt) found = { condition, repairAt }
  }
  return found
}

/** Whether at most {@link allowedUnhealthy} of the Nodes match a policy (upstream `isHealthyForNodes`). */
export const isHealthy = (nodes: ReadonlyArray<Node>, policies: ReadonlyArray<RepairPolicy>): boolean => {
  const unhealthy = nodes.filter((node) => policies.some((policy) => matches(node, policy) !== undefined)).length
  return unhealthy <= allowedUnhealthy(nodes.length)
}

/**
 * How long a blocked repair waits before it checks again. Upstream v1.4.0 did not requeue a blocked Node, so it
 * stayed unrepaired after its NodePool recovered until the Node itself changed; fixed upstream in v1.10 (#2286).
 */
export const blockedRequeue = Duration.minutes(5)

/** How long a `NodeRepairBlocked` event suppresses its repeats (upstream's 15 minutes). */
const blockedDedupeMillis = 15 * 60_000

const reference = (kind: string, apiVersion: string, object: { metadata: { name?: string; uid?: string } }) => ({
  apiVersion,
  kind,
  name: object.metadata.name ?? "",
  ...(object.metadata.uid === undefined ? {} : { uid: object.metadata.uid })
})

/**
 * `NodeRepairBlocked` on the Node, once per Node, per NodeClaim and (when it has one) per NodePool in 15 minutes
 * (upstream `NodeRepairBlocked` / `NodeRepairBlockedUnmanagedNodeClaim`).
 */
export const repairBlocked = (
  node: Node,
  claim: NodeClaim,
  nodePool: NodePool | undefined,
  message: string
): ReadonlyArray<Event> =>
  [node.metadata.uid, claim.metadata.uid, ...(nodePool === undefined ? [] : [nodePool.metadata.uid])].map((uid) => ({
    involvedObject: reference("Node", "v1", node),
    type: "Warning",
    reason: "NodeRepairBlocked",
    message,
    dedupeValues: [uid ?? ""],
    dedupeTimeoutMillis: blockedDedupeMillis
  }))

/** Starts `node.health` in the current Scope. */
export const make = Effect.gen(function* () {
  const kube = yield* KubeClient
  const cloud = yield* CloudProvider
  const publisher = yield* EventRecorder
  const nodes = yield* InformerCache.informer(Resources.Nodes)
  const nodeClaims = yield* InformerCache.informer(Resources.NodeClaims)
  const nodePools = yield* InformerCache.informer(Resources.NodePools)
  const policies = cloud.repairPolicies

  /** Why repair is blocked for the NodeClaim, or undefined when it may go on (upstream's two safety checks). */
  const blocked = Effect.fn("Health.blocked")(function* (node: Node, claim: NodeClaim) {
    const poolName = claim.metadata.labels?.[Labels.NodePool]
    if (poolName === undefined) {
      if (isHealthy(yield* nodes.list(), policies)) return undefined
      return repairBlocked(
        node,
        claim,
        undefined,
        `more than ${allowedUnhealthyPercent}% nodes are unhealthy in the cluster`
      )
    }
    if (isHealthy(yield* nodes.byIndex(Indices.nodePool, poolName), policies)) return undefined
    const nodePool = yield* nodePools.get(poolName)
    // Upstream publishes nothing when the NodePool is gone, and repairs nothing either.
    if (nodePool === undefined) return []
    return repairBlocked(
      node,
      claim,
      nodePool,
      `more than ${allowedUnhealthyPercent}% nodes are unhealthy in the nodepool`
    )
  })

  /**
   * Sets the NodeClaim's termination time to now, unless it already holds a past one (upstream
   * `annotateTerminationGracePeriod`): termination then deletes the pods without waiting for their PDBs.
   */
  const annotateTerminationTime = Effect.fn("Health.annotateTerminationTime")(function* (
    claim: NodeClaim,
    now: number
  ) {
    const current = Date.parse(claim.metadata.annotations?.[Labels.NodeClaimTerminationTimestampAnnotation] ?? "")
    if (!Number.isNaN(current) && current < now) return
    const time = Conditions.timestamp(now)
    yield* kube.patch(Resources.NodeClaims, claim.metadata.name ?? "", {
      type: "merge",
      patch: { metadata: { annotations: { [Labels.NodeClaimTerminationTimestampAnnotation]: time } } }
    })
    yield* Effect.logInfo("annotated nodeclaim").pipe(
      Effect.annotateLogs({ [Labels.NodeClaimTerminationTimestampAnnotation]: time })
    )
  })

  const reconcile = Effect.fn("Health.reconcile")(function* (node: Node) {
    yield* nodeClaims.synced
    const claims = yield* nodeClaims.byIndex(Indices.nodeClaimProviderID, node.spec.providerID)
    // No NodeClaim, or more than one for the Node: not ours to repair (upstream ignores both errors).
    if (node.spec.providerID === undefined || claims.length !== 1) return Result.done
    const claim = claims[0]!
    // The cheap check first, so healthy Nodes of an unhealthy NodePool get no NodeRepairBlocked event: upstream
    // v1.4.0 checked the NodePool first and published them; fixed upstream in v1.10 (#2264).
    const unhealthy = findUnhealthy(node, policies)
    if (unhealthy === undefined) return Result.done
    const now = yield* Clock.currentTimeMillis
    if (now < unhealthy.repairAt) return Result.requeueAfter(Duration.millis(unhealthy.repairAt - now))
    const blockedBy = yield* blocked(node, claim)
    if (blockedBy !== undefined) {
      yield* Effect.forEach(blockedBy, publisher.publish, { discard: true })
      return Result.requeueAfter(blockedRequeue)
    }
    yield* annotateTerminationTime(claim, now)
    if (claim.metadata.deletionTimestamp !== undefined) return Result.done
    yield* kube.delete(Resources.NodeClaims, claim.metadata.name ?? "")
    yield* Effect.logInfo("deleting unhealthy node").pipe(
      Effect.annotateLogs({ condition: unhealthy.condition.type, status: unhealthy.condition.status })
    )
    yield* HealthMetrics.repaired(node, claim, unhealthy.condition.type)
    const log = yield* DisruptionLog
    yield* log.record({ time: now, reason: "Unhealthy", candidates: [node.metadata.name ?? ""], replacements: [] })
    return Result.done
  })

  return yield* Controller.make({
    name: "node.health",
    for: nodes,
    concurrency: 10,
    reconcile: (_key, node) => {
      if (node === undefined || !Termination.isManaged(node, cloud.supportedNodeClasses)) {
        return Effect.succeed(Result.done)
      }
      return reconcile(node).pipe(
        // The NodeClaim went meanwhile: nothing left to repair.
        Effect.catchTag("NotFound", () => Effect.succeed(Result.done)),
        Effect.annotateLogs({ Node: node.metadata.name ?? "" })
      )
    }
  })
})

/**
 * Starts `node.health` when the NodeRepair gate is on and the provider declares repair policies, as upstream
 * registers it; otherwise nothing.
 */
export const run = (options?: Options) =>
  Effect.gen(function* () {
    const cloud = yield* CloudProvider
    if (!(options?.nodeRepair ?? false) || cloud.repairPolicies.length === 0) return
    yield* make
  })
