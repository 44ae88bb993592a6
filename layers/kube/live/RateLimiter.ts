/**
 * client-go's client-side rate limiter: a token bucket refilled at `qps` tokens a second that holds at most `burst`.
 * Each request takes one token, waiting on the Effect Clock when none is left. Waiters reserve their token up front
 * (the bucket goes negative), so they are served in arrival order and concurrent callers never oversubscribe it.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"

/** A rate limiter; build it with {@link make}. */
export interface RateLimiter {
  /** Waits until the request may go. */
  readonly take: Effect.Effect<void>
}

/** A limiter that never waits: `qps` of 0 or less, or infinite, disables limiting (as client-go's negative QPS). */
export const unlimited: RateLimiter = { take: Effect.void }

/** A token bucket that starts full; `burst` is at least 1. */
export const make = (options: { readonly qps: number; readonly burst: number }): RateLimiter => {
  if (!(options.qps > 0) || options.qps === Number.POSITIVE_INFINITY) return unlimited
  const perMillis = options.qps / 1000
  const capacity = Math.max(1, options.burst)
  let tokens = capacity
  let updated: number | undefined
  return {
    take: Effect.flatMap(Clock.currentTimeMillis, (now) => {
      tokens = Math.min(capacity, tokens + (updated === undefined ? 0 : Math.max(0, now - updated) * perMillis))
      updated = now
      tokens -= 1
      return tokens >= 0 ? Effect.void : Effect.sleep(Math.ceil(-tokens / perMillis))
    })
  }
}
