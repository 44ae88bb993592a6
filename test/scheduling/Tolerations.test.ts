import { assert, describe, it } from "@effect/vitest"
import type * as Meta from "../../src/api/Meta.ts"
import type { TaintLike } from "../../src/api/Taints.ts"
import * as Tolerations from "../../src/scheduling/Tolerations.ts"

const taint: TaintLike = { key: "foo", value: "bar", effect: "NoSchedule" }

describe("toleratesTaint", () => {
  // [toleration, expected] against foo=bar:NoSchedule, after Kubernetes' ToleratesTaint table.
  const cases: ReadonlyArray<readonly [string, Meta.Toleration, boolean]> = [
    [
      "Equal with the same key, value and effect",
      { key: "foo", operator: "Equal", value: "bar", effect: "NoSchedule" },
      true
    ],
    ["the default operator compares the value", { key: "foo", value: "bar", effect: "NoSchedule" }, true],
    ["Equal with another value", { key: "foo", operator: "Equal", value: "baz", effect: "NoSchedule" }, false],
    ["Equal without a value", { key: "foo", operator: "Equal", effect: "NoSchedule" }, false],
    ["Exists ignores the value", { key: "foo", operator: "Exists", effect: "NoSchedule" }, true],
    ["Exists with another key", { key: "other", operator: "Exists", effect: "NoSchedule" }, false],
    ["an empty effect matches every effect", { key: "foo", operator: "Exists" }, true],
    ["another effect", { key: "foo", operator: "Exists", effect: "NoExecute" }, false],
    ["an empty key with Exists tolerates everything", { operator: "Exists" }, true],
    ["an empty key with Exists and an effect", { operator: "Exists", effect: "NoSchedule" }, true],
    ["an empty key with Exists and another effect", { operator: "Exists", effect: "PreferNoSchedule" }, false],
    ["an unknown operator tolerates nothing", { key: "foo", operator: "Gt", value: "bar" }, false]
  ]
  for (const [name, toleration, expected] of cases) {
    it(name, () => {
      assert.strictEqual(Tolerations.toleratesTaint(toleration, taint), expected)
    })
  }

  it("a taint without a value matches Equal with an empty value", () => {
    const bare: TaintLike = { key: "foo", effect: "NoSchedule" }
    assert.isTrue(Tolerations.toleratesTaint({ key: "foo", operator: "Equal", value: "" }, bare))
    assert.isTrue(Tolerations.toleratesTaint({ key: "foo" }, bare))
    assert.isFalse(Tolerations.toleratesTaint({ key: "foo", value: "bar" }, bare))
  })
})

describe("tolerates", () => {
  const taints: ReadonlyArray<TaintLike> = [
    { key: "a", value: "1", effect: "NoSchedule" },
    { key: "b", effect: "NoExecute" },
    { key: "c", value: "x", effect: "PreferNoSchedule" }
  ]

  it("accepts no taints without tolerations", () => {
    assert.isUndefined(Tolerations.tolerates(undefined, []))
    assert.isUndefined(Tolerations.tolerates([], []))
  })

  it("names the first untolerated taint, with or without a value", () => {
    assert.strictEqual(Tolerations.tolerates(undefined, taints), "did not tolerate taint a=1:NoSchedule")
    assert.strictEqual(
      Tolerations.tolerates([{ key: "a", operator: "Exists" }], taints),
      "did not tolerate taint b:NoExecute"
    )
  })

  it("requires PreferNoSchedule taints to be tolerated too", () => {
    const tolerations: ReadonlyArray<Meta.Toleration> = [
      { key: "a", operator: "Exists" },
      { key: "b", operator: "Exists" }
    ]
    assert.strictEqual(Tolerations.tolerates(tolerations, taints), "did not tolerate taint c=x:PreferNoSchedule")
    assert.isUndefined(Tolerations.tolerates([...tolerations, Tolerations.preferNoScheduleToleration], taints))
  })

  it("tolerates everything with an empty-key Exists toleration", () => {
    assert.isUndefined(Tolerations.tolerates([{ operator: "Exists" }], taints))
  })

  it("formats taints like upstream's pretty.Taint", () => {
    assert.strictEqual(Tolerations.formatTaint({ key: "k", value: "v", effect: "NoExecute" }), "k=v:NoExecute")
    assert.strictEqual(Tolerations.formatTaint({ key: "k", value: "", effect: "NoExecute" }), "k:NoExecute")
  })

  it("exports the PreferNoSchedule toleration relaxation adds", () => {
    assert.deepStrictEqual(Tolerations.preferNoScheduleToleration, { operator: "Exists", effect: "PreferNoSchedule" })
    assert.isTrue(Tolerations.toleratesTaint(Tolerations.preferNoScheduleToleration, taints[2]!))
    assert.isFalse(Tolerations.toleratesTaint(Tolerations.preferNoScheduleToleration, taints[0]!))
  })
})
