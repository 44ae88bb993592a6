import { assert, describe, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as TestClock from "effect/testing/TestClock"
import * as WorkQueue from "../../src/runtime/WorkQueue.ts"

describe("WorkQueue", () => {
  it.effect("a key added many times while waiting is queued once, in first-added order", () =>
    Effect.gen(function* () {
      const queue = yield* WorkQueue.make()
      for (const key of ["a", "b", "a", "a", "c", "b"]) yield* queue.add(key)
      assert.strictEqual(yield* queue.length, 3)
      assert.deepStrictEqual([yield* queue.take, yield* queue.take, yield* queue.take], ["a", "b", "c"])
      assert.strictEqual(yield* queue.length, 0)
    })
  )

  it.effect("a key being processed is not handed out again; re-added, it is queued once when done", () =>
    Effect.gen(function* () {
      const queue = yield* WorkQueue.make()
      yield* queue.add("a")
      assert.strictEqual(yield* queue.take, "a")
      yield* queue.add("a")
      yield* queue.add("a")
      assert.strictEqual(yield* queue.length, 0)
      const second = yield* Effect.forkChild(queue.take)
      yield* Effect.yieldNow
      assert.isUndefined(second.pollUnsafe())
      yield* queue.done("a")
      assert.strictEqual(yield* Fiber.join(second), "a")
      yield* queue.done("a")
      assert.strictEqual(yield* queue.length, 0)
    })
  )

  it.effect("take waits for a key", () =>
    Effect.gen(function* () {
      const queue = yield* WorkQueue.make()
      const taker = yield* Effect.forkChild(queue.take)
      yield* Effect.yieldNow
      assert.isUndefined(taker.pollUnsafe())
      yield* queue.add("x")
      assert.strictEqual(yield* Fiber.join(taker), "x")
    })
  )

  it.effect("addAfter queues the key at the virtual instant; the earlier of two delays wins", () =>
    Effect.gen(function* () {
      const queue = yield* WorkQueue.make()
      yield* queue.addAfter("a", "10 seconds")
      yield* queue.addAfter("a", "20 seconds")
      yield* queue.addAfter("b", "10 seconds")
      yield* queue.addAfter("b", "5 seconds")
      yield* TestClock.adjust("4999 millis")
      assert.strictEqual(yield* queue.length, 0)
      yield* TestClock.adjust("1 milli")
      assert.deepStrictEqual([yield* queue.length, yield* queue.take], [1, "b"])
      yield* TestClock.adjust("4999 millis")
      assert.strictEqual(yield* queue.length, 0)
      yield* TestClock.adjust("1 milli")
      assert.deepStrictEqual([yield* queue.length, yield* queue.take], [1, "a"])
      // The later delay was dropped, not kept for later.
      yield* TestClock.adjust("1 minute")
      assert.strictEqual(yield* queue.length, 0)
    })
  )

  it.effect("thousands of delayed keys come out in due order, at their instants; an earlier add wakes the timer", () =>
    Effect.gen(function* () {
      const queue = yield* WorkQueue.make()
      const keys = Array.from({ length: 3_000 }, (_, index) => ({
        key: `k${index}`,
        delay: ((index * 7_919) % 500) + 1
      }))
      for (const { key, delay } of keys) yield* queue.addAfter(key, delay)
      const expected = [...keys].sort((a, b) => a.delay - b.delay).map(({ key }) => key)
      const seen: Array<string> = []
      for (let millis = 1; millis <= 500; millis++) {
        yield* TestClock.adjust(1)
        const due = keys.filter(({ delay }) => delay <= millis).length
        while ((yield* queue.length) > 0) seen.push(yield* queue.take)
        assert.strictEqual(seen.length, due, `at ${millis} ms`)
      }
      assert.deepStrictEqual(seen, expected)
      // The timer now sleeps until a far key; a nearer one added later still comes out on time.
      yield* queue.addAfter("far", 10_000)
      yield* queue.addAfter("near", 10)
      yield* TestClock.adjust(10)
      assert.strictEqual(yield* queue.take, "near")
      assert.strictEqual(yield* queue.length, 0)
    })
  )

  it.effect("addRateLimited backs off 5 ms × 2^failures up to the cap; forget resets it", () =>
    Effect.gen(function* () {
      const queue = yield* WorkQueue.make({ maxDelay: "1 second" })
      const readyAfter = Effect.fnUntraced(function* () {
        const start = yield* Clock.currentTimeMillis
        yield* queue.addRateLimited("k")
        const taker = yield* Effect.forkChild(queue.take)
        while (taker.pollUnsafe() === undefined) yield* TestClock.adjust("1 milli")
        yield* queue.done("k")
        return (yield* Clock.currentTimeMillis) - start
      })
      const delays: Array<number> = []
      for (let i = 0; i < 10; i++) delays.push(yield* readyAfter())
      assert.deepStrictEqual(delays, [5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000])
      assert.strictEqual(yield* queue.numRequeues("k"), 10)
      yield* queue.forget("k")
      assert.strictEqual(yield* queue.numRequeues("k"), 0)
      assert.strictEqual(yield* readyAfter(), 5)
    })
  )

  it.effect("process calls done even when the work fails", () =>
    Effect.gen(function* () {
      const queue = yield* WorkQueue.make()
      yield* queue.add("a")
      const failed = yield* queue.process(() => Effect.fail("boom" as const)).pipe(Effect.flip)
      assert.strictEqual(failed, "boom")
      yield* queue.add("a")
      assert.strictEqual(yield* queue.length, 1)
    })
  )

  it.effect("shutdown drops delayed keys, hands out the waiting ones, then take fails", () =>
    Effect.gen(function* () {
      const queue = yield* WorkQueue.make()
      yield* queue.add("a")
      yield* queue.addAfter("b", "1 second")
      yield* queue.shutdown
      yield* queue.add("c")
      assert.strictEqual(yield* queue.take, "a")
      const error = yield* Effect.flip(queue.take)
      assert.strictEqual(error._tag, "WorkQueueShutdown")
      yield* TestClock.adjust("2 seconds")
      assert.strictEqual(yield* queue.length, 0)
      assert.isTrue(yield* queue.isShutdown)
    })
  )

  it.effect("idle takers get keys in the order they began waiting; one interrupted while waiting takes none", () =>
    Effect.gen(function* () {
      const queue = yield* WorkQueue.make()
      const takers = []
      for (let i = 0; i < 4; i++) {
        takers.push(yield* Effect.forkChild(queue.take))
        yield* Effect.yieldNow
      }
      yield* Fiber.interrupt(takers[1]!)
      yield* queue.add("a")
      yield* queue.add("b")
      assert.strictEqual(yield* Fiber.join(takers[0]!), "a")
      assert.strictEqual(yield* Fiber.join(takers[2]!), "b")
      assert.isUndefined(takers[3]!.pollUnsafe())
      yield* queue.add("c")
      assert.strictEqual(yield* Fiber.join(takers[3]!), "c")
      assert.strictEqual(yield* queue.length, 0)
    })
  )

  it.effect("a waiting taker is released by shutdown", () =>
    Effect.gen(function* () {
      const queue = yield* WorkQueue.make()
      const taker = yield* Effect.forkChild(Effect.flip(queue.take))
      yield* Effect.yieldNow
      yield* queue.shutdown
      assert.strictEqual((yield* Fiber.join(taker))._tag, "WorkQueueShutdown")
    })
  )
})
