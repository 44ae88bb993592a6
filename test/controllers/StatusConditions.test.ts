import { assert, describe, it } from "@effect/vitest"
import type { Condition } from "../../src/api/Meta.ts"
import * as Conditions from "../../src/controllers/StatusConditions.ts"

const t0 = Date.parse("2025-01-01T00:00:00Z")
const t1 = t0 + 60_000
const t2 = t0 + 120_000
const created = "2024-12-31T00:00:00Z"
const dependents = ["A", "B"]

const condition = (type: string, status: Condition["status"], at: number, generation = 1): Condition => ({
  type,
  status,
  observedGeneration: generation,
  lastTransitionTime: Conditions.timestamp(at),
  reason: type,
  message: ""
})

describe("Conditions.set", () => {
  it("adds a condition with observedGeneration, now, and the default reasons", () => {
    const trueOne = Conditions.set(undefined, { type: "A", status: "True" }, { generation: 3, now: t0 })
    assert.deepStrictEqual(trueOne, [
      {
        type: "A",
        status: "True",
        observedGeneration: 3,
        lastTransitionTime: "2025-01-01T00:00:00Z",
        reason: "A",
        message: ""
      }
    ])
    const unknown = Conditions.set([], { type: "B", status: "Unknown" }, { generation: 3, now: t0 })
    assert.strictEqual(unknown[0]?.reason, Conditions.AwaitingReconciliation)
    assert.strictEqual(unknown[0]?.message, Conditions.AwaitingReconciliationMessage)
    const falseOne = Conditions.set([], { type: "B", status: "False", reason: "Broken", message: "why" }, { now: t0 })
    assert.deepStrictEqual(
      [falseOne[0]?.reason, falseOne[0]?.message, falseOne[0]?.observedGeneration],
      ["Broken", "why", undefined]
    )
  })

  it("keeps lastTransitionTime while the status stays, moves it when the status changes", () => {
    const first = Conditions.set([], { type: "A", status: "False", reason: "X" }, { generation: 1, now: t0 })
    const reworded = Conditions.set(first, { type: "A", status: "False", reason: "Y" }, { generation: 2, now: t1 })
    assert.strictEqual(reworded[0]?.lastTransitionTime, Conditions.timestamp(t0))
    assert.strictEqual(reworded[0]?.reason, "Y")
    assert.strictEqual(reworded[0]?.observedGeneration, 2)
    const flipped = Conditions.set(reworded, { type: "A", status: "True" }, { generation: 2, now: t2 })
    assert.strictEqual(flipped[0]?.lastTransitionTime, Conditions.timestamp(t2))
  })

  it("returns the same array when nothing changes", () => {
    const conditions = [condition("A", "True", t0)]
    assert.strictEqual(
      Conditions.set(conditions, { type: "A", status: "True" }, { generation: 1, now: t2 }),
      conditions
    )
    assert.notStrictEqual(
      Conditions.set(conditions, { type: "A", status: "True" }, { generation: 2, now: t2 }),
      conditions
    )
  })

  it("sorts by lastTransitionTime with the root last", () => {
    const conditions = [condition("Ready", "True", t0), condition("B", "True", t2)]
    const next = Conditions.set(conditions, { type: "A", status: "True" }, { generation: 1, now: t1 })
    assert.deepStrictEqual(
      next.map((c) => c.type),
      ["A", "B", "Ready"]
    )
  })

  it("bumps every observedGeneration while the object is being deleted", () => {
    const conditions = [condition("A", "True", t0, 1), condition("B", "True", t0, 1)]
    const next = Conditions.set(
      conditions,
      { type: "A", status: "False", reason: "X" },
      {
        generation: 2,
        now: t1,
        deleting: true
      }
    )
    assert.deepStrictEqual(
      next.map((c) => c.observedGeneration),
      [2, 2]
    )
  })
})

describe("Conditions.get / clear", () => {
  it("finds, tests and removes conditions", () => {
    const conditions = [condition("B", "True", t0), condition("A", "False", t1)]
    assert.strictEqual(Conditions.get(conditions, "A")?.status, "False")
    assert.isTrue(Conditions.isTrue(conditions, "B"))
    assert.isTrue(Conditions.isFalse(conditions, "A"))
    assert.isTrue(Conditions.isUnknown(conditions, "C"))
    assert.strictEqual(Conditions.clear(conditions, "C"), conditions)
    assert.deepStrictEqual(
      Conditions.clear([...conditions, condition("C", "True", t0)], "B").map((c) => c.type),
      ["A", "C"]
    )
  })
})

describe("Conditions.rootReady", () => {
  it("is True when every dependent is True at the current generation", () => {
    const conditions = [condition("A", "True", t0), condition("B", "True", t1)]
    assert.deepStrictEqual(Conditions.rootReady(conditions, dependents, 1), { type: "Ready", status: "True" })
  })

  it("is False when a dependent is False, naming the unhealthy ones newest first", () => {
    const conditions = [condition("A", "Unknown", t0), condition("B", "False", t1)]
    assert.deepStrictEqual(Conditions.rootReady(conditions, dependents, 1), {
      type: "Ready",
      status: "False",
      reason: Conditions.UnhealthyDependents,
      message: "B=False, A=Unknown"
    })
  })

  it("is Unknown when a dependent is Unknown, or True or False at an older generation", () => {
    const unknown = Conditions.rootReady([condition("A", "True", t0), condition("B", "Unknown", t1)], dependents, 1)
    assert.deepStrictEqual(unknown, {
      type: "Ready",
      status: "Unknown",
      reason: Conditions.ReconcilingDependents,
      message: "B=Unknown"
    })
    const stale = Conditions.rootReady([condition("A", "True", t0, 1), condition("B", "False", t1, 1)], dependents, 2)
    assert.strictEqual(stale.status, "Unknown")
    assert.strictEqual(stale.message, "B=False, A=True")
  })

  it("ignores conditions that are not dependents", () => {
    const conditions = [condition("A", "True", t0), condition("B", "True", t0), condition("Other", "False", t1)]
    assert.strictEqual(Conditions.rootReady(conditions, dependents, 1).status, "True")
  })
})

describe("Conditions.initialize / setWithRoot", () => {
  it("adds the root and missing dependents as Unknown, dated at the object's creation", () => {
    const next = Conditions.initialize([condition("A", "True", t0)], dependents, {
      generation: 1,
      now: t2,
      createdAt: created
    })
    assert.deepStrictEqual(
      next.map((c) => [c.type, c.status, c.lastTransitionTime, c.reason]),
      [
        ["B", "Unknown", created, Conditions.AwaitingReconciliation],
        ["A", "True", Conditions.timestamp(t0), "A"],
        ["Ready", "Unknown", created, Conditions.ReconcilingDependents]
      ]
    )
    assert.strictEqual(Conditions.initialize(next, dependents, { generation: 1, now: t2 }), next)
  })

  it("recomputes the root after a dependent changes", () => {
    const options = { generation: 1, now: t0, createdAt: created }
    const first = Conditions.setWithRoot(undefined, { type: "A", status: "True" }, dependents, options)
    assert.strictEqual(Conditions.get(first, "Ready")?.status, "Unknown")
    const both = Conditions.setWithRoot(first, { type: "B", status: "True" }, dependents, { ...options, now: t1 })
    assert.strictEqual(Conditions.get(both, "Ready")?.status, "True")
    assert.strictEqual(Conditions.get(both, "Ready")?.lastTransitionTime, Conditions.timestamp(t1))
    const broken = Conditions.setWithRoot(both, { type: "A", status: "False", reason: "Bad" }, dependents, {
      ...options,
      now: t2
    })
    assert.deepStrictEqual(
      [Conditions.get(broken, "Ready")?.status, Conditions.get(broken, "Ready")?.message],
      ["False", "A=False"]
    )
    assert.strictEqual(
      Conditions.setWithRoot(broken, { type: "A", status: "False", reason: "Bad" }, dependents, options),
      broken
    )
  })

  it("leaves the root alone for a condition outside the set", () => {
    const options = { generation: 1, now: t0 }
    const ready = Conditions.setWithRoot(
      Conditions.setWithRoot(undefined, { type: "A", status: "True" }, dependents, options),
      { type: "B", status: "True" },
      dependents,
      options
    )
    const next = Conditions.setWithRoot(ready, { type: "Health", status: "False", reason: "X" }, dependents, {
      ...options,
      now: t1
    })
    assert.strictEqual(Conditions.get(next, "Ready")?.status, "True")
    assert.strictEqual(Conditions.get(next, "Health")?.lastTransitionTime, Conditions.timestamp(t1))
  })
})
