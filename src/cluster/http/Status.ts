/**
 * metav1.Status: the body of every error response (and of a few successes), and the mapping from the KubeClient's
 * typed errors to HTTP codes and reasons (kube-api.md §4.C).
 */
import * as Data from "effect/Data"
import type * as KubeError from "../../kube/KubeError.ts"

/** A metav1.Status object. */
export type Status = {
  readonly kind: "Status"
  readonly apiVersion: "v1"
  readonly metadata: {}
  readonly status: "Success" | "Failure"
  readonly message?: string
  readonly reason?: string
  readonly details?: { readonly [key: string]: unknown }
  readonly code: number
}

/** A failed request: the HTTP status code and the Status body to answer with. */
export class Failure extends Data.TaggedError("HttpFailure")<{
  readonly code: number
  readonly status: Status
  /** Seconds for the `Retry-After` header. */
  readonly retryAfterSeconds?: number
}> {}

const reasons: Readonly<Record<number, string>> = {
  400: "BadRequest",
  401: "Unauthorized",
  403: "Forbidden",
  404: "NotFound",
  405: "MethodNotAllowed",
  406: "NotAcceptable",
  409: "Conflict",
  410: "Expired",
  413: "RequestEntityTooLarge",
  415: "UnsupportedMediaType",
  422: "Invalid",
  429: "TooManyRequests",
  500: "InternalError",
  503: "ServiceUnavailable",
  504: "Timeout"
}

/** A failure Status with the usual reason for `code`; `retryAfterSeconds` > 0 also sets `Retry-After`. */
export const failure = (
  code: number,
  message: string,
  options?: {
    readonly reason?: string
    readonly details?: { readonly [key: string]: unknown }
    readonly retryAfterSeconds?: number
  }
): Failure =>
  new Failure({
    code,
    status: {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message,
      reason: options?.reason ?? reasons[code] ?? "Unknown",
      ...(options?.details === undefined ? {} : { details: options.details }),
      code
    },
    ...(options?.retryAfterSeconds === undefined || options.retryAfterSeconds <= 0
      ? {}
      : { retryAfterSeconds: options.retryAfterSeconds })
  })

/** A success Status (eviction, binding, delete of a removed object). */
export const success = (code: number, details?: { readonly [key: string]: unknown }): Status => ({
  kind: "Status",
  apiVersion: "v1",
  metadata: {},
  status: "Success",
  ...(details === undefined ? {} : { details }),
  code
})

/** `{name, group, kind: plural}` from a KubeError's `plural.group` resource and `namespace/name`. */
const detailsOf = (error: { readonly resource: string; readonly name: string }) => {
  const dot = error.resource.indexOf(".")
  const plural = dot < 0 ? error.resource : error.resource.slice(0, dot)
  const group = dot < 0 ? "" : error.resource.slice(dot + 1)
  const name = error.name.slice(error.name.lastIndexOf("/") + 1)
  return {
    ...(name === "" ? {} : { name }),
    ...(group === "" ? {} : { group }),
    ...(plural === "" ? {} : { kind: plural })
  }
}

/**
 * 422 Invalid for an object's problems, as kube-apiserver words it: `Kind.group "name" is invalid: field: message, ...`
 * with each problem a cause naming its field.
 */
export const invalid = (
  kind: { readonly kind: string; readonly group: string; readonly plural: string },
  name: string,
  problems: ReadonlyArray<{ readonly field: string; readonly message: string }>
): Failure =>
  failure(
    422,
    `${kind.kind}${kind.group === "" ? "" : `.${kind.group}`} ${JSON.stringify(name)} is invalid: ${problems
      .map(({ field, message }) => (field === "" ? message : `${field}: ${message}`))
      .join(", ")}`,
    {
      details: {
        name,
        ...(kind.group === "" ? {} : { group: kind.group }),
        kind: kind.plural,
        causes: problems.map(({ field, message }) => ({ reason: "FieldValueInvalid", message, field }))
      }
    }
  )

// Request parameters, not object fields: a bad one is a malformed request (400), not an invalid object (422).
const requestFields = new Set(["labelSelector", "fieldSelector", "continue", "resourceVersion", "limit"])

/** The HTTP answer for a KubeClient failure. */
export const fromKubeError = (error: KubeError.KubeError): Failure => {
  switch (error._tag) {
    case "NotFound":
      return failure(404, error.message, { details: detailsOf(error) })
    case "AlreadyExists":
      return failure(409, error.message, { reason: "AlreadyExists", details: detailsOf(error) })
    case "Conflict":
      return failure(409, error.message, { details: detailsOf(error) })
    case "Invalid": {
      const causes = error.causes.map((cause) => ({
        reason: "FieldValueInvalid",
        message: cause.message,
        field: cause.field
      }))
      const badRequest = error.causes.length > 0 && error.causes.every((cause) => requestFields.has(cause.field))
      return failure(badRequest ? 400 : 422, error.message, { details: { ...detailsOf(error), causes } })
    }
    case "TooManyRequests": {
      const retry = error.retryAfterSeconds
      return failure(429, error.message, {
        details: {
          ...detailsOf(error),
          ...(/disruption budget/i.test(error.message)
            ? { causes: [{ reason: "DisruptionBudget", message: error.message }] }
            : {}),
          ...(retry === undefined ? {} : { retryAfterSeconds: retry })
        },
        ...(retry === undefined ? {} : { retryAfterSeconds: retry })
      })
    }
    case "Expired":
      return failure(410, error.message, { details: detailsOf(error) })
    case "KubeUnavailable": {
      const code = error.code ?? 503
      return failure(code >= 400 ? code : 503, error.message, { details: detailsOf(error) })
    }
  }
}
