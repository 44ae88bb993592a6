import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as S from "../support.ts"

describe("explore", () => {
  it.effect("fake flow", () =>
    Effect.gen(function* () {
      yield* Layer.build(S.karpenter())
      yield* S.settle
      yield* S.createNodePool(S.nodePool("default"))
      yield* S.settle
      console.log(JSON.stringify((yield* S.getNodePool("default")).status))
      yield* S.createPendingPod(S.pod("p1"))
      yield* S.settle
      console.log("t0", (yield* S.listNodeClaims).length)
      yield* S.advance(999, 100)
      console.log("t999", (yield* S.listNodeClaims).length)
      yield* S.advance(1, 1)
      console.log("t1000", (yield* S.listNodeClaims).length)
      yield* S.advance(5000)
      const claims = yield* S.listNodeClaims
      console.log(JSON.stringify(claims, null, 1))
      console.log(JSON.stringify(yield* S.listEvents))
      assert.ok(true)
    }).pipe(Effect.provide(S.fakeBase))
  )
})
