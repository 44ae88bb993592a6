import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Decode from "../../src/api/Decode.ts"
import * as NodePool from "../../src/api/NodePool.ts"
import { exampleNodePools, readYamlDocuments } from "../fixtures.ts"

const decode = Decode.decoder("NodePool", NodePool.NodePool)

const minimal = {
  apiVersion: "karpenter.sh/v1",
  kind: "NodePool",
  metadata: { name: "np" },
  spec: {
    template: {
      spec: {
        nodeClassRef: { group: "karpenter.kwok.sh", kind: "KWOKNodeClass", name: "default" },
        requirements: [{ key: "kubernetes.io/arch", operator: "In", values: ["amd64"] }]
      }
    }
  }
}

/** `minimal` with a change applied to a deep copy. */
const variant = (change: (np: any) => void): unknown => {
  const copy = structuredClone(minimal)
  change(copy)
  return copy
}

const decodeError = (input: unknown) => decode(input).pipe(Effect.flip)

describe("NodePool decoding", () => {
  it.effect("applies upstream's defaults to the minimal example", () =>
    Effect.gen(function* () {
      const np = yield* decode(readYamlDocuments("examples/nodepools/default.yaml")[0])
      assert.strictEqual(np.spec.template.spec.expireAfter, "720h")
      assert.deepStrictEqual(np.spec.disruption, {
        consolidateAfter: "0s",
        consolidationPolicy: "WhenEmptyOrUnderutilized",
        budgets: [{ nodes: "10%" }]
      })
      assert.strictEqual(NodePool.weightOf(np), 0)
    })
  )

  it.effect("keeps what the full example sets and defaults what it leaves out", () =>
    Effect.gen(function* () {
      const np = yield* decode(readYamlDocuments("examples/nodepools/full.yaml")[0])
      assert.strictEqual(np.spec.template.spec.expireAfter, "336h")
      assert.strictEqual(np.spec.template.spec.terminationGracePeriod, "24h")
      assert.strictEqual(np.spec.weight, 50)
      assert.deepStrictEqual(np.spec.limits, { cpu: "1000", memory: "4000Gi", "nvidia.com/gpu": "8" })
      assert.deepStrictEqual(np.spec.disruption.budgets[1], {
        nodes: "0",
        schedule: "0 9 * * mon-fri",
        duration: "8h",
        reasons: ["Underutilized", "Empty"]
      })
      assert.strictEqual(np.spec.template.spec.requirements[0]?.minValues, 2)
    })
  )

  it.effect("fills defaults inside a partial disruption block", () =>
    Effect.gen(function* () {
      const np = yield* decode(variant((np) => (np.spec.disruption = { consolidateAfter: "30s" })))
      assert.deepStrictEqual(np.spec.disruption, {
        consolidateAfter: "30s",
        consolidationPolicy: "WhenEmptyOrUnderutilized",
        budgets: [{ nodes: "10%" }]
      })
    })
  )

  it.effect("accepts consolidationPolicy Balanced (v1.14.0)", () =>
    Effect.gen(function* () {
      const np = yield* decode(
        variant((np) => (np.spec.disruption = { consolidateAfter: "30s", consolidationPolicy: "Balanced" }))
      )
      assert.strictEqual(np.spec.disruption.consolidationPolicy, "Balanced")
    })
  )

  it.effect("decodes every shipped example", () =>
    Effect.forEach(exampleNodePools(), ({ object }) => decode(object), { discard: true })
  )

  it.effect("drops unknown fields", () =>
    Effect.gen(function* () {
      const np = yield* decode(variant((np) => (np.spec.template.spec.unknownField = 1)))
      assert.isFalse("unknownField" in np.spec.template.spec)
    })
  )

  const invalid: ReadonlyArray<readonly [string, (np: any) => void, string]> = [
    [
      "an unknown operator",
      (np) => (np.spec.template.spec.requirements[0].operator = "Equals"),
      `spec.template.spec.requirements[0].operator: Expected "In" | "NotIn" | "Exists" | "DoesNotExist" | "Gt" | "Lt"`
    ],
    ["weight 0", (np) => (np.spec.weight = 0), "spec.weight: Expected a value between 1 and 100"],
    ["weight 101", (np) => (np.spec.weight = 101), "spec.weight: Expected a value between 1 and 100"],
    [
      "a malformed expireAfter",
      (np) => (np.spec.template.spec.expireAfter = "30d"),
      "spec.template.spec.expireAfter: must be a duration such as 30s, 10m, 720h, or Never"
    ],
    [
      "a malformed consolidateAfter",
      (np) => (np.spec.disruption = { consolidateAfter: "soon" }),
      "spec.disruption.consolidateAfter: must be a duration"
    ],
    [
      "Gt with a non-integer",
      (np) => (np.spec.template.spec.requirements = [{ key: "example.com/gen", operator: "Gt", values: ["2.5"] }]),
      "spec.template.spec.requirements: requirements operator 'Gt' or 'Lt' must have a single positive integer value"
    ],
    [
      "Lt with two values",
      (np) => (np.spec.template.spec.requirements = [{ key: "example.com/gen", operator: "Lt", values: ["1", "2"] }]),
      "requirements operator 'Gt' or 'Lt' must have a single positive integer value"
    ],
    [
      "In without values",
      (np) => (np.spec.template.spec.requirements = [{ key: "example.com/x", operator: "In", values: [] }]),
      "spec.template.spec.requirements: requirements with operator 'In' must have a value defined"
    ],
    [
      "minValues above the number of values",
      (np) =>
        (np.spec.template.spec.requirements = [{ key: "example.com/x", operator: "In", values: ["a"], minValues: 2 }]),
      "requirements with 'minValues' must have at least that many values"
    ],
    [
      "a requirement on kubernetes.io/hostname",
      (np) => (np.spec.template.spec.requirements[0].key = "kubernetes.io/hostname"),
      `spec.template.spec.requirements[0].key: label domain "kubernetes.io" is restricted`
    ],
    [
      "a requirement on karpenter.sh/nodepool",
      (np) => (np.spec.template.spec.requirements[0].key = "karpenter.sh/nodepool"),
      `spec.template.spec.requirements[0].key: label "karpenter.sh/nodepool" is restricted`
    ],
    [
      "a requirement in the k8s.io domain",
      (np) => (np.spec.template.spec.requirements[0].key = "example.k8s.io/x"),
      `spec.template.spec.requirements[0].key: label domain "k8s.io" is restricted`
    ],
    [
      "a template label in the karpenter.sh domain",
      (np) => (np.spec.template.metadata = { labels: { "karpenter.sh/custom": "x" } }),
      `spec.template.metadata.labels: label domain "karpenter.sh" is restricted`
    ],
    [
      "a template label in the kubernetes.io domain",
      (np) => (np.spec.template.metadata = { labels: { "kubernetes.io/custom": "x" } }),
      `spec.template.metadata.labels: label domain "kubernetes.io" is restricted`
    ],
    [
      "a budget schedule without a duration",
      (np) => (np.spec.disruption = { consolidateAfter: "0s", budgets: [{ nodes: "1", schedule: "@daily" }] }),
      "spec.disruption.budgets: 'schedule' must be set with 'duration'"
    ],
    [
      "a budget percentage over 100",
      (np) => (np.spec.disruption = { consolidateAfter: "0s", budgets: [{ nodes: "101%" }] }),
      "spec.disruption.budgets[0].nodes: must be a count"
    ],
    [
      "a budget duration in seconds",
      (np) =>
        (np.spec.disruption = {
          consolidateAfter: "0s",
          budgets: [{ nodes: "1", schedule: "@daily", duration: "30s" }]
        }),
      "spec.disruption.budgets[0].duration: must be a duration in hours and minutes"
    ],
    [
      "an unknown budget reason",
      (np) => (np.spec.disruption = { consolidateAfter: "0s", budgets: [{ nodes: "1", reasons: ["Expired"] }] }),
      "spec.disruption.budgets[0].reasons[0]"
    ],
    [
      "a missing nodeClassRef",
      (np) => delete np.spec.template.spec.nodeClassRef,
      "spec.template.spec.nodeClassRef: Required value"
    ],
    [
      "an empty nodeClassRef name",
      (np) => (np.spec.template.spec.nodeClassRef.name = ""),
      "spec.template.spec.nodeClassRef.name: name may not be empty"
    ],
    [
      "a taint with an unknown effect",
      (np) => (np.spec.template.spec.taints = [{ key: "a", effect: "NoWay" }]),
      "spec.template.spec.taints[0].effect"
    ],
    ["a malformed limit", (np) => (np.spec.limits = { cpu: "lots" }), "spec.limits.cpu: must be a Kubernetes quantity"],
    [
      "negative replicas",
      (np) => (np.spec.replicas = -1),
      "spec.replicas: Expected a value greater than or equal to 0"
    ],
    [
      "a static NodePool with a cpu limit",
      (np) => {
        np.spec.replicas = 3
        np.spec.limits = { nodes: "5", cpu: "10" }
      },
      "spec: only 'limits.nodes' is supported on static NodePools"
    ],
    [
      "a static NodePool with a weight",
      (np) => {
        np.spec.replicas = 3
        np.spec.weight = 10
      },
      "spec: 'weight' is not supported on static NodePools"
    ],
    [
      "a consolidation policy from the v1beta1 API",
      (np) => (np.spec.disruption = { consolidateAfter: "0s", consolidationPolicy: "WhenUnderutilized" }),
      "spec.disruption.consolidationPolicy"
    ],
    [
      "a Balanced policy spelt in lower case (the enum is exact, as upstream's)",
      (np) => (np.spec.disruption = { consolidateAfter: "0s", consolidationPolicy: "balanced" }),
      "spec.disruption.consolidationPolicy"
    ]
  ]

  for (const [what, change, message] of invalid) {
    it.effect(`rejects ${what}`, () =>
      Effect.gen(function* () {
        const error = yield* decodeError(variant(change))
        assert.strictEqual(error._tag, "InvalidObject")
        assert.include(error.message, message)
        assert.match(error.message, /^invalid NodePool "np": /)
        assert.notInclude(error.message, "\n")
      })
    )
  }

  it.effect("accepts a static NodePool bounded by limits.nodes, and a dynamic one with any limits", () =>
    Effect.gen(function* () {
      const staticPool = yield* decode(
        variant((np) => {
          np.spec.replicas = 0
          np.spec.limits = { nodes: "4" }
        })
      )
      assert.strictEqual(staticPool.spec.replicas, 0)
      assert.isTrue(NodePool.isStatic(staticPool))
      const dynamicPool = yield* decode(variant((np) => (np.spec.limits = { nodes: "4", cpu: "10" })))
      assert.isFalse(NodePool.isStatic(dynamicPool))
    })
  )

  it.effect("reports every problem at once", () =>
    Effect.gen(function* () {
      const error = yield* decodeError(
        variant((np) => {
          np.spec.weight = 0
          np.spec.template.spec.expireAfter = "1y"
        })
      )
      assert.include(error.message, "spec.weight")
      assert.include(error.message, "spec.template.spec.expireAfter")
    })
  )
})
