/**
 * Garbage collection (upstream `pkg/controllers/nodeclaim/garbagecollection`): NodeClaims whose instance is gone are
 * deleted, and instances no NodeClaim accounts for (leaked by a crash between launch and the status write) are
 * terminated — so the cluster and the cloud converge whatever happened in between. Upstream's core does only the
 * first; the second stands in for a provider controller and is skipped for a provider that has its own
 * (`collectsUntrackedInstances`).
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as ConditionTypes from "../../../api/Conditions.ts"
import * as Labels from "../../../api/Labels.ts"
import * as CloudProvider from "../../../cloudprovider/CloudProvider.ts"
import { KubeClient } from "../../../kube/KubeClient.ts"
import * as Resources from "../../../kube/Resources.ts"
import * as Result from "../../../runtime/Result.ts"
import * as Singleton from "../../../runtime/Singleton.ts"
import * as Conditions from "../../StatusConditions.ts"
import * as LifecycleMetrics from "../lifecycle/LifecycleMetrics.ts"

/** How often the cloud is compared with the cluster (upstream: every 2 minutes). */
export const interval = Duration.minutes(2)
/** Objects younger than this are left alone: their other half may still be on its way (upstream: 10 s). */
export const grace = Duration.seconds(10)

/** One comparison of cloud instances with NodeClaims. */
export const collect = Effect.fn("GarbageCollection.collect")(function* () {
  const kube = yield* KubeClient
  const cloud = yield* CloudProvider.CloudProvider
  const now = yield* Clock.currentTimeMillis
  const graceMillis = Duration.toMillis(grace)
  const instances = yield* cloud.list()
  const claims = (yield* kube.list(Resources.NodeClaims)).items
  const instanceIDs = new Set(
    instances.flatMap((instance) => (instance.status?.providerID === undefined ? [] : [instance.status.providerID]))
  )
  const claimIDs = new Set(
    claims.flatMap((claim) => (claim.status?.providerID === undefined ? [] : [claim.status.providerID]))
  )
  const claimNames = new Set(claims.map((claim) => claim.metadata.name ?? ""))
  for (const claim of claims) {
    const providerID = claim.status?.providerID
    const age = now - Date.parse(claim.metadata.creationTimestamp ?? "")
    if (
      providerID === undefined ||
      claim.metadata.deletionTimestamp !== undefined ||
      !Conditions.isTrue(claim.status?.conditions, ConditionTypes.Launched) ||
      age < graceMillis ||
      instanceIDs.has(providerID)
    ) {
      continue
    }
    yield* Effect.logInfo(`deleting nodeclaim ${claim.metadata.name}: its instance ${providerID} is gone`)
    yield* LifecycleMetrics.disrupted(claim, "garbage_collected")
    yield* kube
      .delete(Resources.NodeClaims, claim.metadata.name ?? "")
      .pipe(Effect.catchTag("NotFound", () => Effect.void))
  }
  if (cloud.collectsUntrackedInstances === true) return
  for (const instance of instances) {
    const providerID = instance.status?.providerID
    // An instance launched for a NodeClaim that still exists is the lifecycle's to finish, not garbage.
    if (providerID === undefined || claimIDs.has(providerID) || claimNames.has(instance.metadata.name ?? "")) continue
    const age = now - Date.parse(instance.metadata.creationTimestamp ?? "")
    if (age < graceMillis) continue
    yield* Effect.logInfo(
      `terminating instance ${providerID}: no NodeClaim (nodepool ${instance.metadata.labels?.[Labels.NodePool] ?? "?"})`
    )
    yield* cloud.delete(instance).pipe(Effect.catchTag("NodeClaimNotFound", () => Effect.void))
  }
})

/** Starts garbage collection in the current Scope. */
export const make = Singleton.make({
  name: "nodeclaim.garbagecollection",
  run: Effect.as(
    collect().pipe(
      Effect.catchTag("CloudProviderError", (error) => Effect.logWarning("listing instances failed", error))
    ),
    Result.done
  ),
  interval
})
