/**
 * Disruption candidates (upstream `disruption/types.go` `NewCandidate`, `helpers.go` `GetCandidates`): initialized,
 * managed nodes that nothing protects — no do-not-disrupt annotation on the node or an active pod (a duration's
 * protection ends that long after the pod started, v1.12), no
 * PodDisruptionBudget that allows no eviction of a pod the drain would evict (DaemonSet pods included) — with what
 * disrupting them costs.
 */
import * as ConditionTypes from "../../api/Conditions.ts"
import * as DoNotDisrupt from "../../api/DoNotDisrupt.ts"
import * as Duration from "../../api/Duration.ts"
import * as Labels from "../../api/Labels.ts"
import type { NodeClaim } from "../../api/NodeClaim.ts"
import type { NodePool } from "../../api/NodePool.ts"
import { isActive, type Pod } from "../../api/Pod.ts"
import type { PodDisruptionBudget } from "../../api/PodDisruptionBudget.ts"
import * as InstanceType from "../../cloudprovider/InstanceType.ts"
import * as Reschedulable from "../../scheduling/Reschedulable.ts"
import type { StateNode } from "../../state/ClusterState.ts"
import * as TerminationPods from "../node/termination/Pods.ts"
import * as Conditions from "../StatusConditions.ts"

/** A node disruption may take. */
export interface Candidate {
  readonly name: string
  readonly stateNode: StateNode
  readonly nodeClaim: NodeClaim
  readonly nodePool: NodePool
  readonly instanceType: InstanceType.InstanceType | undefined
  readonly zone: string | undefined
  readonly capacityType: string | undefined
  /** Pods that need a new home if the node goes (not DaemonSet, mirror or finished pods). */
  readonly reschedulablePods: ReadonlyArray<Pod>
  /** Upstream's disruption cost: Σ eviction cost of its pods × the share of its lifetime left. */
  readonly disruptionCost: number
}

/** Graceful methods (emptiness, consolidation) respect every protection; eventual ones (drift) may wait out a TGP. */
export type DisruptionClass = "graceful" | "eventual"

/** Upstream `EvictionCost`: 1 + deletion cost / 2^27 + priority / 2^25, clamped to [−10, 10]. */
export const evictionCost = (pod: Pod): number => {
  const deletionCost = Number(pod.metadata.annotations?.["controller.kubernetes.io/pod-deletion-cost"] ?? 0)
  const cost = 1 + (Number.isFinite(deletionCost) ? deletionCost : 0) / 2 ** 27 + (pod.spec.priority ?? 0) / 2 ** 25
  return Math.max(-10, Math.min(10, cost))
}

/** The share of the NodeClaim's lifetime left before it expires (1 when it never expires). */
export const lifetimeRemaining = (nodeClaim: NodeClaim, now: number): number => {
  const { expireAfter, createdAt } = lifetimeOf(nodeClaim)
  if (expireAfter === undefined || expireAfter === null || expireAfter <= 0) return 1
  const age = now - createdAt
  return Math.max(0, Math.min(1, (expireAfter - age) / expireAfter))
}

// Every pass evaluates every node: parse a NodeClaim's expireAfter and creation time once per object.
const lifetimes = new WeakMap<
  NodeClaim,
  { readonly expireAfter: number | null | undefined; readonly createdAt: number }
>()

const lifetimeOf = (nodeClaim: NodeClaim) => {
  let lifetime = lifetimes.get(nodeClaim)
  if (lifetime === undefined) {
    lifetime = {
      expireAfter: Duration.toMillis(nodeClaim.spec.expireAfter),
      createdAt: Date.parse(nodeClaim.metadata.creationTimestamp ?? "")
    }
    lifetimes.set(nodeClaim, lifetime)
  }
  return lifetime
}

/** The PodDisruptionBudget that allows no eviction of the pod now, if any (upstream `pdb.Limits.CanEvictPods`). */
export const blockingBudget = (
  pod: Pod,
  budgets: ReadonlyArray<PodDisruptionBudget>
): PodDisruptionBudget | undefined =>
  budgets.find((budget) => (budget.status?.disruptionsAllowed ?? 0) === 0 && Reschedulable.guards(budget, pod))

/** What every candidate is checked against. */
export interface Context {
  readonly now: number
  readonly nodePools: ReadonlyMap<
    string,
    { readonly nodePool: NodePool; readonly instanceTypes: ReadonlyArray<InstanceType.InstanceType> }
  >
  /** Pods by the name of the node they are bound to. */
  readonly podsByNode: ReadonlyMap<string, ReadonlyArray<Pod>>
  readonly budgets: ReadonlyArray<PodDisruptionBudget>
  /** Names of nodes in the orchestration queue. */
  readonly queued: ReadonlySet<string>
}

/**
 * A candidate, or why the node is not one (undefined reason: not a node disruption ever considers) and, when a
 * do-not-disrupt duration holds it, when that protection ends.
 */
export type Outcome =
  | { readonly candidate: Candidate }
  | { readonly blocked: string | undefined; readonly protectedUntil?: number }

/** Whether a node can be disrupted by a method of this class, and the candidate if so. */
export const evaluate = (stateNode: StateNode, context: Context, disruptionClass: DisruptionClass): Outcome => {
  const { node, nodeClaim } = stateNode
  if (node === undefined || nodeClaim === undefined || !stateNode.initialized) return { blocked: undefined }
  if (stateNode.deleting || stateNode.markedForDeletion || context.queued.has(stateNode.name))
    return { blocked: undefined }
  if (stateNode.nominatedUntil !== undefined && stateNode.nominatedUntil > context.now) {
    return { blocked: "node is nominated for pending pods" }
  }
  if (node.metadata.annotations?.[Labels.DoNotDisruptAnnotation] === "true") {
    return { blocked: `node has ${Labels.DoNotDisruptAnnotation}` }
  }
  const nodePoolName = stateNode.nodePool
  const pool = nodePoolName === undefined ? undefined : context.nodePools.get(nodePoolName)
  if (pool === undefined) return { blocked: undefined }
  // A TerminationGracePeriod bounds how long an eventual disruption may wait on protected pods.
  const mayWait = disruptionClass === "eventual" && nodeClaim.spec.terminationGracePeriod !== undefined
  const scan = scanPods(context.podsByNode.get(stateNode.name) ?? noPods, context.budgets, mayWait, context.now)
  if (scan.blocked !== undefined) {
    return scan.protectedUntil === undefined
      ? { blocked: scan.blocked }
      : { blocked: scan.blocked, protectedUntil: scan.protectedUntil }
  }
  const labels = node.metadata.labels ?? {}
  const instanceTypeName = labels[Labels.InstanceType]
  const { reschedulablePods } = scan
  const cost = scan.evictionCost * lifetimeRemaining(nodeClaim, context.now)
  return {
    candidate: {
      name: stateNode.name,
      stateNode,
      nodeClaim,
      nodePool: pool.nodePool,
      instanceType: InstanceType.named(pool.instanceTypes, instanceTypeName),
      zone: labels[Labels.Zone],
      capacityType: labels[Labels.CapacityType],
      reschedulablePods,
      disruptionCost: cost
    }
  }
}

/** What a node's pods say about disrupting it: what protects it, what must move, what evicting them costs. */
interface PodScan {
  readonly blocked: string | undefined
  /** When the do-not-disrupt duration that blocks the node ends. */
  readonly protectedUntil: number | undefined
  /** The scan holds until the first do-not-disrupt duration of the node's pods ends (Infinity: none does). */
  readonly validUntil: number
  readonly reschedulablePods: ReadonlyArray<Pod>
  readonly evictionCost: number
}

const noPods: ReadonlyArray<Pod> = []

// A pass evaluates every node for every method, every 10 seconds: while a node's pods do not change they are the same
// array (PodsByNode), so its scan is reused until a do-not-disrupt duration of its pods ends.
const scans = new WeakMap<
  ReadonlyArray<Pod>,
  { readonly budgets: ReadonlyArray<PodDisruptionBudget>; readonly byWait: Map<boolean, PodScan> }
>()

const scanPods = (
  pods: ReadonlyArray<Pod>,
  budgets: ReadonlyArray<PodDisruptionBudget>,
  mayWait: boolean,
  now: number
): PodScan => {
  let cached = scans.get(pods)
  if (cached === undefined || cached.budgets !== budgets) {
    cached = { budgets, byWait: new Map() }
    scans.set(pods, cached)
  }
  let scan = cached.byWait.get(mayWait)
  if (scan === undefined || scan.validUntil <= now) {
    scan = computeScan(pods, budgets, mayWait, now)
    cached.byWait.set(mayWait, scan)
  }
  return scan
}

const computeScan = (
  pods: ReadonlyArray<Pod>,
  budgets: ReadonlyArray<PodDisruptionBudget>,
  mayWait: boolean,
  now: number
): PodScan => {
  const protection = mayWait ? undefined : protectedBy(pods, budgets, now)
  let validUntil = Number.POSITIVE_INFINITY
  for (const pod of pods) {
    const until = DoNotDisrupt.protectedUntil(pod)
    if (until !== undefined && until > now && until < validUntil) validUntil = until
  }
  return {
    blocked: protection?.reason,
    protectedUntil: protection?.until,
    validUntil,
    reschedulablePods: pods.filter((pod) => Reschedulable.neverReschedulable(pod) === undefined),
    evictionCost: pods.reduce((sum, pod) => sum + evictionCost(pod), 0)
  }
}

/** Why a do-not-disrupt pod holds its node, with when that ends for a duration. */
export const doNotDisruptReason = (pod: Pod, until: number): string => {
  const held = `pod ${pod.metadata.namespace}/${pod.metadata.name} has ${Labels.DoNotDisruptAnnotation}`
  return until === Number.POSITIVE_INFINITY ? held : `${held} (protected until ${formatTime(until)})`
}

/** An RFC 3339 time in whole seconds, as Kubernetes writes them. */
const formatTime = (millis: number): string => new Date(millis).toISOString().replace(/\.\d{3}Z$/, "Z")

/**
 * Why the node's pods keep it at `now` (upstream `StateNode.ValidatePodsDisruptable`): first any active pod that
 * do-not-disrupt protects (DaemonSet and mirror pods too), then any pod the drain would evict — DaemonSet pods included,
 * not mirror pods nor pods tolerating the disrupted taint (upstream `Limits.CanEvictPods`) — behind a budget that
 * allows no eviction now.
 */
const protectedBy = (
  pods: ReadonlyArray<Pod>,
  budgets: ReadonlyArray<PodDisruptionBudget>,
  now: number
): { readonly reason: string; readonly until: number | undefined } | undefined => {
  for (const pod of pods) {
    const until = DoNotDisrupt.protectedUntil(pod)
    if (until !== undefined && until > now && isActive(pod)) {
      return { reason: doNotDisruptReason(pod, until), until: Number.isFinite(until) ? until : undefined }
    }
  }
  for (const pod of pods) {
    // The budget first: most pods have none, and the toleration check is the dearer one.
    const budget = blockingBudget(pod, budgets)
    if (budget !== undefined && TerminationPods.isEvictable(pod, now)) {
      return {
        reason: `pdb ${budget.metadata.namespace}/${budget.metadata.name} prevents pod evictions`,
        until: undefined
      }
    }
  }
  return undefined
}

/** Cheapest first to disrupt: lower disruption cost, then name. */
export const byDisruptionCost = (a: Candidate, b: Candidate): number =>
  a.disruptionCost - b.disruptionCost || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)

/** Whether the NodeClaim carries a True condition of this type. */
export const hasCondition = (candidate: Candidate, type: string): boolean =>
  Conditions.isTrue(candidate.nodeClaim.status?.conditions, type)

/** When the NodeClaim drifted (for drift's oldest-first order). */
export const driftedAt = (candidate: Candidate): number =>
  Date.parse(
    Conditions.get(candidate.nodeClaim.status?.conditions, ConditionTypes.Drifted)?.lastTransitionTime ?? ""
  ) || 0
