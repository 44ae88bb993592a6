/**
 * The one place where AWS SDK exceptions become tagged errors: the error code an AWS service answers with (EC2's XML
 * `<Code>`, the JSON protocols' `__type`, as the SDK decodes them into the exception's name) picks the tag, following
 * upstream's `pkg/errors/errors.go`; anything else is an {@link AwsError} with its code and message.
 */
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"

const fields = {
  /** The AWS service, e.g. `EC2`. */
  service: Schema.String,
  /** The API operation, e.g. `CreateFleet`. */
  operation: Schema.String,
  /** The AWS error code, e.g. `InvalidInstanceID.NotFound`. */
  code: Schema.String,
  message: Schema.String,
  /** The HTTP status of the error response; absent when no response came (a network failure). */
  statusCode: Schema.optionalKey(Schema.Number),
  /** AWS's request id, for support cases. */
  requestId: Schema.optionalKey(Schema.String)
}

/** The addressed resource does not exist (an instance, launch template, parameter, instance profile, queue…). */
export class AwsNotFound extends Schema.TaggedError<AwsNotFound>()("AwsNotFound", fields) {}

/** A resource with that name exists already. */
export class AwsAlreadyExists extends Schema.TaggedError<AwsAlreadyExists>()("AwsAlreadyExists", fields) {}

/** EC2 cannot give this capacity now (no capacity in the pool, an account quota, no free IP in the subnet…). */
export class AwsInsufficientCapacity extends Schema.TaggedError<AwsInsufficientCapacity>()(
  "AwsInsufficientCapacity",
  fields
) {}

/** The account's API rate limit refused the call, still after our retries. */
export class AwsThrottled extends Schema.TaggedError<AwsThrottled>()("AwsThrottled", fields) {}

/** The credentials lack a permission (IAM policy, service-linked role, signature). */
export class AwsUnauthorized extends Schema.TaggedError<AwsUnauthorized>()("AwsUnauthorized", fields) {}

/** Any other failure: a rejected request, a server error left after the retries, no response at all. */
export class AwsError extends Schema.TaggedError<AwsError>()("AwsError", fields) {}

/** Any failure of an AWS call. */
export type AwsFailure =
  | AwsNotFound
  | AwsAlreadyExists
  | AwsInsufficientCapacity
  | AwsThrottled
  | AwsUnauthorized
  | AwsError

/** Upstream's `notFoundErrorCodes`, plus SQS's query-protocol code for a missing queue. */
const notFoundCodes: ReadonlySet<string> = new Set([
  "InvalidCapacityReservationId.NotFound",
  "InvalidInstanceID.NotFound",
  "InvalidLaunchTemplateName.NotFoundException",
  "InvalidLaunchTemplateId.NotFound",
  "QueueDoesNotExist",
  "AWS.SimpleQueueService.NonExistentQueue",
  "NoSuchEntity",
  "ParameterNotFound"
])

/**
 * Upstream's `alreadyExistsErrorCodes` (IAM), plus EC2's answer to a launch template name taken by a concurrent
 * create, which a caller ensuring a template treats the same way.
 */
const alreadyExistsCodes: ReadonlySet<string> = new Set([
  "EntityAlreadyExists",
  "InvalidLaunchTemplateName.AlreadyExistsException"
])

/**
 * Upstream's `unfulfillableCapacityErrorCodes`: capacity that cannot be launched for now. CreateFleet reports these
 * per override in its response's `Errors`, so the provider classifies those codes with {@link isUnfulfillableCapacity}.
 */
const unfulfillableCapacityCodes: ReadonlySet<string> = new Set([
  "InsufficientInstanceCapacity",
  "MaxSpotInstanceCountExceeded",
  "VcpuLimitExceeded",
  "UnfulfillableCapacity",
  "Unsupported",
  "InsufficientFreeAddressesInSubnet",
  "ReservationCapacityExceeded"
])

/** The throttling codes of the AWS SDKs' standard retry strategy (any service). */
const throttlingCodes: ReadonlySet<string> = new Set([
  "BandwidthLimitExceeded",
  "EC2ThrottledException",
  "LimitExceededException",
  "PriorRequestNotComplete",
  "ProvisionedThroughputExceededException",
  "RequestLimitExceeded",
  "RequestThrottled",
  "RequestThrottledException",
  "SlowDown",
  "ThrottledException",
  "Throttling",
  "ThrottlingException",
  "TooManyRequestsException",
  "TransactionInProgressException"
])

const unauthorizedCodes: ReadonlySet<string> = new Set([
  "UnauthorizedOperation",
  "AccessDenied",
  "AccessDeniedException",
  "AuthFailure",
  "UnrecognizedClientException",
  "InvalidClientTokenId",
  "SignatureDoesNotMatch"
])

/** Failures without an answer that the SDKs' standard strategy retries: timeouts and dropped connections. */
const transientCodes: ReadonlySet<string> = new Set([
  "TimeoutError",
  "RequestTimeout",
  "RequestTimeoutException",
  "ECONNRESET",
  "ECONNREFUSED",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EAI_AGAIN"
])

/** Whether a CreateFleet error code means the capacity is temporarily unavailable (upstream `IsUnfulfillableCapacity`). */
export const isUnfulfillableCapacity = (code: string): boolean => unfulfillableCapacityCodes.has(code)

const stringAt = (value: unknown, key: string): string | undefined =>
  Predicate.isObject(value) && key in value && Predicate.isString((value as Record<string, unknown>)[key])
    ? ((value as Record<string, unknown>)[key] as string)
    : undefined

/**
 * The error code of an SDK exception: the wire code the SDK keeps in `Code` (its class name can differ: IAM's
 * `NoSuchEntity` is a `NoSuchEntityException`), else the exception's name (EC2's codes are not modelled, so the name is
 * the code), else a Node system error's code.
 */
const codeOf = (cause: unknown): string => {
  const code = stringAt(cause, "Code")
  if (code !== undefined && code !== "") return code
  const name = stringAt(cause, "name")
  if (name !== undefined && name !== "Error" && name !== "TypeError") return name
  return stringAt(cause, "code") ?? name ?? "Unknown"
}

/** Maps what an SDK call rejected with to its tagged error. */
export const fromSdk = (service: string, operation: string, cause: unknown): AwsFailure => {
  const code = codeOf(cause)
  const metadata = Predicate.isObject(cause) && "$metadata" in cause ? cause.$metadata : undefined
  const status = Predicate.isObject(metadata) && "httpStatusCode" in metadata ? metadata.httpStatusCode : undefined
  const requestId = stringAt(metadata, "requestId") ?? stringAt(cause, "RequestId")
  const error = {
    service,
    operation,
    code,
    message: stringAt(cause, "message") || code,
    ...(Predicate.isNumber(status) ? { statusCode: status } : {}),
    ...(requestId === undefined ? {} : { requestId })
  }
  if (notFoundCodes.has(code)) return new AwsNotFound(error)
  if (alreadyExistsCodes.has(code)) return new AwsAlreadyExists(error)
  if (unfulfillableCapacityCodes.has(code)) return new AwsInsufficientCapacity(error)
  if (throttlingCodes.has(code) || status === 429) return new AwsThrottled(error)
  if (unauthorizedCodes.has(code) || code.startsWith("AuthFailure.")) return new AwsUnauthorized(error)
  return new AwsError(error)
}

/**
 * Whether repeating the call may succeed: throttling, a server error (5xx) or no answer at all. Capacity errors come
 * with a 500 from EC2 but are answers, so they are never retried.
 */
export const isRetryable = (error: AwsFailure): boolean =>
  error._tag === "AwsThrottled" ||
  (error._tag === "AwsError" &&
    (error.statusCode === undefined ? transientCodes.has(error.code) : error.statusCode >= 500))
