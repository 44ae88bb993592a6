/**
 * Node termination (upstream `pkg/controllers/node/termination`): a Node carrying Karpenter's termination finalizer
 * is drained when it is deleted — tainted `karpenter.sh/disrupted:NoSchedule`, its pods evicted through the eviction
 * API (which honours PodDisruptionBudgets) — then its instance is terminated and the finalizer removed.
 */
import { Effect } from "effect"
import * as Labels from "../../../api/Labels.ts"
import type { Node } from "../../../api/Node.ts"
import type { Pod } from "../../../api/Pod.ts"
import * as Taints from "../../../api/Taints.ts"
import * as CloudProvider from "../../../cloudprovider/CloudProvider.ts"
import { EventRecorder } from "../../../kube/EventRecorder.ts"
import { KubeClient } from "../../../kube/KubeClient.ts"
import * as Resources from "../../../kube/Resources.ts"
import * as Controller from "../../../runtime/Controller.ts"
import * as Informer from "../../../runtime/Informer.ts"
import * as Result from "../../../runtime/Result.ts"

/** Pods that block a drain: everything but DaemonSet and mirror pods, and pods already finished. */
export const drainable = (pod: Pod): boolean =>
  pod.status?.phase !== "Succeeded" &&
  pod.status?.phase !== "Failed" &&
  !(pod.metadata.ownerReferences ?? []).some((owner) => owner.kind === "DaemonSet" || owner.kind === "Node") &&
  pod.metadata.annotations?.["kubernetes.io/config.mirror"] === undefined

const hasFinalizer = (node: Node) => (node.metadata.finalizers ?? []).includes(Labels.TerminationFinalizer)

/** Starts the node termination controller in the current Scope. */
export const make = Effect.gen(function* () {
  const kube = yield* KubeClient
  const cloud = yield* CloudProvider.CloudProvider
  const events = yield* EventRecorder
  const pods = yield* Informer.make(Resources.Pods)
  const nodeClaims = yield* Informer.make(Resources.NodeClaims)

  const terminate = Effect.fn("Termination.terminate")(function* (node: Node) {
    const name = node.metadata.name ?? ""
    const taints = node.spec.taints ?? []
    if (!taints.some((taint) => Taints.matches(taint, Taints.DisruptedNoSchedule))) {
      yield* kube.patch(Resources.Nodes, name, {
        type: "merge",
        patch: {
          metadata: {
            resourceVersion: node.metadata.resourceVersion,
            labels: { [Labels.ExcludeFromExternalLoadBalancers]: "karpenter" }
          },
          spec: { taints: [...taints, Taints.DisruptedNoSchedule] }
        }
      })
      return Result.requeue
    }
    const remaining = (yield* pods.list()).filter((pod) => pod.spec.nodeName === name && drainable(pod))
    if (remaining.length > 0) {
      for (const pod of remaining) {
        if (pod.metadata.deletionTimestamp !== undefined) continue
        yield* kube.evict(pod.metadata.namespace ?? "default", pod.metadata.name ?? "").pipe(
          // A budget that allows no eviction now, or a pod already gone: try again on the next pass.
          Effect.catchTags({
            TooManyRequests: () => Effect.void,
            NotFound: () => Effect.void,
            Conflict: () => Effect.void
          })
        )
      }
      return Result.requeueAfter("1 second")
    }
    const claim = (yield* nodeClaims.list()).find((candidate) => candidate.status?.providerID === node.spec.providerID)
    if (claim !== undefined && node.spec.providerID !== undefined) {
      const gone = yield* cloud.delete(claim).pipe(
        Effect.as(false),
        Effect.catchTag("NodeClaimNotFound", () => Effect.succeed(true))
      )
      if (!gone) return Result.requeueAfter("5 seconds")
    }
    yield* kube.patch(Resources.Nodes, name, {
      type: "merge",
      patch: {
        metadata: {
          resourceVersion: node.metadata.resourceVersion,
          finalizers: (node.metadata.finalizers ?? []).filter((finalizer) => finalizer !== Labels.TerminationFinalizer)
        }
      }
    })
    yield* events.publish({
      involvedObject: { apiVersion: "v1", kind: "Node", name },
      type: "Normal",
      reason: "Terminated",
      message: "Node terminated"
    })
    return Result.done
  })

  return yield* Controller.make({
    name: "node.termination",
    for: Resources.Nodes,
    concurrency: 4,
    reconcile: (_key, node) =>
      node === undefined || node.metadata.deletionTimestamp === undefined || !hasFinalizer(node)
        ? Effect.succeed(Result.done)
        : terminate(node).pipe(Effect.catchTag("NotFound", () => Effect.succeed(Result.done)))
  })
})
