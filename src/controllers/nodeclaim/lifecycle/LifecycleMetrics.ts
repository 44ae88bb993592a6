/**
 * The metrics of the NodeClaim lifecycle (upstream `pkg/metrics` NodesCreatedTotal and the lifecycle's and garbage
 * collection's NodeClaimsDisruptedTotal, v1.4.0), under their Prometheus names (namespace `karpenter`).
 */

import type * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Labels from "../../../api/Labels.ts"
import type { NodeClaim } from "../../../api/NodeClaim.ts"
import * as DisruptionMetrics from "../../disruption/DisruptionMetrics.ts"

/** `karpenter_nodes_created_total{nodepool}`: counted when a NodeClaim's Node registers. */
export const nodesCreatedTotal = Metric.counter("karpenter_nodes_created_total", {
  description: "Number of nodes created in total by Karpenter. Labeled by owning nodepool.",
  incremental: true
})

/**
 * Counts a NodeClaim deleted outside voluntary disruption in `karpenter_nodeclaims_disrupted_total`: `liveness`,
 * `insufficient_capacity`, `nodeclass_not_ready` or `garbage_collected`.
 */
export const disrupted = (claim: NodeClaim, reason: string): Effect.Effect<void> =>
  Metric.update(
    Metric.withAttributes(DisruptionMetrics.nodeClaimsDisruptedTotal, {
      reason,
      nodepool: claim.metadata.labels?.[Labels.NodePool] ?? "",
      capacity_type: claim.metadata.labels?.[Labels.CapacityType] ?? ""
    }),
    1
  )
