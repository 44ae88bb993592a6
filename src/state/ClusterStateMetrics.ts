/**
 * The metrics the cluster state observes itself (upstream `pkg/controllers/state/metrics.go`), and the duration buckets
 * they share with the pod metrics controller.
 */
import * as Metric from "effect/Metric"

/** Upstream `metrics.DurationBuckets`: controller-runtime's thresholds, extended to 10 minutes. */
export const durationBuckets: ReadonlyArray<number> = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.25, 1.5, 1.75,
  2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30, 40, 50, 60, 120, 150, 300, 450, 600
]

/** `karpenter_pods_scheduling_decision_duration_seconds`: acknowledged to first decision (observed by the state). */
export const schedulingDecisionDurationSeconds = Metric.histogram(
  "karpenter_pods_scheduling_decision_duration_seconds",
  {
    description: "The time it takes for Karpenter to first try to schedule a pod after it's been seen.",
    boundaries: durationBuckets
  }
)
