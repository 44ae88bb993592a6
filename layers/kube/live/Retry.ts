/**
 * Retries of failed attempts: exponential backoff with jitter (Effect Random, Effect Clock), honouring the server's
 * Retry-After, and only when repeating the request is safe for its kind (see {@link Safety}).
 */
import * as Effect from "effect/Effect"
import * as Random from "effect/Random"
import type * as Errors from "./Errors.ts"

/** How often and how patiently to retry. */
export interface Policy {
  /** Retries after the first attempt. */
  readonly retries: number
  /** The first delay in milliseconds; it doubles per retry. */
  readonly baseMillis: number
  /** The longest backoff delay in milliseconds. */
  readonly maxMillis: number
}

/**
 * Which failed attempts may be repeated: `idempotent` requests (reads, watches, PUT, merge patches, guarded JSON
 * patches, DELETE, evictions, bindings) whenever the failure was not a final answer; `unsent` requests (POST create,
 * unguarded JSON patches) only when the server surely did not act on them, since a repeat could create or apply twice.
 */
export type Safety = "idempotent" | "unsent"

/** Servers ask for short pauses; a longer Retry-After than this is capped so a caller is never parked for minutes. */
const maxRetryAfterMillis = 30_000

/** Whether `failure` may be retried under `safety`. */
export const retryable = (failure: Errors.Failure, safety: Safety): boolean =>
  failure.delivery === "unsent" || (failure.delivery === "unknown" && safety === "idempotent")

/** The pause before retry number `attempt` (from 0): half fixed, half random ("equal jitter"), capped. */
export const backoff = (policy: Policy, attempt: number): Effect.Effect<number> =>
  Effect.map(Random.next, (random) => {
    const ceiling = Math.min(policy.maxMillis, policy.baseMillis * 2 ** attempt)
    return Math.round(ceiling / 2 + (random * ceiling) / 2)
  })

/** The pause after `failure`: the server's Retry-After when it gave one, else the backoff. */
export const pause = (policy: Policy, attempt: number, failure: Errors.Failure): Effect.Effect<number> =>
  failure.retryAfterMillis !== undefined && failure.retryAfterMillis > 0
    ? Effect.succeed(Math.min(failure.retryAfterMillis, maxRetryAfterMillis))
    : backoff(policy, attempt)

/** Runs `attempt`, repeating it after retryable failures up to `policy.retries` times. */
export const run = <A>(
  policy: Policy,
  safety: Safety,
  attempt: Effect.Effect<A, Errors.Failure>
): Effect.Effect<A, Errors.Failure> => {
  const loop = (n: number): Effect.Effect<A, Errors.Failure> =>
    Effect.catch(attempt, (failure) =>
      n >= policy.retries || !retryable(failure, safety)
        ? Effect.fail(failure)
        : Effect.flatMap(pause(policy, n, failure), (millis) =>
            Effect.logDebug(`${failure.error.message}; retrying in ${millis} ms`).pipe(
              Effect.andThen(Effect.sleep(millis)),
              Effect.andThen(Effect.suspend(() => loop(n + 1)))
            )
          )
    )
  return loop(0)
}
