/**
 * The metrics of voluntary disruption (upstream `disruption/metrics.go` and the NodePool/NodeClaim disruption metrics,
 * v1.4.0), under their Prometheus names (namespace `karpenter`).
 */
import * as Metric from "effect/Metric"

/**
 * The series of a metric by a key of their attributes, each made once by `make` as a metric of its own (the same
 * registry series as `Metric.withAttributes` would update): a `withAttributes` metric writes its series key, a JSON
 * text, on every update, and the disruption loop updates a few series every pass — 70,000 keys in a simulated day.
 */
export const seriesBy = <Input, State>(make: (attributes: Metric.Metric.Attributes) => Metric.Metric<Input, State>) => {
  const made = new Map<string, Metric.Metric<Input, State>>()
  return (key: string, attributes: () => Metric.Metric.Attributes): Metric.Metric<Input, State> => {
    let series = made.get(key)
    if (series === undefined) {
      series = make(attributes())
      made.set(key, series)
    }
    return series
  }
}

/** `karpenter_voluntary_disruption_decisions_total{decision,reason,consolidation_type}`: delete or replace. */
export const decisionsTotal = Metric.counter("karpenter_voluntary_disruption_decisions_total", {
  description: "Number of disruption decisions performed",
  incremental: true
})

const eligibleNodesOf = (attributes?: Metric.Metric.Attributes) =>
  Metric.gauge("karpenter_voluntary_disruption_eligible_nodes", {
    description: "Number of nodes eligible for disruption by Karpenter. Labeled by disruption reason.",
    attributes
  })

/** `karpenter_voluntary_disruption_eligible_nodes{reason}`: candidates a method saw on its last pass. */
export const eligibleNodes = eligibleNodesOf()

const eligibleSeries = seriesBy(eligibleNodesOf)

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

const evaluationDurationSecondsOf = (attributes?: Metric.Metric.Attributes) =>
  Metric.histogram("karpenter_voluntary_disruption_decision_evaluation_duration_seconds", {
    description:
      "Duration of the disruption decision evaluation process in seconds. Labeled by method and consolidation type.",
    boundaries: Metric.exponentialBoundaries({ start: 0.01, factor: 2, count: 16 }),
    attributes
  })

/** `karpenter_voluntary_disruption_decision_evaluation_duration_seconds{reason,consolidation_type}`. */
export const evaluationDurationSeconds = evaluationDurationSecondsOf()

/** {@link evaluationDurationSeconds} by method. */
export const evaluationSeries = seriesBy(evaluationDurationSecondsOf)

/** `karpenter_voluntary_disruption_queue_failures_total{decision,reason,consolidation_type}`: abandoned commands. */
export const queueFailuresTotal = Metric.counter("karpenter_voluntary_disruption_queue_failures_total", {
  description: "The number of times that an enqueued disruption decision failed. Labeled by disruption method.",
  incremental: true
})

const nodePoolsAllowedDisruptionsOf = (attributes?: Metric.Metric.Attributes) =>
  Metric.gauge("karpenter_nodepools_allowed_disruptions", {
    description: "The number of nodes for a given NodePool that can be concurrently disrupting at a point in time.",
    attributes
  })

/** `karpenter_nodepools_allowed_disruptions{nodepool,reason}`. */
export const nodePoolsAllowedDisruptions = nodePoolsAllowedDisruptionsOf()

/** {@link nodePoolsAllowedDisruptions} by NodePool and reason. */
export const allowedDisruptionsSeries = seriesBy(nodePoolsAllowedDisruptionsOf)

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
