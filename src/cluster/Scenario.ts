/**
 * The `simulate` scenario document (`karpenter-effect.dev/v1alpha1` Scenario): how long to run, when the virtual
 * clock starts, and the steps that change the cluster at given times.
 */

import type * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Decode from "../api/Decode.ts"
import * as Duration from "../api/Duration.ts"

const optional = Schema.optionalKey

/** A Go-style duration ("10m", "1h30m") as milliseconds. */
const DurationMillis = Schema.String.check(
  Schema.makeFilter((text: string) =>
    typeof Duration.toMillis(text) === "number" ? undefined : "must be a duration such as 30s, 10m or 2h"
  )
)

/** An object reference in `delete`. */
const Reference = Schema.Struct({
  kind: Schema.String,
  apiVersion: optional(Schema.String),
  namespace: optional(Schema.String),
  name: Schema.String
})

/** One step: at a time, exactly one action. */
export const Step = Schema.Struct({
  at: DurationMillis,
  apply: optional(Schema.Array(Schema.Unknown)),
  delete: optional(Schema.Array(Reference)),
  scale: optional(
    Schema.Struct({
      kind: Schema.String,
      namespace: optional(Schema.String),
      name: Schema.String,
      replicas: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))
    })
  ),
  patch: optional(
    Schema.Struct({
      kind: Schema.String,
      apiVersion: optional(Schema.String),
      namespace: optional(Schema.String),
      name: Schema.String,
      merge: Schema.Unknown,
      /** `status`: the patch goes to the status subresource (a Node's conditions, a NodeClass's readiness). */
      subresource: optional(Schema.Literal("status"))
    })
  )
}).check(
  Schema.makeFilter((step) => {
    const actions = ["apply", "delete", "scale", "patch"].filter((action) => action in step)
    return actions.length === 1
      ? undefined
      : `a step needs exactly one of apply, delete, scale, patch (found ${actions.length === 0 ? "none" : actions.join(", ")})`
  })
)
export type Step = typeof Step.Type

/** The Scenario document. */
export const Scenario = Schema.Struct({
  apiVersion: Schema.Literal("karpenter-effect.dev/v1alpha1"),
  kind: Schema.Literal("Scenario"),
  metadata: optional(Schema.Struct({ name: optional(Schema.String) })),
  spec: Schema.Struct({
    duration: DurationMillis,
    start: optional(
      Schema.String.check(
        Schema.makeFilter((text: string) => (Number.isNaN(Date.parse(text)) ? "must be an RFC 3339 time" : undefined))
      )
    ),
    steps: optional(Schema.Array(Step)),
    /** Feature gates for the run, by upstream's names (`--feature-gates` wins where both name a gate). */
    featureGates: optional(Schema.Record(Schema.String, Schema.Boolean))
  })
})
export type Scenario = typeof Scenario.Type

/** The default start of the virtual clock. */
export const defaultStart = "2026-01-01T00:00:00Z"

/** Milliseconds of a duration the schema already validated. */
export const millis = (text: string): number => Duration.toMillis(text) ?? 0

// A misspelt or extra key in a scenario would silently change what it tests: reject it.
const decodeScenario = Decode.decoder("Scenario", Scenario, { onExcessProperty: "error" })

/** Decodes a Scenario document, one line per problem. */
export const decode = (input: unknown): Effect.Effect<Scenario, Decode.InvalidObject> => decodeScenario(input)
