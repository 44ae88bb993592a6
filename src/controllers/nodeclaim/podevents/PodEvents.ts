/**
 * The `nodeclaim.podevents` controller (upstream `pkg/controllers/nodeclaim/podevents`): when a pod is bound to a
 * node, goes terminal on it or starts terminating on it, the node's NodeClaim gets `status.lastPodEventTime` = now.
 * `nodeclaim.disruption` measures `consolidateAfter` from that time. DaemonSet pods do not count: they come and go
 * with the node itself.
 *
 * Writes are deduplicated: a NodeClaim whose last pod event is younger than {@link dedupeTimeout} is left alone, so
 * a busy node costs at most one write per window.
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import type { NodeClaim } from "../../../api/NodeClaim.ts"
import { isTerminal, isTerminating, type Pod } from "../../../api/Pod.ts"
import { CloudProvider } from "../../../cloudprovider/CloudProvider.ts"
import { KubeClient } from "../../../kube/KubeClient.ts"
import * as Resources from "../../../kube/Resources.ts"
import * as Controller from "../../../runtime/Controller.ts"
import * as Indices from "../../../runtime/Indices.ts"
import type * as Informer from "../../../runtime/Informer.ts"
import * as InformerCache from "../../../runtime/InformerCache.ts"
import * as Result from "../../../runtime/Result.ts"
import * as NodeClasses from "../../nodepool/nodeclass/NodeClasses.ts"
import * as Conditions from "../../StatusConditions.ts"

/**
 * A NodeClaim's lastPodEventTime is not rewritten within this long (upstream v1.4.0: 10 s, shorter than the 15 s
 * consolidation validation so that a command decided meanwhile is still invalidated).
 */
export const dedupeTimeout = Duration.seconds(10)

/** Whether an `apps/v1` DaemonSet owns the pod (upstream `IsOwnedByDaemonSet`). */
export const isOwnedByDaemonSet = (pod: Pod): boolean =>
  (pod.metadata.ownerReferences ?? []).some((owner) => owner.apiVersion === "apps/v1" && owner.kind === "DaemonSet")

const nodeNameOf = (pod: Pod): string => pod.spec.nodeName ?? ""

/**
 * The event filter (upstream's predicate): an update counts when the pod was just bound, or, bound, just went
 * terminal or started terminating. Creations and deletions pass, as controller-runtime's default predicates let them.
 */
export const isPodEvent = (change: Informer.Change<Pod>): boolean => {
  if (change.type !== "MODIFIED" || change.previous === undefined) return true
  const before = change.previous
  const after = change.object
  const bound = nodeNameOf(before) === "" && nodeNameOf(after) !== ""
  const terminal = nodeNameOf(after) !== "" && !isTerminal(before) && isTerminal(after)
  const terminating = nodeNameOf(after) !== "" && !isTerminating(before) && isTerminating(after)
  return bound || terminal || terminating
}

/** Starts `nodeclaim.podevents` in the current Scope. */
export const make = Effect.gen(function* () {
  const kube = yield* KubeClient
  const cloud = yield* CloudProvider
  const pods = yield* InformerCache.informer(Resources.Pods)
  const nodes = yield* InformerCache.informer(Resources.Nodes)
  const nodeClaims = yield* InformerCache.informer(Resources.NodeClaims)
  const dedupeMillis = Duration.toMillis(dedupeTimeout)

  // The pod informer as the controller sees it: only the changes that are pod events.
  const podEvents: Informer.Informer<Pod> = {
    ...pods,
    changes: Stream.filter(pods.changes, isPodEvent),
    subscribe: Effect.map(pods.subscribe, Stream.filter(isPodEvent)),
    subscribeBatches: Effect.map(
      pods.subscribeBatches,
      Effect.map((changes) => changes.filter(isPodEvent))
    )
  }

  /** The one NodeClaim with the node's providerID (upstream `NodeClaimForNode`); none when zero or several. */
  const nodeClaimOf = (providerID: string | undefined) =>
    Effect.map(nodeClaims.byIndex(Indices.nodeClaimProviderID, providerID), (found): NodeClaim | undefined =>
      found.length === 1 ? found[0] : undefined
    )

  // Untraced: called thousands of times a simulated day; a span and call frame each cost 1.5 µs.
  const reconcile = Effect.fnUntraced(function* (pod: Pod) {
    const nodeName = nodeNameOf(pod)
    if (nodeName === "" || isOwnedByDaemonSet(pod)) return Result.done
    // The controller waits for the pod informer only; the lookups need these caches filled too.
    yield* nodes.synced
    yield* nodeClaims.synced
    const node = yield* nodes.get(nodeName)
    if (node === undefined) return Result.done
    const claim = yield* nodeClaimOf(node.spec.providerID)
    if (claim === undefined || !NodeClasses.supports(cloud, claim.spec.nodeClassRef)) return Result.done
    const now = yield* Clock.currentTimeMillis
    const last = claim.status?.lastPodEventTime
    if (last !== undefined && now - Date.parse(last) < dedupeMillis) return Result.done
    const time = Conditions.timestamp(now)
    if (last === time) return Result.done
    yield* kube.patch(
      Resources.NodeClaims,
      claim.metadata.name ?? "",
      { type: "merge", patch: { status: { lastPodEventTime: time } } },
      { subresource: "status" }
    )
    return Result.done
  })

  return yield* Controller.make({
    name: "nodeclaim.podevents",
    for: podEvents,
    concurrency: 10,
    reconcile: (_key, pod) => (pod === undefined ? Effect.succeed(Result.done) : reconcile(pod))
  })
})
