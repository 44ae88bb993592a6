/**
 * What node termination asks of a pod (upstream `pkg/utils/pod/scheduling.go` and the pod grouping and deletion
 * times of `pkg/controllers/node/termination/terminator/terminator.go`, v1.4.0); disruption's candidate checks ask the
 * same of a node's pods (which ones the drain would evict). Pure functions over decoded pods; the times are epoch
 * milliseconds from the caller's Clock.
 */
import * as DoNotDisrupt from "../../../api/DoNotDisrupt.ts"
import { isActive, isTerminal, type Pod } from "../../../api/Pod.ts"
import * as Taints from "../../../api/Taints.ts"
import * as Tolerations from "../../../scheduling/Tolerations.ts"

/** A terminating pod this long past its deletionTimestamp no longer holds a drain (upstream `IsStuckTerminating`). */
export const StuckTerminatingMillis = 60_000

/** The grace period Kubernetes defaults `spec.terminationGracePeriodSeconds` to. */
export const DefaultTerminationGracePeriodSeconds = 30

/** The priority classes whose pods are drained last (upstream `groupPodsByPriority`). */
export const CriticalPriorityClasses: ReadonlySet<string> = new Set(["system-cluster-critical", "system-node-critical"])

/** The mirror-pod annotation the kubelet puts on the API copy of a static pod. */
export const MirrorAnnotation = "kubernetes.io/config.mirror"

const millisOf = (timestamp: string | undefined): number | undefined => {
  if (timestamp === undefined) return undefined
  const parsed = Date.parse(timestamp)
  return Number.isNaN(parsed) ? undefined : parsed
}

const isOwnedBy = (pod: Pod, apiVersion: string, kind: string): boolean =>
  (pod.metadata.ownerReferences ?? []).some((owner) => owner.apiVersion === apiVersion && owner.kind === kind)

/** Terminating for more than a minute past its deletionTimestamp (which already includes the grace period). */
export const isStuckTerminating = (pod: Pod, now: number): boolean => {
  const deletion = millisOf(pod.metadata.deletionTimestamp)
  return deletion !== undefined && now - deletion > StuckTerminatingMillis
}

/** Controlled by a DaemonSet (`apps/v1`). */
export const isOwnedByDaemonSet = (pod: Pod): boolean => isOwnedBy(pod, "apps/v1", "DaemonSet")

/**
 * A mirror (static) pod: owned by its Node, as upstream `IsOwnedByNode` checks, or carrying the kubelet's mirror
 * annotation. The API server cannot delete or evict it.
 */
export const isMirror = (pod: Pod): boolean =>
  isOwnedBy(pod, "v1", "Node") || pod.metadata.annotations?.[MirrorAnnotation] !== undefined

/** The pod tolerates `karpenter.sh/disrupted:NoSchedule`, so it may stay on (or come back to) a draining node. */
export const toleratesDisruptedTaint = (pod: Pod): boolean =>
  Tolerations.tolerates(pod.spec.tolerations, [Taints.DisruptedNoSchedule]) === undefined

/** Runs on the system-cluster-critical or system-node-critical priority class. */
export const isCritical = (pod: Pod): boolean => CriticalPriorityClasses.has(pod.spec.priorityClassName ?? "")

/**
 * Whether a drain waits for this pod (upstream `IsDrainable`): it does not tolerate the disrupted taint, is not stuck
 * terminating and is not a mirror pod. do-not-disrupt pods are drainable: the drain waits for them although it never
 * evicts them.
 */
export const isDrainable = (pod: Pod, now: number): boolean =>
  !toleratesDisruptedTaint(pod) && !isStuckTerminating(pod, now) && !isMirror(pod)

/** Not terminal and drainable: the drain is not over while such a pod is on the node (upstream `IsWaitingEviction`). */
export const isWaitingEviction = (pod: Pod, now: number): boolean => !isTerminal(pod) && isDrainable(pod, now)

/**
 * Whether Karpenter sends this pod to the eviction API at `now` (upstream `IsEvictable`): active, not tolerating the
 * disrupted taint, not a mirror pod, and not protected by do-not-disrupt (a duration's protection ends, v1.12).
 */
export const isEvictable = (pod: Pod, now: number): boolean =>
  isActive(pod) && !toleratesDisruptedTaint(pod) && !isMirror(pod) && !DoNotDisrupt.isProtected(pod, now)

/**
 * The drain order (Kubernetes' graceful node shutdown): non-critical non-DaemonSet pods, non-critical DaemonSet pods,
 * critical non-DaemonSet pods, critical DaemonSet pods. Always four groups, possibly empty, each in input order.
 */
export const groupByPriority = (
  pods: ReadonlyArray<Pod>
): readonly [ReadonlyArray<Pod>, ReadonlyArray<Pod>, ReadonlyArray<Pod>, ReadonlyArray<Pod>] => {
  const nonCriticalNonDaemon: Array<Pod> = []
  const nonCriticalDaemon: Array<Pod> = []
  const criticalNonDaemon: Array<Pod> = []
  const criticalDaemon: Array<Pod> = []
  for (const pod of pods) {
    if (isCritical(pod)) (isOwnedByDaemonSet(pod) ? criticalDaemon : criticalNonDaemon).push(pod)
    else (isOwnedByDaemonSet(pod) ? nonCriticalDaemon : nonCriticalNonDaemon).push(pod)
  }
  return [nonCriticalNonDaemon, nonCriticalDaemon, criticalNonDaemon, criticalDaemon]
}

/** The pod's `terminationGracePeriodSeconds`, defaulted as the API server does. */
export const terminationGracePeriodSeconds = (pod: Pod): number =>
  pod.spec.terminationGracePeriodSeconds ?? DefaultTerminationGracePeriodSeconds

/**
 * When a pod must be deleted so that its whole grace period fits before the node's termination time
 * (`terminationTime − terminationGracePeriodSeconds`, upstream `podDeleteTimeWithGracePeriod`); undefined without a
 * termination time.
 */
export const deleteTime = (pod: Pod, terminationTime: number | undefined): number | undefined =>
  terminationTime === undefined ? undefined : terminationTime - terminationGracePeriodSeconds(pod) * 1000

/**
 * The grace period a forced deletion grants: the whole seconds left until the termination time (Go's truncating
 * `int64(time.Until(t).Seconds())`), at least 0.
 */
export const remainingGraceSeconds = (terminationTime: number, now: number): number =>
  Math.max(0, Math.trunc((terminationTime - now) / 1000))
