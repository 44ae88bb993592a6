/**
 * The metrics of node repair (upstream `pkg/controllers/node/health/metrics.go`, v1.4.0), under their Prometheus names
 * (namespace `karpenter`).
 */
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Labels from "../../../api/Labels.ts"
import type { Node } from "../../../api/Node.ts"
import type { NodeClaim } from "../../../api/NodeClaim.ts"
import * as DisruptionMetrics from "../../disruption/DisruptionMetrics.ts"

/** `karpenter_nodeclaims_unhealthy_disrupted_total{condition,nodepool,capacity_type,image_id}`. */
export const unhealthyDisruptedTotal = Metric.counter("karpenter_nodeclaims_unhealthy_disrupted_total", {
  description:
    "Number of unhealthy nodeclaims disrupted in total by Karpenter. Labeled by condition on the node was disrupted, the owning nodepool, and the image ID.",
  incremental: true
})

/** A condition type in snake case, as upstream's `pretty.ToSnakeCase` labels it ("AcceleratedHardwareReady" → "accelerated_hardware_ready"). */
export const snakeCase = (text: string): string =>
  text
    .replace(/(.)([A-Z][a-z]+)/g, "$1_$2")
    .replace(/([a-z0-9])([A-Z])/g, "$1_$2")
    .toLowerCase()

/**
 * Counts a repaired NodeClaim: `karpenter_nodeclaims_disrupted_total{reason="unhealthy"}` and the unhealthy counter,
 * labelled from the Node (as upstream does) and the NodeClaim's image.
 */
export const repaired = (node: Node, claim: NodeClaim, conditionType: string): Effect.Effect<void> => {
  const nodepool = node.metadata.labels?.[Labels.NodePool] ?? ""
  const capacityType = node.metadata.labels?.[Labels.CapacityType] ?? ""
  return Metric.update(
    Metric.withAttributes(DisruptionMetrics.nodeClaimsDisruptedTotal, {
      reason: "unhealthy",
      nodepool,
      capacity_type: capacityType
    }),
    1
  ).pipe(
    Effect.andThen(
      Metric.update(
        Metric.withAttributes(unhealthyDisruptedTotal, {
          condition: snakeCase(conditionType),
          nodepool,
          capacity_type: capacityType,
          image_id: claim.status?.imageID ?? ""
        }),
        1
      )
    )
  )
}
