/**
 * An informer (client-go's reflector + indexer, kube-rs's `reflector`): lists a resource, watches it from the list's
 * resourceVersion, keeps a cache of the objects by key, with secondary indices, and publishes every change. It
 * relists on 410 Expired and re-watches with capped exponential backoff on any other failure; it never stops until its
 * Scope closes. After a relist it publishes the difference from its cache, so subscribers see every change once: no
 * loss, no duplicates. A process starts its informers through the InformerCache, which shares one per resource.
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { KubeClient, type Selection, type WatchEvent } from "../kube/KubeClient.ts"
import type * as KubeError from "../kube/KubeError.ts"
import * as Resource from "../kube/Resource.ts"

/** A change of one cached object. */
export interface Change<A> {
  readonly type: "ADDED" | "MODIFIED" | "DELETED"
  /** The new state; for DELETED the last state known (the watch's final object, or the cached one after a relist). */
  readonly object: A
  /** The cached state before a MODIFIED. */
  readonly previous?: A
}

/** What readiness needs of an informer, whatever its object type. */
export interface Syncable {
  /** `plural.group` and the selection, for logs and readiness reports. */
  readonly name: string
  /** Completes once the first list has filled the cache. */
  readonly synced: Effect.Effect<void>
  readonly hasSynced: Effect.Effect<boolean>
}

/** A running informer; build it with {@link make}. */
export interface Informer<A extends Resource.KubeObject> extends Syncable {
  /** Every change from the moment the stream is run (it subscribes when it starts). */
  readonly changes: Stream.Stream<Change<A>>
  /** Subscribes now, in the current Scope: the stream sees every change published from here on. */
  readonly subscribe: Effect.Effect<Stream.Stream<Change<A>>, never, Scope.Scope>
  /**
   * Subscribes now, in the current Scope, as {@link subscribe}; the effect it gives takes every change published since
   * its last take, in order, waiting for one: for a consumer that handles a batch in one step, where a stream spends
   * several per change (a controller's watches see every change of their source).
   */
  readonly subscribeBatches: Effect.Effect<Effect.Effect<ReadonlyArray<Change<A>>>, never, Scope.Scope>
  /** The cached object of a key (`namespace/name` or `name`). */
  get(key: string): Effect.Effect<A | undefined>
  /** Every cached object, sorted by key. */
  list(): Effect.Effect<ReadonlyArray<A>>
  /** {@link list}, read synchronously: for a caller that reads several lists in one step. */
  listUnsafe(): ReadonlyArray<A>
  /**
   * The cached objects `index` files under `value`, sorted by key (client-go's `ByIndex`). An index is kept from its
   * first lookup on, updated with the cache before each change is published.
   */
  byIndex(index: Index<A>, value: string | undefined): Effect.Effect<ReadonlyArray<A>>
  /**
   * How many of the objects `index` files under `value` satisfy `counter`: kept as objects change (from the first
   * lookup on), so it costs the same for ten objects as for ten thousand.
   */
  countByIndex(index: Index<A>, value: string | undefined, counter: Counter<A>): Effect.Effect<number>
  /** The newest resourceVersion seen (list, event or bookmark); undefined before the first list. */
  readonly lastResourceVersion: Effect.Effect<string | undefined>
}

/**
 * A secondary index (client-go's `IndexFunc`): the values an object is filed under. Declare each once, as a module
 * constant: an informer knows its indices by name, and one name with two key functions is a bug.
 */
export interface Index<in A> {
  readonly name: string
  readonly values: (object: A) => ReadonlyArray<string>
}

/** Declares an index. */
export const index = <A>(name: string, values: (object: A) => ReadonlyArray<string>): Index<A> => ({ name, values })

/**
 * A predicate counted per index value ({@link Informer.countByIndex}). Declare each once, as a module constant, like an
 * index: an informer knows its counters by name.
 */
export interface Counter<in A> {
  readonly name: string
  readonly counts: (object: A) => boolean
}

/**
 * Runs `f` on every change `informer` publishes from now on, in order, in a fiber of the current Scope (a batch of
 * changes at a time, not a stream's several steps per change). For reactions a Controller's watches do not fit.
 */
export const forEachChange = <A extends Resource.KubeObject, R>(
  informer: Informer<A>,
  f: (change: Change<A>) => Effect.Effect<void, never, R>
): Effect.Effect<void, never, R | Scope.Scope> =>
  Effect.flatMap(informer.subscribeBatches, (take) =>
    Effect.asVoid(
      Effect.forkScoped(
        Effect.forever(
          Effect.flatMap(take, (changes) => Effect.forEach(changes, f, { discard: true })),
          { disableYield: true }
        )
      )
    )
  )

/** Declares a counter. */
export const counter = <A>(name: string, counts: (object: A) => boolean): Counter<A> => ({ name, counts })

/** The selection and the reconnect backoff. */
export interface Options extends Selection {
  /** The first delay after a failed list or watch; default 1 s, doubling on each consecutive failure. */
  readonly initialBackoff?: Duration.Input
  /** The longest delay; default 30 s. A watch that ran this long or delivered an event resets the backoff. */
  readonly maxBackoff?: Duration.Input
}

type ListError = KubeError.Invalid | KubeError.Expired | KubeError.KubeUnavailable

/** Objects per LIST request (client-go's pager default). */
export const listPageSize = 500

/** Whether a failed list or watch asks for a relist (410 Expired); other failures, defects included, are retried. */
const isExpired = (cause: Cause.Cause<ListError>): boolean => {
  const error = Cause.findErrorOption(cause)
  return Option.isSome(error) && error.value._tag === "Expired"
}

const resourceVersionOf = (object: Resource.KubeObject): string | undefined => object.metadata.resourceVersion

const byKey = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

/** One index of a cache: value → the objects filed under it, by key, and how many of them each counter counts. */
interface Indexed<A> {
  readonly declared: Index<A>
  update(key: string, previous: A | undefined, next: A | undefined): void
  lookup(value: string | undefined): ReadonlyArray<A>
  count(value: string | undefined, counter: Counter<A>): number
}

/** Where `key` is in the sorted `keys`, or where it would go. */
const positionIn = (keys: ReadonlyArray<string>, key: string): number => {
  let low = 0
  let high = keys.length
  while (low < high) {
    const middle = (low + high) >>> 1
    if (keys[middle]! < key) low = middle + 1
    else high = middle
  }
  return low
}

const makeIndexed = <A>(declared: Index<A>, owner: string): Indexed<A> => {
  // Per value: its objects by key, their keys kept sorted as objects come and go (a pod's status change keeps its
  // place, so a lookup after it only re-reads the objects; sorting them again after every change was the cost of a
  // busy ReplicaSet's reconciles), the list handed out, rebuilt on the first lookup after a change, and one count per
  // counter (in `counters` order), adjusted by each change: a ReplicaSet counting its thousands of ready pods after
  // each one's change was 7% of a simulated day.
  interface Entry {
    readonly objects: Map<string, A>
    readonly keys: Array<string>
    sorted: ReadonlyArray<A> | undefined
    readonly counts: Array<number>
  }
  const entries = new Map<string, Entry>()
  const counters: Array<Counter<A>> = []
  const none: ReadonlyArray<string> = []
  const recount = (entry: Entry, gone: A | undefined, added: A | undefined): void => {
    for (let i = 0; i < counters.length; i++) {
      const counts = counters[i]!.counts
      entry.counts[i]! += (added !== undefined && counts(added) ? 1 : 0) - (gone !== undefined && counts(gone) ? 1 : 0)
    }
  }
  return {
    declared,
    update: (key, previous, next) => {
      const before = previous === undefined ? none : declared.values(previous)
      const after = next === undefined ? none : declared.values(next)
      for (const value of before) {
        if (after.includes(value)) continue
        const entry = entries.get(value)
        const gone = entry?.objects.get(key)
        if (entry === undefined || gone === undefined) continue
        entry.objects.delete(key)
        if (entry.objects.size === 0) {
          entries.delete(value)
        } else {
          entry.keys.splice(positionIn(entry.keys, key), 1)
          entry.sorted = undefined
          recount(entry, gone, undefined)
        }
      }
      if (next === undefined) return
      for (const value of after) {
        let entry = entries.get(value)
        if (entry === undefined) {
          entry = { objects: new Map(), keys: [], sorted: undefined, counts: counters.map(() => 0) }
          entries.set(value, entry)
        }
        const replaced = entry.objects.get(key)
        if (replaced === undefined) entry.keys.splice(positionIn(entry.keys, key), 0, key)
        entry.objects.set(key, next)
        entry.sorted = undefined
        recount(entry, replaced, next)
      }
    },
    lookup: (value) => {
      const entry = value === undefined ? undefined : entries.get(value)
      if (entry === undefined) return []
      if (entry.sorted === undefined) entry.sorted = entry.keys.map((key) => entry.objects.get(key)!)
      return entry.sorted
    },
    count: (value, counter) => {
      let slot = counters.findIndex((known) => known.name === counter.name)
      if (slot < 0) {
        slot = counters.push(counter) - 1
        for (const entry of entries.values()) {
          let counted = 0
          for (const object of entry.objects.values()) if (counter.counts(object)) counted++
          entry.counts.push(counted)
        }
      } else if (counters[slot]!.counts !== counter.counts) {
        throw new Error(`${owner}: counter ${counter.name} declared with two predicates`)
      }
      const entry = value === undefined ? undefined : entries.get(value)
      return entry === undefined ? 0 : entry.counts[slot]!
    }
  }
}

const describe = (resource: Resource.Resource<Resource.KubeObject>, selection: Selection): string => {
  const parts = [
    selection.namespace === undefined ? undefined : `namespace=${selection.namespace}`,
    selection.labelSelector === undefined ? undefined : `labelSelector=${selection.labelSelector}`,
    selection.fieldSelector === undefined ? undefined : `fieldSelector=${selection.fieldSelector}`
  ].filter((part) => part !== undefined)
  const name = Resource.qualifiedName(resource)
  return parts.length === 0 ? name : `${name}(${parts.join(",")})`
}

/** Starts an informer in a fiber of the current Scope; `synced` tells when its cache is filled. */
export const make = Effect.fn("Informer.make")(function* <A extends Resource.KubeObject, I>(
  resource: Resource.Resource<A, I>,
  options?: Options
): Effect.fn.Return<Informer<A>, never, KubeClient | Scope.Scope> {
  const kube = yield* KubeClient
  const selection: Selection = {
    ...(options?.namespace === undefined ? {} : { namespace: options.namespace }),
    ...(options?.labelSelector === undefined ? {} : { labelSelector: options.labelSelector }),
    ...(options?.fieldSelector === undefined ? {} : { fieldSelector: options.fieldSelector })
  }
  const name = describe(resource, selection)
  const initialMillis = Duration.toMillis(options?.initialBackoff ?? Duration.seconds(1))
  const maxMillis = Duration.toMillis(options?.maxBackoff ?? Duration.seconds(30))
  const backoff = (attempt: number): number => Math.min(initialMillis * 2 ** attempt, maxMillis)

  const cache = new Map<string, A>()
  // The cache's keys in order, kept sorted as events arrive, and the list handed out (rebuilt lazily, or edited as a
  // copy): sorting every key after each change was a large part of a busy simulated cluster.
  let sortedKeys: Array<string> = []
  let sorted: ReadonlyArray<A> | undefined

  // client-go's indexer: per index, value → its objects by key, and their sorted list once asked for.
  const indices = new Map<string, Indexed<A>>()
  const index = (key: string, previous: A | undefined, next: A | undefined): void => {
    for (const indexed of indices.values()) indexed.update(key, previous, next)
  }
  const indexedBy = (declared: Index<A>): Indexed<A> => {
    let indexed = indices.get(declared.name)
    if (indexed === undefined) {
      indexed = makeIndexed(declared, name)
      for (const [key, object] of cache) indexed.update(key, undefined, object)
      indices.set(declared.name, indexed)
    } else if (indexed.declared.values !== declared.values) {
      throw new Error(`${name}: index ${declared.name} declared with two key functions`)
    }
    return indexed
  }

  /** Where `key` is in `sortedKeys`, or where it would go. */
  const position = (key: string): number => positionIn(sortedKeys, key)
  let resourceVersion: string | undefined
  const synced = yield* Deferred.make<void>()
  const pubsub = yield* PubSub.unbounded<Change<A>>()
  yield* Effect.addFinalizer(() => PubSub.shutdown(pubsub))

  /** Replaces the cache with a fresh list; returns the difference. */
  const applyList = (items: ReadonlyArray<A>, listVersion: string): Array<Change<A>> => {
    const changes: Array<Change<A>> = []
    const listed = new Map<string, A>()
    for (const item of items) listed.set(Resource.keyOf(item), item)
    for (const key of Array.from(listed.keys()).sort(byKey)) {
      const object = listed.get(key)!
      const previous = cache.get(key)
      if (previous === undefined) {
        changes.push({ type: "ADDED", object })
      } else if (resourceVersionOf(previous) !== resourceVersionOf(object)) {
        changes.push({ type: "MODIFIED", object, previous })
      } else {
        continue
      }
      index(key, previous, object)
      cache.set(key, object)
    }
    const gone = Array.from(cache.keys())
      .filter((key) => !listed.has(key))
      .sort(byKey)
    for (const key of gone) {
      changes.push({ type: "DELETED", object: cache.get(key)! })
      index(key, cache.get(key), undefined)
      cache.delete(key)
    }
    if (changes.length > 0) {
      sortedKeys = Array.from(cache.keys()).sort(byKey)
      sorted = undefined
    }
    resourceVersion = listVersion
    return changes
  }

  /** Applies one watch event to the cache; returns the change to publish, if any. */
  const applyEvent = (event: WatchEvent<A>): Change<A> | undefined => {
    if (event.type === "BOOKMARK") {
      resourceVersion = event.resourceVersion
      return undefined
    }
    const object = event.object
    const key = Resource.keyOf(object)
    const previous = cache.get(key)
    resourceVersion = resourceVersionOf(object) ?? resourceVersion
    if (event.type === "DELETED") {
      if (previous === undefined) return undefined
      index(key, previous, undefined)
      cache.delete(key)
      sortedKeys.splice(position(key), 1)
      sorted = undefined
      return { type: "DELETED", object }
    }
    if (previous !== undefined && resourceVersionOf(previous) === resourceVersionOf(object)) return undefined
    index(key, previous, object)
    cache.set(key, object)
    if (previous === undefined) {
      sortedKeys.splice(position(key), 0, key)
      sorted = undefined
      return { type: "ADDED", object }
    }
    if (sorted !== undefined) {
      const edited = sorted.slice()
      edited[position(key)] = object
      sorted = edited
    }
    return { type: "MODIFIED", object, previous }
  }

  /**
   * Every page of a list, and the collection's resourceVersion. Read in pages of {@link listPageSize}, as client-go's
   * reflector does, so no one answer holds the whole collection; when a continue token has expired, one unpaged list
   * instead (client-go's pager, FullListIfExpired).
   */
  const listAll: Effect.Effect<{ readonly items: ReadonlyArray<A>; readonly resourceVersion: string }, ListError> =
    Effect.gen(function* () {
      let page = yield* kube.list(resource, { ...selection, limit: listPageSize })
      const items: Array<A> = [...page.items]
      while (page.continue !== undefined && page.continue !== "") {
        const next = yield* kube
          .list(resource, { ...selection, limit: listPageSize, continue: page.continue })
          .pipe(Effect.catchTag("Expired", () => Effect.succeed(undefined)))
        if (next === undefined) return yield* kube.list(resource, selection)
        page = next
        for (const item of page.items) items.push(item)
      }
      return { items, resourceVersion: page.resourceVersion }
    })

  const listUnsafe = (): ReadonlyArray<A> => {
    if (sorted === undefined) sorted = sortedKeys.map((key) => cache.get(key)!)
    return sorted
  }

  const publish = (changes: ReadonlyArray<Change<A>>): Effect.Effect<void> =>
    changes.length === 0 ? Effect.void : Effect.asVoid(PubSub.publishAll(pubsub, changes))

  const run = Effect.gen(function* () {
    let mustList = true
    /** Consecutive unproductive connections (failed lists, watches that ended without progress). */
    let attempt = 0
    while (true) {
      if (mustList) {
        const listed = yield* Effect.exit(listAll)
        if (Exit.isFailure(listed)) {
          const delay = backoff(attempt++)
          yield* Effect.logWarning(`list failed, retrying in ${delay} ms`, listed.cause)
          yield* Effect.sleep(delay)
          continue
        }
        yield* publish(applyList(listed.value.items, listed.value.resourceVersion))
        yield* Deferred.succeed(synced, undefined)
        mustList = false
      }
      const started = yield* Clock.currentTimeMillis
      let received = false
      const watched = yield* kube
        .watch(resource, {
          ...selection,
          ...(resourceVersion === undefined ? {} : { resourceVersion }),
          allowBookmarks: true
        })
        .pipe(
          Stream.runForEach((event) => {
            received = true
            const change = applyEvent(event)
            return change === undefined ? Effect.void : Effect.asVoid(PubSub.publish(pubsub, change))
          }),
          Effect.exit
        )
      const ended = yield* Clock.currentTimeMillis
      if (received || ended - started >= maxMillis) attempt = 0
      if (Exit.isFailure(watched) && isExpired(watched.cause)) {
        mustList = true
        yield* Effect.logDebug(`watch from resourceVersion ${resourceVersion} expired, relisting`)
        // A watch that was healthy until the 410 relists at once; one that failed straight away backs off first.
        if (attempt > 0) yield* Effect.sleep(backoff(attempt - 1))
        attempt++
        continue
      }
      const delay = backoff(attempt++)
      if (Exit.isFailure(watched)) {
        yield* Effect.logWarning(`watch failed, rewatching in ${delay} ms`, watched.cause)
      } else {
        yield* Effect.logDebug(`watch ended, rewatching in ${delay} ms`)
      }
      yield* Effect.sleep(delay)
    }
  }).pipe(Effect.annotateLogs({ informer: name }))

  yield* Effect.forkScoped(run)

  return {
    name,
    synced: Deferred.await(synced),
    hasSynced: Deferred.isDone(synced),
    changes: Stream.fromPubSub(pubsub),
    subscribe: Effect.map(PubSub.subscribe(pubsub), Stream.fromSubscription),
    subscribeBatches: Effect.map(PubSub.subscribe(pubsub), PubSub.takeAll),
    get: (key) => Effect.sync(() => cache.get(key)),
    list: () => Effect.sync(listUnsafe),
    listUnsafe,
    byIndex: (declared, value) => Effect.sync(() => indexedBy(declared).lookup(value)),
    countByIndex: (declared, value, counter) => Effect.sync(() => indexedBy(declared).count(value, counter)),
    lastResourceVersion: Effect.sync(() => resourceVersion)
  }
})
