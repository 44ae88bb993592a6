import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as ConditionTypes from "../../../../src/api/Conditions.ts"
import * as Readiness from "../../../../src/controllers/nodepool/readiness/Readiness.ts"
import * as Conditions from "../../../../src/controllers/StatusConditions.ts"
import { KubeClient } from "../../../../src/kube/KubeClient.ts"
import * as Resources from "../../../../src/kube/Resources.ts"
import {
  cloudProvider,
  conditionOf,
  createNodeClass,
  createNodePool,
  getNodePool,
  kwokKind,
  kwokNodeClass,
  nodePool,
  run,
  setNodeClassConditions,
  settle
} from "../support.ts"

const readyCondition = (status: "True" | "False" | "Unknown", reason = "Ready", message = "") => ({
  type: "Ready",
  status,
  observedGeneration: 1,
  lastTransitionTime: "2025-01-01T00:00:00Z",
  reason,
  message
})

const nodeClassReady = conditionOf("np", ConditionTypes.NodeClassReady)

describe("nodepool.readiness", () => {
  it.effect("NodeClassNotFound while the NodeClass is missing, True once it exists (NodeClass watch)", () =>
    run(
      Effect.gen(function* () {
        yield* createNodePool(nodePool("np"))
        yield* Readiness.make()
        yield* settle
        const missing = yield* nodeClassReady
        assert.strictEqual(missing?.status, "False")
        assert.strictEqual(missing?.reason, ConditionTypes.NodeClassNotFound)
        assert.strictEqual(missing?.message, "NodeClass not found on cluster")

        // A KWOKNodeClass without conditions is ready.
        yield* createNodeClass(kwokNodeClass("default"))
        yield* settle
        assert.strictEqual((yield* nodeClassReady)?.status, "True")
        assert.strictEqual((yield* nodeClassReady)?.reason, ConditionTypes.NodeClassReady)
      })
    )
  )

  it.effect(
    "follows the NodeClass's Ready: False with its reason, Unknown or absent as NodeClassReadinessUnknown",
    () =>
      run(
        Effect.gen(function* () {
          yield* createNodeClass(kwokNodeClass("default"))
          yield* setNodeClassConditions("default", [readyCondition("False", "SubnetsNotFound", "no subnets")])
          yield* createNodePool(nodePool("np"))
          yield* Readiness.make()
          yield* settle
          const failed = yield* nodeClassReady
          assert.deepStrictEqual(
            [failed?.status, failed?.reason, failed?.message],
            ["False", "SubnetsNotFound", "no subnets"]
          )

          yield* setNodeClassConditions("default", [readyCondition("Unknown", "AwaitingReconciliation")])
          yield* settle
          const unknown = yield* nodeClassReady
          assert.deepStrictEqual(
            [unknown?.status, unknown?.reason, unknown?.message],
            ["False", ConditionTypes.NodeClassReadinessUnknown, "Node Class Readiness Unknown"]
          )

          yield* setNodeClassConditions("default", [readyCondition("True")])
          yield* settle
          assert.strictEqual((yield* nodeClassReady)?.status, "True")

          // Conditions without a Ready one: its readiness is unknown.
          yield* setNodeClassConditions("default", [{ ...readyCondition("True"), type: "Other" }])
          yield* settle
          assert.strictEqual((yield* nodeClassReady)?.reason, ConditionTypes.NodeClassReadinessUnknown)
        })
      )
  )

  it.effect("NodeClassTerminating once the NodeClass is being deleted", () =>
    run(
      Effect.gen(function* () {
        const kube = yield* KubeClient
        yield* createNodeClass(kwokNodeClass("default", { finalizers: ["test.dev/hold"] }))
        yield* createNodePool(nodePool("np"))
        yield* Readiness.make()
        yield* settle
        assert.strictEqual((yield* nodeClassReady)?.status, "True")
        yield* kube.delete(Resources.KWOKNodeClasses, "default")
        yield* settle
        const terminating = yield* nodeClassReady
        assert.deepStrictEqual(
          [terminating?.status, terminating?.reason, terminating?.message],
          ["False", ConditionTypes.NodeClassTerminating, "NodeClass is Terminating"]
        )
        assert.strictEqual((yield* conditionOf("np", ConditionTypes.Ready))?.status, "False")
      })
    )
  )

  it.effect("maps a NodeClass change only to the NodePools that reference it", () =>
    run(
      Effect.gen(function* () {
        yield* createNodeClass(kwokNodeClass("default"))
        yield* createNodeClass(kwokNodeClass("other"))
        yield* createNodePool(nodePool("np"))
        yield* createNodePool(
          nodePool("np-other", { template: { spec: { nodeClassRef: { ...kwokKind, name: "other" } } } })
        )
        yield* Readiness.make()
        yield* settle
        const before = (yield* getNodePool("np-other")).metadata.resourceVersion
        yield* setNodeClassConditions("default", [readyCondition("False", "Broken", "x")])
        yield* settle
        assert.strictEqual((yield* nodeClassReady)?.status, "False")
        assert.strictEqual((yield* getNodePool("np-other")).metadata.resourceVersion, before)
      })
    )
  )

  it.effect("skips NodePools of unsupported NodeClass kinds; a supported kind it cannot read counts as ready", () =>
    run(
      Effect.gen(function* () {
        yield* createNodePool(
          nodePool("unsupported", {
            template: { spec: { nodeClassRef: { group: "example.com", kind: "OtherNodeClass", name: "x" } } }
          })
        )
        yield* createNodePool(
          nodePool("unreadable", {
            template: { spec: { nodeClassRef: { group: "karpenter.test.sh", kind: "TestNodeClass", name: "x" } } }
          })
        )
        yield* Readiness.make()
        yield* settle
        assert.isUndefined((yield* getNodePool("unsupported")).status?.conditions)
        const unreadable = (yield* getNodePool("unreadable")).status?.conditions
        assert.strictEqual(Conditions.get(unreadable, ConditionTypes.NodeClassReady)?.status, "True")
      }),
      {
        cloudProvider: cloudProvider({
          supportedNodeClasses: [kwokKind, { group: "karpenter.test.sh", kind: "TestNodeClass" }]
        })
      }
    )
  )
})
