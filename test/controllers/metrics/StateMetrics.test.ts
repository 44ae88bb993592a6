import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Labels from "../../../src/api/Labels.ts"
import { KubeClient } from "../../../src/kube/KubeClient.ts"
import * as Resources from "../../../src/kube/Resources.ts"
import * as Operations from "../../../src/operator/Operations.ts"
import * as S from "../support.ts"
import { operator, sample } from "./support.ts"

/** A NodePool launching only c-2x-amd64-linux of one capacity type. */
const pool = (name: string, capacityType: string) =>
  S.nodePool(name, {
    nodeClassRef: S.kwokNodeClassRef,
    requirements: [
      { key: Labels.InstanceType, operator: "In", values: ["c-2x-amd64-linux"] },
      { key: Labels.CapacityType, operator: "In", values: [capacityType] }
    ]
  })

/** A pod of 1.5 cpu (one per c-2x node) for the NodePool `nodePool`. */
const podFor = (name: string, nodePool: string) =>
  S.pod(name, { cpu: "1.5", spec: { nodeSelector: { [Labels.NodePool]: nodePool } } })

describe("StateMetrics", S.controllerSuite, () => {
  it.effect("karpenter_nodepools_cost_total is the hourly price of each NodePool's NodeClaims' offerings", () =>
    Effect.gen(function* () {
      yield* S.createKwokNodeClass(S.kwokNodeClass("default"))
      yield* S.createNodePool(pool("on-demand", Labels.CapacityTypeOnDemand))
      yield* S.createNodePool(pool("spot", Labels.CapacityTypeSpot))
      yield* S.createPod(podFor("a", "on-demand"))
      yield* S.createPod(podFor("b", "spot"))
      yield* S.createPod(podFor("c", "spot"))
      yield* S.advance(30_000, 1_000)
      assert.strictEqual((yield* S.listNodes).length, 3)

      // data/kwok-instance-types.json: c-2x-amd64-linux is 0.0542949673 on-demand, 0.0380064771 spot, in every zone.
      assert.strictEqual(yield* sample('karpenter_nodepools_cost_total{nodepool="on-demand"}'), 0.0542949673)
      assert.closeTo((yield* sample('karpenter_nodepools_cost_total{nodepool="spot"}')) ?? 0, 2 * 0.0380064771, 1e-12)

      const kube = yield* KubeClient
      const onDemand = (yield* S.listNodeClaims).filter(
        (claim) => claim.metadata.labels?.[Labels.NodePool] === "on-demand"
      )
      yield* kube.delete(Resources.NodeClaims, onDemand[0]?.metadata.name ?? "")
      yield* S.advance(60_000, 1_000)
      assert.strictEqual(yield* sample('karpenter_nodepools_cost_total{nodepool="on-demand"}'), 0)
      assert.closeTo((yield* sample('karpenter_nodepools_cost_total{nodepool="spot"}')) ?? 0, 2 * 0.0380064771, 1e-12)
    }).pipe(Effect.provide(operator), Effect.provideService(Metric.MetricRegistry, new Map()))
  )

  it.effect(
    "karpenter_pods_state is rendered from the pod cache when scraped, not kept as a registered series per pod",
    () =>
      Effect.gen(function* () {
        yield* S.createKwokNodeClass(S.kwokNodeClass("default"))
        yield* S.createNodePool(pool("on-demand", Labels.CapacityTypeOnDemand))
        yield* S.createPod(podFor("a", "on-demand"))
        yield* S.advance(30_000, 1_000)
        const [node] = yield* S.listNodes
        const labels = node?.metadata.labels ?? {}

        const text = yield* Operations.scrape
        assert.include(
          text,
          `karpenter_pods_state{name="a",namespace="default",owner="",node="${node?.metadata.name}",scheduled="True",` +
            `nodepool="on-demand",zone="${labels[Labels.Zone]}",arch="amd64",capacity_type="on-demand",` +
            `instance_type="c-2x-amd64-linux",phase="Running"} 1\n`
        )
        assert.include(text, "# TYPE karpenter_pods_state gauge\n")
        const registered = (yield* Metric.snapshot).filter((series) => series.id === "karpenter_pods_state")
        assert.deepStrictEqual(registered, [])

        yield* S.createPod(podFor("b", "on-demand"))
        yield* S.settle
        assert.match(yield* Operations.scrape, /^karpenter_pods_state\{name="b",[^}]*phase="Pending"\} 1$/m)
      }).pipe(Effect.provide(operator), Effect.provideService(Metric.MetricRegistry, new Map()))
  )
})
