import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as S from "../support.ts"
import * as D from "./support.ts"

describe("disruption: expiration", S.controllerSuite, () => {
  it.effect('a node expires at expireAfter even with budget nodes "0" (expiration is forceful)', () =>
    Effect.gen(function* () {
      yield* D.setup(D.nodePool("default", { consolidateAfter: "30s", expireAfter: "10m", budgets: [{ nodes: "0" }] }))
      const log = yield* D.start()
      // Two nodes: one empty, one with a pod that would fit a cheaper node; the budget blocks both.
      yield* D.launch("empty", "small")
      yield* D.launch("busy", "medium")
      yield* S.advance(2_000, 1_000)
      yield* D.boundPod("app", "busy")
      yield* S.advance(9 * 60_000 + 50_000, 10_000)
      assert.deepStrictEqual(yield* D.nodeNames, ["busy", "empty"], "the budget blocks every budgeted method")
      assert.deepStrictEqual(log.entries(), [])

      yield* S.advance(20_000, 5_000)
      assert.deepStrictEqual(yield* D.liveNodes, [], "both expired at 10m")
      // The busy node drains its pod (graceful termination) first.
      yield* S.advance(60_000, 5_000)
      assert.deepStrictEqual(yield* D.nodeNames, [])
      const entries = log.entries()
      assert.deepStrictEqual(entries.map((entry) => [entry.reason, entry.candidates, entry.replacements]).sort(), [
        ["Expired", ["busy"], []],
        ["Expired", ["empty"], []]
      ])
      assert.isTrue(entries.every((entry) => entry.time === 10 * 60_000))
      const disrupted = yield* D.eventsWithReason("Disrupted")
      assert.deepStrictEqual(disrupted.sort(), [
        "busy: Disrupting NodeClaim: Expired - expireAfter 10m elapsed",
        "empty: Disrupting NodeClaim: Expired - expireAfter 10m elapsed"
      ])
    }).pipe(Effect.provide(D.base()))
  )
})
