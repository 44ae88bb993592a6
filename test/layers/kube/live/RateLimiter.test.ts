import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as TestClock from "effect/testing/TestClock"
import * as LiveKube from "../../../../layers/kube/live/LiveKubeClient.ts"
import * as RateLimiter from "../../../../layers/kube/live/RateLimiter.ts"
import * as Resources from "../../../../src/kube/Resources.ts"
import * as Stub from "./Stub.ts"

describe("RateLimiter", () => {
  it.effect("lets a burst through, then one request per 1/qps, in arrival order", () =>
    Effect.gen(function* () {
      const limiter = RateLimiter.make({ qps: 5, burst: 2 })
      yield* limiter.take
      yield* limiter.take
      const third = yield* Effect.forkChild(limiter.take)
      const fourth = yield* Effect.forkChild(limiter.take)
      yield* TestClock.adjust(199)
      assert.isUndefined(third.pollUnsafe())
      yield* TestClock.adjust(1)
      yield* Fiber.join(third)
      assert.isUndefined(fourth.pollUnsafe())
      yield* TestClock.adjust(200)
      yield* Fiber.join(fourth)
    })
  )

  it.effect("refills while idle, up to the burst", () =>
    Effect.gen(function* () {
      const limiter = RateLimiter.make({ qps: 10, burst: 3 })
      for (let i = 0; i < 3; i++) yield* limiter.take
      yield* TestClock.adjust(10_000)
      for (let i = 0; i < 3; i++) yield* limiter.take
      const fourth = yield* Effect.forkChild(limiter.take)
      yield* TestClock.adjust(99)
      assert.isUndefined(fourth.pollUnsafe())
      yield* TestClock.adjust(1)
      yield* Fiber.join(fourth)
    })
  )

  it.effect("a QPS of 0 disables limiting", () =>
    Effect.gen(function* () {
      const limiter = RateLimiter.make({ qps: 0, burst: 0 })
      for (let i = 0; i < 1000; i++) yield* limiter.take
    })
  )

  it.effect("every client has its own bucket: the leader-election client is not starved by the controllers'", () =>
    Effect.gen(function* () {
      const stub = yield* Stub.serve((_, res) =>
        Stub.reply(res, 200, { apiVersion: "v1", kind: "Node", metadata: { name: "n" }, spec: {} })
      )
      const controllers = yield* LiveKube.make({ server: stub.url, qps: 1, burst: 1 })
      const election = yield* LiveKube.make({ server: stub.url, qps: 1, burst: 1 })
      yield* controllers.get(Resources.Nodes, "n")
      const waiting = yield* Effect.forkChild(controllers.get(Resources.Nodes, "n"))
      // The controllers' bucket is empty; the election client's is not.
      yield* election.get(Resources.Nodes, "n")
      assert.strictEqual(stub.requests.length, 2)
      assert.isUndefined(waiting.pollUnsafe())
      yield* TestClock.adjust(1000)
      yield* Fiber.join(waiting)
      assert.strictEqual(stub.requests.length, 3)
    })
  )
})
