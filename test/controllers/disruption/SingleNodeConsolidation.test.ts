import { assert, describe, it } from "@effect/vitest"
import * as SingleNodeConsolidation from "../../../src/controllers/disruption/SingleNodeConsolidation.ts"
import * as F from "./fixtures.ts"

describe("SingleNodeConsolidation: its step", () => {
  it("should disrupt what multi-node consolidation does: consolidatable, WhenEmptyOrUnderutilized, type known", () => {
    assert.isTrue(SingleNodeConsolidation.shouldDisrupt(F.candidate("a", { pods: 1 })))
    assert.isFalse(
      SingleNodeConsolidation.shouldDisrupt(F.candidate("when-empty", { pods: 1, consolidationPolicy: "WhenEmpty" }))
    )
    assert.isFalse(SingleNodeConsolidation.shouldDisrupt(F.candidate("never", { pods: 1, consolidateAfter: "Never" })))
    assert.isFalse(SingleNodeConsolidation.shouldDisrupt(F.candidate("unknown", { pods: 1, offered: false })))
  })

  it("tries a candidate with pods to move whose NodePool has a disruption left, not an empty one", () => {
    const budgets = new Map([
      ["a", 1],
      ["b", 0]
    ])
    assert.isTrue(SingleNodeConsolidation.tries(F.candidate("busy", { nodePool: "a", pods: 1 }), budgets))
    assert.isFalse(SingleNodeConsolidation.tries(F.candidate("empty", { nodePool: "a" }), budgets), "Emptiness's")
    assert.isFalse(SingleNodeConsolidation.tries(F.candidate("blocked", { nodePool: "b", pods: 1 }), budgets))
    assert.isFalse(SingleNodeConsolidation.tries(F.candidate("unbudgeted", { nodePool: "c", pods: 1 }), budgets))
  })
})
