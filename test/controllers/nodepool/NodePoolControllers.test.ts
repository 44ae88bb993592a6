import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ConditionTypes from "../../../src/api/Conditions.ts"
import * as Labels from "../../../src/api/Labels.ts"
import * as Hash from "../../../src/controllers/nodepool/hash/Hash.ts"
import * as NodePoolControllers from "../../../src/controllers/nodepool/NodePoolControllers.ts"
import * as Conditions from "../../../src/controllers/StatusConditions.ts"
import { EventRecorder } from "../../../src/kube/EventRecorder.ts"
import { createNodeClass, createNodePool, getNodePool, kwokNodeClass, nodePool, run, settle } from "./support.ts"

describe("NodePoolControllers", () => {
  it.effect("together bring a new NodePool to Ready, hashed, counted, with registration health Unknown", () =>
    run(
      Effect.gen(function* () {
        yield* createNodeClass(kwokNodeClass("default"))
        yield* createNodePool(nodePool("np"))
        yield* Layer.build(NodePoolControllers.layer.pipe(Layer.provide(EventRecorder.layerMemory([]))))
        yield* settle
        const stored = yield* getNodePool("np")
        const conditions = stored.status?.conditions
        assert.deepStrictEqual(
          [
            ConditionTypes.ValidationSucceeded,
            ConditionTypes.NodeClassReady,
            ConditionTypes.Ready,
            ConditionTypes.NodeRegistrationHealthy
          ].map((type) => Conditions.get(conditions, type)?.status),
          ["True", "True", "True", "Unknown"]
        )
        // The root is sorted last.
        assert.strictEqual(conditions?.at(-1)?.type, ConditionTypes.Ready)
        assert.strictEqual(stored.metadata.annotations?.[Labels.NodePoolHashAnnotation], Hash.hashOf(stored))
        assert.strictEqual(stored.status?.resources?.nodes, "1")
        assert.strictEqual(stored.status?.nodeClassObservedGeneration, 1)
      }),
      { cluster: { synced: true, resources: { np: { cpu: 2000, nodes: 1000 } } } }
    )
  )
})
