/**
 * The one place where HTTP outcomes become the KubeClient's typed errors: a response status with its `Status` body, a
 * transport failure or a timeout each map to a {@link Failure} that says which KubeError it is and whether a retry is
 * safe. Operations then narrow it to the errors their contract names.
 */
import * as KubeError from "../../../src/kube/KubeError.ts"
import * as Json from "./UntypedJson.ts"

/**
 * Whether the server may have acted on a failed request: `unsent` (the request never reached it, or it was refused
 * before any processing, so any request may be repeated), `unknown` (it may have been applied: only idempotent
 * requests may be repeated) or `final` (a real answer: repeating changes nothing).
 */
export type Delivery = "unsent" | "unknown" | "final"

/** A failed attempt: the typed error, whether a retry is safe, and the delay the server asked for. */
export interface Failure {
  readonly error: KubeError.KubeError
  readonly delivery: Delivery
  readonly retryAfterMillis?: number
}

/** What a request addressed: `plural.group` and `namespace/name` (empty for collections). */
export interface Target {
  readonly resource: string
  readonly name: string
}

/** The fields of a `meta/v1 Status` that matter here; anything else in the body is ignored. */
interface Status {
  readonly message?: string
  readonly reason?: string
  readonly code?: number
  readonly causes: ReadonlyArray<{ readonly reason?: string; readonly field?: string; readonly message?: string }>
  readonly retryAfterSeconds?: number
}

/** Reads a Status from a parsed body; bodies that are not one give an empty Status. */
export const statusOf = (body: unknown): Status => {
  const object = Json.objectAt(body)
  const details = Json.objectAt(object, "details")
  const causes = Array.isArray(details.causes) ? details.causes.map((cause) => Json.objectAt(cause)) : []
  const message = Json.stringAt(object, "message")
  const reason = Json.stringAt(object, "reason")
  const code = Json.numberAt(object, "code")
  const retryAfterSeconds = Json.numberAt(details, "retryAfterSeconds")
  return {
    ...(message === undefined ? {} : { message }),
    ...(reason === undefined ? {} : { reason }),
    ...(code === undefined ? {} : { code }),
    causes: causes.map((cause) => {
      const causeReason = Json.stringAt(cause, "reason")
      const field = Json.stringAt(cause, "field")
      const causeMessage = Json.stringAt(cause, "message")
      return {
        ...(causeReason === undefined ? {} : { reason: causeReason }),
        ...(field === undefined ? {} : { field }),
        ...(causeMessage === undefined ? {} : { message: causeMessage })
      }
    }),
    ...(retryAfterSeconds === undefined ? {} : { retryAfterSeconds })
  }
}

/** Text for an error message: on one line, at most 200 characters. */
const oneLine = (text: string): string => {
  const flat = text.replace(/\s+/g, " ").trim()
  return flat.length > 200 ? `${flat.slice(0, 200)}…` : flat
}

const retryAfterHeader = (value: string | ReadonlyArray<string> | undefined): number | undefined => {
  const text = Array.isArray(value) ? value[0] : value
  const seconds = Number(text)
  return text === undefined || text === "" || !Number.isFinite(seconds) || seconds < 0 ? undefined : seconds
}

/**
 * A Status (from an error response or a watch ERROR event) as a failure. A 409 is AlreadyExists or Conflict by its
 * reason; a 429 whose causes name a DisruptionBudget is a PodDisruptionBudget refusing an eviction (final: the
 * caller decides when to try again), any other 429 is API priority-and-fairness throttling, rejected before
 * processing.
 */
export const fromStatus = (target: Target, httpCode: number, status: Status, retryAfterSeconds?: number): Failure => {
  const code = status.code !== undefined && status.code >= 400 ? status.code : httpCode
  const message = status.message ?? `${target.resource} ${JSON.stringify(target.name)}: HTTP ${code}`
  const fields = { resource: target.resource, name: target.name, message }
  switch (code) {
    case 404:
      return { error: new KubeError.NotFound(fields), delivery: "final" }
    case 409:
      return status.reason === "AlreadyExists"
        ? { error: new KubeError.AlreadyExists(fields), delivery: "final" }
        : { error: new KubeError.Conflict(fields), delivery: "final" }
    case 410:
      return { error: new KubeError.Expired(fields), delivery: "final" }
    case 400:
    case 422:
      return {
        error: new KubeError.Invalid({
          ...fields,
          causes: status.causes.map((cause) => ({ field: cause.field ?? "", message: cause.message ?? "" }))
        }),
        delivery: "final"
      }
    case 429: {
      const seconds = status.retryAfterSeconds ?? retryAfterSeconds
      const budget = status.causes.some((cause) => cause.reason === "DisruptionBudget")
      return {
        error: new KubeError.TooManyRequests({
          ...fields,
          ...(seconds === undefined ? {} : { retryAfterSeconds: seconds })
        }),
        delivery: budget ? "final" : "unsent",
        ...(seconds === undefined || budget ? {} : { retryAfterMillis: seconds * 1000 })
      }
    }
    default: {
      // 5xx: the server may have applied the request before failing; other codes (401, 403, 405, 415) are answers.
      const retried = code >= 500
      const seconds = status.retryAfterSeconds ?? retryAfterSeconds
      return {
        error: new KubeError.KubeUnavailable({ ...fields, code }),
        delivery: retried ? "unknown" : "final",
        ...(retried && seconds !== undefined ? { retryAfterMillis: seconds * 1000 } : {})
      }
    }
  }
}

/** A non-2xx response as a failure; the body is a Status on any real API server. */
export const fromResponse = (
  target: Target,
  httpCode: number,
  body: string,
  retryAfter: string | ReadonlyArray<string> | undefined
): Failure => {
  const parsed = Json.parse(body)
  const status = statusOf(parsed)
  const described =
    status.message !== undefined || body.trim() === ""
      ? status
      : { ...status, message: `HTTP ${httpCode}: ${oneLine(body)}` }
  return fromStatus(target, httpCode, described, retryAfterHeader(retryAfter))
}

/** The request never got an answer: connection errors, resets, a timeout or failing credentials. */
export const unavailable = (target: Target, message: string, delivery: Delivery): Failure => ({
  error: new KubeError.KubeUnavailable({ resource: target.resource, name: target.name, message: oneLine(message) }),
  delivery
})

/** A response the client cannot use (not JSON, or an object its schema rejects): retrying would not help. */
export const malformed = (target: Target, message: string): Failure => ({
  error: new KubeError.KubeUnavailable({ resource: target.resource, name: target.name, message: oneLine(message) }),
  delivery: "final"
})

/**
 * Narrows an error to those an operation declares: the others (a 422 on a GET, a 429 left after the retries) become
 * KubeUnavailable with their HTTP code, so nothing escapes the contract's types.
 */
export const narrow = <Tag extends KubeError.KubeError["_tag"]>(
  error: KubeError.KubeError,
  allowed: ReadonlyArray<Tag>
): Extract<KubeError.KubeError, { readonly _tag: Tag }> | KubeError.KubeUnavailable => {
  if (error._tag === "KubeUnavailable" || (allowed as ReadonlyArray<string>).includes(error._tag)) {
    return error as Extract<KubeError.KubeError, { readonly _tag: Tag }>
  }
  return new KubeError.KubeUnavailable({
    resource: error.resource,
    name: error.name,
    message: error.message,
    code: codeOf(error)
  })
}

const codeOf = (error: KubeError.KubeError): number => {
  switch (error._tag) {
    case "NotFound":
      return 404
    case "Conflict":
    case "AlreadyExists":
      return 409
    case "Invalid":
      return 422
    case "TooManyRequests":
      return 429
    case "Expired":
      return 410
    case "KubeUnavailable":
      return error.code ?? 503
  }
}
