/**
 * A singleton loop (operatorpkg's `singleton` reconciler): one effect run again and again — after `interval`, after the
 * delay it asks for, after a backoff when it fails, or at once when triggered. For the provisioner and disruption loops.
 */
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Latch from "effect/Latch"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as FlatContext from "./FlatContext.ts"
import type * as Result from "./Result.ts"

/** What a singleton is made of. */
export interface Options<E, R> {
  /** Names the loop in logs. */
  readonly name: string
  /** One pass; `Result.done` waits `interval`, `Result.requeueAfter` its own delay. */
  readonly run: Effect.Effect<Result.Result, E, R>
  /** The wait after a pass that asked for nothing. */
  readonly interval: Duration.Input
  /** The first wait after a failure, doubling on each consecutive failure; default 100 ms. */
  readonly baseBackoff?: Duration.Input
  /** The longest wait after failures; default 1 minute. */
  readonly maxBackoff?: Duration.Input
}

/** A running singleton. */
export interface Singleton {
  readonly name: string
  /** Ends the current wait now; a trigger during a pass makes another pass follow it at once. */
  readonly trigger: Effect.Effect<void>
}

/** Starts the loop in a fiber of the current Scope; the first pass runs at once. */
export const make = Effect.fn("Singleton.make")(function* <E, R>(
  options: Options<E, R>
): Effect.fn.Return<Singleton, never, R | Scope.Scope> {
  const intervalMillis = Duration.toMillis(options.interval)
  const baseMillis = Duration.toMillis(options.baseBackoff ?? Duration.millis(100))
  const maxMillis = Duration.toMillis(options.maxBackoff ?? Duration.minutes(1))
  const triggered = Latch.makeUnsafe(false)

  /** Runs one pass; returns how long to wait before the next. */
  let failures = 0
  const pass: Effect.Effect<number, never, R> = options.run.pipe(
    Effect.matchCauseEffect({
      onSuccess: (result) => {
        failures = 0
        return Effect.succeed(result._tag === "RequeueAfter" ? Duration.toMillis(result.delay) : intervalMillis)
      },
      onFailure: (cause) => {
        const delay = Math.min(baseMillis * 2 ** failures++, maxMillis)
        return Effect.as(
          Cause.hasInterruptsOnly(cause)
            ? Effect.void
            : Effect.logError(`singleton failed, retrying in ${delay} ms`, cause),
          delay
        )
      }
    })
  )

  const loop = Effect.gen(function* () {
    while (true) {
      triggered.closeUnsafe()
      const delay = yield* pass
      yield* delay > 0 ? Effect.race(Effect.sleep(delay), triggered.await) : Effect.yieldNow
    }
  }).pipe(Effect.annotateLogs({ singleton: options.name }), FlatContext.run)

  yield* Effect.forkScoped(loop)
  return { name: options.name, trigger: triggered.open.pipe(Effect.asVoid) }
})

/** The singleton as a Layer: built, it runs until the Layer's scope closes. */
export const layer = <E, R>(options: Options<E, R>): Layer.Layer<never, never, Exclude<R, Scope.Scope>> =>
  Layer.effectDiscard(make(options))
