import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Labels from "../../../src/api/Labels.ts"
import * as NodeOverlayApi from "../../../src/api/NodeOverlay.ts"
import { KubeClient } from "../../../src/kube/KubeClient.ts"
import * as Resources from "../../../src/kube/Resources.ts"
import * as D from "../disruption/support.ts"
import * as S from "../support.ts"

// By list price "plain" is the cheaper 4-core type; a savings plan on "discounted" makes it the cheaper one.
const catalogue = [D.instanceType("plain", 4, 0.2), D.instanceType("discounted", 4, 0.3)]

const savingsPlan = {
  apiVersion: NodeOverlayApi.apiVersion,
  kind: NodeOverlayApi.kind,
  metadata: { name: "savings-plan" },
  spec: {
    requirements: [{ key: Labels.InstanceType, operator: "In", values: ["discounted"] }],
    priceAdjustment: "-50%"
  }
}

/** A NodePool, the overlay and a 3-core pod pending for a controller-driven launch; a few minutes of the cluster. */
const run = (gate: boolean) =>
  Effect.gen(function* () {
    const kube = yield* KubeClient
    yield* D.setup(D.nodePool("default"))
    yield* kube.create(Resources.NodeOverlays, savingsPlan as never)
    const log = yield* D.start({ nodeOverlay: gate })
    yield* S.createPod(S.pod("api", { cpu: "3" }))
    yield* S.advance(5 * 60_000)
    return { types: Object.values(yield* D.nodeTypes), decisions: log.entries() }
  }).pipe(Effect.provide(D.base(catalogue)))

describe("NodeOverlay: the launch", S.controllerSuite, () => {
  it.effect("with the gate on, the provisioner launches the type the overlaid prices make cheapest; no churn", () =>
    Effect.gen(function* () {
      const { types, decisions } = yield* run(true)
      assert.deepStrictEqual(
        decisions.map(({ reason, replacements }) => ({ reason, replacements })),
        [],
        "consolidation has nothing cheaper to replace the launch with"
      )
      assert.deepStrictEqual(types, ["discounted"])
    })
  )

  it.effect("with the gate off, the list prices decide", () =>
    Effect.gen(function* () {
      const { types, decisions } = yield* run(false)
      assert.deepStrictEqual(types, ["plain"])
      assert.strictEqual(decisions.length, 0)
    })
  )
})

describe("NodeOverlay and disruption budgets", S.controllerSuite, () => {
  it.effect("an overlay making running nodes' replacements cheaper: consolidation replaces them one at a time", () =>
    Effect.gen(function* () {
      const kube = yield* KubeClient
      yield* D.setup(D.nodePool("default", { budgets: [{ nodes: "1" }] }))
      const log = yield* D.start({ nodeOverlay: true })
      const tracker = yield* D.trackDisrupting
      const old = ["n1", "n2", "n3"]
      for (const name of old) yield* D.launch(name, "plain")
      yield* S.advance(2_000, 1_000)
      // 3 of 4 cores on each: no pod fits beside another, so each node is worth replacing only by price.
      for (const name of old) yield* D.boundPod(`p-${name}`, name, { cpu: "3" })
      yield* S.advance(60_000, 10_000)
      assert.deepStrictEqual(log.entries(), [], "by list prices the running nodes are the cheapest")

      yield* kube.create(Resources.NodeOverlays, savingsPlan as never)
      for (let step = 0; step < 60; step++) {
        yield* S.advance(5_000, 5_000)
        assert.isAtMost(yield* D.disrupting, 1)
      }
      assert.strictEqual(tracker.most(), 1, "never more than the budget disrupting at once, and it was used")
      const entries = log.entries()
      assert.deepStrictEqual(entries[0] && { reason: entries[0].reason, replacements: entries[0].replacements }, {
        reason: "Underutilized",
        replacements: ["discounted"]
      })
      for (const entry of entries) assert.strictEqual(entry.candidates.length, 1, "one node per command")
      const disrupted = entries.flatMap((entry) => entry.candidates)
      for (const name of old) assert.include(disrupted, name, "every node on the dearer type is replaced")
      for (const type of Object.values(yield* D.nodeTypes)) assert.strictEqual(type, "discounted")
    }).pipe(Effect.provide(D.base(catalogue)))
  )
})
