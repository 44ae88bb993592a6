/**
 * The `metrics.pod` controller's latency metrics (upstream `pkg/controllers/metrics/pod`, v1.4.0): how long pods wait
 * to be bound and to start, from their creation and from when Karpenter first found them a place, as per-pod gauges
 * while they wait and as histograms (a summary for startup) once they are done. Each pod is reconciled on every
 * change and every 30 s while it exists; its gauges go when it does.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import { isTerminal, type Pod } from "../../api/Pod.ts"
import * as Resources from "../../kube/Resources.ts"
import * as Controller from "../../runtime/Controller.ts"
import * as Result from "../../runtime/Result.ts"
import { ClusterState } from "../../state/ClusterState.ts"
import { durationBuckets } from "../../state/ClusterStateMetrics.ts"

const creationToBound = "The time from pod creation until the pod is bound."
const creationToRunning = "The time from pod creation until the pod is running."
const schedulableToBound =
  "The time from when Karpenter first thinks the pod can schedule until it binds. Note: this calculated from a point in memory, not by the pod creation timestamp."
const schedulableToRunning =
  "The time from when Karpenter first thinks the pod can schedule until the pod is running. Note: this calculated from a point in memory, not by the pod creation timestamp."

/** `karpenter_pods_startup_duration_seconds`: creation to Ready, once per pod this controller saw pending. */
export const startupDurationSeconds = Metric.summary("karpenter_pods_startup_duration_seconds", {
  description: creationToRunning,
  maxAge: "10 minutes",
  maxSize: 1000,
  quantiles: [0, 0.5, 0.9, 0.99, 1]
})

/** `karpenter_pods_unstarted_time_seconds{name,namespace}`: seconds since creation of a pod not Ready yet. */
export const unstartedTimeSeconds = Metric.gauge("karpenter_pods_unstarted_time_seconds", {
  description: creationToRunning
})

/** `karpenter_pods_bound_duration_seconds`: creation to PodScheduled=True, once per pod seen pending. */
export const boundDurationSeconds = Metric.histogram("karpenter_pods_bound_duration_seconds", {
  description: creationToBound,
  boundaries: durationBuckets
})

/** `karpenter_pods_unbound_time_seconds{name,namespace}`: seconds since creation of a pending pod not bound yet. */
export const unboundTimeSeconds = Metric.gauge("karpenter_pods_unbound_time_seconds", { description: creationToBound })

/** `karpenter_pods_provisioning_bound_duration_seconds`: first schedulable to bound. */
export const provisioningBoundDurationSeconds = Metric.histogram("karpenter_pods_provisioning_bound_duration_seconds", {
  description: schedulableToBound,
  boundaries: durationBuckets
})

/** `karpenter_pods_provisioning_unbound_time_seconds{name,namespace}`: seconds since first schedulable, unbound. */
export const provisioningUnboundTimeSeconds = Metric.gauge("karpenter_pods_provisioning_unbound_time_seconds", {
  description: schedulableToBound
})

/** `karpenter_pods_provisioning_startup_duration_seconds`: first schedulable to Ready. */
export const provisioningStartupDurationSeconds = Metric.histogram(
  "karpenter_pods_provisioning_startup_duration_seconds",
  { description: schedulableToRunning, boundaries: durationBuckets }
)

/** `karpenter_pods_provisioning_unstarted_time_seconds{name,namespace}`: seconds since first schedulable, not Ready. */
export const provisioningUnstartedTimeSeconds = Metric.gauge("karpenter_pods_provisioning_unstarted_time_seconds", {
  description: schedulableToRunning
})

/** `karpenter_pods_provisioning_scheduling_undecided_time_seconds{name,namespace}`: acknowledged, not yet decided. */
export const provisioningSchedulingUndecidedTimeSeconds = Metric.gauge(
  "karpenter_pods_provisioning_scheduling_undecided_time_seconds",
  {
    description:
      "The time from when Karpenter has seen a pod without making a scheduling decision for the pod. Note: this calculated from a point in memory, not by the pod creation timestamp."
  }
)

/** The per-pod gauges, each labelled `{name, namespace}`. */
const perPodGauges = [
  unstartedTimeSeconds,
  unboundTimeSeconds,
  provisioningUnboundTimeSeconds,
  provisioningUnstartedTimeSeconds,
  provisioningSchedulingUndecidedTimeSeconds
] as const

/** A pending pod is re-measured this often while nothing about it changes (upstream's RequeueAfter). */
const requeueInterval = "30 seconds"

const conditionTrue = (pod: Pod, type: string) =>
  pod.status?.conditions?.find((condition) => condition.type === type && condition.status === "True")

/** Seconds from `from` to the RFC 3339 time `to` (epoch millis to a condition's lastTransitionTime). */
const secondsUntil = (to: string | undefined, from: number): number => (Date.parse(to ?? "") - from) / 1000

/** Starts `metrics.pod` in the current Scope. */
export const make = Effect.gen(function* () {
  const cluster = yield* ClusterState
  // Pods (by key) seen Pending, whose start or binding is still to be observed (upstream pendingPods, unscheduledPods).
  const unstarted = new Set<string>()
  const unbound = new Set<string>()

  const seriesOf = (gauge: Metric.Gauge<number>, pod: { readonly name: string; readonly namespace: string }) =>
    Metric.withAttributes(gauge, { name: pod.name, namespace: pod.namespace })

  const forget = (key: string) => {
    const [namespace = "", name = ""] = key.split("/")
    unstarted.delete(key)
    unbound.delete(key)
    return Effect.andThen(
      Effect.forEach(perPodGauges, (gauge) => Metric.remove(seriesOf(gauge, { name, namespace })), { discard: true }),
      cluster.clearPodSchedulingTimes(key)
    )
  }

  const reconcile = Effect.fn("PodMetrics.reconcile")(function* (key: string, pod: Pod) {
    const now = yield* Clock.currentTimeMillis
    const id = { name: pod.metadata.name ?? "", namespace: pod.metadata.namespace ?? "" }
    const set = (gauge: Metric.Gauge<number>, since: number) => Metric.update(seriesOf(gauge, id), (now - since) / 1000)
    const remove = (gauge: Metric.Gauge<number>) => Metric.remove(seriesOf(gauge, id))
    const created = Date.parse(pod.metadata.creationTimestamp ?? "")
    const times = yield* cluster.podSchedulingTimes(key)
    const pending = pod.status?.phase === "Pending"
    const scheduled = conditionTrue(pod, "PodScheduled")
    const ready = conditionTrue(pod, "Ready")

    // Undecided: acknowledged by the provisioner, no decision yet. Upstream (after v1.4.0) also drops it once the pod
    // is bound or terminal, which v1.4.0 kept reporting for a pod kube-scheduler placed without Karpenter.
    if (times.decided !== undefined || scheduled !== undefined || (pod.spec.nodeName ?? "") !== "" || isTerminal(pod)) {
      yield* remove(provisioningSchedulingUndecidedTimeSeconds)
    } else if (times.acked !== undefined) {
      yield* set(provisioningSchedulingUndecidedTimeSeconds, times.acked)
    }

    // Startup: measured while Pending, observed once a pod seen pending is Ready.
    if (pending || (unstarted.has(key) && ready === undefined && !isTerminal(pod))) {
      yield* set(unstartedTimeSeconds, created)
      // Upstream (after v1.4.0) drops the provisioning gauge of a pod with no schedulable time instead of leaving
      // whatever an earlier pass set.
      yield* times.schedulable === undefined
        ? remove(provisioningUnstartedTimeSeconds)
        : set(provisioningUnstartedTimeSeconds, times.schedulable)
      unstarted.add(key)
    } else if (unstarted.has(key)) {
      yield* remove(unstartedTimeSeconds)
      yield* remove(provisioningUnstartedTimeSeconds)
      // A terminal pod's Ready is False: upstream (after v1.4.0) stops observing it, which v1.4.0 did negatively.
      if (ready !== undefined) {
        yield* Metric.update(startupDurationSeconds, secondsUntil(ready.lastTransitionTime, created))
        if (times.schedulable !== undefined) {
          yield* Metric.update(
            provisioningStartupDurationSeconds,
            secondsUntil(ready.lastTransitionTime, times.schedulable)
          )
        }
      }
      unstarted.delete(key)
      yield* cluster.clearPodSchedulingTimes(key)
    }

    // Binding: measured while Pending and unbound, observed once a pod seen pending has left Pending bound.
    if (pending) {
      if (scheduled === undefined) {
        yield* set(unboundTimeSeconds, created)
        yield* times.schedulable === undefined
          ? remove(provisioningUnboundTimeSeconds)
          : set(provisioningUnboundTimeSeconds, times.schedulable)
      }
      unbound.add(key)
    } else if (unbound.has(key) && scheduled !== undefined) {
      yield* remove(unboundTimeSeconds)
      yield* remove(provisioningUnboundTimeSeconds)
      yield* Metric.update(boundDurationSeconds, secondsUntil(scheduled.lastTransitionTime, created))
      if (times.schedulable !== undefined) {
        yield* Metric.update(
          provisioningBoundDurationSeconds,
          secondsUntil(scheduled.lastTransitionTime, times.schedulable)
        )
      }
      unbound.delete(key)
    }
    return Result.requeueAfter(requeueInterval)
  })

  return yield* Controller.make({
    name: "metrics.pod",
    for: Resources.Pods,
    reconcile: (key, pod) => (pod === undefined ? Effect.as(forget(key), Result.done) : reconcile(key, pod))
  })
})
