/**
 * What every AWS service layer shares: its options, the client-side rate limit, retries with jittered backoff on the
 * Effect Clock (the SDK clients run with `maxAttempts: 1`, so nothing waits outside Effect), the mapping of SDK
 * exceptions to tagged errors, and following pagination tokens.
 */
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as RateLimiter from "../../../kube/live/RateLimiter.ts"
import * as AwsError from "./AwsError.ts"

/** How often and how patiently throttled and failed-server calls are repeated. */
export interface RetryPolicy {
  /** Retries after the first attempt. */
  readonly retries: number
  /** The first delay in milliseconds; it doubles per retry, then ±20% jitter. */
  readonly baseMillis: number
  /** The longest delay in milliseconds (before jitter). */
  readonly maxMillis: number
}

/** A token bucket: `qps` tokens a second, at most `burst` at once. */
export interface RateLimit {
  readonly qps: number
  readonly burst: number
}

/**
 * Options of a service layer. Credentials are left to the SDK's default chain (environment, IRSA / pod identity,
 * instance profile); `sdk` carries client settings that tests and private endpoints need.
 */
export interface Options<SdkConfig> {
  readonly region: string
  readonly rateLimit?: RateLimit
  readonly retry?: RetryPolicy
  readonly sdk?: SdkConfig
}

/**
 * The AWS SDKs' standard strategy: 3 attempts, exponential backoff capped at 20 seconds; our first delay is longer
 * than the SDK's 100 ms because most retries here answer throttling, where the SDK waits 500 ms.
 */
export const defaultRetry: RetryPolicy = { retries: 2, baseMillis: 500, maxMillis: 20_000 }

/** Settings every client gets: our retries replace the SDK's. */
export const clientDefaults = (options: Options<unknown>) => ({ region: options.region, maxAttempts: 1 }) as const

/** An SDK client for the layer's lifetime: built when the layer is, destroyed (its sockets closed) with its scope. */
export const client = <C extends { destroy(): void }>(make: () => C): Effect.Effect<C, never, Scope.Scope> =>
  Effect.acquireRelease(Effect.sync(make), (built) => Effect.sync(() => built.destroy()))

/** Sends a request: `send` gets the signal that aborts it when the calling fiber is interrupted. */
export type Send<I, A> = (input: I, signal: AbortSignal) => Promise<A>

/** The calls of one service, sharing its rate limit and retry policy; build them with {@link make}. */
export interface Calls {
  /** One request per call. */
  readonly single: <I, A>(operation: string, send: Send<I, A>) => (input: I) => Effect.Effect<A, AwsError.AwsFailure>
  /** Every item of every page: requests follow the `NextToken` of each answer until there is none. */
  readonly paginated: <
    I extends { NextToken?: string | undefined },
    P extends { NextToken?: string | undefined },
    Item
  >(
    operation: string,
    send: Send<I, P>,
    items: (page: P) => ReadonlyArray<Item> | undefined
  ) => (input: I) => Effect.Effect<ReadonlyArray<Item>, AwsError.AwsFailure>
}

/** The calls of service `service`; `defaultRateLimit` applies unless the options give one. */
export const make = (service: string, options: Options<unknown>, defaultRateLimit: RateLimit): Calls => {
  const limiter = RateLimiter.make(options.rateLimit ?? defaultRateLimit)
  const policy = options.retry ?? defaultRetry
  const schedule = Schedule.min([Schedule.exponential(policy.baseMillis), Schedule.spaced(policy.maxMillis)]).pipe(
    Schedule.jittered
  )
  const single =
    <I, A>(operation: string, send: Send<I, A>) =>
    (input: I): Effect.Effect<A, AwsError.AwsFailure> =>
      limiter.take.pipe(
        Effect.andThen(
          Effect.tryPromise({
            try: (signal) => send(input, signal),
            catch: (cause) => AwsError.fromSdk(service, operation, cause)
          })
        ),
        Effect.tapError((error) =>
          AwsError.isRetryable(error)
            ? Effect.logDebug(`${service} ${operation}: ${error.code}: ${error.message}`)
            : Effect.void
        ),
        Effect.retry({ schedule, times: policy.retries, while: AwsError.isRetryable })
      )
  const paginated = <I extends { NextToken?: string | undefined }, P extends { NextToken?: string | undefined }, Item>(
    operation: string,
    send: Send<I, P>,
    items: (page: P) => ReadonlyArray<Item> | undefined
  ) => {
    const page = single(operation, send)
    return Effect.fnUntraced(function* (input: I): Effect.fn.Return<ReadonlyArray<Item>, AwsError.AwsFailure> {
      const all: Array<Item> = []
      let NextToken = input.NextToken
      do {
        const answer = yield* page({ ...input, NextToken })
        all.push(...(items(answer) ?? []))
        NextToken = answer.NextToken || undefined
      } while (NextToken !== undefined)
      return all
    })
  }
  return { single, paginated }
}
