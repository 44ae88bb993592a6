/**
 * What a provisioning pass tells the CapacityBuffers (upstream v1.14 `provisioning/buffers.go`
 * `updateBufferProvisioningStatus` and `bufferPodCountsFromResults`): each buffer's Provisioning condition, from where
 * the pass placed its virtual pods, and the nodes holding virtual pods, which emptiness then leaves alone.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type { Pod } from "../../api/Pod.ts"
import { KubeClient } from "../../kube/KubeClient.ts"
import * as Resource from "../../kube/Resource.ts"
import * as Resources from "../../kube/Resources.ts"
import * as InformerCache from "../../runtime/InformerCache.ts"
import { ClusterState } from "../../state/ClusterState.ts"
import * as ClusterView from "../provisioning/scheduling/ClusterView.ts"
import type * as Scheduler from "../provisioning/scheduling/Scheduler.ts"
import * as StatusConditions from "../StatusConditions.ts"
import * as CapacityBuffers from "./CapacityBuffers.ts"

/** Where the pass put each buffer's virtual pods, by buffer `namespace/name`. */
export const placements = (
  results: Scheduler.Results,
  virtualPods: ReadonlyArray<Pod>
): ReadonlyMap<string, CapacityBuffers.Placement> => {
  const counts = new Map<string, { existing: number; newNodeClaims: number; failed: number }>()
  const countOf = (buffer: string) => {
    let count = counts.get(buffer)
    if (count === undefined) {
      count = { existing: 0, newNodeClaims: 0, failed: 0 }
      counts.set(buffer, count)
    }
    return count
  }
  for (const placement of results.existingNodes) {
    for (const pod of placement.pods) {
      const buffer = CapacityBuffers.bufferOf(pod)
      if (buffer !== undefined) countOf(buffer).existing++
    }
  }
  for (const claim of results.newNodeClaims) {
    for (const pod of claim.pods) {
      const buffer = CapacityBuffers.bufferOf(pod)
      if (buffer !== undefined) countOf(buffer).newNodeClaims++
    }
  }
  // Errors are keyed by `namespace/name`.
  for (const pod of virtualPods) {
    const buffer = CapacityBuffers.bufferOf(pod)
    if (buffer !== undefined && results.errors.has(ClusterView.podKey(pod))) countOf(buffer).failed++
  }
  return counts
}

/** The existing nodes the pass placed virtual pods on (upstream only counts those: new ones are not consolidatable yet). */
export const bufferNodes = (results: Scheduler.Results): ReadonlySet<string> =>
  new Set(
    results.existingNodes
      .filter((placement) => placement.pods.some(CapacityBuffers.isVirtual))
      .map((placement) => placement.name)
  )

/** Records a pass's placements: the buffers' Provisioning conditions and the nodes holding headroom. */
export const record = Effect.fn("CapacityBufferStatus.record")(function* (
  results: Scheduler.Results,
  virtualPods: ReadonlyArray<Pod>
) {
  const kube = yield* KubeClient
  const cluster = yield* ClusterState
  yield* cluster.setBufferNodes(bufferNodes(results))
  const buffers = yield* InformerCache.informer(Resources.CapacityBuffers)
  const placed = placements(results, virtualPods)
  const now = yield* Clock.currentTimeMillis
  for (const buffer of yield* buffers.list()) {
    const conditions = CapacityBuffers.withProvisioning(
      buffer,
      CapacityBuffers.provisioningCondition(buffer, placed.get(Resource.keyOf(buffer))),
      now
    )
    if (StatusConditions.equals(conditions, buffer.status?.conditions)) continue
    // A buffer changed meanwhile is left to the next pass (upstream patches with an optimistic lock and logs).
    yield* kube
      .patch(
        Resources.CapacityBuffers,
        buffer.metadata.name ?? "",
        {
          type: "merge",
          patch: { metadata: { resourceVersion: buffer.metadata.resourceVersion }, status: { conditions } }
        },
        { subresource: "status", namespace: buffer.metadata.namespace ?? "default" }
      )
      .pipe(Effect.catch((error) => Effect.logError("updating CapacityBuffer provisioning status", error)))
  }
})
