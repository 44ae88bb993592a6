/**
 * The `authorization.k8s.io/v1` self reviews `kubectl auth can-i` creates: a SelfSubjectAccessReview asks whether the
 * caller may do one thing, a SelfSubjectRulesReview (`--list`) what it may do in a namespace. Whoever the façade
 * serves is the cluster's one, all-powerful user (there is no RBAC to evaluate), so every review allows everything.
 * Reviews are answered, never stored: only POST on the collection is served.
 */
import * as Effect from "effect/Effect"
import { isObject } from "../../kube/Json.ts"
import * as Discovery from "./Discovery.ts"
import * as Handlers from "./Handlers.ts"
import * as Status from "./Status.ts"

const accessReviews = Discovery.selfSubjectAccessReviews
const rulesReviews = Discovery.selfSubjectRulesReviews

/** Whether the kind is one of the reviews this module answers. */
export const isReview = (kind: Discovery.Kind): boolean => kind === accessReviews || kind === rulesReviews

// kube-apiserver's ValidateSelfSubjectAccessReviewSpec: exactly one kind of attributes.
const invalidAccessReview = (field: string, value: unknown, detail: string) => {
  const message = `Invalid value: ${JSON.stringify(JSON.stringify(value ?? null))}: ${detail}`
  return Status.failure(422, `${accessReviews.kind}.${accessReviews.group} "" is invalid: ${field}: ${message}`, {
    details: {
      group: accessReviews.group,
      kind: accessReviews.kind,
      causes: [{ reason: "FieldValueInvalid", message, field }]
    }
  })
}

/** Everything, the rules of a cluster-admin. */
const allowEverything = {
  resourceRules: [{ verbs: ["*"], apiGroups: ["*"], resources: ["*"] }],
  nonResourceRules: [{ verbs: ["*"], nonResourceURLs: ["*"] }],
  incomplete: false
}

/** Serves a request on one of the review kinds. */
export const handle = Effect.fn("HttpApi.review")(function* (target: Handlers.Target, request: Handlers.Request) {
  if (target.name !== undefined) return yield* Status.failure(404, "the server could not find the requested resource")
  if (request.method !== "POST") return yield* Handlers.methodNotAllowed(request)
  const body = yield* Handlers.objectBody(request)
  const spec = isObject(body.spec) ? body.spec : {}
  const answer = (status: unknown) =>
    Handlers.json(201, {
      kind: target.kind.kind,
      apiVersion: target.kind.apiVersion,
      metadata: { creationTimestamp: null },
      spec,
      status
    })
  if (target.kind === rulesReviews) {
    if (typeof spec.namespace !== "string" || spec.namespace === "") {
      return yield* Status.failure(400, "no namespace on request")
    }
    return answer(allowEverything)
  }
  const resource = spec.resourceAttributes
  const nonResource = spec.nonResourceAttributes
  if (resource !== undefined && nonResource !== undefined) {
    return yield* invalidAccessReview(
      "spec.nonResourceAttributes",
      nonResource,
      "cannot be specified in combination with resourceAttributes"
    )
  }
  if (resource === undefined && nonResource === undefined) {
    return yield* invalidAccessReview(
      "spec.resourceAttributes",
      nonResource,
      "exactly one of nonResourceAttributes or resourceAttributes must be specified"
    )
  }
  return answer({ allowed: true })
})
