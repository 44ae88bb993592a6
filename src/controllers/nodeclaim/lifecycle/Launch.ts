/**
 * Launch, the first step of the NodeClaim lifecycle (upstream `lifecycle/launch.go`, v1.4.0): the instance created
 * for the NodeClaim goes on it with Launched=True. No capacity or NodeClass deletes the NodeClaim; any other error
 * leaves it Launched=Unknown, for a retry with backoff.
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as ConditionTypes from "../../../api/Conditions.ts"
import * as Labels from "../../../api/Labels.ts"
import type { NodeClaim } from "../../../api/NodeClaim.ts"
import type * as CloudProvider from "../../../cloudprovider/CloudProvider.ts"
import * as Resources from "../../../kube/Resources.ts"
import * as Result from "../../../runtime/Result.ts"
import * as Conditions from "../../StatusConditions.ts"
import * as Metrics from "./LifecycleMetrics.ts"
import * as Step from "./Step.ts"

/**
 * How long the NodeClaim `CloudProvider.create` returned is remembered by NodeClaim UID (upstream's launch cache):
 * a reconcile that reads a NodeClaim from the informer before its Launched=True status arrives reuses it instead of
 * launching a second instance.
 */
export const cacheTTL = Duration.minutes(1)

/** Upstream's launch cache: the NodeClaims `create` returned, by UID, each until {@link cacheTTL} after it. */
export interface LaunchCache {
  /** The NodeClaim created for `uid`, unless there is none or it expired by `now` (Clock millis). */
  get(uid: string | undefined, now: number): NodeClaim | undefined
  /** Remembers `created` for `uid` from `now`, and forgets the expired entries. */
  set(uid: string | undefined, created: NodeClaim, now: number): void
}

/** An empty {@link LaunchCache}. */
export const makeCache = (): LaunchCache => {
  const entries = new Map<string, { readonly created: NodeClaim; readonly expiresAt: number }>()
  return {
    get: (uid, now) => {
      if (uid === undefined) return undefined
      const entry = entries.get(uid)
      if (entry === undefined) return undefined
      if (entry.expiresAt <= now) {
        entries.delete(uid)
        return undefined
      }
      return entry.created
    },
    set: (uid, created, now) => {
      if (uid === undefined) return
      for (const [key, entry] of entries) if (entry.expiresAt <= now) entries.delete(key)
      entries.set(uid, { created, expiresAt: now + Duration.toMillis(cacheTTL) })
    }
  }
}

/** The errors of `create` that leave the NodeClaim in place, Launched=Unknown, for a retry with backoff. */
export type LaunchError = CloudProvider.CreateError | CloudProvider.CloudProviderError

/** Upstream truncates a generic launch error to 300 characters on the Launched condition. */
const truncateMessage = (message: string): string => (message.length < 300 ? message : `${message.slice(0, 300)}...`)

/** The Launched condition a failed launch leaves: the CreateError's reason and message, else `LaunchFailed`. */
export const failedCondition = (error: LaunchError): Conditions.Input =>
  error._tag === "CreateError"
    ? {
        type: ConditionTypes.Launched,
        status: "Unknown",
        reason: error.conditionReason,
        message: error.conditionMessage
      }
    : {
        type: ConditionTypes.Launched,
        status: "Unknown",
        reason: ConditionTypes.LaunchFailed,
        message: truncateMessage(error.message)
      }

/**
 * Builds the Launch step, with its own {@link LaunchCache}. A launched NodeClaim continues; one launched now stops the
 * pass with a requeue (Registration runs on the NodeClaim as written); a failed launch is {@link Step.Failed}.
 */
export const make = (deps: Step.Deps) => {
  const { kube, cloud, events } = deps
  const cache = makeCache()
  // Untraced: called thousands of times a simulated day; a span and call frame each cost 1.5 µs.
  return Effect.fnUntraced(function* (claim: NodeClaim) {
    if (Conditions.isTrue(claim.status?.conditions, ConditionTypes.Launched)) return Step.proceed(claim)
    const uid = claim.metadata.uid
    const cached = cache.get(uid, yield* Clock.currentTimeMillis)
    const launched =
      cached !== undefined
        ? { ok: true as const, value: cached }
        : yield* cloud.create(claim).pipe(
            Effect.map((value) => ({ ok: true as const, value })),
            Effect.catchTags({
              InsufficientCapacity: (error) => Effect.succeed({ ok: false as const, error }),
              NodeClassNotReady: (error) => Effect.succeed({ ok: false as const, error }),
              CreateError: (error) => Effect.succeed({ ok: false as const, error }),
              CloudProviderError: (error) => Effect.succeed({ ok: false as const, error })
            })
          )
    if (!launched.ok && (launched.error._tag === "CreateError" || launched.error._tag === "CloudProviderError")) {
      const error = launched.error
      return Step.failed(yield* Step.setCondition(kube, claim, failedCondition(error)), error)
    }
    if (!launched.ok) {
      // No capacity or NodeClass now: give the pods back to the provisioner, which will try other options.
      yield* events.publish({
        involvedObject: Step.reference(claim),
        type: "Warning",
        reason: launched.error._tag === "InsufficientCapacity" ? "InsufficientCapacityError" : "NodeClassNotReady",
        message: `NodeClaim ${claim.metadata.name} event: Failed to launch node, ${launched.error.message}`,
        dedupeValues: [claim.metadata.uid ?? claim.metadata.name ?? ""]
      })
      yield* Metrics.disrupted(
        claim,
        launched.error._tag === "InsufficientCapacity" ? "insufficient_capacity" : "nodeclass_not_ready"
      )
      yield* kube
        .delete(Resources.NodeClaims, claim.metadata.name ?? "")
        .pipe(Effect.catchTag("NotFound", () => Effect.void))
      return Step.deleted
    }
    const created = launched.value
    cache.set(uid, created, yield* Clock.currentTimeMillis)
    const labelled = yield* kube.patch(Resources.NodeClaims, claim.metadata.name ?? "", {
      type: "merge",
      // upstream `PopulateNodeClaimDetails`: the provider's annotations too (the AWS provider's node class hash).
      patch: { metadata: { labels: created.metadata.labels ?? {}, annotations: created.metadata.annotations ?? {} } }
    })
    const written = yield* Step.writeStatus(kube, labelled, (status, now) => ({
      ...status,
      ...(created.status?.providerID === undefined ? {} : { providerID: created.status.providerID }),
      ...(created.status?.imageID === undefined ? {} : { imageID: created.status.imageID }),
      ...(created.status?.capacity === undefined ? {} : { capacity: created.status.capacity }),
      ...(created.status?.allocatable === undefined ? {} : { allocatable: created.status.allocatable }),
      conditions: [...Step.withCondition(labelled, status, { type: ConditionTypes.Launched, status: "True" }, now)]
    }))
    // Logged once per instance: a launch taken from the cache was logged when it happened.
    if (cached === undefined) {
      yield* Effect.logInfo("launched nodeclaim").pipe(
        Effect.annotateLogs({
          NodeClaim: { name: claim.metadata.name },
          "provider-id": created.status?.providerID ?? "",
          "instance-type": created.metadata.labels?.[Labels.InstanceType] ?? "",
          zone: created.metadata.labels?.[Labels.Zone] ?? "",
          "capacity-type": created.metadata.labels?.[Labels.CapacityType] ?? "",
          allocatable: created.status?.allocatable ?? {}
        })
      )
    }
    return Step.stop(written, Result.requeue)
  })
}
