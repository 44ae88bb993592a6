/**
 * The `instance.garbagecollection` controller of the AWS provider (aws/karpenter-provider-aws v1.4.0,
 * `pkg/controllers/nodeclaim/garbagecollection/controller.go`): an instance Karpenter launched that no NodeClaim in the
 * cluster accounts for (leaked by a crash between CreateFleet and the NodeClaim's status write, or its NodeClaim
 * removed by hand) is terminated once it is older than 30 s, and the Node it registered is deleted so scheduling stops
 * counting on it. The provider declares `collectsUntrackedInstances`, so the core's 10 s collection leaves AWS alone.
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type { NodeClaim } from "../../../../src/api/NodeClaim.ts"
import * as CloudProvider from "../../../../src/cloudprovider/CloudProvider.ts"
import * as NodeClasses from "../../../../src/controllers/nodepool/nodeclass/NodeClasses.ts"
import { KubeClient } from "../../../../src/kube/KubeClient.ts"
import * as Resources from "../../../../src/kube/Resources.ts"
import * as Indices from "../../../../src/runtime/Indices.ts"
import * as InformerCache from "../../../../src/runtime/InformerCache.ts"
import * as Result from "../../../../src/runtime/Result.ts"
import * as Singleton from "../../../../src/runtime/Singleton.ts"

/** An untracked instance younger than this is left alone: its NodeClaim's status write may be on its way. */
export const grace = Duration.seconds(30)
/** The wait between passes once the controller has settled in (upstream: every 2 minutes). */
export const interval = Duration.minutes(2)
/** The wait between the first {@link eagerPasses} passes, so leaks from before a restart go quickly (upstream). */
export const eagerInterval = Duration.seconds(10)
export const eagerPasses = 20

/** Builds one pass: list the instances, then terminate the untracked ones and delete their Nodes. */
export const makePass = Effect.fn("InstanceGarbageCollection.makePass")(function* () {
  const kube = yield* KubeClient
  const cloud = yield* CloudProvider.CloudProvider
  const nodeClaims = yield* InformerCache.informer(Resources.NodeClaims)
  const nodes = yield* InformerCache.informer(Resources.Nodes)
  const graceMillis = Duration.toMillis(grace)
  let successfulPasses = 0

  /** upstream `garbageCollect`: an instance already gone is no failure. */
  const collect = (instance: NodeClaim) =>
    Effect.gen(function* () {
      const providerID = instance.status?.providerID ?? ""
      const terminated = yield* cloud.delete(instance).pipe(
        Effect.as(true),
        Effect.catchTag("NodeClaimNotFound", () => Effect.succeed(false))
      )
      if (!terminated) return
      yield* Effect.logInfo("garbage collected cloudprovider instance", { providerID })
      for (const node of yield* nodes.byIndex(Indices.nodeProviderID, providerID)) {
        yield* kube
          .delete(Resources.Nodes, node.metadata.name ?? "")
          .pipe(Effect.catchTag("NotFound", () => Effect.void))
        yield* Effect.logInfo("garbage collected node", { providerID, node: node.metadata.name })
      }
    })

  return Effect.gen(function* () {
    // The cloud is listed before the cluster is read, so a NodeClaim written meanwhile is seen (upstream's order).
    const instances = (yield* cloud.list()).filter((instance) => instance.metadata.deletionTimestamp === undefined)
    yield* Effect.all([nodeClaims.synced, nodes.synced], { discard: true })
    const tracked = new Set(
      (yield* nodeClaims.list())
        .filter((claim) => NodeClasses.supports(cloud, claim.spec.nodeClassRef))
        .flatMap((claim) => (claim.status?.providerID === undefined ? [] : [claim.status.providerID]))
    )
    const now = yield* Clock.currentTimeMillis
    const untracked = instances.filter(
      (instance) =>
        !tracked.has(instance.status?.providerID ?? "") &&
        now - Date.parse(instance.metadata.creationTimestamp ?? "") > graceMillis
    )
    // Every instance is tried; the first failure fails the pass once all are done (upstream combines the errors).
    const exits = yield* Effect.forEach(untracked, (instance) => Effect.exit(collect(instance)), { concurrency: 100 })
    const failed = exits.find(Exit.isFailure)
    if (failed !== undefined) return yield* Effect.failCause(failed.cause)
    successfulPasses++
    return Result.requeueAfter(successfulPasses <= eagerPasses ? eagerInterval : interval)
  }).pipe(Effect.annotateLogs({ controller: "instance.garbagecollection" }))
})

/** Starts the controller in the current Scope. */
export const make = Effect.fn("InstanceGarbageCollection.make")(function* () {
  const run = yield* makePass()
  return yield* Singleton.make({ name: "instance.garbagecollection", run, interval })
})
