/**
 * `v1` Event: what controllers tell users about objects (`kubectl describe`, `kubectl get events`).
 */
import * as Schema from "effect/Schema"
import { ObjectMeta } from "./Meta.ts"

const optional = Schema.optionalKey

export const apiVersion = "v1"
export const kind = "Event"

/** The object an event is about. */
export const ObjectReference = Schema.Struct({
  apiVersion: optional(Schema.String),
  kind: optional(Schema.String),
  namespace: optional(Schema.String),
  name: optional(Schema.String),
  uid: optional(Schema.String),
  resourceVersion: optional(Schema.String),
  fieldPath: optional(Schema.String)
})
export type ObjectReference = typeof ObjectReference.Type

/** An Event (core/v1). */
export const Event = Schema.Struct({
  apiVersion: optional(Schema.String),
  kind: optional(Schema.String),
  metadata: ObjectMeta,
  involvedObject: ObjectReference,
  reason: optional(Schema.String),
  message: optional(Schema.String),
  type: optional(Schema.String),
  source: optional(Schema.Struct({ component: optional(Schema.String), host: optional(Schema.String) })),
  count: optional(Schema.Number),
  firstTimestamp: optional(Schema.String),
  lastTimestamp: optional(Schema.String),
  eventTime: optional(Schema.String),
  reportingComponent: optional(Schema.String),
  reportingInstance: optional(Schema.String),
  action: optional(Schema.String)
})
export type Event = typeof Event.Type
