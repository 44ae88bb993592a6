/**
 * Kinds the controllers never read but a cluster's manifests contain (ServiceAccounts, Services, Secrets, RBAC): the
 * façade keeps them itself, in memory, so `kubectl apply -k manifests/` works against the embedded cluster. Plain
 * storage semantics: uid, creationTimestamp and a resourceVersion of this store's own counter; optimistic concurrency
 * on PUT; immediate deletion (no finalizers, no garbage collection); list and watch with label and field selectors. A
 * bounded history of changes lets a watch resume from a resourceVersion as on kube-apiserver (kube-api.md §H): the
 * changes after it are replayed, and a version older than the history gets an ERROR 410 Expired event.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"
import * as Admission from "../../kube/Admission.ts"
import * as FieldSelector from "../../kube/FieldSelector.ts"
import { isObject } from "../../kube/Json.ts"
import * as LabelSelector from "../../kube/LabelSelector.ts"
import * as Patch from "../../kube/Patch.ts"
import type * as Discovery from "./Discovery.ts"
import * as Handlers from "./Handlers.ts"
import * as Status from "./Status.ts"
import * as Table from "./Table.ts"

type Json = Handlers.Json

interface Event {
  /** `group/plural`. */
  readonly plural: string
  readonly type: "ADDED" | "MODIFIED" | "DELETED"
  readonly object: Json
  readonly revision: number
}

/** The objects of one server. */
export interface Store {
  /** By `group/plural`, then `namespace/name`. */
  readonly objects: Map<string, Map<string, Json>>
  readonly listeners: Set<(event: Event) => void>
  revision: number
  /** The latest changes, oldest first, for watches that resume from a version. */
  readonly history: Array<Event>
  readonly historyLimit: number
  /** The oldest version a watch may resume from: the changes after it are all in the history. */
  historyStart: number
}

/** An empty store that remembers the latest `historyLimit` changes (default 1000; these kinds change seldom). */
export const make = (options?: { readonly historyLimit?: number }): Store => ({
  objects: new Map(),
  listeners: new Set(),
  revision: 0,
  history: [],
  historyLimit: options?.historyLimit ?? 1000,
  historyStart: 0
})

/** Forgets the history: watches from any earlier version get 410 Expired (the fault switch's "expire"). */
export const compact = (store: Store): void => {
  store.history.length = 0
  store.historyStart = store.revision
}

const metadataOf = (value: unknown): Json => (isObject(value) && isObject(value.metadata) ? value.metadata : {})

const keyOf = (namespace: string | undefined, name: string) => (namespace === undefined ? name : `${namespace}/${name}`)
const collectionOf = (store: Store, kind: Discovery.Kind) => {
  const id = `${kind.group}/${kind.plural}`
  let objects = store.objects.get(id)
  if (objects === undefined) {
    objects = new Map()
    store.objects.set(id, objects)
  }
  return objects
}

const qualified = (kind: Discovery.Kind) => (kind.group === "" ? kind.plural : `${kind.plural}.${kind.group}`)
const details = (kind: Discovery.Kind, name: string) => ({
  name,
  ...(kind.group === "" ? {} : { group: kind.group }),
  kind: kind.plural
})
const notFound = (kind: Discovery.Kind, name: string) =>
  Status.failure(404, `${qualified(kind)} "${name}" not found`, { details: details(kind, name) })

const selector = (request: Handlers.Request) => {
  const labels = LabelSelector.parse(request.query.get("labelSelector") ?? "")
  const fields = FieldSelector.parse(request.query.get("fieldSelector") ?? "")
  if (!labels.ok) return Effect.fail(Status.failure(400, labels.message))
  if (!fields.ok) return Effect.fail(Status.failure(400, fields.message))
  return Effect.succeed(
    (object: Json) =>
      LabelSelector.matches(labels.selector, metadataOf(object).labels as LabelSelector.Labels | undefined) &&
      FieldSelector.matches(fields.selector, object)
  )
}

/** Stores `object` as the new state of `key`, with a new resourceVersion, and tells the watchers. */
const commit = (store: Store, kind: Discovery.Kind, key: string, object: Json, type: Event["type"]): Json => {
  store.revision += 1
  const stored = { ...object, metadata: { ...metadataOf(object), resourceVersion: String(store.revision) } }
  const objects = collectionOf(store, kind)
  if (type === "DELETED") objects.delete(key)
  else objects.set(key, stored)
  const event: Event = { plural: `${kind.group}/${kind.plural}`, type, object: stored, revision: store.revision }
  store.history.push(event)
  if (store.history.length > store.historyLimit) store.historyStart = store.history.shift()!.revision
  for (const listener of store.listeners) listener(event)
  return stored
}

/** The object as an update would store it: `next` with the identity and version of `current`. */
const updated = (kind: Discovery.Kind, current: Json, next: Json): Json => ({
  ...next,
  apiVersion: kind.apiVersion,
  kind: kind.kind,
  metadata: {
    ...metadataOf(next),
    name: metadataOf(current).name,
    ...(kind.namespaced ? { namespace: metadataOf(current).namespace } : {}),
    uid: metadataOf(current).uid,
    creationTimestamp: metadataOf(current).creationTimestamp,
    resourceVersion: metadataOf(current).resourceVersion
  }
})

/** kube-apiserver's validation of an object of a kind this store keeps (its names, labels and annotations). */
const admit = (kind: Discovery.Kind, object: Json): Effect.Effect<Json, Status.Failure> => {
  const problems = Admission.problems(kind, object)
  return problems.length === 0
    ? Effect.succeed(object)
    : Effect.fail(Status.invalid(kind, String(metadataOf(object).name ?? ""), problems))
}

/**
 * Writes `next` over `current` once admitted, unless nothing changed (no new resourceVersion for a no-op, as an
 * apiserver); a dry run only admits it.
 */
const update = Effect.fn("HttpApi.localUpdate")(function* (
  store: Store,
  kind: Discovery.Kind,
  key: string,
  current: Json,
  next: Json,
  dryRun: boolean
) {
  const merged = yield* admit(kind, updated(kind, current, next))
  if (dryRun) return merged
  return Patch.deepEqual(merged, current) ? current : commit(store, kind, key, merged, "MODIFIED")
})

const create = Effect.fn("HttpApi.localCreate")(function* (
  store: Store,
  kind: Discovery.Kind,
  namespace: string | undefined,
  body: Json,
  dryRun: boolean
) {
  const name = metadataOf(body).name
  if (typeof name !== "string" || name === "") {
    return yield* Status.failure(422, `${kind.kind} is invalid: metadata.name: Required value: name is required`)
  }
  const admitted = yield* admit(kind, {
    ...body,
    metadata: { ...metadataOf(body), ...(namespace === undefined ? {} : { namespace }) }
  })
  const key = keyOf(namespace, name)
  if (collectionOf(store, kind).has(key)) {
    return yield* Status.failure(409, `${qualified(kind)} "${name}" already exists`, {
      reason: "AlreadyExists",
      details: details(kind, name)
    })
  }
  if (dryRun) return admitted
  const now = yield* Clock.currentTimeMillis
  const uid = `${store.revision + 1}-${name}`
  return commit(
    store,
    kind,
    key,
    {
      ...admitted,
      apiVersion: kind.apiVersion,
      kind: kind.kind,
      metadata: {
        ...metadataOf(admitted),
        name,
        uid,
        creationTimestamp: `${new Date(now).toISOString().slice(0, 19)}Z`
      }
    },
    "ADDED"
  )
})

/**
 * Watch events of the objects `matches` selects, from version `from`: without one (or from "0"), the current objects
 * first; from a version, the changes after it, or ERROR 410 when the history no longer holds them all. Then the live
 * changes: the replay and the subscription happen in one step, so none is missed or seen twice.
 */
const watchEvents = (
  store: Store,
  kind: Discovery.Kind,
  from: number | undefined,
  matches: (object: Json) => boolean
): Stream.Stream<Handlers.WireEvent> => {
  const id = `${kind.group}/${kind.plural}`
  return Stream.callback<Handlers.WireEvent>((queue) =>
    Effect.acquireRelease(
      Effect.sync(() => {
        if (from === undefined) {
          for (const object of collectionOf(store, kind).values()) {
            if (matches(object)) Queue.offerUnsafe(queue, { type: "ADDED", object })
          }
        } else if (from < store.historyStart) {
          const expired = Status.failure(410, `too old resource version: ${from} (${store.revision})`)
          Queue.offerUnsafe(queue, Handlers.errorEvent(expired))
          Queue.endUnsafe(queue)
          return undefined
        } else {
          for (const event of store.history) {
            if (event.revision > from && event.plural === id && matches(event.object)) {
              Queue.offerUnsafe(queue, { type: event.type, object: event.object })
            }
          }
        }
        const listener = (event: Event) => {
          if (event.plural === id && matches(event.object)) {
            Queue.offerUnsafe(queue, { type: event.type, object: event.object })
          }
        }
        store.listeners.add(listener)
        return listener
      }),
      (listener) => Effect.sync(() => listener !== undefined && store.listeners.delete(listener))
    )
  )
}

/** The version a watch resumes from: undefined for "any" (none, "" or "0"), or a 400 when it is not a version. */
const resumeFrom = (request: Handlers.Request) => {
  const from = request.query.get("resourceVersion")
  if (from === null || from === "" || from === "0") return Effect.succeed(undefined)
  return /^\d+$/.test(from)
    ? Effect.succeed(Number(from))
    : Effect.fail(
        Status.failure(400, `resourceVersion: Invalid value: ${JSON.stringify(from)}: invalid resource version`)
      )
}

/** Serves a request on a kind this store keeps. */
export const handle = Effect.fn("HttpApi.local")(function* (
  store: Store,
  target: Handlers.Target,
  request: Handlers.Request
) {
  yield* Handlers.checkRequest(target, request)
  const kind = target.kind
  const objects = collectionOf(store, kind)
  const namespace = kind.namespaced ? target.namespace : undefined
  const dryRun = request.query.get("dryRun") === "All"
  if (target.subresource !== undefined && target.subresource !== "status") {
    return yield* Status.failure(404, "the server could not find the requested resource")
  }
  if (target.name === undefined) {
    switch (request.method) {
      case "GET": {
        const matches = yield* selector(request)
        const inScope = (object: Json) =>
          matches(object) && (namespace === undefined || metadataOf(object).namespace === namespace)
        const watch = request.query.get("watch")
        if (watch === "true" || watch === "1") {
          return {
            _tag: "Watch",
            events: watchEvents(store, kind, yield* resumeFrom(request), inScope),
            timeoutSeconds: Number(request.query.get("timeoutSeconds")) || undefined,
            table: Table.wanted(request.accept)
          } satisfies Handlers.Reply
        }
        const items = [...objects.entries()]
          .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
          .map(([, object]) => object)
          .filter(inScope)
        const metadata = { resourceVersion: String(store.revision) }
        if (Table.wanted(request.accept)) {
          return Handlers.json(200, Table.make(kind, items, yield* Clock.currentTimeMillis, metadata))
        }
        return Handlers.json(200, { kind: `${kind.kind}List`, apiVersion: kind.apiVersion, metadata, items })
      }
      case "POST": {
        const { body, warnings } = yield* Handlers.checkFields(
          kind,
          request,
          yield* Handlers.objectBody(request),
          "object"
        )
        return Handlers.withWarnings(Handlers.json(201, yield* create(store, kind, namespace, body, dryRun)), warnings)
      }
      default:
        return yield* Handlers.methodNotAllowed(request)
    }
  }
  const name = target.name
  const key = keyOf(namespace, name)
  const current = objects.get(key)
  switch (request.method) {
    case "GET":
      if (current === undefined) return yield* notFound(kind, name)
      return yield* Handlers.objectReply(request, kind, current)
    case "PUT": {
      if (current === undefined) return yield* notFound(kind, name)
      const { body, warnings } = yield* Handlers.checkFields(
        kind,
        request,
        yield* Handlers.objectBody(request),
        "object"
      )
      const version = metadataOf(body).resourceVersion
      if (version !== undefined && version !== metadataOf(current).resourceVersion) {
        return yield* Status.failure(
          409,
          `Operation cannot be fulfilled on ${qualified(kind)} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
          { details: details(kind, name) }
        )
      }
      return Handlers.withWarnings(Handlers.json(200, yield* update(store, kind, key, current, body, dryRun)), warnings)
    }
    case "PATCH": {
      const patch = yield* Handlers.patchOf(kind, request)
      if (current === undefined) {
        if (patch._tag !== "Apply") return yield* notFound(kind, name)
        const body = { ...patch.object, metadata: { ...metadataOf(patch.object), name } }
        return Handlers.withWarnings(
          Handlers.json(201, yield* create(store, kind, namespace, body, dryRun)),
          patch.warnings
        )
      }
      const result = Handlers.applyPatch(patch, current)
      if (!result.ok) return yield* Status.failure(422, result.message)
      const version = metadataOf(result.value).resourceVersion
      if (version !== metadataOf(current).resourceVersion) {
        return yield* Status.failure(
          409,
          `the object has been modified; please apply your changes to the latest version`,
          {
            details: details(kind, name)
          }
        )
      }
      return Handlers.withWarnings(
        Handlers.json(200, yield* update(store, kind, key, current, result.value as Json, dryRun)),
        patch.warnings
      )
    }
    case "DELETE":
      if (current === undefined) return yield* notFound(kind, name)
      if (!dryRun) commit(store, kind, key, current, "DELETED")
      return Handlers.json(200, Status.success(200, { ...details(kind, name), uid: metadataOf(current).uid }))
    default:
      return yield* Handlers.methodNotAllowed(request)
  }
})
