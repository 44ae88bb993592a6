/**
 * The metrics of voluntary disruption (upstream `disruption/metrics.go` and the NodePool/NodeClaim disruption metrics,
 * v1.4.0), under their Prometheus names (namespace `karpenter`).
 */
import * as Metric from "effect/Metric"

/** `karpenter_voluntary_disruption_decisions_total{decision,reason,consolidation_type}`: delete or replace. */
export const decisionsTotal = Metric.counter("karpenter_voluntary_disruption_decisions_total", {
  description: "Number of disruption decisions performed",
  incremental: true
})

/** `karpenter_voluntary_disruption_eligible_nodes{reason}`: candidates a method saw on its last pass. */
export const eligibleNodes = Metric.gauge("karpenter_voluntary_disruption_eligible_nodes", {
  description: "Number of nodes eligible for disruption by Karpenter. Labeled by disruption reason."
})

/**
 * The series of `metric` by a key of their attributes, each made once: a metric made by `Metric.withAttributes`
 * writes its series key (a JSON text) on its first update, and the disruption loop updates a few series every pass.
 */
export const seriesBy = <Input, State>(metric: Metric.Metric<Input, State>) => {
  const made = new Map<string, Metric.Metric<Input, State>>()
  return (key: string, attributes: () => Metric.Metric.Attributes): Metric.Metric<Input, State> => {
    let series = made.get(key)
    if (series === undefined) {
      series = Metric.withAttributes(metric, attributes())
      made.set(key, series)
    }
    return series
  }
}

const eligibleSeries = seriesBy(eligibleNodes)

/** Sets the eligible-nodes gauge of a reason: how many candidates its method saw. */
export const reportEligible = (reason: string, count: number) =>
  Metric.update(
    eligibleSeries(reason, () => ({ reason: reason.toLowerCase() })),
    count
  )

/** `karpenter_voluntary_disruption_consolidation_timeouts_total{consolidation_type}`. */
export const consolidationTimeoutsTotal = Metric.counter(
  "karpenter_voluntary_disruption_consolidation_timeouts_total",
  {
    description: "Number of times the Consolidation algorithm has reached a timeout. Labeled by consolidation type.",
    incremental: true
  }
)

/** `karpenter_voluntary_disruption_decision_evaluation_duration_seconds{reason,consolidation_type}`. */
export const evaluationDurationSeconds = Metric.histogram(
  "karpenter_voluntary_disruption_decision_evaluation_duration_seconds",
  {
    description:
      "Duration of the disruption decision evaluation process in seconds. Labeled by method and consolidation type.",
    boundaries: Metric.exponentialBoundaries({ start: 0.01, factor: 2, count: 16 })
  }
)

/** `karpenter_voluntary_disruption_queue_failures_total{decision,reason,consolidation_type}`: abandoned commands. */
export const queueFailuresTotal = Metric.counter("karpenter_voluntary_disruption_queue_failures_total", {
  description: "The number of times that an enqueued disruption decision failed. Labeled by disruption method.",
  incremental: true
})

/** `karpenter_nodepools_allowed_disruptions{nodepool,reason}`. */
export const nodePoolsAllowedDisruptions = Metric.gauge("karpenter_nodepools_allowed_disruptions", {
  description: "The number of nodes for a given NodePool that can be concurrently disrupting at a point in time."
})

/** `karpenter_nodeclaims_disrupted_total{reason,nodepool,capacity_type}` (reason in snake case). */
export const nodeClaimsDisruptedTotal = Metric.counter("karpenter_nodeclaims_disrupted_total", {
  description: "Number of nodeclaims disrupted in total by Karpenter. Labeled by reason the nodeclaim was disrupted.",
  incremental: true
})

/** Upstream's label for a method: its reason in lower case, and the consolidation type where it has one. */
export const methodAttributes = (reason: string, method: string): Record<string, string> => ({
  reason: reason.toLowerCase(),
  consolidation_type: method === "single" || method === "multi" ? method : ""
})
