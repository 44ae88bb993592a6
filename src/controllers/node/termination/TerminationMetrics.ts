/**
 * The metrics of node and NodeClaim termination (upstream `node/termination/metrics.go`,
 * `node/termination/terminator/metrics.go`, `nodeclaim/lifecycle/metrics.go` and `pkg/metrics`, v1.4.0), under their
 * Prometheus names (namespace `karpenter`).
 */
import * as Metric from "effect/Metric"

const minute = 60
const hour = 60 * minute
const day = 24 * hour

/** `karpenter_nodes_drained_total{nodepool}`. */
export const nodesDrainedTotal = Metric.counter("karpenter_nodes_drained_total", {
  description: "The total number of nodes drained by Karpenter",
  incremental: true
})

/** `karpenter_nodes_terminated_total{nodepool}`. */
export const nodesTerminatedTotal = Metric.counter("karpenter_nodes_terminated_total", {
  description: "Number of nodes terminated in total by Karpenter. Labeled by owning nodepool.",
  incremental: true
})

/** `karpenter_nodes_termination_duration_seconds{nodepool}` (a summary). */
export const nodesTerminationDurationSeconds = Metric.summary("karpenter_nodes_termination_duration_seconds", {
  description: "The time taken between a node's deletion request and the removal of its finalizer",
  maxAge: "10 minutes",
  maxSize: 1000,
  quantiles: [0, 0.5, 0.9, 0.99, 1]
})

/** `karpenter_nodes_lifetime_duration_seconds{nodepool}`. */
export const nodesLifetimeDurationSeconds = Metric.histogram("karpenter_nodes_lifetime_duration_seconds", {
  description: "The lifetime duration of the nodes since creation.",
  boundaries: [
    15 * minute,
    30 * minute,
    45 * minute,
    hour,
    2 * hour,
    4 * hour,
    6 * hour,
    8 * hour,
    10 * hour,
    12 * hour,
    16 * hour,
    20 * hour,
    day,
    2 * day,
    3 * day,
    5 * day,
    10 * day,
    15 * day,
    20 * day,
    25 * day,
    30 * day
  ]
})

/** `karpenter_nodes_eviction_requests_total{code}`. */
export const nodesEvictionRequestsTotal = Metric.counter("karpenter_nodes_eviction_requests_total", {
  description: "The total number of eviction requests made by Karpenter",
  incremental: true
})

/** `karpenter_nodeclaims_terminated_total{nodepool,capacity_type}`. */
export const nodeClaimsTerminatedTotal = Metric.counter("karpenter_nodeclaims_terminated_total", {
  description: "Number of nodeclaims terminated in total by Karpenter. Labeled by the owning nodepool.",
  incremental: true
})

const exponential = (start: number, factor: number, count: number): ReadonlyArray<number> =>
  Array.from({ length: count }, (_, index) => start * factor ** index)

/** `karpenter_nodeclaims_instance_termination_duration_seconds{nodepool}`. */
export const nodeClaimsInstanceTerminationDurationSeconds = Metric.histogram(
  "karpenter_nodeclaims_instance_termination_duration_seconds",
  { description: "Duration of CloudProvider Instance termination in seconds.", boundaries: exponential(1, 2, 11) }
)

/** `karpenter_nodeclaims_termination_duration_seconds{nodepool}`. */
export const nodeClaimsTerminationDurationSeconds = Metric.histogram(
  "karpenter_nodeclaims_termination_duration_seconds",
  { description: "Duration of NodeClaim termination in seconds.", boundaries: exponential(1, 2, 12) }
)
