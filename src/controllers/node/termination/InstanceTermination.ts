/**
 * Terminating a NodeClaim's instance (upstream `pkg/utils/termination.EnsureTerminated`, v1.4.0), shared by the Node
 * finalizer and the NodeClaim finalizer.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as ConditionTypes from "../../../api/Conditions.ts"
import type { NodeClaim } from "../../../api/NodeClaim.ts"
import * as CloudProvider from "../../../cloudprovider/CloudProvider.ts"
import { KubeClient } from "../../../kube/KubeClient.ts"
import * as Resources from "../../../kube/Resources.ts"
import * as Conditions from "../../StatusConditions.ts"

/** What {@link ensureTerminated} found: whether the instance is gone, and the NodeClaim as last written. */
export interface Termination {
  readonly terminated: boolean
  readonly nodeClaim: NodeClaim
}

/**
 * Calls `CloudProvider.delete`. When it returns (termination started) or fails with `NodeClaimNotFound` (the instance
 * is gone), sets `InstanceTerminating=True` on the NodeClaim (status patch with optimistic lock: a Conflict or
 * NotFound from it is the caller's to handle) and reports `terminated` only in the second case: callers requeue until
 * then. Any other provider error fails.
 */
export const ensureTerminated = Effect.fn("InstanceTermination.ensureTerminated")(function* (nodeClaim: NodeClaim) {
  const cloud = yield* CloudProvider.CloudProvider
  const kube = yield* KubeClient
  const terminated = yield* cloud.delete(nodeClaim).pipe(
    Effect.as(false),
    Effect.catchTag("NodeClaimNotFound", () => Effect.succeed(true))
  )
  const now = yield* Clock.currentTimeMillis
  const conditions = nodeClaim.status?.conditions
  const next = Conditions.setWithRoot(
    conditions,
    { type: ConditionTypes.InstanceTerminating, status: "True" },
    ConditionTypes.NodeClaimReadyDependents,
    {
      generation: nodeClaim.metadata.generation,
      now,
      createdAt: nodeClaim.metadata.creationTimestamp,
      deleting: nodeClaim.metadata.deletionTimestamp !== undefined
    }
  )
  if (next === conditions) return { terminated, nodeClaim }
  const written = yield* kube.patch(
    Resources.NodeClaims,
    nodeClaim.metadata.name ?? "",
    {
      type: "merge",
      patch: { metadata: { resourceVersion: nodeClaim.metadata.resourceVersion }, status: { conditions: next } }
    },
    { subresource: "status" }
  )
  return { terminated, nodeClaim: written }
})
