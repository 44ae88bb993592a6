/**
 * SSM parameter reads through a cache (upstream `pkg/providers/ssm`): an AMI alias's parameters are kept 24 hours, a
 * user's `ssmParameter` 5 minutes. So `@latest` moves to a new release within a day of its publication, not at once.
 * Failures are not cached. The memory is the instance's own: make one per controller.
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type { AwsFailure } from "../sdk/AwsError.ts"
import { Ssm } from "../sdk/Ssm.ts"

/** Whose parameter: an alias's (the EKS-published paths) or one a user named in `ssmParameter`. */
export type Kind = "alias" | "custom"

const ttlMillis: Readonly<Record<Kind, number>> = {
  alias: Duration.toMillis(Duration.hours(24)),
  custom: Duration.toMillis(Duration.minutes(5))
}

/** A cached reader of parameter values. */
export interface SsmParameters {
  /** The parameter's value; a missing parameter is `AwsNotFound`. */
  get(name: string, kind: Kind): Effect.Effect<string | undefined, AwsFailure>
}

/** A reader with an empty cache, over the Ssm service. */
export const make: Effect.Effect<SsmParameters, never, Ssm> = Effect.map(Effect.service(Ssm), (ssm) => {
  const cache = new Map<string, { readonly value: string | undefined; readonly expiresAt: number }>()
  return {
    get: (name, kind) =>
      Effect.gen(function* () {
        const now = yield* Clock.currentTimeMillis
        const key = `${kind}/${name}`
        const cached = cache.get(key)
        if (cached !== undefined && now < cached.expiresAt) return cached.value
        const value = (yield* ssm.getParameter({ Name: name })).Parameter?.Value
        cache.set(key, { value, expiresAt: now + ttlMillis[kind] })
        return value
      })
  }
})
