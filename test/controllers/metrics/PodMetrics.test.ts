import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import { KubeClient } from "../../../src/kube/KubeClient.ts"
import * as Resources from "../../../src/kube/Resources.ts"
import * as S from "../support.ts"
import { operator, sample } from "./support.ts"

const podA = '{name="a",namespace="default"}'

describe("PodMetrics", S.controllerSuite, () => {
  it.effect("a pod pending 7 s until its node registers observes 7 s to bind and start, 6 s from its placement", () =>
    Effect.gen(function* () {
      // The node registers 6 s after the NodeClaim the provisioner creates once its 1 s batch closes.
      yield* S.createKwokNodeClass(S.kwokNodeClass("default", { nodeRegistrationDelay: "6s" }))
      yield* S.createNodePool(S.nodePool("default", { nodeClassRef: S.kwokNodeClassRef }))
      yield* S.createPod(S.pod("a"))
      yield* S.advance(3_000, 1_000)
      assert.strictEqual(yield* sample(`karpenter_pods_unbound_time_seconds${podA}`), 0)
      assert.strictEqual(yield* sample(`karpenter_pods_unstarted_time_seconds${podA}`), 0)
      assert.strictEqual(yield* sample("karpenter_pods_bound_duration_seconds_count"), undefined)
      yield* S.advance(7_000, 1_000)

      assert.strictEqual((yield* S.getPod("a")).status?.phase, "Running")
      assert.strictEqual(yield* sample("karpenter_pods_scheduling_decision_duration_seconds_sum"), 1)
      assert.strictEqual(yield* sample("karpenter_pods_bound_duration_seconds_sum"), 7)
      assert.strictEqual(yield* sample("karpenter_pods_bound_duration_seconds_count"), 1)
      assert.strictEqual(yield* sample('karpenter_pods_bound_duration_seconds_bucket{le="6"}'), 0)
      assert.strictEqual(yield* sample('karpenter_pods_bound_duration_seconds_bucket{le="7"}'), 1)
      assert.strictEqual(yield* sample("karpenter_pods_provisioning_bound_duration_seconds_sum"), 6)
      assert.strictEqual(yield* sample("karpenter_pods_startup_duration_seconds_sum"), 7)
      assert.strictEqual(yield* sample("karpenter_pods_startup_duration_seconds_count"), 1)
      assert.strictEqual(yield* sample("karpenter_pods_provisioning_startup_duration_seconds_sum"), 6)
      // Bound and started: the pod's waiting gauges are gone.
      for (const gauge of [
        "unbound_time_seconds",
        "unstarted_time_seconds",
        "provisioning_scheduling_undecided_time_seconds"
      ]) {
        assert.strictEqual(yield* sample(`karpenter_pods_${gauge}${podA}`), undefined, gauge)
      }
    }).pipe(Effect.provide(operator), Effect.provideService(Metric.MetricRegistry, new Map()))
  )

  it.effect("a pod no NodePool can take shows its waiting time, re-measured every 30 s, until it is deleted", () =>
    Effect.gen(function* () {
      yield* S.createKwokNodeClass(S.kwokNodeClass("default"))
      yield* S.createNodePool(S.nodePool("default", { nodeClassRef: S.kwokNodeClassRef, limits: { cpu: "0" } }))
      yield* S.createPod(S.pod("a"))
      yield* S.advance(31_000, 1_000)

      assert.strictEqual(yield* sample(`karpenter_pods_unbound_time_seconds${podA}`), 30)
      assert.strictEqual(yield* sample(`karpenter_pods_unstarted_time_seconds${podA}`), 30)
      // Decided (it fits no NodePool), never schedulable: no provisioning-relative gauges.
      assert.strictEqual(yield* sample("karpenter_pods_scheduling_decision_duration_seconds_count"), 1)
      assert.strictEqual(
        yield* sample(`karpenter_pods_provisioning_scheduling_undecided_time_seconds${podA}`),
        undefined
      )
      assert.strictEqual(yield* sample(`karpenter_pods_provisioning_unbound_time_seconds${podA}`), undefined)
      yield* S.advance(30_000, 1_000)
      assert.strictEqual(yield* sample(`karpenter_pods_unbound_time_seconds${podA}`), 60)

      const kube = yield* KubeClient
      yield* kube.delete(Resources.Pods, "a", { namespace: "default", gracePeriodSeconds: 0 })
      yield* S.advance(1_000, 1_000)
      assert.strictEqual(yield* sample(`karpenter_pods_unbound_time_seconds${podA}`), undefined)
      assert.strictEqual(yield* sample(`karpenter_pods_unstarted_time_seconds${podA}`), undefined)
      assert.strictEqual(yield* sample("karpenter_pods_bound_duration_seconds_count"), undefined)
    }).pipe(Effect.provide(operator), Effect.provideService(Metric.MetricRegistry, new Map()))
  )
})
