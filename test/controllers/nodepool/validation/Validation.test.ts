import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as ConditionTypes from "../../../../src/api/Conditions.ts"
import * as Labels from "../../../../src/api/Labels.ts"
import type { NodePool } from "../../../../src/api/NodePool.ts"
import * as Validation from "../../../../src/controllers/nodepool/validation/Validation.ts"
import * as Conditions from "../../../../src/controllers/StatusConditions.ts"
import { conditionOf, createNodePool, getNodePool, nodePool, patchNodePoolSpec, run, settle } from "../support.ts"

// A decoded-looking NodePool, built by hand: runtime validation must also judge objects the CRD rules would reject.
const decoded = (template: {
  readonly labels?: Record<string, string>
  readonly taints?: ReadonlyArray<{ key: string; value?: string; effect: string }>
  readonly startupTaints?: ReadonlyArray<{ key: string; value?: string; effect: string }>
  readonly requirements?: ReadonlyArray<{ key: string; operator: string; values?: Array<string>; minValues?: number }>
}): NodePool =>
  ({
    apiVersion: "karpenter.sh/v1",
    kind: "NodePool",
    metadata: { name: "np" },
    spec: {
      template: {
        ...(template.labels === undefined ? {} : { metadata: { labels: template.labels } }),
        spec: {
          ...(template.taints === undefined ? {} : { taints: template.taints }),
          ...(template.startupTaints === undefined ? {} : { startupTaints: template.startupTaints }),
          requirements: template.requirements ?? [],
          nodeClassRef: { group: "karpenter.kwok.sh", kind: "KWOKNodeClass", name: "default" },
          expireAfter: "720h"
        }
      },
      disruption: { consolidateAfter: "0s", consolidationPolicy: "WhenEmptyOrUnderutilized", budgets: [] }
    }
  }) as unknown as NodePool

const validate = (nodePool: NodePool, wellKnown: ReadonlySet<string> = Labels.WellKnownLabels) =>
  Validation.runtimeValidate(nodePool, wellKnown)

const oneError = (nodePool: NodePool, pattern: RegExp, wellKnown?: ReadonlySet<string>) => {
  const errors = validate(nodePool, wellKnown)
  assert.strictEqual(errors.length, 1, errors.join("\n"))
  assert.match(errors[0]!, pattern)
}

describe("runtimeValidate", () => {
  it("accepts a valid template", () => {
    assert.deepStrictEqual(
      validate(
        decoded({
          labels: { team: "a", "example.com/tier": "web", [Labels.Zone]: "z1" },
          taints: [{ key: "dedicated", value: "gpu", effect: "NoSchedule" }],
          startupTaints: [{ key: "dedicated", effect: "NoExecute" }],
          requirements: [
            { key: "failure-domain.beta.kubernetes.io/zone", operator: "In", values: ["z1"] },
            { key: Labels.CapacityType, operator: "In", values: ["spot", "on-demand"], minValues: 2 },
            { key: "example.com/cpu", operator: "Gt", values: ["4"] },
            { key: "example.com/gpu", operator: "DoesNotExist" }
          ]
        })
      ),
      []
    )
  })

  it("rejects labels on karpenter.sh/nodepool, unqualified keys, bad values and restricted domains", () => {
    oneError(
      decoded({ labels: { [Labels.NodePool]: "x" } }),
      /invalid key name "karpenter.sh\/nodepool" in labels, restricted/
    )
    oneError(
      decoded({ labels: { "a/b/c": "x" } }),
      /invalid key name "a\/b\/c" in labels, "a qualified name must consist/
    )
    oneError(decoded({ labels: { team: "-bad-" } }), /invalid value: -bad- for label\[team\], a valid label must be/)
    // Allowed by the CRD's label rules, but not well-known: IsRestrictedLabel rejects it.
    oneError(
      decoded({ labels: { "beta.kubernetes.io/arch": "amd64" } }),
      /label beta.kubernetes.io\/arch is restricted/
    )
    oneError(decoded({ labels: { [Labels.Hostname]: "n1" } }), /in labels, label kubernetes.io\/hostname is restricted/)
  })

  it("lets the provider's well-known labels through", () => {
    const labels = { "example.k8s.io/pool": "a" }
    oneError(decoded({ labels }), /label example.k8s.io\/pool is restricted/)
    assert.deepStrictEqual(validate(decoded({ labels }), Labels.withProviderLabels(["example.k8s.io/pool"])), [])
  })

  it("rejects duplicate key/effect pairs across taints and startupTaints, and unqualified taint values", () => {
    oneError(
      decoded({
        taints: [{ key: "dedicated", value: "a", effect: "NoSchedule" }],
        startupTaints: [{ key: "dedicated", value: "b", effect: "NoSchedule" }]
      }),
      /^duplicate taint Key\/Effect pair dedicated=NoSchedule$/
    )
    oneError(
      decoded({ taints: [{ key: "k", value: "v".repeat(64), effect: "NoSchedule" }] }),
      /no more than 63 characters in taints/
    )
    oneError(
      decoded({ startupTaints: [{ key: "k", effect: "Sometimes" }] }),
      /invalid value: "Sometimes" in startupTaints/
    )
  })

  it("checks each requirement: operator, restricted key, In values, minValues, Gt/Lt, the nodepool key", () => {
    oneError(decoded({ requirements: [{ key: "team", operator: "Near", values: ["a"] }] }), /unsupported operator Near/)
    oneError(
      decoded({ requirements: [{ key: Labels.Hostname, operator: "In", values: ["n1"] }] }),
      /^invalid value: label kubernetes.io\/hostname is restricted.* in requirements, restricted$/
    )
    oneError(decoded({ requirements: [{ key: "team", operator: "In", values: [] }] }), /must have a value defined/)
    oneError(
      decoded({ requirements: [{ key: "team", operator: "In", values: ["a"], minValues: 2 }] }),
      /must have at least minimum number of values/
    )
    for (const values of [["1", "2"], ["-1"], ["x"], []]) {
      oneError(
        decoded({ requirements: [{ key: "cpu-count", operator: "Lt", values }] }),
        /key cpu-count with operator Lt must have a single positive integer value/
      )
    }
    oneError(
      decoded({ requirements: [{ key: "team", operator: "In", values: ["not valid"] }] }),
      /invalid value not valid for key team/
    )
    oneError(
      decoded({ requirements: [{ key: Labels.NodePool, operator: "In", values: ["x"] }] }),
      /^invalid key: "karpenter.sh\/nodepool" in requirements, restricted$/
    )
  })

  it("normalizes deprecated requirement keys before checking them", () => {
    assert.deepStrictEqual(
      validate(decoded({ requirements: [{ key: "beta.kubernetes.io/os", operator: "In", values: ["linux"] }] })),
      []
    )
  })
})

describe("nodepool.validation", () => {
  it.effect("sets ValidationSucceeded True on a valid NodePool and initializes the Ready set", () =>
    run(
      Effect.gen(function* () {
        yield* createNodePool(nodePool("np"))
        yield* Validation.make()
        yield* settle
        const stored = yield* getNodePool("np")
        const conditions = stored.status?.conditions
        assert.strictEqual(Conditions.get(conditions, ConditionTypes.ValidationSucceeded)?.status, "True")
        assert.strictEqual(Conditions.get(conditions, ConditionTypes.ValidationSucceeded)?.observedGeneration, 1)
        assert.strictEqual(Conditions.get(conditions, ConditionTypes.NodeClassReady)?.status, "Unknown")
        assert.strictEqual(Conditions.get(conditions, ConditionTypes.Ready)?.status, "Unknown")
      })
    )
  )

  it.effect("fails validation with NodePoolValidationFailed, and recovers once the spec is fixed", () =>
    run(
      Effect.gen(function* () {
        yield* createNodePool(
          nodePool("np", {
            template: {
              spec: {
                taints: [{ key: "dedicated", effect: "NoSchedule" }],
                startupTaints: [{ key: "dedicated", effect: "NoSchedule" }]
              }
            }
          })
        )
        yield* Validation.make()
        yield* settle
        const failed = yield* conditionOf("np", ConditionTypes.ValidationSucceeded)
        assert.strictEqual(failed?.status, "False")
        assert.strictEqual(failed?.reason, ConditionTypes.NodePoolValidationFailed)
        assert.strictEqual(failed?.message, "duplicate taint Key/Effect pair dedicated=NoSchedule")
        assert.strictEqual((yield* conditionOf("np", ConditionTypes.Ready))?.status, "False")

        yield* patchNodePoolSpec("np", { template: { spec: { startupTaints: null } } })
        yield* settle
        const fixed = yield* conditionOf("np", ConditionTypes.ValidationSucceeded)
        assert.strictEqual(fixed?.status, "True")
        assert.strictEqual(fixed?.observedGeneration, 2)
      })
    )
  )

  it.effect("leaves NodePools of NodeClass kinds the provider does not support alone", () =>
    run(
      Effect.gen(function* () {
        const other = nodePool("np", {
          template: { spec: { nodeClassRef: { group: "example.com", kind: "OtherNodeClass", name: "x" } } }
        })
        yield* createNodePool(other)
        yield* Validation.make()
        yield* settle
        assert.isUndefined((yield* getNodePool("np")).status?.conditions)
      })
    )
  )
})
