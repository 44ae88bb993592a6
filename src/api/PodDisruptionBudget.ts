/**
 * `policy/v1` PodDisruptionBudget: evictions and disruption candidates honour it.
 */
import * as Schema from "effect/Schema"
import { LabelSelector, ObjectMeta } from "./Meta.ts"

const optional = Schema.optionalKey

export const apiVersion = "policy/v1"
export const kind = "PodDisruptionBudget"

/** An int-or-string such as 1 or "50%". */
export const IntOrString = Schema.Union([Schema.Number, Schema.String])

/** A PodDisruptionBudget. */
export const PodDisruptionBudget = Schema.Struct({
  apiVersion: optional(Schema.String),
  kind: optional(Schema.String),
  metadata: ObjectMeta,
  spec: Schema.Struct({
    minAvailable: optional(IntOrString),
    maxUnavailable: optional(IntOrString),
    selector: optional(LabelSelector),
    unhealthyPodEvictionPolicy: optional(Schema.String)
  }),
  status: optional(
    Schema.Struct({
      observedGeneration: optional(Schema.Number),
      currentHealthy: optional(Schema.Number),
      desiredHealthy: optional(Schema.Number),
      disruptionsAllowed: optional(Schema.Number),
      expectedPods: optional(Schema.Number),
      disruptedPods: optional(Schema.Record(Schema.String, Schema.String))
    })
  )
})
export type PodDisruptionBudget = typeof PodDisruptionBudget.Type
