/**
 * The pod garbage collector of the embedded cluster (upstream `pkg/controller/podgc`, kube-api.md J4): a pod bound to
 * a node that no longer exists is deleted at once (grace 0) — nobody is left to finish it gracefully. Before
 * deleting, the node is looked up on the API server rather than trusted absent from the cache (upstream quarantines
 * for the same reason), so a pod bound to a node the informer has not seen yet is safe.
 *
 * Not emulated: the terminated-pod threshold, pods stuck terminating on out-of-service nodes, the DisruptionTarget
 * condition upstream adds before deleting.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type * as Pod from "../api/Pod.ts"
import { KubeClient } from "../kube/KubeClient.ts"
import * as Resource from "../kube/Resource.ts"
import * as Resources from "../kube/Resources.ts"
import * as Controller from "../runtime/Controller.ts"
import * as Informer from "../runtime/Informer.ts"
import * as InformerCache from "../runtime/InformerCache.ts"
import * as Result from "../runtime/Result.ts"
import * as Objects from "./Objects.ts"

/** Starts the pod garbage collector in the current Scope. */
export const make = Effect.fn("PodGarbageCollector.make")(function* (): Effect.fn.Return<
  Controller.Controller<Pod.Pod>,
  never,
  KubeClient | InformerCache.InformerCache | Scope.Scope
> {
  const kube = yield* KubeClient
  const podInformer = yield* InformerCache.informer(Resources.Pods)
  const nodeInformer = yield* InformerCache.informer(Resources.Nodes)

  const controller = yield* Controller.make({
    name: "cluster.podgc",
    for: podInformer,
    reconcile: (_key, pod) =>
      Effect.gen(function* () {
        const nodeName = pod === undefined ? undefined : Objects.nodeNameOf(pod)
        if (pod === undefined || nodeName === undefined) return Result.done
        if ((yield* nodeInformer.get(nodeName)) !== undefined) return Result.done
        const gone = yield* kube.get(Resources.Nodes, nodeName).pipe(
          Effect.as(false),
          Effect.catchTag("NotFound", () => Effect.succeed(true))
        )
        if (!gone) return Result.done
        yield* kube.delete(Resources.Pods, pod.metadata.name ?? "", {
          namespace: pod.metadata.namespace ?? "",
          gracePeriodSeconds: 0,
          ...(pod.metadata.uid === undefined ? {} : { preconditions: { uid: pod.metadata.uid } })
        })
        return Result.done
      }).pipe(
        Effect.catchTags({ NotFound: () => Effect.succeed(Result.done), Conflict: () => Effect.succeed(Result.done) })
      )
  })

  // A node's deletion orphans the pods bound to it.
  yield* Informer.forEachChange(nodeInformer, (change) => {
    if (change.type !== "DELETED") return Effect.void
    const name = change.object.metadata.name
    return Effect.flatMap(podInformer.list(), (pods) =>
      Effect.forEach(
        pods.filter((pod) => Objects.nodeNameOf(pod) === name),
        (pod) => controller.enqueue(Resource.keyOf(pod)),
        { discard: true }
      )
    )
  })
  return controller
})

/** The pod garbage collector as a Layer: built, it runs until the Layer's scope closes. */
export const layer: Layer.Layer<never, never, KubeClient | InformerCache.InformerCache> = Layer.effectDiscard(make())
