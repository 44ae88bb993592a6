import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as ConditionTypes from "../../../../src/api/Conditions.ts"
import * as RegistrationHealth from "../../../../src/controllers/nodepool/registrationhealth/RegistrationHealth.ts"
import * as Conditions from "../../../../src/controllers/StatusConditions.ts"
import { KubeClient } from "../../../../src/kube/KubeClient.ts"
import * as Resources from "../../../../src/kube/Resources.ts"
import {
  conditionOf,
  createNodeClass,
  createNodePool,
  getNodePool,
  kwokNodeClass,
  nodePool,
  patchNodePoolSpec,
  run,
  settle
} from "../support.ts"

const health = conditionOf("np", ConditionTypes.NodeRegistrationHealthy)

// A spec change of the KWOKNodeClass bumps its generation.
const bumpNodeClass = (delay: string) =>
  Effect.flatMap(Effect.service(KubeClient), (kube) =>
    kube.patch(Resources.KWOKNodeClasses, "default", {
      type: "merge",
      patch: { spec: { nodeRegistrationDelay: delay } }
    })
  )

describe("nodepool.registrationhealth", () => {
  it.effect("starts Unknown and records the NodeClass generation", () =>
    run(
      Effect.gen(function* () {
        yield* createNodeClass(kwokNodeClass("default"))
        yield* createNodePool(nodePool("np"))
        yield* RegistrationHealth.make()
        yield* settle
        const stored = yield* getNodePool("np")
        const condition = Conditions.get(stored.status?.conditions, ConditionTypes.NodeRegistrationHealthy)
        assert.deepStrictEqual(
          [condition?.status, condition?.reason, condition?.observedGeneration],
          ["Unknown", Conditions.AwaitingReconciliation, 1]
        )
        assert.strictEqual(stored.status?.nodeClassObservedGeneration, 1)
        // Not part of Ready.
        assert.strictEqual(
          Conditions.get(stored.status?.conditions, ConditionTypes.Ready)?.message,
          "ValidationSucceeded=Unknown, NodeClassReady=Unknown"
        )
      })
    )
  )

  it.effect("waits for the NodeClass to exist", () =>
    run(
      Effect.gen(function* () {
        yield* createNodePool(nodePool("np"))
        yield* RegistrationHealth.make()
        yield* settle
        assert.isUndefined((yield* getNodePool("np")).status)
        yield* createNodeClass(kwokNodeClass("default"))
        yield* settle
        assert.strictEqual((yield* health)?.status, "Unknown")
      })
    )
  )

  it.effect("goes back to Unknown when the NodePool's spec changes", () =>
    run(
      Effect.gen(function* () {
        yield* createNodeClass(kwokNodeClass("default"))
        yield* createNodePool(nodePool("np"))
        yield* RegistrationHealth.make()
        yield* settle
        yield* RegistrationHealth.markHealthy("np")
        yield* settle
        assert.strictEqual((yield* health)?.status, "True")

        yield* patchNodePoolSpec("np", { template: { metadata: { labels: { team: "a" } } } })
        yield* settle
        const reset = yield* health
        assert.deepStrictEqual([reset?.status, reset?.observedGeneration], ["Unknown", 2])
      })
    )
  )

  it.effect("goes back to Unknown when the NodeClass's generation changes, and records it", () =>
    run(
      Effect.gen(function* () {
        yield* createNodeClass(kwokNodeClass("default"))
        yield* createNodePool(nodePool("np"))
        yield* RegistrationHealth.make()
        yield* settle
        yield* RegistrationHealth.markHealthy("np")
        yield* settle
        assert.strictEqual((yield* health)?.status, "True")

        yield* bumpNodeClass("5s")
        yield* settle
        assert.strictEqual((yield* health)?.status, "Unknown")
        assert.strictEqual((yield* getNodePool("np")).status?.nodeClassObservedGeneration, 2)
      })
    )
  )

  it.effect("markUnhealthy only moves Unknown (or absent) to False", () =>
    run(
      Effect.gen(function* () {
        yield* createNodeClass(kwokNodeClass("default"))
        yield* createNodePool(nodePool("np"))
        yield* createNodePool(nodePool("fresh"))
        // No condition at all yet counts as Unknown.
        yield* RegistrationHealth.markUnhealthy("fresh", "InsufficientCapacity", "no capacity")
        const fresh = yield* conditionOf("fresh", ConditionTypes.NodeRegistrationHealthy)
        assert.deepStrictEqual(
          [fresh?.status, fresh?.reason, fresh?.message],
          ["False", "InsufficientCapacity", "no capacity"]
        )

        yield* RegistrationHealth.make()
        yield* settle
        yield* RegistrationHealth.markUnhealthy("np", ConditionTypes.RegistrationFailed, "Failed to register node")
        const failed = yield* health
        assert.deepStrictEqual([failed?.status, failed?.reason], ["False", ConditionTypes.RegistrationFailed])

        // Already False: a second failure does not rewrite it.
        const before = (yield* getNodePool("np")).metadata.resourceVersion
        yield* RegistrationHealth.markUnhealthy("np", "Other", "other")
        assert.strictEqual((yield* getNodePool("np")).metadata.resourceVersion, before)

        // True: a registration TTL hit does not flip it.
        yield* RegistrationHealth.markHealthy("np")
        yield* RegistrationHealth.markUnhealthy("np", ConditionTypes.RegistrationFailed, "Failed to register node")
        assert.strictEqual((yield* health)?.status, "True")

        // Marks on a NodePool that is gone are no-ops.
        yield* RegistrationHealth.markHealthy("missing")
        yield* RegistrationHealth.markUnhealthy("missing", "X", "y")
      })
    )
  )

  it.effect("markHealthy writes only when the condition changes", () =>
    run(
      Effect.gen(function* () {
        yield* createNodePool(nodePool("np"))
        yield* RegistrationHealth.markHealthy("np")
        const first = yield* getNodePool("np")
        assert.strictEqual(
          Conditions.get(first.status?.conditions, ConditionTypes.NodeRegistrationHealthy)?.status,
          "True"
        )
        yield* RegistrationHealth.markHealthy("np")
        assert.strictEqual((yield* getNodePool("np")).metadata.resourceVersion, first.metadata.resourceVersion)
      })
    )
  )
})
