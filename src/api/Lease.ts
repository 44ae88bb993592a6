/**
 * `coordination.k8s.io/v1` Lease: leader election and node heartbeats.
 */
import * as Schema from "effect/Schema"
import { ObjectMeta } from "./Meta.ts"

const optional = Schema.optionalKey

export const apiVersion = "coordination.k8s.io/v1"
export const kind = "Lease"

/** A Lease. `acquireTime`/`renewTime` are MicroTime: RFC 3339 with exactly six fractional digits. */
export const Lease = Schema.Struct({
  apiVersion: optional(Schema.String),
  kind: optional(Schema.String),
  metadata: ObjectMeta,
  spec: Schema.Struct({
    holderIdentity: optional(Schema.String),
    leaseDurationSeconds: optional(Schema.Number),
    acquireTime: optional(Schema.String),
    renewTime: optional(Schema.String),
    leaseTransitions: optional(Schema.Number)
  })
})
export type Lease = typeof Lease.Type
