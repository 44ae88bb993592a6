/**
 * The provisioner's batcher (upstream `provisioning.Batcher`): splits a stream of triggers into windows. A window opens
 * on the first trigger and closes after `idle` without a new trigger or `max` after it opened. A key (a pod's or a
 * node's UID) triggers at most once per window, so updates of the same object do not keep a window open.
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"

export interface Batcher {
  /**
   * Opens the window, or extends it, unless `key` already triggered in this window (upstream `Trigger(uid)`). A key
   * triggered while no window is open (during a pass) counts for the next window.
   */
  trigger(key: string): Effect.Effect<void>
  /** Opens the window, or extends it, without dedupe (upstream `TriggerNow`). */
  readonly triggerNow: Effect.Effect<void>
  /** Waits for a first trigger, then for the window to close; then forgets the keys (upstream `Wait`). */
  readonly wait: Effect.Effect<void>
}

/** A batcher with the given idle and maximum window durations. */
export const make = Effect.fnUntraced(function* (options: {
  readonly idle: Duration.Input
  readonly max: Duration.Input
}) {
  const idle = Duration.toMillis(Duration.fromInputUnsafe(options.idle))
  const max = Duration.toMillis(Duration.fromInputUnsafe(options.max))
  const triggers = yield* Queue.unbounded<void>()
  const triggered = new Set<string>()

  const triggerNow: Effect.Effect<void> = Effect.asVoid(Queue.offer(triggers, undefined))

  const trigger = (key: string): Effect.Effect<void> =>
    Effect.suspend(() => {
      if (triggered.has(key)) return Effect.void
      triggered.add(key)
      return triggerNow
    })

  const wait: Effect.Effect<void> = Effect.gen(function* () {
    yield* Queue.take(triggers)
    const start = yield* Clock.currentTimeMillis
    for (;;) {
      const now = yield* Clock.currentTimeMillis
      const remaining = Math.min(idle, start + max - now)
      if (remaining <= 0) break
      const more = yield* Queue.take(triggers).pipe(Effect.timeoutOption(Duration.millis(remaining)))
      if (Option.isNone(more)) break
    }
    yield* Queue.clear(triggers)
  }).pipe(Effect.ensuring(Effect.sync(() => triggered.clear())))

  return { trigger, triggerNow, wait } satisfies Batcher
})
