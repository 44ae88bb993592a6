/**
 * The DaemonSet controller of the embedded cluster: one pod per eligible node, created already bound
 * (`spec.nodeName` set at creation, so the scheduler never sees it) with a controller owner reference.
 *
 * A node is eligible when its labels satisfy the template's nodeSelector and required node affinity and the pod
 * tolerates its NoSchedule and NoExecute taints; a pod already there stays until a NoExecute taint it does not
 * tolerate appears (upstream `NodeShouldRunDaemonPod`). Pods get the tolerations upstream's controller adds
 * (`node.kubernetes.io/{not-ready,unreachable}:NoExecute`, `{disk,memory,pid}-pressure` and `unschedulable`
 * NoSchedule, `network-unavailable` for host-network pods) — and, like real DaemonSet pods, nothing for
 * `karpenter.sh/unregistered`, so a node gets its daemons once Karpenter registers it. Readiness, `spec.unschedulable`
 * and resources are not checked (the kubelet would admit or reject the pod; this one admits all).
 *
 * Pods on nodes that no longer exist are deleted, surplus pods on a node too (the oldest stays). Status:
 * desiredNumberScheduled, currentNumberScheduled, numberReady, observedGeneration. No rolling updates: a template
 * change applies to pods created afterwards.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type * as Meta from "../api/Meta.ts"
import type * as Node from "../api/Node.ts"
import * as Pod from "../api/Pod.ts"
import type * as WorkloadsApi from "../api/Workloads.ts"
import { KubeClient } from "../kube/KubeClient.ts"
import * as Patch from "../kube/Patch.ts"
import * as Resource from "../kube/Resource.ts"
import * as Resources from "../kube/Resources.ts"
import * as Controller from "../runtime/Controller.ts"
import * as Indices from "../runtime/Indices.ts"
import * as Informer from "../runtime/Informer.ts"
import * as InformerCache from "../runtime/InformerCache.ts"
import * as Result from "../runtime/Result.ts"
import { Expectations } from "./Expectations.ts"
import * as Scheduler from "./KubeScheduler.ts"
import * as Objects from "./Objects.ts"

const exists = (key: string, effect: string): Meta.Toleration => ({ key, operator: "Exists", effect })

/** The tolerations upstream's DaemonSet controller adds to every daemon pod (`AddOrUpdateDaemonPodTolerations`). */
export const daemonTolerations = (spec: Pod.Spec): ReadonlyArray<Meta.Toleration> => [
  exists("node.kubernetes.io/not-ready", "NoExecute"),
  exists("node.kubernetes.io/unreachable", "NoExecute"),
  exists("node.kubernetes.io/disk-pressure", "NoSchedule"),
  exists("node.kubernetes.io/memory-pressure", "NoSchedule"),
  exists("node.kubernetes.io/pid-pressure", "NoSchedule"),
  exists("node.kubernetes.io/unschedulable", "NoSchedule"),
  ...(spec.hostNetwork === true ? [exists("node.kubernetes.io/network-unavailable", "NoSchedule")] : [])
]

/** The template's tolerations plus the daemon ones it does not already carry. */
export const podTolerations = (spec: Pod.Spec): ReadonlyArray<Meta.Toleration> => {
  const own = spec.tolerations ?? []
  const missing = daemonTolerations(spec).filter(
    (added) => !own.some((toleration) => toleration.key === added.key && toleration.effect === added.effect)
  )
  return [...own, ...missing]
}

/** Whether a daemon pod should be created on the node, and whether one there may keep running. */
export const eligibility = (
  spec: Pod.Spec,
  node: Node.Node
): { readonly shouldRun: boolean; readonly shouldContinueRunning: boolean } => {
  if (!Scheduler.matchesNodeSelector(spec, node)) return { shouldRun: false, shouldContinueRunning: false }
  const tolerations = podTolerations(spec)
  const taints = node.spec.taints ?? []
  const untolerated = (effect: string) =>
    Scheduler.untoleratedTaint(
      tolerations,
      taints.filter((taint) => taint.effect === effect)
    ) !== undefined
  const noExecute = untolerated("NoExecute")
  return { shouldRun: !noExecute && !untolerated("NoSchedule"), shouldContinueRunning: !noExecute }
}

const byAge = (a: Pod.Pod, b: Pod.Pod): number =>
  Objects.compareStrings(a.metadata.creationTimestamp ?? "", b.metadata.creationTimestamp ?? "") ||
  Objects.compareStrings(a.metadata.name ?? "", b.metadata.name ?? "")

/** Starts the DaemonSet controller in the current Scope. */
export const make = Effect.fn("DaemonSets.make")(function* (): Effect.fn.Return<
  Controller.Controller<WorkloadsApi.DaemonSet>,
  never,
  KubeClient | InformerCache.InformerCache | Scope.Scope
> {
  const kube = yield* KubeClient
  const podInformer = yield* InformerCache.informer(Resources.Pods)
  const nodeInformer = yield* InformerCache.informer(Resources.Nodes)
  const daemonSetInformer = yield* InformerCache.informer(Resources.DaemonSets)
  const expectations = new Expectations()

  const controller = yield* Controller.make({
    name: "cluster.daemonset",
    for: daemonSetInformer,
    watches: [{ source: podInformer, map: (pod: Pod.Pod) => Objects.controllerKey(pod, "DaemonSet") }],
    reconcile: (key, daemonSet) =>
      Effect.gen(function* () {
        if (daemonSet === undefined) {
          expectations.forget(key)
          return Result.done
        }
        if (Objects.isTerminating(daemonSet)) return Result.done
        const namespace = daemonSet.metadata.namespace ?? ""
        const template = daemonSet.spec.template
        const owned = yield* podInformer.byIndex(Indices.controller, Indices.controlledBy(daemonSet))
        const byKey = new Map(owned.map((pod) => [Resource.keyOf(pod), pod]))
        const now = yield* Clock.currentTimeMillis
        const check = expectations.check(key, (podKey) => byKey.get(podKey), now)
        const byNode = new Map<string, Array<Pod.Pod>>()
        for (const pod of owned) {
          const nodeName = Objects.nodeNameOf(pod)
          if (nodeName === undefined || !Pod.isActive(pod)) continue
          const list = byNode.get(nodeName) ?? []
          list.push(pod)
          byNode.set(nodeName, list)
        }
        const nodes = yield* nodeInformer.list()
        const toCreate: Array<string> = []
        const toDelete: Array<Pod.Pod> = []
        let desired = 0
        let current = 0
        let ready = 0
        for (const node of nodes) {
          const nodeName = node.metadata.name ?? ""
          const here = (byNode.get(nodeName) ?? []).sort(byAge)
          byNode.delete(nodeName)
          const { shouldRun, shouldContinueRunning } = eligibility(template.spec, node)
          if (shouldRun) desired++
          if (here.length === 0) {
            if (shouldRun) toCreate.push(nodeName)
            continue
          }
          if (!shouldContinueRunning) {
            toDelete.push(...here)
            continue
          }
          toDelete.push(...here.slice(1))
          if (shouldRun) {
            current++
            if (Objects.isPodReady(here[0]!)) ready++
          }
        }
        // What is left ran on nodes that are gone.
        for (const nodeName of [...byNode.keys()].sort(Objects.compareStrings)) toDelete.push(...byNode.get(nodeName)!)

        if (check.satisfied) {
          const tolerations = podTolerations(template.spec)
          for (const nodeName of toCreate) {
            const created = yield* kube.create(
              Resources.Pods,
              {
                metadata: {
                  generateName: `${daemonSet.metadata.name}-`,
                  namespace,
                  ...(template.metadata?.labels === undefined ? {} : { labels: template.metadata.labels }),
                  ...(template.metadata?.annotations === undefined
                    ? {}
                    : { annotations: template.metadata.annotations }),
                  ownerReferences: [Objects.controllerReference("apps/v1", "DaemonSet", daemonSet)]
                },
                spec: { ...template.spec, nodeName, tolerations }
              },
              { namespace }
            )
            expectations.expectCreation(key, Resource.keyOf(created), now)
          }
          for (const pod of toDelete) {
            expectations.expectDeletion(key, Resource.keyOf(pod), now)
            yield* kube
              .delete(Resources.Pods, pod.metadata.name ?? "", { namespace })
              .pipe(Effect.catchTags({ NotFound: () => Effect.void, Conflict: () => Effect.void }))
          }
        }
        const status = {
          desiredNumberScheduled: desired,
          currentNumberScheduled: current,
          numberReady: ready,
          observedGeneration: daemonSet.metadata.generation ?? 0
        }
        const unchanged = (Object.keys(status) as Array<keyof typeof status>).every(
          (field) => (daemonSet.status?.[field] ?? 0) === status[field]
        )
        if (!unchanged) {
          yield* kube
            .patch(
              Resources.DaemonSets,
              daemonSet.metadata.name ?? "",
              { type: "merge", patch: { status } },
              { namespace, subresource: "status" }
            )
            .pipe(Effect.catchTags({ NotFound: () => Effect.void, Conflict: () => Effect.void }))
        }
        return check.satisfied ? Result.done : Result.requeueAfter(check.recheckAfterMillis)
      })
  })

  // A node coming, going, or changing labels or taints can change where daemons belong.
  yield* Informer.forEachChange(nodeInformer, (change) =>
    change.type === "MODIFIED" &&
    Patch.deepEqual(change.previous?.metadata.labels, change.object.metadata.labels) &&
    Patch.deepEqual(change.previous?.spec.taints, change.object.spec.taints)
      ? Effect.void
      : Effect.flatMap(daemonSetInformer.list(), (all) =>
          Effect.forEach(all, (daemonSet) => controller.enqueue(Resource.keyOf(daemonSet)), { discard: true })
        )
  )
  return controller
})

/** The DaemonSet controller as a Layer: built, it runs until the Layer's scope closes. */
export const layer: Layer.Layer<never, never, KubeClient | InformerCache.InformerCache> = Layer.effectDiscard(make())
