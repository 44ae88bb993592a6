/**
 * `v1` Namespace: pod affinity namespace selectors match on its labels.
 */
import * as Schema from "effect/Schema"
import { ObjectMeta } from "./Meta.ts"

const optional = Schema.optionalKey

/** A Namespace. */
export const Namespace = Schema.Struct({
  apiVersion: optional(Schema.String),
  kind: optional(Schema.String),
  metadata: ObjectMeta,
  status: optional(Schema.Struct({ phase: optional(Schema.String) }))
})
export type Namespace = typeof Namespace.Type
