import { assert, describe, it } from "@effect/vitest"
import * as Labels from "../../src/api/Labels.ts"
import type * as Meta from "../../src/api/Meta.ts"
import type * as ApiRequirements from "../../src/api/NodeSelectorRequirements.ts"
import * as Requirement from "../../src/scheduling/Requirement.ts"
import * as Requirements from "../../src/scheduling/Requirements.ts"

const zone = Labels.Zone
const on = (key: string, operator: Requirement.Operator, ...values: Array<string>) =>
  Requirements.make(Requirement.make(key, operator, values))

// Upstream requirements_test.go's fixtures: the well-known zone label, which may be undefined.
const fixtures = {
  unconstrained: Requirements.empty,
  exists: on(zone, "Exists"),
  doesNotExist: on(zone, "DoesNotExist"),
  inA: on(zone, "In", "A"),
  inB: on(zone, "In", "B"),
  inAB: on(zone, "In", "A", "B"),
  notInA: on(zone, "NotIn", "A"),
  in1: on(zone, "In", "1"),
  in9: on(zone, "In", "9"),
  in19: on(zone, "In", "1", "9"),
  notIn12: on(zone, "NotIn", "1", "2"),
  greaterThan1: on(zone, "Gt", "1"),
  greaterThan9: on(zone, "Gt", "9"),
  lessThan1: on(zone, "Lt", "1"),
  lessThan9: on(zone, "Lt", "9")
}
type Name = keyof typeof fixtures
const names = Object.keys(fixtures) as Array<Name>

// row.Compatible(column) succeeds ("1") or not ("0"), columns in fixture order; transcribed from upstream.
const withWellKnownUndefined: Record<Name, string> = {
  unconstrained: "111111111111111",
  exists: "110111111111111",
  doesNotExist: "101000100010000",
  inA: "110101000010000",
  inB: "110011100010000",
  inAB: "110111100010000",
  notInA: "111011111111111",
  in1: "110000110100001",
  in9: "110000101111000",
  in19: "110000111111001",
  notIn12: "111111101111111",
  greaterThan1: "110000101111101",
  greaterThan9: "110000100011100",
  lessThan1: "110000100010011",
  lessThan9: "110000110111011"
}
// Without allowUndefined only the unconstrained row changes: it cannot satisfy positive requirements.
const strict: Record<Name, string> = { ...withWellKnownUndefined, unconstrained: "101000100010000" }

describe("Requirements construction", () => {
  it("normalizes aliased labels", () => {
    const reqs = Requirements.make(Requirement.make("failure-domain.beta.kubernetes.io/zone", "In", ["test"]))
    assert.isFalse(Requirements.has(reqs, "failure-domain.beta.kubernetes.io/zone"))
    assert.isTrue(Requirement.has(Requirements.get(reqs, zone), "test"))
    const fromLabels = Requirements.fromLabels({ "beta.kubernetes.io/arch": "arm64", "beta.kubernetes.io/os": "linux" })
    assert.deepStrictEqual([...Requirements.keys(fromLabels)].sort(), [Labels.Arch, Labels.OS])
  })

  it("intersects requirements on the same key", () => {
    const reqs = Requirements.make(
      Requirement.make("k", "In", ["a", "b", "c"]),
      Requirement.make("k", "NotIn", ["b"]),
      Requirement.make("other", "Exists")
    )
    assert.deepStrictEqual(Requirement.values(Requirements.get(reqs, "k")), ["a", "c"])
    assert.deepStrictEqual([...Requirements.keys(reqs)], ["k", "other"])
  })

  it("reads node selector requirements with minValues", () => {
    const reqs = Requirements.fromNodeSelectorRequirements([
      { key: "k", operator: "In", values: ["a", "b"], minValues: 2 },
      { key: "n", operator: "Gt", values: ["3"] },
      { key: "n", operator: "Lt", values: ["7"] },
      { key: "gone", operator: "DoesNotExist" }
    ])
    assert.strictEqual(Requirements.get(reqs, "k").minValues, 2)
    assert.isTrue(Requirements.hasMinValues(reqs))
    assert.isFalse(Requirements.hasMinValues(Requirements.fromLabels({ k: "v" })))
    assert.strictEqual(Requirement.format(Requirements.get(reqs, "n")), "n Exists >3 <7")
    assert.strictEqual(Requirement.operator(Requirements.get(reqs, "gone")), "DoesNotExist")
  })

  it("answers Exists for an absent key", () => {
    const absent = Requirements.get(Requirements.empty, "anything")
    assert.strictEqual(Requirement.operator(absent), "Exists")
    assert.strictEqual(absent.key, "anything")
    assert.isFalse(Requirements.has(Requirements.empty, "anything"))
  })

  it("add returns new requirements and leaves its argument alone", () => {
    const before = Requirements.fromLabels({ k: "a" })
    const after = Requirements.add(before, Requirement.make("k", "In", ["a", "b"]), Requirement.make("j", "Exists"))
    assert.notStrictEqual(after, before)
    assert.deepStrictEqual([...Requirements.keys(before)], ["k"])
    assert.deepStrictEqual([...Requirements.keys(after)].sort(), ["j", "k"])
    assert.deepStrictEqual(Requirement.values(Requirements.get(after, "k")), ["a"])
    const merged = Requirements.addAll(before, Requirements.fromLabels({ k: "b" }))
    assert.strictEqual(Requirement.operator(Requirements.get(merged, "k")), "DoesNotExist")
    assert.strictEqual(Requirement.operator(Requirements.get(before, "k")), "In")
  })
})

describe("Requirements.compatible", () => {
  for (const row of names) {
    it(`${row} matches upstream with well-known labels allowed undefined and strictly`, () => {
      names.forEach((column, index) => {
        const loose = Requirements.compatible(
          fixtures[row],
          fixtures[column],
          Requirements.AllowUndefinedWellKnownLabels
        )
        assert.strictEqual(loose === undefined, withWellKnownUndefined[row][index] === "1", `${row} ~ ${column}`)
        assert.strictEqual(
          Requirements.isCompatible(fixtures[row], fixtures[column], Requirements.AllowUndefinedWellKnownLabels),
          loose === undefined
        )
        const strictly = Requirements.compatible(fixtures[row], fixtures[column])
        assert.strictEqual(strictly === undefined, strict[row][index] === "1", `${row} ~ ${column} strictly`)
        assert.strictEqual(Requirements.isCompatible(fixtures[row], fixtures[column]), strictly === undefined)
      })
    })
  }

  const undefinedLabel = (key: string) =>
    Requirements.compatible(Requirements.empty, on(key, "Exists"), Requirements.AllowUndefinedWellKnownLabels)

  it("hints at the well-known label a truncated key was meant to be", () => {
    assert.strictEqual(
      undefinedLabel("zone"),
      `label "zone" does not have known values (typo of "topology.kubernetes.io/zone"?)`
    )
    assert.strictEqual(
      undefinedLabel("region"),
      `label "region" does not have known values (typo of "topology.kubernetes.io/region"?)`
    )
    assert.strictEqual(
      undefinedLabel("nodepool"),
      `label "nodepool" does not have known values (typo of "karpenter.sh/nodepool"?)`
    )
    assert.strictEqual(
      undefinedLabel("instance-type"),
      `label "instance-type" does not have known values (typo of "node.kubernetes.io/instance-type"?)`
    )
    assert.strictEqual(
      undefinedLabel("arch"),
      `label "arch" does not have known values (typo of "kubernetes.io/arch"?)`
    )
    assert.strictEqual(
      undefinedLabel("capacity-type"),
      `label "capacity-type" does not have known values (typo of "karpenter.sh/capacity-type"?)`
    )
  })

  it("hints at the well-known label a misspelt key was meant to be", () => {
    assert.strictEqual(
      undefinedLabel("topology.kubernetesio/zone"),
      `label "topology.kubernetesio/zone" does not have known values (typo of "topology.kubernetes.io/zone"?)`
    )
    assert.strictEqual(
      undefinedLabel("node.io/zone"),
      `label "node.io/zone" does not have known values (typo of "topology.kubernetes.io/zone"?)`
    )
    assert.strictEqual(
      undefinedLabel("topology.kubernetes.io/regio"),
      `label "topology.kubernetes.io/regio" does not have known values (typo of "topology.kubernetes.io/region"?)`
    )
    assert.strictEqual(
      undefinedLabel("node.kubernetes.io/region"),
      `label "node.kubernetes.io/region" does not have known values (typo of "topology.kubernetes.io/region"?)`
    )
    assert.strictEqual(
      undefinedLabel("karpenter/nodepool"),
      `label "karpenter/nodepool" does not have known values (typo of "karpenter.sh/nodepool"?)`
    )
  })

  it("reports an unknown label without a hint, or with a hint from the receiver's own keys", () => {
    assert.strictEqual(
      Requirements.compatible(Requirements.empty, on("deployment", "Exists")),
      `label "deployment" does not have known values`
    )
    assert.strictEqual(
      Requirements.compatible(on("example.com/team", "In", "a"), on("team", "In", "a")),
      `label "team" does not have known values (typo of "example.com/team"?)`
    )
  })

  it("lets undefined keys through for NotIn / DoesNotExist and for allowUndefined keys only", () => {
    assert.isUndefined(Requirements.compatible(Requirements.empty, on("custom", "NotIn", "a")))
    assert.isUndefined(Requirements.compatible(Requirements.empty, on("custom", "DoesNotExist")))
    assert.isDefined(Requirements.compatible(Requirements.empty, on("custom", "In", "a")))
    assert.isDefined(Requirements.compatible(Requirements.empty, on("custom", "Gt", "1")))
    assert.isUndefined(
      Requirements.compatible(Requirements.empty, on("custom", "In", "a"), { allowUndefined: new Set(["custom"]) })
    )
    // allowUndefined only waives definition; a defined key must still intersect.
    assert.isDefined(
      Requirements.compatible(on("custom", "In", "b"), on("custom", "In", "a"), { allowUndefined: new Set(["custom"]) })
    )
  })

  it("reports the smallest undefined key when several are", () => {
    const incoming = Requirements.make(Requirement.make("zz", "Exists"), Requirement.make("aa", "Exists"))
    assert.strictEqual(Requirements.compatible(Requirements.empty, incoming), `label "aa" does not have known values`)
  })
})

describe("Requirements.intersects", () => {
  it("names the key and both sides of each conflict", () => {
    assert.strictEqual(
      Requirements.intersects(on("k", "In", "a"), on("k", "In", "b")),
      "key k, k In [b] not in k In [a]"
    )
    const existing = Requirements.fromLabels({ a: "1", b: "1", c: "1" })
    const incoming = Requirements.fromLabels({ c: "2", a: "2", d: "2" })
    assert.strictEqual(
      Requirements.intersects(existing, incoming),
      "key a, a In [2] not in a In [1]; key c, c In [2] not in c In [1]"
    )
    assert.isFalse(Requirements.hasIntersection(existing, incoming))
  })

  it("allows keys constrained on one side only", () => {
    assert.isUndefined(Requirements.intersects(on("a", "In", "x"), on("b", "In", "y")))
    assert.isTrue(Requirements.hasIntersection(on("a", "In", "x"), on("b", "In", "y")))
  })

  it("lets NotIn / DoesNotExist on both sides agree even without a common value", () => {
    const negative = ["DoesNotExist", "NotIn"] as const
    for (const left of negative) {
      for (const right of negative) {
        assert.isUndefined(Requirements.intersects(on("k", left, "a"), on("k", right, "a")), `${left} vs ${right}`)
      }
    }
    // Crossing bounds make two NotIn sides disjoint; upstream still lets them agree.
    const notInAbove = Requirements.make(
      Requirement.intersection(Requirement.make("k", "NotIn", ["7"]), Requirement.make("k", "Gt", ["5"]))
    )
    const notInBelow = Requirements.make(
      Requirement.intersection(Requirement.make("k", "NotIn", ["1"]), Requirement.make("k", "Lt", ["3"]))
    )
    assert.isUndefined(Requirements.intersects(notInAbove, notInBelow))
    // Only one side negative: a conflict.
    assert.strictEqual(
      Requirements.intersects(on("k", "DoesNotExist"), on("k", "In", "a")),
      "key k, k In [a] not in k DoesNotExist"
    )
    assert.strictEqual(
      Requirements.intersects(on("k", "In", "a"), on("k", "NotIn", "a")),
      "key k, k NotIn [a] not in k In [a]"
    )
  })
})

describe("Requirements.labels", () => {
  it("labels custom keys and skips well-known and restricted ones", () => {
    const reqs = Requirements.make(
      Requirement.make(Labels.Zone, "In", ["z1"]),
      Requirement.make(Labels.Hostname, "In", ["h"]),
      Requirement.make("karpenter.sh/custom", "In", ["x"]),
      Requirement.make("kubernetes.io/custom", "In", ["x"]),
      Requirement.make("node.kubernetes.io/custom", "In", ["allowed"]),
      Requirement.make("example.com/team", "In", ["b", "a"]),
      Requirement.make("example.com/gone", "DoesNotExist"),
      Requirement.make("example.com/tier", "Gt", ["3"]),
      Requirement.make("example.com/any", "NotIn", ["0", "1"])
    )
    assert.deepStrictEqual(Requirements.labels(reqs), {
      "node.kubernetes.io/custom": "allowed",
      "example.com/team": "a",
      "example.com/tier": "4",
      "example.com/any": "2"
    })
  })

  it("honours a provider's well-known labels and a random source", () => {
    const reqs = Requirements.make(
      Requirement.make("example.com/provider-key", "In", ["p"]),
      Requirement.make("example.com/n", "Lt", ["100"])
    )
    const labels = Requirements.labels(reqs, Labels.withProviderLabels(["example.com/provider-key"]), () => 0.5)
    assert.deepStrictEqual(labels, { "example.com/n": "50" })
  })
})

describe("Requirements rendering", () => {
  const all = Requirements.make(
    Requirement.make("exists", "Exists"),
    Requirement.make("doesNotExist", "DoesNotExist"),
    Requirement.make("inA", "In", ["A"]),
    Requirement.make("inAB", "In", ["A", "B"]),
    Requirement.make("notIn12", "NotIn", ["1", "2"]),
    Requirement.make("greaterThan1", "Gt", ["1"]),
    Requirement.make("lessThan9", "Lt", ["9"], 1),
    Requirement.make(Labels.Hostname, "In", ["h"])
  )

  it("converts to node selector requirements sorted by key", () => {
    const list = Requirements.toNodeSelectorRequirements(all)
    assert.deepStrictEqual(list, [
      { key: "doesNotExist", operator: "DoesNotExist", values: [] },
      { key: "exists", operator: "Exists", values: [] },
      { key: "greaterThan1", operator: "Gt", values: ["1"] },
      { key: "inA", operator: "In", values: ["A"] },
      { key: "inAB", operator: "In", values: ["A", "B"] },
      { key: Labels.Hostname, operator: "In", values: ["h"] },
      { key: "lessThan9", operator: "Lt", values: ["9"], minValues: 1 },
      { key: "notIn12", operator: "NotIn", values: ["1", "2"] }
    ])
    // The output is valid wire data for both node selectors and NodePool / NodeClaim requirements.
    const asCore: ReadonlyArray<Meta.NodeSelectorRequirement> = list
    const asKarpenter: ReadonlyArray<ApiRequirements.RequirementWithMinValues> = list
    assert.strictEqual(asCore.length, asKarpenter.length)
  })

  it("formats as upstream's String(), leaving out the hostname", () => {
    assert.strictEqual(
      Requirements.format(all),
      "doesNotExist DoesNotExist, exists Exists, greaterThan1 Exists >1, inA In [A], inAB In [A B], " +
        "lessThan9 Exists <9 minValues 1, notIn12 NotIn [1 2]"
    )
  })
})
