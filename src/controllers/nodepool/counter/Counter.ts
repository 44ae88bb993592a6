/**
 * The `nodepool.counter` controller: `status.resources` of every managed NodePool is what ClusterState counts for it
 * (capacity of its nodes and in-flight NodeClaims, and `nodes`), and `status.nodes` that count (upstream v1.8),
 * refreshed every 5 s (upstream v1.4.0, PR #2110).
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { CloudProvider } from "../../../cloudprovider/CloudProvider.ts"
import { KubeClient } from "../../../kube/KubeClient.ts"
import * as Resources from "../../../kube/Resources.ts"
import * as Controller from "../../../runtime/Controller.ts"
import * as Result from "../../../runtime/Result.ts"
import * as SchedulingResources from "../../../scheduling/ResourceLists.ts"
import { ClusterState } from "../../../state/ClusterState.ts"
import * as NodeClasses from "../nodeclass/NodeClasses.ts"

/** How often `status.resources` is refreshed. */
export const refreshInterval = Duration.seconds(5)
/** The retry while ClusterState has not synced (a partial count would lower the status on startup). */
export const unsyncedRetry = Duration.seconds(1)

/** The resources every NodePool reports, at 0 when it has none (upstream `BaseResources`). */
export const baseResources: SchedulingResources.Resources = {
  cpu: 0,
  memory: 0,
  pods: 0,
  "ephemeral-storage": 0,
  nodes: 0
}

const sameResources = (a: SchedulingResources.Resources, b: SchedulingResources.Resources): boolean => {
  const keys = Object.keys(a)
  return keys.length === Object.keys(b).length && keys.every((key) => key in b && a[key] === b[key])
}

/** Starts `nodepool.counter`. */
export const make = Effect.fn("NodePoolCounter.make")(function* () {
  const kube = yield* KubeClient
  const cloudProvider = yield* CloudProvider
  const cluster = yield* ClusterState
  return yield* Controller.make({
    name: "nodepool.counter",
    for: Resources.NodePools,
    concurrency: 10,
    reconcile: (_key, nodePool) =>
      Effect.gen(function* () {
        if (nodePool === undefined || !NodeClasses.isManaged(nodePool, cloudProvider)) return Result.done
        if (!(yield* cluster.synced)) return Result.requeueAfter(unsyncedRetry)
        const name = nodePool.metadata.name ?? ""
        const counted = SchedulingResources.merge(baseResources, yield* cluster.nodePoolResources(name))
        const stored = nodePool.status?.resources ?? {}
        // `status.nodes` (upstream v1.8) is the node count again (resources are in milli-units): the scale subresource's status replicas.
        const nodes = Math.round((counted.nodes ?? 0) / 1000)
        // Compared by value: "1" and "1000m" are the same quantity, and rewriting one as the other is noise.
        if (nodePool.status?.nodes === nodes && sameResources(counted, SchedulingResources.fromResourceList(stored))) {
          return Result.requeueAfter(refreshInterval)
        }
        // A merge patch merges the map key by key: resources no longer counted are removed with null.
        const resources: Record<string, string | null> = SchedulingResources.toResourceList(counted)
        for (const key of Object.keys(stored)) if (!(key in counted)) resources[key] = null
        const written = yield* kube
          .patch(
            Resources.NodePools,
            name,
            { type: "merge", patch: { status: { resources, nodes } } },
            { subresource: "status" }
          )
          .pipe(
            Effect.as(true),
            Effect.catchTag("NotFound", () => Effect.succeed(false))
          )
        return written ? Result.requeueAfter(refreshInterval) : Result.done
      })
  })
})
