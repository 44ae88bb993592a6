/**
 * The events of node termination (upstream `terminator/events/events.go`, v1.4.0), with the dedupe values the
 * recorder drops their repeats by (for two minutes), so a drain retried every second does not write an Event every
 * second.
 */
import type { Pod } from "../../../api/Pod.ts"
import type { Event } from "../../../kube/EventRecorder.ts"
import * as Pods from "./Pods.ts"

const podReference = (pod: {
  readonly namespace: string
  readonly name: string
  readonly uid?: string | undefined
}) => ({
  apiVersion: "v1",
  kind: "Pod",
  name: pod.name,
  namespace: pod.namespace,
  ...(pod.uid === undefined ? {} : { uid: pod.uid })
})

/** `Evicted`: the eviction API accepted the pod's eviction; `reason` is the NodeClaim's disruption reason. */
export const evictPod = (
  pod: { readonly namespace: string; readonly name: string; readonly uid?: string | undefined },
  reason: string
): Event => ({
  involvedObject: podReference(pod),
  type: "Normal",
  reason: "Evicted",
  message: `Evicted pod: ${reason}`,
  dedupeValues: [pod.name]
})

/**
 * `FailedDraining` on a pod whose eviction a PodDisruptionBudget refused (429). Upstream publishes it on a Node
 * object carrying the pod's name; the pod is the object it is about.
 */
export const evictionBlocked = (pod: {
  readonly namespace: string
  readonly name: string
  readonly uid?: string | undefined
}): Event => ({
  involvedObject: podReference(pod),
  type: "Warning",
  reason: "FailedDraining",
  message: `Failed to drain node, evicting pod ${pod.namespace}/${pod.name} violates a PDB`,
  dedupeValues: [pod.name]
})

/** `Disrupted`: a pod deleted ahead of its node's termination time, bypassing PDBs and do-not-disrupt. */
export const disruptPodDelete = (pod: Pod, gracePeriodSeconds: number, terminationTime: string): Event => ({
  involvedObject: podReference({
    namespace: pod.metadata.namespace ?? "default",
    name: pod.metadata.name ?? "",
    uid: pod.metadata.uid
  }),
  type: "Normal",
  reason: "Disrupted",
  message:
    `Deleting the pod to accommodate the terminationTime ${terminationTime} of the node. The pod was granted ` +
    `${gracePeriodSeconds} seconds of grace-period of its ${Pods.terminationGracePeriodSeconds(pod)} ` +
    `terminationGracePeriodSeconds. This bypasses the PDB of the pod and the do-not-disrupt annotation.`,
  dedupeValues: [pod.metadata.name ?? ""]
})

const nodeReference = (name: string, uid: string | undefined) => ({
  apiVersion: "v1",
  kind: "Node",
  name,
  ...(uid === undefined ? {} : { uid })
})

/** `FailedDraining` on a node whose pods are still waiting to be evicted. */
export const nodeFailedToDrain = (name: string, uid: string | undefined, message: string): Event => ({
  involvedObject: nodeReference(name, uid),
  type: "Warning",
  reason: "FailedDraining",
  message: `Failed to drain node, ${message}`,
  dedupeValues: [name]
})

/** `TerminationGracePeriodExpiring` on a node whose NodeClaim carries a termination time. */
export const nodeTerminationGracePeriodExpiring = (
  name: string,
  uid: string | undefined,
  terminationTime: string
): Event => ({
  involvedObject: nodeReference(name, uid),
  type: "Warning",
  reason: "TerminationGracePeriodExpiring",
  message: `All pods will be deleted by ${terminationTime}`,
  dedupeValues: [name]
})

/** `TerminationGracePeriodExpiring` on a NodeClaim just annotated with its termination time. */
export const nodeClaimTerminationGracePeriodExpiring = (
  claim: { readonly name: string; readonly uid?: string | undefined },
  terminationTime: string
): Event => ({
  involvedObject: {
    apiVersion: "karpenter.sh/v1",
    kind: "NodeClaim",
    name: claim.name,
    ...(claim.uid === undefined ? {} : { uid: claim.uid })
  },
  type: "Warning",
  reason: "TerminationGracePeriodExpiring",
  message: `All pods will be deleted by ${terminationTime}`
})
