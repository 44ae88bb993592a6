/**
 * The eviction queue (upstream `terminator/eviction.go`, v1.4.0): the pods the node drain wants gone, each sent to the
 * eviction API until it is evicted or gone, with per-pod exponential backoff (100 ms doubling to 10 s) while a
 * PodDisruptionBudget refuses it.
 *
 * - A pod is identified by namespace, name, uid and its node's providerID; adding a pod already queued (waiting,
 *   being evicted or backing off) is a no-op, so the drain's re-adds every second keep the pod's backoff.
 * - 2xx ⇒ done, event `Evicted` ("Evicted pod: " + the NodeClaim's DisruptionReason, or "Forceful Termination");
 *   404 (gone) and 409 (another pod of that name) ⇒ done; 429 (a PDB) ⇒ event `FailedDraining` "… violates a PDB",
 *   retried after the backoff; any other failure is logged and retried after the backoff.
 * - `karpenter_nodes_eviction_requests_total{code}` counts the answers.
 *
 * The eviction subresource of the KubeClient takes no preconditions, so the uid precondition upstream sends is
 * checked against the pod informer's cache just before the call (a pod gone from it counts as 404, another uid as 409),
 * and a pod the cache shows terminating already is done without a call (evicting it would only delete it again).
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import type * as Scope from "effect/Scope"
import * as ConditionTypes from "../../../api/Conditions.ts"
import type { Node } from "../../../api/Node.ts"
import type { Pod } from "../../../api/Pod.ts"
import { EventRecorder } from "../../../kube/EventRecorder.ts"
import { KubeClient } from "../../../kube/KubeClient.ts"
import type * as KubeError from "../../../kube/KubeError.ts"
import * as Resources from "../../../kube/Resources.ts"
import * as Indices from "../../../runtime/Indices.ts"
import * as InformerCache from "../../../runtime/InformerCache.ts"
import * as WorkQueue from "../../../runtime/WorkQueue.ts"
import * as Conditions from "../../StatusConditions.ts"
import * as Events from "./Events.ts"
import * as Metrics from "./TerminationMetrics.ts"

/** The first retry delay of a pod (upstream `evictionQueueBaseDelay`). */
export const BaseDelay = Duration.millis(100)
/** The longest retry delay of a pod (upstream `evictionQueueMaxDelay`). */
export const MaxDelay = Duration.seconds(10)

/** How the queue runs. */
export interface Options {
  /** Evictions in flight at once; default 1, as upstream's singleton reconciler. */
  readonly concurrency?: number
  /** Override the backoff (tests); default 100 ms to 10 s. */
  readonly backoff?: WorkQueue.Options
}

/** A pod to evict, as queued. */
export interface Item {
  readonly namespace: string
  readonly name: string
  readonly uid: string
  /** The providerID of the pod's node: leads to the NodeClaim whose disruption reason the event names. */
  readonly providerID: string
}

/** The running queue. */
export interface EvictionQueue {
  /** Queues the pods of `node` not queued already. */
  add(node: Node, pods: ReadonlyArray<Pod>): Effect.Effect<void>
  /** Whether the pod of `node` is queued (waiting, being evicted or backing off). */
  has(node: Node, pod: Pod): Effect.Effect<boolean>
  /** The pods queued. */
  readonly items: Effect.Effect<ReadonlyArray<Item>>
}

/** The queue key of a pod: namespace, name, uid and providerID (upstream `QueueKey`). */
export const keyOf = (item: Item): string => JSON.stringify([item.namespace, item.name, item.uid, item.providerID])

const itemOf = (node: Node, pod: Pod): Item => ({
  namespace: pod.metadata.namespace ?? "default",
  name: pod.metadata.name ?? "",
  uid: pod.metadata.uid ?? "",
  providerID: node.spec.providerID ?? ""
})

type EvictError = KubeError.NotFound | KubeError.TooManyRequests | KubeError.Conflict | KubeError.KubeUnavailable

const codeOf = (error: EvictError): number | undefined => {
  switch (error._tag) {
    case "NotFound":
      return 404
    case "Conflict":
      return 409
    case "TooManyRequests":
      return 429
    case "KubeUnavailable":
      return error.code
  }
}

const countRequest = (code: number) =>
  Metric.update(Metric.withAttributes(Metrics.nodesEvictionRequestsTotal, { code: String(code) }), 1)

/** Starts the queue and its worker in the current Scope; closing it stops them. */
export const make = Effect.fn("EvictionQueue.make")(function* (
  options?: Options
): Effect.fn.Return<EvictionQueue, never, KubeClient | InformerCache.InformerCache | EventRecorder | Scope.Scope> {
  const kube = yield* KubeClient
  const pods = yield* InformerCache.informer(Resources.Pods)
  const nodeClaims = yield* InformerCache.informer(Resources.NodeClaims)
  const publisher = yield* EventRecorder
  const queue = yield* WorkQueue.make(options?.backoff ?? { baseDelay: BaseDelay, maxDelay: MaxDelay })
  /** Every queued pod by key, from `add` until its eviction is done. */
  const items = new Map<string, Item>()

  /** The reason the `Evicted` event gives: the NodeClaim's DisruptionReason if True, else forceful termination. */
  const evictionReason = (item: Item) =>
    Effect.map(nodeClaims.byIndex(Indices.nodeClaimProviderID, item.providerID), (claims) => {
      const claim = claims[0]
      if (claim === undefined) return ""
      const condition = Conditions.get(claim.status?.conditions, ConditionTypes.DisruptionReason)
      return condition?.status === "True" ? (condition.reason ?? "") : "Forceful Termination"
    })

  /** One eviction attempt: whether the pod is done with (evicted or gone). */
  const evict = (item: Item): Effect.Effect<boolean> =>
    Effect.gen(function* () {
      const cached = yield* pods.get(`${item.namespace}/${item.name}`)
      if (cached === undefined || (item.uid !== "" && cached.metadata.uid !== item.uid)) return true
      // Already being deleted (evicted by an earlier attempt, or deleted by someone else): nothing to ask for.
      if (cached.metadata.deletionTimestamp !== undefined) return true
      return yield* kube.evict(item.namespace, item.name).pipe(
        Effect.andThen(countRequest(200)),
        Effect.andThen(evictionReason(item)),
        Effect.flatMap((reason) => publisher.publish(Events.evictPod(item, reason))),
        Effect.as(true),
        Effect.catch((error: EvictError) =>
          Effect.gen(function* () {
            const code = codeOf(error)
            if (code !== undefined) yield* countRequest(code)
            switch (error._tag) {
              case "NotFound":
              case "Conflict":
                return true
              case "TooManyRequests":
                yield* publisher.publish(Events.evictionBlocked(item))
                return false
              default:
                yield* Effect.logError(`failed evicting pod ${item.namespace}/${item.name}`, error)
                return false
            }
          })
        )
      )
    }).pipe(Effect.annotateLogs({ pod: `${item.namespace}/${item.name}` }))

  const process = (key: string): Effect.Effect<void> =>
    Effect.gen(function* () {
      const item = items.get(key)
      if (item === undefined) return
      if (yield* evict(item)) {
        yield* queue.forget(key)
        items.delete(key)
      } else {
        yield* queue.addRateLimited(key)
      }
    })

  const worker = queue.process(process).pipe(
    Effect.forever,
    Effect.catchTag("WorkQueueShutdown", () => Effect.void)
  )
  yield* Effect.gen(function* () {
    // The uid check reads the cache: it must be filled first.
    yield* pods.synced
    yield* nodeClaims.synced
    for (let i = 0; i < Math.max(1, options?.concurrency ?? 1); i++) yield* Effect.forkScoped(worker)
  }).pipe(Effect.annotateLogs({ controller: "eviction-queue" }), Effect.forkScoped)

  return {
    add: (node, added) =>
      Effect.forEach(
        added,
        (pod) => {
          const item = itemOf(node, pod)
          const key = keyOf(item)
          if (items.has(key)) return Effect.void
          items.set(key, item)
          return queue.add(key)
        },
        { discard: true }
      ),
    has: (node, pod) => Effect.sync(() => items.has(keyOf(itemOf(node, pod)))),
    items: Effect.sync(() => [...items.values()])
  }
})
