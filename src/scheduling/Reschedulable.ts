/**
 * Which pods of a node that goes away need capacity elsewhere (upstream `pdb.Limits.IsCurrentlyReschedulable`, the
 * v1.4.0 change "no over-provisioning for pods that cannot move"): not terminal, not a DaemonSet or mirror pod, not
 * protected by `karpenter.sh/do-not-disrupt` now, and not held by a PodDisruptionBudget that allows no disruption at all.
 */
import * as DoNotDisrupt from "../api/DoNotDisrupt.ts"
import * as Labels from "../api/Labels.ts"
import type { Pod } from "../api/Pod.ts"
import type { PodDisruptionBudget } from "../api/PodDisruptionBudget.ts"
import * as LabelSelector from "../kube/LabelSelector.ts"

/** A budget that can never allow an eviction: maxUnavailable 0 or "0%", or minAvailable "100%". */
const blocksEverything = (budget: PodDisruptionBudget): boolean => {
  const { maxUnavailable, minAvailable } = budget.spec
  return maxUnavailable === 0 || maxUnavailable === "0" || maxUnavailable === "0%" || minAvailable === "100%"
}

/**
 * Whether the budget guards the pod: same namespace, selected, and not an unhealthy pod the budget lets go — under
 * `unhealthyPodEvictionPolicy: AlwaysAllow`, a pod whose Ready condition is False (upstream `pdb.Limits`: a pod with
 * no Ready condition yet is not known to be unhealthy).
 */
export const guards = (budget: PodDisruptionBudget, pod: Pod): boolean =>
  budget.metadata.namespace === (pod.metadata.namespace ?? "default") &&
  LabelSelector.matchesLabelSelector(budget.spec.selector, pod.metadata.labels) &&
  !(
    budget.spec.unhealthyPodEvictionPolicy === "AlwaysAllow" &&
    (pod.status?.conditions ?? []).some((condition) => condition.type === "Ready" && condition.status === "False")
  )

/** The budget that blocks every disruption of the pod, if any (upstream `pdb.Limits.IsFullyBlocked`). */
export const fullyBlockingBudget = (
  pod: Pod,
  budgets: ReadonlyArray<PodDisruptionBudget>
): PodDisruptionBudget | undefined => budgets.find((budget) => blocksEverything(budget) && guards(budget, pod))

/**
 * Why the pod never moves off its node, whatever happens (upstream `pod.IsReschedulable`): terminal, a DaemonSet or
 * mirror pod, or terminating without coming back under its own name. A disruption candidate's pods are those it
 * does not exclude; do-not-disrupt and budgets only decide when they move.
 */
export const neverReschedulable = (pod: Pod): string | undefined => {
  const phase = pod.status?.phase
  if (phase === "Succeeded" || phase === "Failed") return `pod is ${phase}`
  // The owner kinds that matter, in one walk: every consolidation simulation asks this of each pod it moves.
  let daemonSet = false
  let statefulSet = false
  let node = false
  for (const owner of pod.metadata.ownerReferences ?? []) {
    if (owner.kind === "DaemonSet") daemonSet = true
    else if (owner.kind === "StatefulSet") statefulSet = true
    else if (owner.kind === "Node") node = true
  }
  if (daemonSet) return "owned by a DaemonSet"
  // A terminating pod is already being replaced by its controller; only a StatefulSet pod comes back with its own
  // name (upstream IsReschedulable), so only it still needs room.
  if (pod.metadata.deletionTimestamp !== undefined && !statefulSet) return "terminating"
  if (node || pod.metadata.annotations?.["kubernetes.io/config.mirror"] !== undefined) return "a mirror pod"
  return undefined
}

/** Why the pod will not move off its node at `now`, or undefined when it needs capacity elsewhere. */
export const notReschedulable = (
  pod: Pod,
  budgets: ReadonlyArray<PodDisruptionBudget>,
  now: number
): string | undefined => {
  const never = neverReschedulable(pod)
  if (never !== undefined) return never
  if (DoNotDisrupt.isProtected(pod, now)) return `annotated ${Labels.DoNotDisruptAnnotation}`
  const budget = fullyBlockingBudget(pod, budgets)
  if (budget !== undefined)
    return `PodDisruptionBudget ${budget.metadata.namespace}/${budget.metadata.name} allows no disruption`
  return undefined
}
