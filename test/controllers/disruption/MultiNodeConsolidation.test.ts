import { assert, describe, it } from "@effect/vitest"
import * as MultiNodeConsolidation from "../../../src/controllers/disruption/MultiNodeConsolidation.ts"
import * as F from "./fixtures.ts"

describe("MultiNodeConsolidation: its step", () => {
  it("should disrupt consolidatable candidates of WhenEmptyOrUnderutilized NodePools whose type is known", () => {
    assert.isTrue(MultiNodeConsolidation.shouldDisrupt(F.candidate("a", { pods: 1 })))
    assert.isFalse(
      MultiNodeConsolidation.shouldDisrupt(F.candidate("when-empty", { pods: 1, consolidationPolicy: "WhenEmpty" }))
    )
    assert.isFalse(MultiNodeConsolidation.shouldDisrupt(F.candidate("fresh", { pods: 1, consolidatable: false })))
    assert.isFalse(MultiNodeConsolidation.shouldDisrupt(F.candidate("unknown", { pods: 1, offered: false })))
  })

  it("batches the cheapest to disrupt with pods to move, within each NodePool's budget", () => {
    const batch = MultiNodeConsolidation.batch(
      [
        F.candidate("a-dear", { nodePool: "a", pods: 1, cost: 9 }),
        F.candidate("a-empty", { nodePool: "a", cost: 0 }),
        F.candidate("b-cheap", { nodePool: "b", pods: 1, cost: 1 }),
        F.candidate("a-cheap", { nodePool: "a", pods: 3, cost: 2 }),
        F.candidate("b-dear", { nodePool: "b", pods: 1, cost: 8 })
      ],
      new Map([
        ["a", 2],
        ["b", 1]
      ])
    )
    // a-empty is Emptiness's: it takes none of a's budget.
    assert.deepStrictEqual(F.names(batch), ["b-cheap", "a-cheap", "a-dear"])
  })

  it(`takes at most ${MultiNodeConsolidation.maxCandidates} candidates, the cheapest`, () => {
    const candidates = Array.from({ length: 150 }, (_, i) => F.candidate(`n${i}`, { pods: 1, cost: 150 - i }))
    const batch = MultiNodeConsolidation.batch(candidates, new Map([["default", 1_000]]))
    assert.lengthOf(batch, 100)
    assert.strictEqual(batch[0]?.name, "n149")
    assert.strictEqual(batch[99]?.name, "n50")
  })
})
