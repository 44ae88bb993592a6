import { assert, describe, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Scheduler from "effect/Scheduler"
import { VirtualClock } from "../../src/cluster/VirtualClock.ts"

/** Runs `body` on a fresh virtual clock, in a fiber of its own so every fiber it forks dispatches on that clock. */
const onVirtualClock = <A, E>(body: Effect.Effect<A, E, VirtualClock>) =>
  Effect.flatMap(Effect.forkChild(body), Fiber.join).pipe(Effect.provide(VirtualClock.layer))

describe("VirtualClock", () => {
  it.live("wakes sleepers earliest deadline first, equal deadlines in the order they went to sleep", () =>
    onVirtualClock(
      Effect.gen(function* () {
        const woke: Array<string> = []
        const sleeper = (name: string, millis: number) =>
          Effect.forkChild(
            Effect.gen(function* () {
              yield* Effect.sleep(millis)
              woke.push(`${name}@${yield* Clock.currentTimeMillis}`)
            })
          )
        yield* sleeper("c", 30)
        yield* sleeper("a", 10)
        yield* sleeper("d", 40)
        yield* sleeper("b", 10)
        yield* Effect.yieldNow
        yield* (yield* VirtualClock).adjust(30)
        assert.deepStrictEqual(woke, ["a@10", "b@10", "c@30"])
        assert.strictEqual(yield* Clock.currentTimeMillis, 30)
        yield* (yield* VirtualClock).adjust(10)
        assert.deepStrictEqual(woke, ["a@10", "b@10", "c@30", "d@40"])
      })
    )
  )

  it.live("wakes hundreds of sleepers in deadline order, ties in the order they slept", () =>
    onVirtualClock(
      Effect.gen(function* () {
        const woke: Array<number> = []
        // Deadlines 0–49 ms scattered over 300 sleepers, six to a deadline.
        const deadlines = Array.from({ length: 300 }, (_, index) => (index * 37) % 50)
        for (const [index, millis] of deadlines.entries()) {
          yield* Effect.forkChild(
            Effect.andThen(
              Effect.sleep(millis),
              Effect.sync(() => woke.push(index))
            )
          )
        }
        yield* Effect.yieldNow
        yield* (yield* VirtualClock).adjust(50)
        const expected = deadlines
          .map((millis, index) => ({ millis, index }))
          .sort((a, b) => a.millis - b.millis || a.index - b.index)
          .map(({ index }) => index)
        assert.deepStrictEqual(woke, expected)
      })
    )
  )

  it.live("runs what a wake sets off until it waits before the next sleeper wakes", () =>
    onVirtualClock(
      Effect.gen(function* () {
        const log: Array<string> = []
        // The first sleeper hands work to another fiber that takes several turns; the second, due at the same time,
        // wakes only once that work is done.
        yield* Effect.forkChild(
          Effect.gen(function* () {
            yield* Effect.sleep(5)
            log.push("first")
            // Detached: it outlives the sleeper, which ends here.
            yield* Effect.forkDetach(
              Effect.gen(function* () {
                for (let turn = 1; turn <= 3; turn++) {
                  yield* Effect.yieldNow
                  log.push(`work ${turn}`)
                }
              })
            )
          })
        )
        yield* Effect.forkChild(
          Effect.gen(function* () {
            yield* Effect.sleep(5)
            log.push("second")
          })
        )
        yield* Effect.yieldNow
        yield* (yield* VirtualClock).adjust(5)
        assert.deepStrictEqual(log, ["first", "work 1", "work 2", "work 3", "second"])
      })
    )
  )

  it.live("an interrupted sleeper never wakes; a sleep of nothing returns at once", () =>
    onVirtualClock(
      Effect.gen(function* () {
        const woke: Array<string> = []
        const interrupted = yield* Effect.forkChild(
          Effect.andThen(
            Effect.sleep(10),
            Effect.sync(() => woke.push("interrupted"))
          )
        )
        yield* Effect.forkChild(
          Effect.andThen(
            Effect.sleep(20),
            Effect.sync(() => woke.push("kept"))
          )
        )
        yield* Effect.yieldNow
        yield* Fiber.interrupt(interrupted)
        yield* Effect.sleep(0)
        assert.strictEqual(yield* Clock.currentTimeMillis, 0)
        yield* (yield* VirtualClock).adjust(25)
        assert.deepStrictEqual(woke, ["kept"])
      })
    )
  )

  it.live("sets the time, waking the sleepers due before it at their own deadlines", () =>
    onVirtualClock(
      Effect.gen(function* () {
        const seen: Array<number> = []
        yield* Effect.forkChild(
          Effect.gen(function* () {
            yield* Effect.sleep(4_000)
            seen.push(yield* Clock.currentTimeMillis)
          })
        )
        yield* Effect.yieldNow
        yield* (yield* VirtualClock).setTime(5_000)
        assert.deepStrictEqual(seen, [4_000])
        assert.strictEqual(yield* Clock.currentTimeMillis, 5_000)
        assert.strictEqual(yield* Clock.currentTimeNanos, BigInt(5_000) * BigInt(1_000_000))
      })
    )
  )

  it.live("runs every dispatcher's batches in the order they came, and lets the event loop in now and then", () =>
    Effect.gen(function* () {
      const scheduler = yield* Scheduler.Scheduler
      const dispatchers = [scheduler.makeDispatcher(), scheduler.makeDispatcher()] as const
      let turns = 0
      const countTurns = () => {
        turns++
        if (turns < 10_000) setImmediate(countTurns)
      }
      setImmediate(countTurns)
      // Step n runs on one dispatcher and queues step n + 1 on the other, then a leaf on its own: busy fibers on two
      // dispatchers. In the order the batches came, each leaf runs after the next step.
      const last = 2_999
      const ran: Array<string> = []
      yield* Effect.promise(
        () =>
          new Promise<void>((resolve) => {
            const step = (n: number) => () => {
              ran.push(`s${n}`)
              if (n === last) return
              dispatchers[(n + 1) % 2]!.scheduleTask(step(n + 1), 0)
              dispatchers[n % 2]!.scheduleTask(() => {
                ran.push(`b${n}`)
                if (n === last - 1) resolve()
              }, 0)
            }
            dispatchers[0].scheduleTask(step(0), 0)
          })
      )
      const expected = ["s0", "s1"]
      for (let n = 1; n < last; n++) expected.push(`b${n - 1}`, `s${n + 1}`)
      expected.push(`b${last - 1}`)
      assert.deepStrictEqual(ran, expected)
      // Every 256th run of the queue waits for an event-loop turn, where the other immediates run too.
      assert.isAtLeast(turns, 5)
      turns = 10_000
    }).pipe(Effect.provide(VirtualClock.layer))
  )

  it.live("runs a dispatcher's tasks by priority, and a flush runs them at once", () =>
    Effect.gen(function* () {
      const dispatcher = (yield* Scheduler.Scheduler).makeDispatcher()
      const ran: Array<string> = []
      dispatcher.scheduleTask(() => ran.push("late"), 1)
      dispatcher.scheduleTask(() => ran.push("first"), 0)
      dispatcher.scheduleTask(() => ran.push("second"), 0)
      dispatcher.flush()
      assert.deepStrictEqual(ran, ["first", "second", "late"])
      // The batch the flush ran is not run again when the queue reaches it.
      yield* Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))
      assert.deepStrictEqual(ran, ["first", "second", "late"])
    }).pipe(Effect.provide(VirtualClock.layer))
  )
})
