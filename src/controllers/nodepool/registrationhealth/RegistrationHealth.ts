/**
 * NodeRegistrationHealthy (upstream v1.4.0, PR #1969): whether a NodePool's NodeClaims manage to register. Not a
 * dependent of Ready; scheduling ignores it.
 *
 * The `nodepool.registrationhealth` controller resets it to Unknown when it is missing, when the NodePool's generation
 * differs from the condition's observedGeneration, or when the NodeClass's generation differs from
 * `status.nodeClassObservedGeneration` (which it then records). The NodeClaim lifecycle moves it on with
 * {@link markHealthy} (a NodeClaim registered) and {@link markUnhealthy} (one hit the registration TTL).
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as ConditionTypes from "../../../api/Conditions.ts"
import type { Condition } from "../../../api/Meta.ts"
import type { NodePool } from "../../../api/NodePool.ts"
import { KubeClient } from "../../../kube/KubeClient.ts"
import type * as KubeError from "../../../kube/KubeError.ts"
import * as Resources from "../../../kube/Resources.ts"
import * as Result from "../../../runtime/Result.ts"
import * as Conditions from "../../StatusConditions.ts"
import * as NodeClasses from "../nodeclass/NodeClasses.ts"

const Type = ConditionTypes.NodeRegistrationHealthy
const dependents = ConditionTypes.NodePoolReadyDependents

const optionsOf = (nodePool: NodePool, now: number): Conditions.Options => ({
  generation: nodePool.metadata.generation,
  now,
  createdAt: nodePool.metadata.creationTimestamp,
  deleting: nodePool.metadata.deletionTimestamp !== undefined
})

/** The errors of {@link markHealthy} and {@link markUnhealthy} (a NodePool that is gone is not an error). */
export type MarkError = KubeError.Conflict | KubeError.Invalid | KubeError.KubeUnavailable

// Reads the NodePool afresh and writes `update`'s conditions under its resourceVersion; a conflicting writer makes it
// read again (a few times, then the caller retries).
const updateConditions = (
  name: string,
  update: (nodePool: NodePool, now: number) => ReadonlyArray<Condition> | undefined
): Effect.Effect<void, MarkError, KubeClient> =>
  Effect.gen(function* () {
    const kube = yield* KubeClient
    const nodePool = yield* kube.get(Resources.NodePools, name)
    const next = update(nodePool, yield* Clock.currentTimeMillis)
    if (next === undefined) return
    yield* NodeClasses.patchStatus(nodePool, { conditions: next })
  }).pipe(
    Effect.retry({ times: 3, while: (error) => error._tag === "Conflict" }),
    Effect.catchTag("NotFound", () => Effect.void)
  )

/**
 * Sets NodeRegistrationHealthy True on a NodePool (a NodeClaim of it registered), as upstream's Registration does:
 * written only if that changes the condition.
 */
export const markHealthy = Effect.fn("RegistrationHealth.markHealthy")(function* (
  nodePoolName: string
): Effect.fn.Return<void, MarkError, KubeClient> {
  yield* updateConditions(nodePoolName, (nodePool, now) => {
    const options = optionsOf(nodePool, now)
    const initialized = Conditions.initialize(nodePool.status?.conditions, dependents, options)
    const healthy: Conditions.Input = { type: Type, status: "True" }
    if (Conditions.set(initialized, healthy, { ...options, dependents }) === initialized) return undefined
    return Conditions.setWithRoot(initialized, healthy, dependents, options)
  })
})

/**
 * Sets NodeRegistrationHealthy False on a NodePool, only while it is Unknown (or absent), as upstream's Liveness
 * does when a NodeClaim hits the registration TTL: `RegistrationFailed` "Failed to register node" if it had launched,
 * else its Launched reason and message. A True or False condition waits for the next reset to Unknown.
 */
export const markUnhealthy = Effect.fn("RegistrationHealth.markUnhealthy")(function* (
  nodePoolName: string,
  reason: string,
  message: string
): Effect.fn.Return<void, MarkError, KubeClient> {
  yield* updateConditions(nodePoolName, (nodePool, now) => {
    if (!Conditions.isUnknown(nodePool.status?.conditions, Type)) return undefined
    const next = Conditions.setWithRoot(
      nodePool.status?.conditions,
      { type: Type, status: "False", reason, message },
      dependents,
      optionsOf(nodePool, now)
    )
    return next === nodePool.status?.conditions ? undefined : next
  })
})

/** Starts `nodepool.registrationhealth`. */
export const make = Effect.fn("NodePoolRegistrationHealth.make")(function* () {
  return yield* NodeClasses.nodePoolController("nodepool.registrationhealth", (nodePool, lookup) =>
    Effect.gen(function* () {
      if (lookup._tag === "Unmanaged" || lookup._tag === "NotFound") return Result.done
      // A kind this project cannot read has no generation to follow: only the NodePool's own is checked.
      const nodeClassGeneration = lookup._tag === "Found" ? (lookup.nodeClass.metadata.generation ?? 0) : undefined
      const observed = nodePool.status?.nodeClassObservedGeneration ?? 0
      const options = optionsOf(nodePool, yield* Clock.currentTimeMillis)
      const conditions = nodePool.status?.conditions
      const initialized = Conditions.initialize(conditions, dependents, options)
      const current = Conditions.get(initialized, Type)
      const stale =
        current === undefined ||
        (nodeClassGeneration !== undefined && observed !== nodeClassGeneration) ||
        (nodePool.metadata.generation ?? 0) !== (current.observedGeneration ?? 0)
      const next = stale
        ? Conditions.setWithRoot(initialized, { type: Type, status: "Unknown" }, dependents, options)
        : initialized
      const status: Record<string, unknown> = {}
      if (next !== conditions) status.conditions = next
      if (nodeClassGeneration !== undefined && observed !== nodeClassGeneration) {
        // Go's int64 `omitempty`: a zero generation is an absent field.
        status.nodeClassObservedGeneration = nodeClassGeneration === 0 ? null : nodeClassGeneration
      }
      if (Object.keys(status).length === 0) return Result.done
      return yield* NodeClasses.settleWrite(NodeClasses.patchStatus(nodePool, status))
    })
  )
})
