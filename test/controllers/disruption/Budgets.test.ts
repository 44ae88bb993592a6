import { assert, describe, it } from "@effect/vitest"
import * as Schema from "effect/Schema"
import * as NodePool from "../../../src/api/NodePool.ts"
import * as Budgets from "../../../src/controllers/disruption/Budgets.ts"
import * as F from "./fixtures.ts"

/** A NodePool (decoded, so defaults apply) with these budgets; `undefined` leaves the CRD default. */
const pool = (budgets?: ReadonlyArray<Record<string, unknown>>): NodePool.NodePool =>
  Schema.decodeUnknownSync(NodePool.NodePool)({
    apiVersion: "karpenter.sh/v1",
    kind: "NodePool",
    metadata: { name: "default" },
    spec: {
      template: {
        spec: { nodeClassRef: { group: "karpenter.test.sh", kind: "TestNodeClass", name: "default" }, requirements: [] }
      },
      disruption: { consolidateAfter: "0s", ...(budgets === undefined ? {} : { budgets }) }
    }
  })

const at = (iso: string): number => Date.parse(iso)

// 2024-01-01 was a Monday.
const mondayTen = at("2024-01-01T10:00:00Z")
const saturdayTen = at("2024-01-06T10:00:00Z")

const businessHours = { nodes: "0", schedule: "0 9 * * mon-fri", duration: "8h" }

describe("Budgets.allowedDisruptions", () => {
  it("reads counts and percentages of the NodePool's nodes, rounding percentages up", () => {
    const allowed = (nodes: string, numNodes: number) =>
      Budgets.allowedDisruptions(pool([{ nodes }]), numNodes, "Drifted", mondayTen)
    assert.strictEqual(allowed("10%", 10), 1)
    assert.strictEqual(allowed("20%", 10), 2)
    assert.strictEqual(allowed("10%", 3), 1)
    assert.strictEqual(allowed("0%", 10), 0)
    assert.strictEqual(allowed("100%", 7), 7)
    assert.strictEqual(allowed("5", 3), 5)
    assert.strictEqual(allowed("0", 3), 0)
    assert.strictEqual(allowed("10%", 0), 0)
  })

  it("defaults to 10% when the NodePool has no budgets", () => {
    assert.strictEqual(Budgets.allowedDisruptions(pool(), 30, "Empty", mondayTen), 3)
    assert.strictEqual(Budgets.allowedDisruptions(pool([]), 30, "Empty", mondayTen), 3)
  })

  it("only counts the budgets that name the reason, or name none", () => {
    const nodePool = pool([
      { nodes: "0", reasons: ["Drifted"] },
      { nodes: "2", reasons: ["Empty", "Underutilized"] },
      { nodes: "50%" }
    ])
    assert.strictEqual(Budgets.allowedDisruptions(nodePool, 10, "Drifted", mondayTen), 0)
    assert.strictEqual(Budgets.allowedDisruptions(nodePool, 10, "Empty", mondayTen), 2)
    assert.strictEqual(Budgets.allowedDisruptions(nodePool, 10, "Underutilized", mondayTen), 2)
    assert.strictEqual(
      Budgets.allowedDisruptions(pool([{ nodes: "0", reasons: ["Drifted"] }]), 10, "Empty", 0),
      2_147_483_647
    )
  })

  it("takes the most restrictive of several budgets", () => {
    const nodePool = pool([{ nodes: "30%" }, { nodes: "2" }, { nodes: "50%" }])
    assert.strictEqual(Budgets.allowedDisruptions(nodePool, 20, "Underutilized", mondayTen), 2)
    assert.strictEqual(Budgets.allowedDisruptions(nodePool, 5, "Underutilized", mondayTen), 2)
    assert.strictEqual(Budgets.allowedDisruptions(nodePool, 3, "Underutilized", mondayTen), 1)
  })

  it("applies a scheduled budget inside its window only", () => {
    const nodePool = pool([businessHours, { nodes: "10%" }])
    assert.strictEqual(Budgets.allowedDisruptions(nodePool, 10, "Drifted", mondayTen), 0)
    assert.strictEqual(Budgets.allowedDisruptions(nodePool, 10, "Drifted", saturdayTen), 1)
  })

  it("fails closed: an unreadable schedule allows nothing, for every reason", () => {
    const nodePool = pool([{ nodes: "10%" }, { nodes: "5", schedule: "a b c d e", duration: "1h", reasons: ["Empty"] }])
    assert.strictEqual(Budgets.allowedDisruptions(nodePool, 100, "Empty", mondayTen), 0)
    assert.strictEqual(Budgets.allowedDisruptions(nodePool, 100, "Drifted", mondayTen), 0)
  })
})

describe("Budgets.isActive", () => {
  it("is always active without a schedule", () => {
    assert.isTrue(Budgets.isActive({ nodes: "1" }, mondayTen))
  })

  it("opens a window of `duration` at each firing of the schedule, in UTC", () => {
    assert.isTrue(Budgets.isActive(businessHours, mondayTen))
    assert.isTrue(Budgets.isActive(businessHours, at("2024-01-01T09:00:00Z")))
    assert.isTrue(Budgets.isActive(businessHours, at("2024-01-01T16:59:59Z")))
    assert.isFalse(Budgets.isActive(businessHours, at("2024-01-01T08:59:59Z")))
    assert.isFalse(Budgets.isActive(businessHours, at("2024-01-01T17:00:00Z")))
    assert.isFalse(Budgets.isActive(businessHours, saturdayTen))
    assert.isTrue(Budgets.isActive(businessHours, at("2024-01-05T12:00:00Z")))
  })

  it("reads the cron macros", () => {
    const daily = { nodes: "0", schedule: "@daily", duration: "10m" }
    assert.isTrue(Budgets.isActive(daily, at("2024-03-10T00:00:00Z")))
    assert.isTrue(Budgets.isActive(daily, at("2024-03-10T00:09:59Z")))
    assert.isFalse(Budgets.isActive(daily, at("2024-03-10T00:10:00Z")))
    assert.isFalse(Budgets.isActive(daily, at("2024-03-10T12:00:00Z")))
    const midnight = { ...daily, schedule: "@midnight" }
    assert.isTrue(Budgets.isActive(midnight, at("2024-03-10T00:05:00Z")))
    const hourly = { nodes: "0", schedule: "@hourly", duration: "5m" }
    assert.isTrue(Budgets.isActive(hourly, at("2024-03-10T13:04:00Z")))
    assert.isFalse(Budgets.isActive(hourly, at("2024-03-10T13:05:00Z")))
    const weekly = { nodes: "0", schedule: "@weekly", duration: "1h" }
    assert.isTrue(Budgets.isActive(weekly, at("2024-03-10T00:30:00Z"))) // a Sunday
    assert.isFalse(Budgets.isActive(weekly, at("2024-03-11T00:30:00Z")))
    const monthly = { nodes: "0", schedule: "@monthly", duration: "24h" }
    assert.isTrue(Budgets.isActive(monthly, at("2024-04-01T23:00:00Z")))
    assert.isFalse(Budgets.isActive(monthly, at("2024-04-02T00:00:00Z")))
    for (const schedule of ["@yearly", "@annually"]) {
      assert.isTrue(Budgets.isActive({ nodes: "0", schedule, duration: "2h" }, at("2025-01-01T01:00:00Z")))
      assert.isFalse(Budgets.isActive({ nodes: "0", schedule, duration: "2h" }, at("2025-01-02T01:00:00Z")))
    }
  })

  it("is invalid for what robfig/cron's standard parser rejects", () => {
    for (const schedule of [
      "a b c d e",
      "0 0 9 * * mon",
      "@every 1h",
      "@dailyx",
      "61 * * * *",
      "TZ=Europe/Paris 0 9 * * *"
    ]) {
      assert.strictEqual(Budgets.isActive({ nodes: "0", schedule, duration: "1h" }, mondayTen), "invalid", schedule)
    }
    assert.strictEqual(Budgets.isActive({ nodes: "0", duration: "1h" }, mondayTen), "invalid")
  })

  it("never opens a window for a schedule without duration", () => {
    assert.isFalse(Budgets.isActive({ nodes: "0", schedule: "* * * * *" }, mondayTen))
  })
})

describe("Budgets.describe", () => {
  it("names the budget that decides, and when a scheduled one stops applying", () => {
    assert.strictEqual(
      Budgets.describe(pool([{ nodes: "10%" }]), 3, "Empty", mondayTen),
      'budget "10%" of 3 nodes allows 1'
    )
    assert.strictEqual(
      Budgets.describe(pool([{ ...businessHours, reasons: ["Drifted"] }, { nodes: "10%" }]), 3, "Drifted", mondayTen),
      'budget "0" for Drifted allows 0 until 17:00 UTC'
    )
    assert.strictEqual(
      Budgets.describe(
        pool([{ nodes: "0", schedule: "0 22 * * *", duration: "4h" }]),
        3,
        "Empty",
        at("2024-01-01T23:00:00Z")
      ),
      'budget "0" allows 0 until 2024-01-02 02:00 UTC'
    )
    assert.strictEqual(
      Budgets.describe(pool([{ nodes: "0", schedule: "@hourly", duration: "2h" }]), 3, "Empty", mondayTen),
      'budget "0" allows 0 (always active)'
    )
  })

  it("says when nothing limits the reason, and when a budget blocks everything", () => {
    assert.strictEqual(
      Budgets.describe(pool([businessHours]), 3, "Drifted", saturdayTen),
      "no active budget limits Drifted"
    )
    assert.include(
      Budgets.describe(pool([{ nodes: "1", schedule: "a b c d e", duration: "1h" }]), 3, "Drifted", mondayTen),
      'budget schedule "a b c d e" is invalid'
    )
  })
})

describe("Budgets.take: the budget step every method shares", () => {
  const a = (name: string) => F.candidate(name, { nodePool: "a" })
  const b = (name: string) => F.candidate(name, { nodePool: "b" })

  it("takes candidates in order while their NodePool has a disruption left, each NodePool on its own", () => {
    const { taken, constrained } = Budgets.take(
      [a("a1"), b("b1"), a("a2"), a("a3"), b("b2")],
      new Map([
        ["a", 2],
        ["b", 5]
      ])
    )
    assert.deepStrictEqual(F.names(taken), ["a1", "b1", "a2", "b2"])
    assert.isTrue(constrained, "a3 was turned away")
  })

  it("at the boundary: a budget of exactly n takes n and is not constrained; one more candidate is turned away", () => {
    const budgets = new Map([["a", 2]])
    assert.deepStrictEqual(Budgets.take([a("a1"), a("a2")], budgets), { taken: [a("a1"), a("a2")], constrained: false })
    const over = Budgets.take([a("a1"), a("a2"), a("a3")], budgets)
    assert.deepStrictEqual(F.names(over.taken), ["a1", "a2"])
    assert.isTrue(over.constrained)
  })

  it("a budget of 0, or a NodePool the mapping does not name, takes nothing", () => {
    assert.deepStrictEqual(Budgets.take([a("a1")], new Map([["a", 0]])), { taken: [], constrained: true })
    assert.deepStrictEqual(Budgets.take([b("b1")], new Map([["a", 3]])), { taken: [], constrained: true })
    assert.deepStrictEqual(Budgets.take([], new Map([["a", 0]])), { taken: [], constrained: false })
  })

  it("stops at the limit: the candidates after it are neither taken nor counted as turned away", () => {
    const { taken, constrained } = Budgets.take([a("a1"), a("a2"), a("a3")], new Map([["a", 2]]), 1)
    assert.deepStrictEqual(F.names(taken), ["a1"])
    assert.isFalse(constrained)
  })

  it("leaves the mapping as it was", () => {
    const budgets = new Map([["a", 1]])
    Budgets.take([a("a1"), a("a2")], budgets)
    assert.deepStrictEqual([...budgets], [["a", 1]])
  })

  it("allows: a disruption left, none at 0, none for a NodePool the mapping does not name", () => {
    const budgets = new Map([
      ["a", 1],
      ["b", 0]
    ])
    assert.isTrue(Budgets.allows(budgets, a("a1")))
    assert.isFalse(Budgets.allows(budgets, b("b1")))
    assert.isFalse(Budgets.allows(budgets, F.candidate("c1", { nodePool: "c" })))
  })
})
