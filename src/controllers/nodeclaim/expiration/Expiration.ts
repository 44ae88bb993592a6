/**
 * The `nodeclaim.expiration` controller (upstream v1 `pkg/controllers/nodeclaim/expiration`): a NodeClaim older than
 * its `spec.expireAfter` is deleted. Expiration is forceful: no disruption budget limits it and no replacement is
 * launched first; the provisioner picks up the evicted pods like any other pods of a deleting node.
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as ApiDuration from "../../../api/Duration.ts"
import * as Labels from "../../../api/Labels.ts"
import type { NodeClaim } from "../../../api/NodeClaim.ts"
import { CloudProvider } from "../../../cloudprovider/CloudProvider.ts"
import { EventRecorder } from "../../../kube/EventRecorder.ts"
import { KubeClient } from "../../../kube/KubeClient.ts"
import * as Resources from "../../../kube/Resources.ts"
import * as Controller from "../../../runtime/Controller.ts"
import * as Result from "../../../runtime/Result.ts"
import { DisruptionLog } from "../../disruption/DisruptionLog.ts"
import * as NodeClasses from "../../nodepool/nodeclass/NodeClasses.ts"

/**
 * When the NodeClaim expires (epoch millis): `creationTimestamp + spec.expireAfter`; undefined for `Never` (or an
 * unreadable duration or timestamp).
 */
export const expirationTime = (nodeClaim: NodeClaim): number | undefined => {
  const expireAfter = ApiDuration.toMillis(nodeClaim.spec.expireAfter)
  if (expireAfter === undefined || expireAfter === null) return undefined
  const created = Date.parse(nodeClaim.metadata.creationTimestamp ?? "")
  return Number.isNaN(created) ? undefined : created + expireAfter
}

const reference = (claim: NodeClaim) => ({
  apiVersion: "karpenter.sh/v1",
  kind: "NodeClaim",
  name: claim.metadata.name ?? "",
  ...(claim.metadata.uid === undefined ? {} : { uid: claim.metadata.uid })
})

/** Starts `nodeclaim.expiration` in the current Scope. */
export const make = Effect.gen(function* () {
  const kube = yield* KubeClient
  const cloud = yield* CloudProvider
  const events = yield* EventRecorder
  // The uid each NodeClaim was expired at: a reconcile from a cache that has not seen the deletion yet does not
  // record the expiration twice.
  const expired = new Map<string, string>()

  // Untraced: called thousands of times a simulated day; a span and call frame each cost 1.5 µs.
  const reconcile = Effect.fnUntraced(function* (claim: NodeClaim) {
    if (!NodeClasses.supports(cloud, claim.spec.nodeClassRef)) return Result.done
    if (claim.metadata.deletionTimestamp !== undefined) return Result.done
    const expiresAt = expirationTime(claim)
    if (expiresAt === undefined) return Result.done
    const now = yield* Clock.currentTimeMillis
    if (now < expiresAt) return Result.requeueAfter(Duration.millis(expiresAt - now))
    const name = claim.metadata.name ?? ""
    if (claim.metadata.uid !== undefined && expired.get(name) === claim.metadata.uid) return Result.done
    yield* kube.delete(Resources.NodeClaims, name)
    expired.set(name, claim.metadata.uid ?? "")
    yield* Effect.logInfo("deleting expired nodeclaim").pipe(
      Effect.annotateLogs({
        nodepool: claim.metadata.labels?.[Labels.NodePool] ?? "",
        expireAfter: claim.spec.expireAfter
      })
    )
    yield* events.publish({
      involvedObject: reference(claim),
      type: "Normal",
      reason: "Disrupted",
      message: `Disrupting NodeClaim: Expired - expireAfter ${claim.spec.expireAfter} elapsed`
    })
    const log = yield* DisruptionLog
    yield* log.record({
      time: now,
      reason: "Expired",
      candidates: [claim.status?.nodeName ?? name],
      replacements: []
    })
    return Result.done
  })

  return yield* Controller.make({
    name: "nodeclaim.expiration",
    for: Resources.NodeClaims,
    concurrency: 10,
    reconcile: (key, claim) => {
      if (claim === undefined) {
        expired.delete(key)
        return Effect.succeed(Result.done)
      }
      return reconcile(claim).pipe(
        Effect.annotateLogs({ NodeClaim: claim.metadata.name ?? "", Node: claim.status?.nodeName ?? "" })
      )
    }
  })
})
