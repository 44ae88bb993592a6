import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Fake from "../../../layers/cloudprovider/fake/FakeCloudProvider.ts"
import * as NodeOverlayApi from "../../../src/api/NodeOverlay.ts"
import * as NodeOverlayController from "../../../src/controllers/nodeoverlay/NodeOverlayController.ts"
import { KubeClient } from "../../../src/kube/KubeClient.ts"
import * as Resources from "../../../src/kube/Resources.ts"
import * as S from "../support.ts"

const overlay = (name: string, spec: Record<string, unknown>) => ({
  apiVersion: NodeOverlayApi.apiVersion,
  kind: NodeOverlayApi.kind,
  metadata: { name },
  spec: { requirements: [{ key: "node.kubernetes.io/instance-type", operator: "Exists" }], ...spec }
})

const createOverlay = (object: ReturnType<typeof overlay>) =>
  Effect.flatMap(Effect.service(KubeClient), (kube) => kube.create(Resources.NodeOverlays, object as never))

const validation = (name: string) =>
  Effect.flatMap(Effect.service(KubeClient), (kube) => kube.get(Resources.NodeOverlays, name)).pipe(
    Effect.map((object) => S.conditionOf(object.status?.conditions, NodeOverlayApi.ValidationSucceeded))
  )

/** A NodePool on the fake catalogue and the controllers' NodeOverlay wiring, with the gate on or off. */
const start = (gate: boolean) =>
  Effect.gen(function* () {
    const fake = yield* Fake.FakeCloudProvider
    yield* fake.setInstanceTypes(S.fakeCatalogue())
    yield* S.createNodePool(S.nodePool("default"))
    yield* Layer.build(
      NodeOverlayController.gated({ nodeOverlay: gate }, Layer.empty).pipe(Layer.provideMerge(S.processServices))
    )
    yield* S.settle
  })

describe("nodeoverlay.controller", S.controllerSuite, () => {
  it.effect("same weight, same field: the overlay resolved second (by name, descending) reports Conflict", () =>
    Effect.gen(function* () {
      yield* createOverlay(overlay("a-discount", { weight: 5, priceAdjustment: "-10%" }))
      yield* createOverlay(overlay("b-discount", { weight: 5, price: "0.01" }))
      yield* createOverlay(overlay("heavier", { weight: 50, capacity: { "hugepages-2Mi": "1Gi" } }))
      yield* start(true)
      yield* S.advance(1_000)
      assert.strictEqual((yield* validation("b-discount"))?.status, "True")
      assert.strictEqual((yield* validation("heavier"))?.status, "True")
      const conflict = yield* validation("a-discount")
      assert.strictEqual(conflict?.status, "False")
      assert.strictEqual(conflict?.reason, NodeOverlayApi.Conflict)
      assert.strictEqual(conflict?.message, "conflict with another overlay")
    }).pipe(Effect.provide(S.fakeBase))
  )

  it.effect("with the gate off nothing reads the overlays: no status is written", () =>
    Effect.gen(function* () {
      yield* createOverlay(overlay("discount", { price: "0.01" }))
      yield* start(false)
      yield* S.advance(1_000)
      assert.isUndefined(yield* validation("discount"))
    }).pipe(Effect.provide(S.fakeBase))
  )

  it.effect("the API server refuses what upstream's CRD refuses, with upstream's messages", () =>
    Effect.gen(function* () {
      const refused = (spec: Record<string, unknown>) =>
        createOverlay(overlay("bad", spec)).pipe(
          Effect.flip,
          Effect.map((error) => String((error as { message?: string }).message))
        )
      assert.include(
        yield* refused({ price: "1", priceAdjustment: "+1" }),
        "cannot set both 'price' and 'priceAdjustment'"
      )
      assert.include(yield* refused({ capacity: { cpu: "1" } }), "invalid resource restricted")
      assert.include(
        yield* refused({ requirements: [{ key: "node.kubernetes.io/instance-type", operator: "NotIn", values: [] }] }),
        "requirements with operator 'NotIn' must have a value defined"
      )
      assert.include(yield* refused({ weight: 0 }), "spec.weight")
      assert.include(yield* refused({ priceAdjustment: "-150%" }), "spec.priceAdjustment")
    }).pipe(Effect.provide(S.fakeBase))
  )
})
