/**
 * A controller (controller-runtime's `Controller`, kube-rs's `Controller`): the keys of changed objects of its own
 * resource (`for`), and keys mapped from related objects (`watches`), go into a WorkQueue; `concurrency` workers
 * reconcile them, never one key twice at once. `reconcile` returns `Result.done` or `Result.requeueAfter(delay)`, or
 * fails: the {@link errorPolicy} decides, for every controller, what a failure asks for.
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Predicate from "effect/Predicate"
import type * as Scope from "effect/Scope"
import * as Resource from "../kube/Resource.ts"
import * as FlatContext from "./FlatContext.ts"
import type * as Informer from "./Informer.ts"
import * as InformerCache from "./InformerCache.ts"
import * as Result from "./Result.ts"
import * as WorkQueue from "./WorkQueue.ts"

/** Objects the controller reacts to: an informer, or a resource whose informer the process's cache hands out. */
export type Source<A extends Resource.KubeObject> = Informer.Informer<A> | Resource.Resource<A, unknown>

/**
 * A related resource: its changes enqueue the keys `map` returns (for a MODIFIED, of the old and the new object);
 * `map` may read caches (an Effect), e.g. an informer's index.
 */
export interface Watch<B extends Resource.KubeObject> {
  readonly source: Source<B>
  readonly map: (object: B) => ReadonlyArray<string> | Effect.Effect<ReadonlyArray<string>>
}

/** What a controller is made of. */
export interface Options<A extends Resource.KubeObject, W extends ReadonlyArray<Resource.KubeObject>, E, R> {
  /** Names the controller in logs. */
  readonly name: string
  /** The reconciled resource: keys are its objects' keys (`namespace/name` or `name`). */
  readonly for: Source<A>
  readonly watches?: { readonly [K in keyof W]: Watch<W[K]> }
  /** Workers reconciling different keys at once; default 1. */
  readonly concurrency?: number
  /** The failure backoff per key; default 5 ms doubling up to 1000 s (client-go's item limiter). */
  readonly backoff?: WorkQueue.Options
  /** Brings the object of `key` (undefined once it is gone) to its desired state. */
  reconcile(key: string, object: A | undefined): Effect.Effect<Result.Result, E, R>
}

const reconcileTotalOf = (attributes?: { readonly controller: string; readonly result: string }) =>
  Metric.counter("controller_runtime_reconcile_total", {
    description: "Total number of reconciliations per controller",
    incremental: true,
    ...(attributes === undefined ? {} : { attributes })
  })

const reconcileErrorsTotalOf = (attributes?: { readonly controller: string }) =>
  Metric.counter("controller_runtime_reconcile_errors_total", {
    description: "Total number of reconciliation errors per controller",
    incremental: true,
    ...(attributes === undefined ? {} : { attributes })
  })

/** controller-runtime's `controller_runtime_reconcile_total`, by `controller` and `result`. */
export const reconcileTotal = reconcileTotalOf()

/** controller-runtime's `controller_runtime_reconcile_errors_total`, by `controller`. */
export const reconcileErrorsTotal = reconcileErrorsTotalOf()

const TypeId = "~karpenter-effect/runtime/Controller"

/** A running controller. */
export interface Controller<A extends Resource.KubeObject> {
  readonly [TypeId]: typeof TypeId
  readonly name: string
  /** The informer of the reconciled resource. */
  readonly informer: Informer.Informer<A>
  /** Every informer the controller reads (its own and its watches'), for readiness. */
  readonly informers: ReadonlyArray<Informer.Syncable>
  /** Queues a key for reconciliation now. */
  enqueue(key: string): Effect.Effect<void>
  /** The work queue, for tests and for wiring other triggers. */
  readonly queue: WorkQueue.WorkQueue
}

/** Whether a value is a {@link Controller} (the Manager reads its informers for readiness). */
export const isController = (value: unknown): value is Controller<Resource.KubeObject> =>
  Predicate.hasProperty(value, TypeId)

const isInformer = <A extends Resource.KubeObject>(source: Source<A>): source is Informer.Informer<A> =>
  Predicate.hasProperty(source, "subscribe")

const informerOf = <A extends Resource.KubeObject>(
  source: Source<A>
): Effect.Effect<Informer.Informer<A>, never, InformerCache.InformerCache> =>
  isInformer(source) ? Effect.succeed(source) : InformerCache.informer(source)

const lift = (keys: ReadonlyArray<string> | Effect.Effect<ReadonlyArray<string>>) =>
  Effect.isEffect(keys) ? keys : Effect.succeed(keys)

// A watch sees every change of its source (every pod's, for the DaemonSet controller) and most map to no key: a
// synchronous `map` is answered without an Effect.
const keysOf = <B extends Resource.KubeObject>(
  watch: Watch<B>,
  change: Informer.Change<B>
): ReadonlyArray<string> | Effect.Effect<ReadonlyArray<string>> => {
  if (change.previous === undefined) return watch.map(change.object)
  const before = watch.map(change.previous)
  const after = watch.map(change.object)
  if (Effect.isEffect(before) || Effect.isEffect(after)) {
    return Effect.zipWith(lift(before), lift(after), (old, current) => [...old, ...current])
  }
  return before.length === 0 ? after : after.length === 0 ? before : [...before, ...after]
}

/**
 * What a batch of a watch's changes queues, in order: the keys of synchronous maps (nearly all) gathered and added in
 * one step; from the first map that answers with an Effect on, each change in turn. A throwing `map` is a bug: it is
 * logged, and the watch stays alive for the other objects.
 */
const enqueueWatched = <B extends Resource.KubeObject>(
  queue: WorkQueue.WorkQueue,
  source: string,
  watch: Watch<B>,
  changes: ReadonlyArray<Informer.Change<B>>
): Effect.Effect<void> => {
  const mapFailed = (defect: unknown) => Effect.logError(`watch ${source}: map failed`, defect)
  const keys: Array<string> = []
  let rest: Effect.Effect<void> | undefined
  for (const change of changes) {
    let found: ReadonlyArray<string> | Effect.Effect<ReadonlyArray<string>>
    try {
      found = keysOf(watch, change)
    } catch (defect) {
      rest = rest === undefined ? mapFailed(defect) : Effect.andThen(rest, mapFailed(defect))
      continue
    }
    if (rest === undefined && !Effect.isEffect(found)) {
      for (const key of found) keys.push(key)
      continue
    }
    const queued = Effect.isEffect(found)
      ? Effect.flatMap(found, queue.addAll).pipe(Effect.catchDefect(mapFailed))
      : queue.addAll(found)
    rest = rest === undefined ? queued : Effect.andThen(rest, queued)
  }
  const first = keys.length === 0 ? Effect.void : queue.addAll(keys)
  return rest === undefined ? first : Effect.andThen(first, rest)
}

/** For a watch's `map`: the keys of the objects `index` files under `value` in `informer`'s cache. */
export const keysByIndex = <A extends Resource.KubeObject>(
  informer: Informer.Informer<A>,
  index: Informer.Index<A>,
  value: string | undefined
): Effect.Effect<ReadonlyArray<string>> =>
  Effect.map(informer.byIndex(index, value), (objects) => objects.map(Resource.keyOf))

/**
 * What a failed reconcile asks for (kube-rs's `error_policy`), decided here for every controller: a Conflict (the
 * object changed since it was read) runs the key again at once, on the newer version; a NotFound (it is gone) is
 * done; anything else — undefined — is retried after the key's backoff.
 */
export const errorPolicy = (cause: Cause.Cause<unknown>): Result.Result | undefined => {
  const [reason, ...others] = cause.reasons
  if (reason === undefined || others.length > 0 || !Cause.isFailReason(reason)) return undefined
  if (Predicate.isTagged(reason.error, "Conflict")) return Result.requeue
  if (Predicate.isTagged(reason.error, "NotFound")) return Result.done
  return undefined
}

/**
 * Starts a controller in the current Scope: subscribes to its informers (starting those given as resources), waits
 * for their caches to sync, queues every cached object, then runs the workers. Closing the Scope interrupts them.
 */
export const make = Effect.fn("Controller.make")(function* <
  A extends Resource.KubeObject,
  E,
  R,
  const W extends ReadonlyArray<Resource.KubeObject> = []
>(options: Options<A, W, E, R>): Effect.fn.Return<Controller<A>, never, R | InformerCache.InformerCache | Scope.Scope> {
  const queue = yield* WorkQueue.make(options.backoff)
  const informer = yield* informerOf(options.for)
  const informers: Array<Informer.Syncable> = [informer]

  // Batches, not streams: each watch sees every change of its source, and a stream spent several steps on each.
  const takeOwn = yield* informer.subscribeBatches
  yield* Effect.forkScoped(
    Effect.forever(
      Effect.flatMap(takeOwn, (changes) => queue.addAll(changes.map((change) => Resource.keyOf(change.object)))),
      { disableYield: true }
    )
  )
  const watches: ReadonlyArray<Watch<Resource.KubeObject>> = options.watches ?? []
  for (const watch of watches) {
    const source = yield* informerOf(watch.source)
    informers.push(source)
    const take = yield* source.subscribeBatches
    yield* Effect.forever(
      Effect.flatMap(take, (changes) => enqueueWatched(queue, source.name, watch, changes)),
      { disableYield: true }
    ).pipe(Effect.annotateLogs({ controller: options.name }), Effect.forkScoped)
  }

  // A metric per series, not `withAttributes` on the shared one: every controller's series would evict the others'
  // cached registry key on each of the ~100,000 reconciles of a simulated day.
  const counted = (result: "success" | "requeue_after" | "error") =>
    Metric.update(reconcileTotalOf({ controller: options.name, result }), 1)
  const countSuccess = counted("success")
  const countRequeueAfter = counted("requeue_after")
  const countError = Effect.andThen(
    counted("error"),
    Metric.update(reconcileErrorsTotalOf({ controller: options.name }), 1)
  )

  // Written without generators or a separate catch: this runs for every reconcile (100,000 in a simulated day).
  const settle = (key: string, result: Result.Result): Effect.Effect<void> =>
    Effect.andThen(
      queue.forget(key),
      result._tag === "RequeueAfter"
        ? Effect.andThen(queue.addAfter(key, result.delay), countRequeueAfter)
        : countSuccess
    )

  const reconcileKey = (key: string): Effect.Effect<void, never, R> =>
    Effect.flatMap(informer.get(key), (object) => options.reconcile(key, object)).pipe(
      Effect.matchCauseEffect({
        onSuccess: (result) => settle(key, result),
        onFailure: (cause) => {
          const result = errorPolicy(cause)
          if (result !== undefined) return settle(key, result)
          return Cause.hasInterruptsOnly(cause)
            ? queue.addRateLimited(key)
            : Effect.andThen(
                Effect.andThen(Effect.logError("Reconciler error", cause), countError),
                queue.addRateLimited(key)
              )
        }
      }),
      Effect.annotateLogs({ key })
    )

  const worker = queue.process(reconcileKey).pipe(
    Effect.forever,
    Effect.catchTag("WorkQueueShutdown", () => Effect.void),
    FlatContext.run
  )

  yield* Effect.gen(function* () {
    yield* Effect.forEach(informers, (source) => source.synced, { discard: true })
    yield* Effect.forEach(yield* informer.list(), (object) => queue.add(Resource.keyOf(object)), { discard: true })
    yield* Effect.forEach(Array.from({ length: Math.max(1, options.concurrency ?? 1) }), () =>
      Effect.forkScoped(worker)
    )
  }).pipe(Effect.annotateLogs({ controller: options.name }), Effect.forkScoped)

  return {
    [TypeId]: TypeId,
    name: options.name,
    informer,
    informers,
    enqueue: queue.add,
    queue
  }
})

/** The controller as a Layer: built, it runs until the Layer's scope closes. */
export const layer = <A extends Resource.KubeObject, E, R, const W extends ReadonlyArray<Resource.KubeObject> = []>(
  options: Options<A, W, E, R>
): Layer.Layer<never, never, Exclude<R, Scope.Scope> | InformerCache.InformerCache> =>
  Layer.effectDiscard(make(options))
