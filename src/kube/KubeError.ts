/**
 * The failures of the Kubernetes API, as tagged errors: each is an expected outcome a controller handles
 * (a conflict is retried, a NotFound often means done), never a defect.
 */
import * as Schema from "effect/Schema"

const target = {
  /** `plural.group` of the resource. */
  resource: Schema.String,
  /** `namespace/name` or `name`; empty for collections. */
  name: Schema.String,
  message: Schema.String
}

/** 404: the object (or its namespace) does not exist. */
export class NotFound extends Schema.TaggedError<NotFound>()("NotFound", target) {}

/** 409 on update: the object changed since it was read (stale resourceVersion or failed precondition). */
export class Conflict extends Schema.TaggedError<Conflict>()("Conflict", target) {}

/** 409 on create: an object with that name exists. */
export class AlreadyExists extends Schema.TaggedError<AlreadyExists>()("AlreadyExists", target) {}

/** 422 (or 400): the object or patch is not valid; `causes` lists the fields. */
export class Invalid extends Schema.TaggedError<Invalid>()("Invalid", {
  ...target,
  causes: Schema.Array(Schema.Struct({ field: Schema.String, message: Schema.String }))
}) {}

/** 429: try again later, e.g. an eviction a PodDisruptionBudget does not allow now. */
export class TooManyRequests extends Schema.TaggedError<TooManyRequests>()("TooManyRequests", {
  ...target,
  retryAfterSeconds: Schema.optionalKey(Schema.Number)
}) {}

/** 410: the requested resourceVersion is older than the server keeps; relist. */
export class Expired extends Schema.TaggedError<Expired>()("Expired", target) {}

/** The API server could not be reached or failed (transport error, 5xx, timeout, an unexpected status). */
export class KubeUnavailable extends Schema.TaggedError<KubeUnavailable>()("KubeUnavailable", {
  ...target,
  /** The HTTP status when there was one. */
  code: Schema.optionalKey(Schema.Number)
}) {}

/** Any failure of a KubeClient call. */
export type KubeError = NotFound | Conflict | AlreadyExists | Invalid | TooManyRequests | Expired | KubeUnavailable
