import { assert, describe, it } from "@effect/vitest"
import * as Labels from "../../src/api/Labels.ts"
import type * as Meta from "../../src/api/Meta.ts"
import type * as Pod from "../../src/api/Pod.ts"
import * as PodRequirements from "../../src/scheduling/PodRequirements.ts"
import * as Requirements from "../../src/scheduling/Requirements.ts"

const expr = (key: string, operator: string, ...values: Array<string>): Meta.NodeSelectorRequirement =>
  values.length === 0 ? { key, operator } : { key, operator, values }

const withNodeAffinity = (
  required: ReadonlyArray<ReadonlyArray<Meta.NodeSelectorRequirement>>,
  preferred: ReadonlyArray<readonly [number, ReadonlyArray<Meta.NodeSelectorRequirement>]> = [],
  extra: Partial<Pod.Spec> = {}
): Pod.Spec => ({
  containers: [{ name: "app" }],
  ...extra,
  affinity: {
    nodeAffinity: {
      ...(required.length === 0
        ? {}
        : {
            requiredDuringSchedulingIgnoredDuringExecution: {
              nodeSelectorTerms: required.map((matchExpressions) => ({ matchExpressions }))
            }
          }),
      preferredDuringSchedulingIgnoredDuringExecution: preferred.map(([weight, matchExpressions]) => ({
        weight,
        preference: { matchExpressions }
      }))
    }
  }
})

// Requirements rendered as sorted node selector strings, for compact assertions.
const render = (reqs: Requirements.Requirements): Array<string> =>
  Requirements.toNodeSelectorRequirements(reqs).map((req) =>
    `${req.key} ${req.operator} ${req.values.join(",")}`.trim()
  )

describe("requirementsOf", () => {
  it("reads the nodeSelector as In", () => {
    const spec: Pod.Spec = { containers: [], nodeSelector: { [Labels.Zone]: "a", "example.com/team": "x" } }
    assert.deepStrictEqual(render(PodRequirements.requirementsOf(spec)), [
      "example.com/team In x",
      `${Labels.Zone} In a`
    ])
  })

  it("treats the heaviest preferred term as required, the first of equal weights", () => {
    const spec = withNodeAffinity(
      [],
      [
        [10, [expr(Labels.Zone, "In", "light")]],
        [50, [expr(Labels.Zone, "In", "heavy"), expr(Labels.Arch, "In", "arm64")]],
        [50, [expr(Labels.Zone, "In", "tied")]]
      ]
    )
    assert.deepStrictEqual(render(PodRequirements.requirementsOf(spec)), [
      `${Labels.Arch} In arm64`,
      `${Labels.Zone} In heavy`
    ])
    assert.deepStrictEqual(render(PodRequirements.requirementsOf(spec, { ignorePreferences: true })), [])
    assert.deepStrictEqual(render(PodRequirements.strictRequirementsOf(spec)), [])
    assert.isTrue(PodRequirements.hasPreferredNodeAffinity(spec))
  })

  it("uses only the first required node-selector term", () => {
    const spec = withNodeAffinity([[expr(Labels.Zone, "In", "a")], [expr(Labels.Zone, "In", "b")]])
    assert.deepStrictEqual(render(PodRequirements.requirementsOf(spec)), [`${Labels.Zone} In a`])
    assert.deepStrictEqual(render(PodRequirements.strictRequirementsOf(spec)), [`${Labels.Zone} In a`])
  })

  it("intersects nodeSelector, preference and requirement on the same key", () => {
    const spec = withNodeAffinity(
      [[expr(Labels.Zone, "In", "a", "b", "c"), expr(Labels.CapacityType, "NotIn", "spot")]],
      [[1, [expr(Labels.Zone, "NotIn", "c")]]],
      { nodeSelector: { [Labels.Zone]: "a" } }
    )
    const reqs = PodRequirements.requirementsOf(spec)
    assert.deepStrictEqual(render(reqs), [`${Labels.CapacityType} NotIn spot`, `${Labels.Zone} In a`])
    const conflicting = withNodeAffinity([[expr(Labels.Zone, "In", "b")]], [], { nodeSelector: { [Labels.Zone]: "a" } })
    assert.deepStrictEqual(render(PodRequirements.requirementsOf(conflicting)), [`${Labels.Zone} DoesNotExist`])
  })

  it("is empty without constraints", () => {
    assert.strictEqual(PodRequirements.requirementsOf({ containers: [] }).size, 0)
    assert.isFalse(PodRequirements.hasPreferredNodeAffinity({ containers: [] }))
  })
})

const pod = (spec: Partial<Pod.Spec> = {}, metadata: Partial<Meta.ObjectMeta> = {}, phase?: string): Pod.Pod => ({
  metadata: { name: "web", namespace: "default", ...metadata },
  spec: { containers: [{ name: "app" }], ...spec },
  ...(phase === undefined ? {} : { status: { phase } })
})

describe("notProvisionable", () => {
  const owner = (kind: string, name: string, apiVersion = "apps/v1"): Meta.OwnerReference => ({
    apiVersion,
    kind,
    name,
    uid: `${name}-uid`,
    controller: true
  })

  it("accepts a plain pending pod", () => {
    assert.isUndefined(PodRequirements.notProvisionable(pod()))
    assert.isUndefined(PodRequirements.notProvisionable(pod({}, { ownerReferences: [owner("ReplicaSet", "web-1")] })))
  })

  it("ignores bound, terminating, DaemonSet, mirror and terminal pods", () => {
    assert.strictEqual(PodRequirements.notProvisionable(pod({ nodeName: "node-1" })), "bound to node node-1")
    assert.strictEqual(
      PodRequirements.notProvisionable(pod({}, { deletionTimestamp: "2024-01-01T00:00:00Z" })),
      "terminating"
    )
    assert.strictEqual(
      PodRequirements.notProvisionable(
        pod({}, { namespace: "kube-system", ownerReferences: [owner("DaemonSet", "fluentd")] })
      ),
      "owned by DaemonSet kube-system/fluentd"
    )
    assert.strictEqual(
      PodRequirements.notProvisionable(pod({}, { annotations: { "kubernetes.io/config.mirror": "abc" } })),
      "mirror pod"
    )
    assert.strictEqual(
      PodRequirements.notProvisionable(pod({}, { ownerReferences: [owner("Node", "node-1", "v1")] })),
      "mirror pod of node node-1"
    )
    assert.strictEqual(PodRequirements.notProvisionable(pod({}, {}, "Succeeded")), "terminal (phase Succeeded)")
    assert.strictEqual(PodRequirements.notProvisionable(pod({}, {}, "Failed")), "terminal (phase Failed)")
    assert.isUndefined(PodRequirements.notProvisionable(pod({}, {}, "Pending")))
  })

  it("reports the first reason in order", () => {
    const everything = pod({ nodeName: "node-1" }, { deletionTimestamp: "2024-01-01T00:00:00Z" }, "Failed")
    assert.strictEqual(PodRequirements.notProvisionable(everything), "bound to node node-1")
  })

  it("ignores pods that refuse Karpenter nodes, through requirements or the heaviest preference", () => {
    const required = pod(withNodeAffinity([[expr(Labels.NodePool, "DoesNotExist")]]))
    const message = `configured not to run on Karpenter nodes (${Labels.NodePool} DoesNotExist)`
    assert.strictEqual(PodRequirements.notProvisionable(required), message)
    const preferred = pod(withNodeAffinity([], [[1, [expr(Labels.NodePool, "DoesNotExist")]]]))
    assert.strictEqual(PodRequirements.notProvisionable(preferred), message)
    // A later OR term is not read, as upstream only looks at the first.
    const later = pod(withNodeAffinity([[expr(Labels.Zone, "In", "a")], [expr(Labels.NodePool, "DoesNotExist")]]))
    assert.isUndefined(PodRequirements.notProvisionable(later))
  })

  it("rejects restricted labels in the node selector, allowing well-known labels and exception domains", () => {
    const selecting = (key: string) => pod({ nodeSelector: { [key]: "x" } })
    assert.strictEqual(
      PodRequirements.notProvisionable(selecting(Labels.Hostname)),
      "node selector uses restricted label kubernetes.io/hostname"
    )
    assert.strictEqual(
      PodRequirements.notProvisionable(selecting("karpenter.sh/custom")),
      "node selector uses restricted label karpenter.sh/custom"
    )
    assert.strictEqual(
      PodRequirements.notProvisionable(selecting("subdomain.k8s.io/x")),
      "node selector uses restricted label subdomain.k8s.io/x"
    )
    for (const allowed of [Labels.Zone, "beta.kubernetes.io/arch", "node.kubernetes.io/role", "kops.k8s.io/group"]) {
      assert.isUndefined(PodRequirements.notProvisionable(selecting(allowed)), allowed)
    }
  })

  it("lets a cloud provider's well-known labels through", () => {
    const providerKey = "node.example.k8s.io/family"
    assert.strictEqual(
      PodRequirements.notProvisionable(pod({ nodeSelector: { [providerKey]: "m5" } })),
      `node selector uses restricted label ${providerKey}`
    )
    assert.isUndefined(
      PodRequirements.notProvisionable(pod({ nodeSelector: { [providerKey]: "m5" } }), new Set([providerKey]))
    )
    // The hostname stays restricted whatever the provider says.
    assert.isDefined(
      PodRequirements.notProvisionable(pod({ nodeSelector: { [Labels.Hostname]: "x" } }), new Set([Labels.Hostname]))
    )
  })

  it("validates every required and preferred node-affinity term", () => {
    const secondTerm = pod(withNodeAffinity([[expr(Labels.Zone, "In", "a")], [expr(Labels.Hostname, "In", "n")]]))
    assert.strictEqual(
      PodRequirements.notProvisionable(secondTerm),
      "node affinity uses restricted label kubernetes.io/hostname"
    )
    const preferred = pod(
      withNodeAffinity(
        [],
        [
          [1, [expr(Labels.Zone, "In", "a")]],
          [2, [expr("k8s.io/x", "Exists")]]
        ]
      )
    )
    assert.strictEqual(
      PodRequirements.notProvisionable(preferred),
      "preferred node affinity uses restricted label k8s.io/x"
    )
  })

  it("rejects unsupported operators and malformed expressions", () => {
    const affinity = (...expressions: Array<Meta.NodeSelectorRequirement>) =>
      PodRequirements.notProvisionable(pod(withNodeAffinity([expressions])))
    assert.strictEqual(
      affinity(expr(Labels.Zone, "Gte", "1")),
      `node affinity uses unsupported operator Gte on label ${Labels.Zone}`
    )
    assert.strictEqual(
      affinity(expr("example.com/x", "In")),
      "node affinity label example.com/x uses In without values"
    )
    assert.strictEqual(
      affinity(expr("example.com/x", "Gt", "abc")),
      "node affinity label example.com/x uses Gt without a single non-negative integer"
    )
    assert.strictEqual(
      affinity(expr("example.com/x", "Lt", "1", "2")),
      "node affinity label example.com/x uses Lt without a single non-negative integer"
    )
    assert.strictEqual(affinity(expr("bad key", "Exists")), `node affinity label "bad key" is not a qualified name`)
    assert.strictEqual(
      affinity(expr("example.com/x", "In", "not valid")),
      `node affinity value "not valid" of label example.com/x is not a valid label value`
    )
    for (const fine of [
      expr("example.com/x", "Gt", "3"),
      expr("example.com/x", "NotIn", "a"),
      expr("example.com/x", "DoesNotExist"),
      expr(Labels.Zone, "Exists")
    ]) {
      assert.isUndefined(affinity(fine), fine.operator)
    }
    assert.strictEqual(
      PodRequirements.notProvisionable(pod({ nodeSelector: { "example.com/x": "-bad-" } })),
      `node selector value "-bad-" of label example.com/x is not a valid label value`
    )
  })

  it("rejects matchFields", () => {
    const spec: Pod.Spec = {
      containers: [],
      affinity: {
        nodeAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: {
            nodeSelectorTerms: [{ matchFields: [{ key: "metadata.name", operator: "In", values: ["node-1"] }] }]
          }
        }
      }
    }
    assert.strictEqual(PodRequirements.notProvisionable(pod(spec)), "node affinity uses matchFields (unsupported)")
  })
})
