/**
 * Liveness, the step of the NodeClaim lifecycle that runs on every reconcile whatever the others did (upstream
 * `lifecycle/liveness.go`, v1.4.0): a NodeClaim not Registered {@link registrationTTL} after its creation, whether its
 * launch keeps failing or its Node never joined, is deleted, and its NodePool's NodeRegistrationHealthy goes False.
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as ConditionTypes from "../../../api/Conditions.ts"
import * as Labels from "../../../api/Labels.ts"
import type { NodeClaim } from "../../../api/NodeClaim.ts"
import * as Resources from "../../../kube/Resources.ts"
import * as Result from "../../../runtime/Result.ts"
import * as RegistrationHealth from "../../nodepool/registrationhealth/RegistrationHealth.ts"
import * as Conditions from "../../StatusConditions.ts"
import * as Metrics from "./LifecycleMetrics.ts"
import * as Step from "./Step.ts"

/** A NodeClaim whose Node has not registered by then is deleted (upstream's registration TTL). */
export const registrationTTL = Duration.minutes(15)

/**
 * How long an unregistered NodeClaim has left at `now` (Clock millis) before {@link registrationTTL}: 0 or less once
 * it is up; undefined for a registered NodeClaim, or one without a creation time.
 */
export const remainingMillis = (claim: NodeClaim, now: number): number | undefined => {
  if (Conditions.isTrue(claim.status?.conditions, ConditionTypes.Registered)) return undefined
  const createdAt = Date.parse(claim.metadata.creationTimestamp ?? "")
  if (Number.isNaN(createdAt)) return undefined
  return Duration.toMillis(registrationTTL) - (now - createdAt)
}

/**
 * Why a NodeClaim that hit the TTL failed, for its NodePool's NodeRegistrationHealthy=False: `RegistrationFailed` if
 * it had launched, else its Launched condition's reason and message.
 */
export const failure = (claim: NodeClaim): { readonly reason: string; readonly message: string } => {
  const launched = Conditions.get(claim.status?.conditions, ConditionTypes.Launched)
  return launched?.status === "True"
    ? { reason: ConditionTypes.RegistrationFailed, message: "Failed to register node" }
    : {
        reason: launched?.reason ?? ConditionTypes.RegistrationFailed,
        message: launched?.message ?? "Failed to register node"
      }
}

/**
 * Builds the Liveness step: continues for a registered NodeClaim; before the TTL, stops with a requeue at it; at the TTL,
 * marks the NodePool (only while NodeRegistrationHealthy is Unknown), records the disruption and deletes the NodeClaim.
 */
export const make = (deps: Step.Deps) =>
  // Untraced: called thousands of times a simulated day; a span and call frame each cost 1.5 µs.
  Effect.fnUntraced(function* (claim: NodeClaim) {
    const remaining = remainingMillis(claim, yield* Clock.currentTimeMillis)
    if (remaining === undefined) return Step.proceed(claim)
    if (remaining > 0) return Step.stop(claim, Result.requeueAfter(Duration.millis(remaining)))
    const nodePool = claim.metadata.labels?.[Labels.NodePool]
    if (nodePool !== undefined && nodePool !== "") {
      const why = failure(claim)
      yield* RegistrationHealth.markUnhealthy(nodePool, why.reason, why.message)
    }
    yield* deps.events.publish({
      involvedObject: Step.reference(claim),
      type: "Normal",
      reason: "Disrupted",
      message: `Disrupting NodeClaim: Liveness - node did not register within ${Duration.format(registrationTTL)}`
    })
    yield* Metrics.disrupted(claim, "liveness")
    yield* deps.kube
      .delete(Resources.NodeClaims, claim.metadata.name ?? "")
      .pipe(Effect.catchTag("NotFound", () => Effect.void))
    return Step.deleted
  })
