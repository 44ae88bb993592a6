import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
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
