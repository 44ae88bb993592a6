/**
 * The metrics of provisioning (upstream `pkg/metrics` NodeClaimsCreatedTotal and `provisioning/scheduling/metrics.go`,
 * v1.4.0), under their Prometheus names (namespace `karpenter`).
 */
import * as Metric from "effect/Metric"

/**
 * `karpenter_nodeclaims_created_total{reason,nodepool,capacity_type,min_values_relaxed}`: reason `provisioning` or a
 * disruption method; `min_values_relaxed` (upstream v1.6) from the NodeClaim's annotation, "false" without one.
 */
export const nodeClaimsCreatedTotal = Metric.counter("karpenter_nodeclaims_created_total", {
  description:
    "Number of nodeclaims created in total by Karpenter. Labeled by reason the nodeclaim was created, the owning nodepool, the capacity type and if min values was relaxed for this nodeclaim.",
  incremental: true
})

/** `karpenter_scheduler_scheduling_duration_seconds{controller}`: one scheduling simulation. */
export const schedulingDurationSeconds = Metric.histogram("karpenter_scheduler_scheduling_duration_seconds", {
  description: "Duration of scheduling simulations used for deprovisioning and provisioning in seconds.",
  boundaries: Metric.exponentialBoundaries({ start: 0.001, factor: 2, count: 20 })
})

/** `karpenter_scheduler_queue_depth{controller,scheduling_id}`: pods still to place in the running simulation. */
export const queueDepth = Metric.gauge("karpenter_scheduler_queue_depth", {
  description: "The number of pods currently waiting to be scheduled."
})

/** `karpenter_scheduler_unschedulable_pods_count{controller}`: pods the last simulation could not place. */
export const unschedulablePodsCount = Metric.gauge("karpenter_scheduler_unschedulable_pods_count", {
  description: "The number of unschedulable Pods."
})
