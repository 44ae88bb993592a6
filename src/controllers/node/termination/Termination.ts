/**
 * The Node finalizer (upstream `pkg/controllers/node/termination`, v1.4.0). A deleted Node that carries
 * `karpenter.sh/termination` and belongs to a NodeClass of the cloud provider is terminated in this order:
 *
 * 1. every NodeClaim with the Node's providerID is deleted (once; a Node deleted directly takes its NodeClaim along),
 *    and the first one's `karpenter.sh/nodeclaim-termination-timestamp` annotation, if any, is the node's termination
 *    time (event `TerminationGracePeriodExpiring`);
 * 2. the Node is tainted `karpenter.sh/disrupted:NoSchedule` (replacing a taint of that key with another effect) and
 *    labelled `node.kubernetes.io/exclude-from-external-load-balancers=karpenter`;
 * 3. it is drained: with a termination time, each pod still running is deleted at `terminationTime −
 *    terminationGracePeriodSeconds` with the seconds left as its grace period (bypassing PDBs and do-not-disrupt,
 *    event `Disrupted`); the pods waiting for eviction are grouped non-critical non-DaemonSet, non-critical DaemonSet,
 *    critical non-DaemonSet, critical DaemonSet, and only the first non-empty group's evictable pods go to the
 *    {@link EvictionQueue}. While pods wait, the reconcile comes back after 1 s (event `FailedDraining`); if the Node is
 *    not Ready and the provider says its instance is gone, the finalizer goes at once;
 * 4. drained, and before its termination time, the node waits (checking every 1 s) until no VolumeAttachment to it
 *    is left but those of the pods the drain does not wait for ({@link Volumes}): their PersistentVolumes must be
 *    detached before the pods' replacements can attach them elsewhere. At the termination time it waits no more;
 * 5. the instance of every NodeClaim is terminated (`CloudProvider.delete` until `NodeClaimNotFound`, checking every
 *    5 s), then the finalizer is removed.
 *
 * As upstream v1.4.0, the wait for volumes sets no NodeClaim condition and publishes no event (the `VolumesDetached`
 * condition and the `AwaitingVolumeDetachment` event came in v1.6.0).
 */
import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import type * as Scope from "effect/Scope"
import * as Labels from "../../../api/Labels.ts"
import type { Taint } from "../../../api/Meta.ts"
import type { Node } from "../../../api/Node.ts"
import * as NodeApi from "../../../api/Node.ts"
import type { NodeClaim } from "../../../api/NodeClaim.ts"
import { isTerminating, type Pod } from "../../../api/Pod.ts"
import * as Taints from "../../../api/Taints.ts"
import * as CloudProvider from "../../../cloudprovider/CloudProvider.ts"
import { EventRecorder } from "../../../kube/EventRecorder.ts"
import { KubeClient } from "../../../kube/KubeClient.ts"
import * as Resources from "../../../kube/Resources.ts"
import * as Controller from "../../../runtime/Controller.ts"
import * as Indices from "../../../runtime/Indices.ts"
import * as InformerCache from "../../../runtime/InformerCache.ts"
import * as Result from "../../../runtime/Result.ts"
import * as Conditions from "../../StatusConditions.ts"
import * as Events from "./Events.ts"
import * as EvictionQueue from "./EvictionQueue.ts"
import * as InstanceTermination from "./InstanceTermination.ts"
import * as Pods from "./Pods.ts"
import * as Metrics from "./TerminationMetrics.ts"
import * as Volumes from "./Volumes.ts"

/** How long a drain waits before looking at the node's pods again. */
export const DrainRequeue = Duration.seconds(1)
/** How long a drained node waits before looking at its VolumeAttachments again. */
export const VolumeDetachmentRequeue = Duration.seconds(1)
/** How long to wait before asking the provider again whether an instance is gone. */
export const TerminationRequeue = Duration.seconds(5)

/** How the controller runs. */
export interface Options {
  /** Reconciles at once (upstream `MaxConcurrentReconciles`); default 100. */
  readonly concurrency?: number
  /** The eviction queue's options (its informers default to the controller's). */
  readonly evictionQueue?: EvictionQueue.Options
}

/** The running controller and its eviction queue. */
export interface Termination {
  readonly controller: Controller.Controller<Node>
  readonly evictionQueue: EvictionQueue.EvictionQueue
}

/** The label a Node carries for each NodeClass kind (upstream `NodeClassLabelKey`): `group/lowercased kind`. */
export const nodeClassLabel = (kind: CloudProvider.NodeClassKind): string => `${kind.group}/${kind.kind.toLowerCase()}`

/** Whether Karpenter manages the Node: it has the label of a NodeClass kind of the provider (upstream `IsManaged`). */
export const isManaged = (node: Node, supported: ReadonlyArray<CloudProvider.NodeClassKind>): boolean =>
  supported.some((kind) => node.metadata.labels?.[nodeClassLabel(kind)] !== undefined)

const hasFinalizer = (node: Node) => (node.metadata.finalizers ?? []).includes(Labels.TerminationFinalizer)

/**
 * The taints after adding `taint` (upstream `Terminator.Taint`): unchanged when a taint with its key and effect is
 * there, else any taint of its key is replaced.
 */
export const withTaint = (taints: ReadonlyArray<Taint>, taint: Taints.TaintLike): ReadonlyArray<Taint> =>
  taints.some((existing) => Taints.matches(existing, taint))
    ? taints
    : [...taints.filter((existing) => existing.key !== taint.key), { key: taint.key, effect: taint.effect }]

/** The termination-timestamp annotation of a NodeClaim is not an RFC 3339 time. */
export class InvalidTerminationTimestamp extends Data.TaggedError("InvalidTerminationTimestamp")<{
  readonly nodeClaim: string
  readonly value: string
}> {
  override get message(): string {
    return `parsing ${Labels.NodeClaimTerminationTimestampAnnotation} annotation of ${this.nodeClaim}, "${this.value}"`
  }
}

/** What a drain found: done, or the number of pods still waiting and when to look again. */
export type Drain =
  | { readonly _tag: "Drained" }
  | { readonly _tag: "Waiting"; readonly pods: number; readonly recheckAfter: Duration.Duration }

/** Starts the node termination controller with options in the current Scope. */
export const makeWith = Effect.fn("Termination.makeWith")(function* (
  options?: Options
): Effect.fn.Return<
  Termination,
  never,
  KubeClient | InformerCache.InformerCache | CloudProvider.CloudProvider | EventRecorder | Scope.Scope
> {
  const kube = yield* KubeClient
  const cloud = yield* CloudProvider.CloudProvider
  const publisher = yield* EventRecorder
  const nodes = yield* InformerCache.informer(Resources.Nodes)
  const pods = yield* InformerCache.informer(Resources.Pods)
  const nodeClaims = yield* InformerCache.informer(Resources.NodeClaims)
  const volumeAttachments = yield* InformerCache.informer(Resources.VolumeAttachments)
  const claims = yield* InformerCache.informer(Resources.PersistentVolumeClaims)
  const evictionQueue = yield* EvictionQueue.make(options?.evictionQueue)

  const nodeClaimsOf = (node: Node): Effect.Effect<ReadonlyArray<NodeClaim>> =>
    nodeClaims.byIndex(Indices.nodeClaimProviderID, node.spec.providerID)

  const podsOf = (node: Node): Effect.Effect<ReadonlyArray<Pod>> =>
    pods.byIndex(Indices.podNodeName, node.metadata.name)

  /** Deletes the NodeClaims not being deleted yet (upstream `deleteAllNodeClaims`). */
  const deleteNodeClaims = (claims: ReadonlyArray<NodeClaim>) =>
    Effect.forEach(
      claims.filter((claim) => claim.metadata.deletionTimestamp === undefined),
      (claim) =>
        kube
          .delete(Resources.NodeClaims, claim.metadata.name ?? "")
          .pipe(Effect.catchTag("NotFound", () => Effect.void)),
      { discard: true }
    )

  // Untraced: called thousands of times a simulated day; a span and call frame each cost 1.5 µs.
  /** The termination time of the first NodeClaim, announced on the Node; undefined without one. */
  const terminationTime = Effect.fnUntraced(function* (node: Node, claims: ReadonlyArray<NodeClaim>) {
    const annotation = claims[0]?.metadata.annotations?.[Labels.NodeClaimTerminationTimestampAnnotation]
    if (annotation === undefined) return undefined
    yield* publisher.publish(
      Events.nodeTerminationGracePeriodExpiring(node.metadata.name ?? "", node.metadata.uid, annotation)
    )
    const parsed = Date.parse(annotation)
    if (Number.isNaN(parsed)) {
      return yield* new InvalidTerminationTimestamp({ nodeClaim: claims[0]?.metadata.name ?? "", value: annotation })
    }
    return parsed
  })

  // Untraced: called thousands of times a simulated day; a span and call frame each cost 1.5 µs.
  /** Taints and labels the Node (optimistic lock); returns it as written. */
  const taint = Effect.fnUntraced(function* (node: Node) {
    const taints = node.spec.taints ?? []
    const tainted = withTaint(taints, Taints.DisruptedNoSchedule)
    const labelled = node.metadata.labels?.[Labels.ExcludeFromExternalLoadBalancers] === "karpenter"
    if (tainted === taints && labelled) return node
    const written = yield* kube.patch(Resources.Nodes, node.metadata.name ?? "", {
      type: "merge",
      patch: {
        metadata: {
          resourceVersion: node.metadata.resourceVersion,
          labels: { [Labels.ExcludeFromExternalLoadBalancers]: "karpenter" }
        },
        ...(tainted === taints ? {} : { spec: { taints: tainted } })
      }
    })
    if (tainted !== taints) {
      yield* Effect.logInfo("tainted node").pipe(
        Effect.annotateLogs({ "taint.Key": Taints.DisruptedNoSchedule.key, "taint.Effect": "NoSchedule" })
      )
    }
    return written
  })

  // Untraced: called thousands of times a simulated day; a span and call frame each cost 1.5 µs.
  /**
   * Deletes the pods whose time has come under the node's termination time (upstream `DeleteExpiringPods`); returns
   * how long until the next one's time, if any.
   */
  const deleteExpiringPods = Effect.fnUntraced(function* (
    candidates: ReadonlyArray<Pod>,
    terminationAt: number | undefined,
    now: number
  ) {
    if (terminationAt === undefined) return undefined
    let next: number | undefined
    for (const pod of candidates) {
      const at = Pods.deleteTime(pod, terminationAt)
      if (at === undefined) continue
      if (now < at) {
        next = next === undefined ? at - now : Math.min(next, at - now)
        continue
      }
      const gracePeriodSeconds = Pods.remainingGraceSeconds(terminationAt, now)
      yield* publisher.publish(Events.disruptPodDelete(pod, gracePeriodSeconds, Conditions.timestamp(terminationAt)))
      yield* kube
        .delete(Resources.Pods, pod.metadata.name ?? "", {
          namespace: pod.metadata.namespace ?? "default",
          gracePeriodSeconds
        })
        .pipe(Effect.catchTag("NotFound", () => Effect.void))
      yield* Effect.logDebug("deleting pod").pipe(
        Effect.annotateLogs({
          pod: `${pod.metadata.namespace}/${pod.metadata.name}`,
          "pod.terminationGracePeriodSeconds": Pods.terminationGracePeriodSeconds(pod),
          "delete.gracePeriodSeconds": gracePeriodSeconds,
          "nodeclaim.terminationTime": Conditions.timestamp(terminationAt)
        })
      )
    }
    return next
  })

  // Untraced: called thousands of times a simulated day; a span and call frame each cost 1.5 µs.
  /** Upstream `Terminator.Drain`. */
  const drain = Effect.fnUntraced(function* (node: Node, terminationAt: number | undefined) {
    const now = yield* Clock.currentTimeMillis
    const waiting = (yield* podsOf(node)).filter((pod) => Pods.isWaitingEviction(pod, now))
    const nextDeletion = yield* deleteExpiringPods(
      waiting.filter((pod) => !isTerminating(pod)),
      terminationAt,
      now
    )
    const groups = Pods.groupByPriority(waiting)
    const first = groups.find((group) => group.length > 0)
    if (first === undefined) {
      const drained: Drain = { _tag: "Drained" }
      return drained
    }
    yield* evictionQueue.add(
      node,
      first.filter((pod) => Pods.isEvictable(pod, now))
    )
    const recheck = Math.min(Duration.toMillis(DrainRequeue), nextDeletion ?? Number.POSITIVE_INFINITY)
    const waitingFor: Drain = { _tag: "Waiting", pods: waiting.length, recheckAfter: Duration.millis(recheck) }
    return waitingFor
  })

  /**
   * The VolumeAttachments to the node still to wait for (upstream `ensureVolumesDetached`). It reads the caches once
   * they are filled, as controller-runtime's cached client does: an empty cache would let the instance go too soon.
   */
  const pendingVolumeAttachments = Effect.fn("Termination.pendingVolumeAttachments")(function* (
    node: Node,
    now: number
  ) {
    yield* volumeAttachments.synced
    const attached = (yield* volumeAttachments.list()).filter(
      (attachment) => attachment.spec.nodeName === node.metadata.name
    )
    if (attached.length === 0) return attached
    yield* claims.synced
    const spared = new Set<string>()
    for (const key of Volumes.undrainableClaims(yield* podsOf(node), now)) {
      const volume = (yield* claims.get(key))?.spec.volumeName
      if (volume !== undefined) spared.add(volume)
    }
    return Volumes.pending(attached, spared)
  })

  /** Removes the finalizer (a JSON patch that tests the entry, as a strategic merge would remove just it). */
  const removeFinalizer = Effect.fn("Termination.removeFinalizer")(function* (node: Node) {
    const index = (node.metadata.finalizers ?? []).indexOf(Labels.TerminationFinalizer)
    if (index < 0) return
    const path = `/metadata/finalizers/${index}`
    yield* kube.patch(Resources.Nodes, node.metadata.name ?? "", {
      type: "json",
      patch: [
        { op: "test", path, value: Labels.TerminationFinalizer },
        { op: "remove", path }
      ]
    })
    const now = yield* Clock.currentTimeMillis
    const nodePool = { nodepool: node.metadata.labels?.[Labels.NodePool] ?? "" }
    yield* Metric.update(Metric.withAttributes(Metrics.nodesTerminatedTotal, nodePool), 1)
    const since = (timestamp: string | undefined) => {
      const parsed = Date.parse(timestamp ?? "")
      return Number.isNaN(parsed) ? undefined : (now - parsed) / 1000
    }
    const terminating = since(node.metadata.deletionTimestamp)
    if (terminating !== undefined) {
      yield* Metric.update(Metric.withAttributes(Metrics.nodesTerminationDurationSeconds, nodePool), terminating)
    }
    const lifetime = since(node.metadata.creationTimestamp)
    if (lifetime !== undefined) {
      yield* Metric.update(Metric.withAttributes(Metrics.nodesLifetimeDurationSeconds, nodePool), lifetime)
    }
    yield* Effect.logInfo("deleted node")
  })

  // Untraced: called thousands of times a simulated day; a span and call frame each cost 1.5 µs.
  const finalize = Effect.fnUntraced(function* (found: Node) {
    const claims = yield* nodeClaimsOf(found)
    yield* deleteNodeClaims(claims)
    const terminationAt = yield* terminationTime(found, claims)
    const node = yield* taint(found)
    const drained = yield* drain(node, terminationAt)
    if (drained._tag === "Waiting") {
      yield* publisher.publish(
        Events.nodeFailedToDrain(
          node.metadata.name ?? "",
          node.metadata.uid,
          `${drained.pods} pods are waiting to be evicted`
        )
      )
      // An instance already gone behind a node whose kubelet stopped reporting: nothing left to drain.
      if (!NodeApi.isReady(node) && node.spec.providerID !== undefined) {
        const gone = yield* cloud.get(node.spec.providerID).pipe(
          Effect.as(false),
          Effect.catchTag("NodeClaimNotFound", () => Effect.succeed(true))
        )
        if (gone) {
          yield* removeFinalizer(node)
          return Result.done
        }
      }
      return Result.requeueAfter(drained.recheckAfter)
    }
    yield* Metric.update(
      Metric.withAttributes(Metrics.nodesDrainedTotal, { nodepool: node.metadata.labels?.[Labels.NodePool] ?? "" }),
      1
    )
    const now = yield* Clock.currentTimeMillis
    if (terminationAt === undefined || now < terminationAt) {
      const pending = yield* pendingVolumeAttachments(node, now)
      if (pending.length > 0) {
        yield* Effect.logDebug("awaiting volume detachment").pipe(
          Effect.annotateLogs({
            volumeAttachments: pending.map((attachment) => attachment.metadata.name ?? "").join(",")
          })
        )
        return Result.requeueAfter(VolumeDetachmentRequeue)
      }
    }
    for (const claim of yield* nodeClaimsOf(node)) {
      const outcome = yield* InstanceTermination.ensureTerminated(claim).pipe(
        Effect.map(({ terminated }) => (terminated ? "terminated" : "terminating")),
        // The NodeClaim is gone already: nothing to terminate for it.
        Effect.catchTag("NotFound", () => Effect.succeed("terminated" as const))
      )
      if (outcome === "terminating") return Result.requeueAfter(TerminationRequeue)
    }
    yield* removeFinalizer(node)
    return Result.done
  })

  const controller = yield* Controller.make({
    name: "node.termination",
    for: nodes,
    concurrency: options?.concurrency ?? 100,
    backoff: { baseDelay: Duration.millis(100), maxDelay: Duration.seconds(10) },
    reconcile: (_key, node) => {
      if (node === undefined || node.metadata.deletionTimestamp === undefined || !hasFinalizer(node)) {
        return Effect.succeed(Result.done)
      }
      if (!isManaged(node, cloud.supportedNodeClasses)) return Effect.succeed(Result.done)
      return finalize(node).pipe(
        // The JSON patch's test failed: the finalizers changed meanwhile (Conflict and NotFound: the error policy).
        Effect.catchTag("Invalid", () => Effect.succeed(Result.requeue)),
        Effect.annotateLogs({ Node: node.metadata.name ?? "" })
      )
    }
  })
  return { controller, evictionQueue }
})

/** Starts the node termination controller with upstream's settings in the current Scope. */
export const make: Effect.Effect<
  Controller.Controller<Node>,
  never,
  KubeClient | InformerCache.InformerCache | CloudProvider.CloudProvider | EventRecorder | Scope.Scope
> = Effect.map(makeWith(), (termination) => termination.controller)
