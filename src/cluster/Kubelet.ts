/**
 * Kubelet emulation for every node of the embedded cluster (kube-api.md I4, F5):
 *
 * - a node without a Ready condition gets `Ready=True` (reason KubeletReady) as soon as it exists: the kubelet
 *   "registered and became ready". A Ready condition someone else wrote (a scenario making a node NotReady) is left
 *   alone, as a dead kubelet would leave it; there is no periodic heartbeat, nor a node Lease;
 * - a pod bound to a Ready node starts at once: phase `Running`, `startTime`, and `Initialized`, `ContainersReady`
 *   and `Ready` True (no images, no probes, no container statuses). When its node stops being Ready the pod's
 *   `Ready`/`ContainersReady` turn False, as the node lifecycle controller's MarkPodsNotReady does;
 * - a cordoned node (`spec.unschedulable`) carries the `node.kubernetes.io/unschedulable:NoSchedule` taint, and an
 *   uncordoned one loses it, as the node lifecycle controller's TaintNodesByCondition does: Karpenter reads taints,
 *   not `spec.unschedulable`, so without it a drained node looked like room for the pods it evicted;
 * - a bound pod being deleted is removed for good (delete with grace 0) when its deletionTimestamp — the API server
 *   set it to now + grace period — is reached, whatever its node's state: graceful deletion takes exactly the grace
 *   period.
 *
 * Not emulated: containers exiting (pods never reach Succeeded/Failed by themselves), NoExecute taint eviction, and
 * admission failures (OutOfcpu, …): the scheduler and the DaemonSet controller are trusted.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as Node from "../api/Node.ts"
import * as Pod from "../api/Pod.ts"
import * as Taints from "../api/Taints.ts"
import { KubeClient } from "../kube/KubeClient.ts"
import * as Resource from "../kube/Resource.ts"
import * as Resources from "../kube/Resources.ts"
import * as Controller from "../runtime/Controller.ts"
import * as Informer from "../runtime/Informer.ts"
import * as InformerCache from "../runtime/InformerCache.ts"
import * as Result from "../runtime/Result.ts"
import { UnschedulableTaint } from "./KubeScheduler.ts"
import * as Objects from "./Objects.ts"

/** How the kubelets run. */
export interface Options {
  /** The nodes whose kubelet reports Ready; default every node. */
  readonly manages?: (node: Node.Node) => boolean
}

/** The running kubelet controllers. */
export interface Kubelet {
  readonly nodes: Controller.Controller<Node.Node>
  readonly pods: Controller.Controller<Pod.Pod>
}

/** The Ready condition a starting kubelet posts. */
export const readyCondition = (now: number): Objects.ConditionLike => ({
  type: "Ready",
  status: "True",
  reason: "KubeletReady",
  message: "kubelet is posting ready status",
  lastHeartbeatTime: Objects.timestamp(now),
  lastTransitionTime: Objects.timestamp(now)
})

const podConditions = (status: "True" | "False", now: number): ReadonlyArray<Objects.ConditionLike> => {
  const lastTransitionTime = Objects.timestamp(now)
  const notReady = status === "False" ? { reason: "NodeNotReady" } : {}
  return [
    { type: "Initialized", status: "True", lastTransitionTime },
    { type: "Ready", status, ...notReady, lastTransitionTime },
    { type: "ContainersReady", status, ...notReady, lastTransitionTime }
  ]
}

/** Whether the node's Ready condition changed between two versions (or the node came or went). */
const readinessChanged = (previous: Node.Node | undefined, node: Node.Node): boolean =>
  previous === undefined || Node.isReady(previous) !== Node.isReady(node)

/** Starts the kubelet emulation in the current Scope. */
export const make = Effect.fn("Kubelet.make")(function* (
  options?: Options
): Effect.fn.Return<Kubelet, never, KubeClient | InformerCache.InformerCache | Scope.Scope> {
  const kube = yield* KubeClient
  const podInformer = yield* InformerCache.informer(Resources.Pods)
  const nodeInformer = yield* InformerCache.informer(Resources.Nodes)
  const manages = options?.manages ?? (() => true)

  const nodes = yield* Controller.make({
    name: "cluster.kubelet.node",
    for: nodeInformer,
    reconcile: (name, node) =>
      Effect.gen(function* () {
        if (node === undefined || Objects.isTerminating(node)) return Result.done
        const taints = node.spec.taints ?? []
        const cordoned = node.spec.unschedulable === true
        if (taints.some((taint) => Taints.matches(taint, UnschedulableTaint)) !== cordoned) {
          yield* kube.patch(Resources.Nodes, name, {
            type: "merge",
            patch: {
              metadata: { resourceVersion: node.metadata.resourceVersion },
              spec: {
                taints: cordoned
                  ? [...taints, UnschedulableTaint]
                  : taints.filter((taint) => !Taints.matches(taint, UnschedulableTaint))
              }
            }
          })
          // The new version comes through the informer and reconciles again.
          return Result.done
        }
        if (!manages(node)) return Result.done
        if (node.status?.conditions?.some((condition) => condition.type === "Ready")) return Result.done
        const now = yield* Clock.currentTimeMillis
        yield* kube.patch(
          Resources.Nodes,
          name,
          {
            type: "merge",
            patch: {
              metadata: { resourceVersion: node.metadata.resourceVersion },
              status: { conditions: Objects.withConditions(node.status?.conditions, [readyCondition(now)]) }
            }
          },
          { subresource: "status" }
        )
        return Result.done
      }).pipe(
        // The node's newer version (or its deletion) comes through the informer and reconciles again.
        Effect.catchTags({ NotFound: () => Effect.succeed(Result.done), Conflict: () => Effect.succeed(Result.done) })
      )
  })

  const patchPodStatus = (pod: Pod.Pod, status: Record<string, unknown>) =>
    kube.patch(
      Resources.Pods,
      pod.metadata.name ?? "",
      { type: "merge", patch: { metadata: { resourceVersion: pod.metadata.resourceVersion }, status } },
      { namespace: pod.metadata.namespace ?? "", subresource: "status" }
    )

  const pods = yield* Controller.make({
    name: "cluster.kubelet.pod",
    for: podInformer,
    reconcile: (_key, pod) =>
      Effect.gen(function* () {
        if (pod === undefined) return Result.done
        const nodeName = Objects.nodeNameOf(pod)
        if (nodeName === undefined) return Result.done
        const now = yield* Clock.currentTimeMillis
        if (Objects.isTerminating(pod)) {
          const deadline = Objects.millisOf(pod.metadata.deletionTimestamp) ?? now
          if (deadline > now) return Result.requeueAfter(deadline - now)
          yield* kube.delete(Resources.Pods, pod.metadata.name ?? "", {
            namespace: pod.metadata.namespace ?? "",
            gracePeriodSeconds: 0,
            ...(pod.metadata.uid === undefined ? {} : { preconditions: { uid: pod.metadata.uid } })
          })
          return Result.done
        }
        if (Pod.isTerminal(pod)) return Result.done
        const node = yield* nodeInformer.get(nodeName)
        if (node === undefined) return Result.done
        const conditions = pod.status?.conditions
        if (Node.isReady(node)) {
          const wanted = podConditions("True", now)
          if (
            pod.status?.phase === "Running" &&
            pod.status.startTime !== undefined &&
            Objects.hasConditions(conditions, wanted)
          ) {
            return Result.done
          }
          yield* patchPodStatus(pod, {
            phase: "Running",
            startTime: pod.status?.startTime ?? Objects.timestamp(now),
            conditions: Objects.withConditions(conditions, wanted)
          })
          return Result.done
        }
        if (pod.status?.phase !== "Running" || Objects.conditionStatus(conditions, "Ready") !== "True") {
          return Result.done
        }
        yield* patchPodStatus(pod, { conditions: Objects.withConditions(conditions, podConditions("False", now)) })
        return Result.done
      }).pipe(
        Effect.catchTags({ NotFound: () => Effect.succeed(Result.done), Conflict: () => Effect.succeed(Result.done) })
      )
  })

  // A node turning Ready (or not) changes what its pods should report.
  yield* Informer.forEachChange(nodeInformer, (change) => {
    if (change.type === "MODIFIED" && !readinessChanged(change.previous, change.object)) return Effect.void
    const name = change.object.metadata.name
    return Effect.flatMap(podInformer.list(), (all) =>
      Effect.forEach(
        all.filter((pod) => Objects.nodeNameOf(pod) === name),
        (pod) => pods.enqueue(Resource.keyOf(pod)),
        { discard: true }
      )
    )
  })
  return { nodes, pods }
})

/** The kubelet emulation as a Layer: built, it runs until the Layer's scope closes. */
export const layer = (options?: Options): Layer.Layer<never, never, KubeClient | InformerCache.InformerCache> =>
  Layer.effectDiscard(make(options))
