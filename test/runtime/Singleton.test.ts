import { assert, describe, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/testing/TestClock"
import * as Result from "../../src/runtime/Result.ts"
import * as Singleton from "../../src/runtime/Singleton.ts"
import { settle } from "./support.ts"

class Boom extends Data.TaggedError("Boom")<{}> {}

/** A run that records the virtual second it ran at and answers from `script` (the last entry repeats). */
const scripted = (runs: Array<number>, script: ReadonlyArray<"ok" | "fail" | Result.Result>) =>
  Effect.gen(function* () {
    runs.push((yield* Clock.currentTimeMillis) / 1000)
    const step = script[Math.min(runs.length - 1, script.length - 1)]!
    if (step === "fail") return yield* new Boom()
    return step === "ok" ? Result.done : step
  })

describe("Singleton", () => {
  it.effect("runs at once, then every interval", () =>
    Effect.gen(function* () {
      const runs: Array<number> = []
      yield* Singleton.make({ name: "tick", interval: "10 seconds", run: scripted(runs, ["ok"]) })
      yield* settle
      assert.deepStrictEqual(runs, [0])
      yield* TestClock.adjust("9999 millis")
      assert.deepStrictEqual(runs, [0])
      yield* TestClock.adjust("1 milli")
      assert.deepStrictEqual(runs, [0, 10])
      yield* TestClock.adjust("30 seconds")
      assert.deepStrictEqual(runs, [0, 10, 20, 30, 40])
    })
  )

  it.effect("backs off exponentially on failure, and returns to the interval after a success", () =>
    Effect.gen(function* () {
      const runs: Array<number> = []
      yield* Singleton.make({
        name: "flaky",
        interval: "1 minute",
        baseBackoff: "1 second",
        maxBackoff: "5 seconds",
        run: scripted(runs, ["fail", "fail", "fail", "fail", "fail", "ok", "fail", "ok"])
      })
      yield* TestClock.adjust("20 seconds")
      // Waits of 1, 2, 4, 5 (capped), 5 seconds after the failures.
      assert.deepStrictEqual(runs, [0, 1, 3, 7, 12, 17])
      yield* TestClock.adjust("60 seconds")
      // The failure at 77 waits the base backoff again: the success reset it.
      assert.deepStrictEqual(runs, [0, 1, 3, 7, 12, 17, 77, 78])
    })
  )

  it.effect("a requeueAfter result overrides the interval for the next wait", () =>
    Effect.gen(function* () {
      const runs: Array<number> = []
      yield* Singleton.make({
        name: "requeue",
        interval: "1 minute",
        run: scripted(runs, [Result.requeueAfter("3 seconds"), Result.requeue, "ok"])
      })
      yield* TestClock.adjust("1 minute")
      assert.deepStrictEqual(runs, [0, 3, 3])
      yield* TestClock.adjust("3 seconds")
      assert.deepStrictEqual(runs, [0, 3, 3, 63])
    })
  )

  it.effect("trigger ends the wait at once; a trigger during a run makes one more run follow", () =>
    Effect.gen(function* () {
      const runs: Array<number> = []
      let singleton: Singleton.Singleton | undefined
      let triggers = 0
      const run = Effect.gen(function* () {
        runs.push((yield* Clock.currentTimeMillis) / 1000)
        yield* Effect.sleep("1 second")
        // The run at 10 s triggers itself twice: both coalesce into one more run.
        if (runs.length === 2 && triggers++ === 0) {
          yield* singleton!.trigger
          yield* singleton!.trigger
        }
        return Result.done
      })
      singleton = yield* Singleton.make({ name: "triggered", interval: "1 minute", run })
      yield* TestClock.adjust("10 seconds")
      assert.deepStrictEqual(runs, [0])
      yield* singleton.trigger
      yield* settle
      assert.deepStrictEqual(runs, [0, 10])
      yield* TestClock.adjust("1 second")
      assert.deepStrictEqual(runs, [0, 10, 11])
      yield* TestClock.adjust("1 second")
      assert.deepStrictEqual(runs, [0, 10, 11])
      yield* TestClock.adjust("1 minute")
      assert.deepStrictEqual(runs, [0, 10, 11, 72])
    })
  )

  it.effect("closing the scope stops the loop", () =>
    Effect.gen(function* () {
      const runs: Array<number> = []
      const interrupted: Array<number> = []
      const scope = yield* Scope.make()
      yield* Singleton.make({
        name: "stoppable",
        interval: "1 second",
        run: scripted(runs, ["ok"]).pipe(
          Effect.tap(() => Effect.sleep("500 millis")),
          Effect.onInterrupt(() => Effect.sync(() => interrupted.push(runs.length)))
        )
      }).pipe(Scope.provide(scope))
      yield* TestClock.adjust("1600 millis")
      assert.deepStrictEqual(runs, [0, 1.5])
      yield* Scope.close(scope, Exit.void)
      assert.deepStrictEqual(interrupted, [2])
      yield* TestClock.adjust("1 minute")
      assert.deepStrictEqual(runs, [0, 1.5])
    })
  )
})
