/** `Result.min`: how a reconciler of several steps merges their results (upstream `pkg/utils/result.Min`). */
import { assert, describe, it } from "@effect/vitest"
import * as Result from "../../src/runtime/Result.ts"

describe("Result.min", () => {
  it("is done only when every result is", () => {
    assert.deepStrictEqual(Result.min(), Result.done)
    assert.deepStrictEqual(Result.min(Result.done, Result.done), Result.done)
    assert.deepStrictEqual(Result.min(Result.done, Result.requeueAfter("5 seconds")), Result.requeueAfter("5 seconds"))
  })

  it("takes the soonest requeue, a requeue now included, in any order", () => {
    const results = [Result.requeueAfter("5 seconds"), Result.done, Result.requeueAfter("3 seconds")]
    assert.deepStrictEqual(Result.min(...results), Result.requeueAfter("3 seconds"))
    assert.deepStrictEqual(Result.min(...[...results].reverse()), Result.requeueAfter("3 seconds"))
    assert.deepStrictEqual(Result.min(...results, Result.requeue), Result.requeue)
  })
})
