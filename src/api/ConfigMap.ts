/**
 * `v1` ConfigMap: the KWOK provider keeps a record of each instance it launched in one (so the "cloud" outlives the
 * process that launched it); manifests may carry others.
 */
import * as Schema from "effect/Schema"
import { ObjectMeta } from "./Meta.ts"

const optional = Schema.optionalKey

/** A ConfigMap. `binaryData` values are base64, as on the wire. */
export const ConfigMap = Schema.Struct({
  apiVersion: optional(Schema.String),
  kind: optional(Schema.String),
  metadata: ObjectMeta,
  data: optional(Schema.Record(Schema.String, Schema.String)),
  binaryData: optional(Schema.Record(Schema.String, Schema.String)),
  immutable: optional(Schema.Boolean)
})
export type ConfigMap = typeof ConfigMap.Type
