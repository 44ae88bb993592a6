/**
 * `apiextensions.k8s.io/v1` CustomResourceDefinitions as the façade serves them: this project's CRDs (generated
 * from src/api, always installed) can be read, listed, watched, applied and patched, so `kubectl apply -f
 * manifests/base/crds` works; a patch changes only their labels and annotations (the schema is the program's). Creating
 * another CRD is refused with 403, and CRDs cannot be deleted (405).
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as Crd from "../../api/Crd.ts"
import { isObject } from "../../kube/Json.ts"
import * as Patch from "../../kube/Patch.ts"
import * as Discovery from "./Discovery.ts"
import * as Handlers from "./Handlers.ts"
import * as Status from "./Status.ts"
import * as Table from "./Table.ts"

type Json = Handlers.Json

/** The CRDs of one server. */
export interface Store {
  readonly objects: Map<string, Json>
  revision: number
}

/** The installed CRDs, created at `now`. */
export const make = (now: number): Store => {
  const creationTimestamp = `${new Date(now).toISOString().slice(0, 19)}Z`
  const objects = new Map<string, Json>()
  for (const definition of Crd.definitions) {
    const manifest = Crd.manifest(definition) as Json
    const metadata = manifest.metadata as Json
    objects.set(metadata.name as string, {
      ...manifest,
      metadata: {
        ...metadata,
        uid: `crd-${metadata.name as string}`,
        resourceVersion: "1",
        generation: 1,
        creationTimestamp
      },
      status: {
        acceptedNames: (manifest.spec as Json).names,
        storedVersions: [definition.version],
        conditions: [
          { type: "Established", status: "True", reason: "InitialNamesAccepted", lastTransitionTime: creationTimestamp }
        ]
      }
    })
  }
  return { objects, revision: 1 }
}

const notFound = (name: string) =>
  Status.failure(404, `customresourcedefinitions.apiextensions.k8s.io "${name}" not found`, {
    details: { name, group: "apiextensions.k8s.io", kind: "customresourcedefinitions" }
  })

const foreign = (name: string) =>
  Status.failure(
    403,
    `customresourcedefinitions.apiextensions.k8s.io "${name}" is forbidden: this cluster serves only its own CRDs (${Crd.definitions
      .map((definition) => `${definition.plural}.${definition.group}`)
      .join(", ")}), which are always installed`
  )

const existing = (store: Store, name: string) => {
  const object = store.objects.get(name)
  return object === undefined ? Effect.fail(notFound(name)) : Effect.succeed(object)
}

/** Keeps `next`'s labels and annotations on the stored CRD (a new resourceVersion when they changed). */
const relabel = (store: Store, current: Json, next: unknown): Json => {
  const before = current.metadata as Json
  const after = isObject(next) && isObject(next.metadata) ? next.metadata : {}
  const metadata = {
    ...before,
    ...(isObject(after.labels) ? { labels: after.labels } : {}),
    ...(isObject(after.annotations) ? { annotations: after.annotations } : {})
  }
  if (Patch.deepEqual(metadata, before)) return current
  store.revision += 1
  const updated = { ...current, metadata: { ...metadata, resourceVersion: String(store.revision) } }
  store.objects.set(before.name as string, updated)
  return updated
}

/** Serves a request on customresourcedefinitions. */
export const handle = Effect.fn("HttpApi.customResourceDefinitions")(function* (
  store: Store,
  target: Handlers.Target,
  request: Handlers.Request
) {
  yield* Handlers.checkRequest(target, request)
  const kind = Discovery.customResourceDefinitions
  if (target.name === undefined) {
    const items = [...store.objects.values()]
    switch (request.method) {
      case "GET": {
        const watch = request.query.get("watch")
        if (watch === "true" || watch === "1") {
          const from = request.query.get("resourceVersion")
          const replay = from === null || from === "" || from === "0"
          return {
            _tag: "Watch",
            events: Stream.concat(
              Stream.fromIterable(replay ? items.map((object) => ({ type: "ADDED" as const, object })) : []),
              Stream.never
            ),
            timeoutSeconds: undefined,
            table: Table.wanted(request.accept)
          } satisfies Handlers.Reply
        }
        const metadata = { resourceVersion: String(store.revision) }
        if (Table.wanted(request.accept)) {
          return Handlers.json(200, Table.make(kind, items, yield* Clock.currentTimeMillis, metadata))
        }
        return Handlers.json(200, {
          kind: "CustomResourceDefinitionList",
          apiVersion: kind.apiVersion,
          metadata,
          items
        })
      }
      case "POST": {
        const body = yield* Handlers.objectBody(request)
        const name = isObject(body.metadata) ? String(body.metadata.name) : ""
        if (store.objects.has(name)) {
          return yield* Status.failure(409, `customresourcedefinitions.apiextensions.k8s.io "${name}" already exists`, {
            reason: "AlreadyExists",
            details: { name, group: "apiextensions.k8s.io", kind: "customresourcedefinitions" }
          })
        }
        return yield* foreign(name)
      }
      default:
        return yield* Handlers.methodNotAllowed(request)
    }
  }
  const name = target.name
  switch (request.method) {
    case "GET":
      return yield* Handlers.objectReply(request, kind, yield* existing(store, name))
    case "PUT": {
      const current = yield* existing(store, name)
      return Handlers.json(200, relabel(store, current, yield* Handlers.objectBody(request)))
    }
    case "PATCH": {
      const current = store.objects.get(name)
      const patch = yield* Handlers.patchOf(kind, request)
      if (current === undefined) return yield* patch._tag === "Apply" ? foreign(name) : notFound(name)
      const result = Handlers.applyPatch(patch, current)
      if (!result.ok) return yield* Status.failure(422, result.message)
      return Handlers.withWarnings(Handlers.json(200, relabel(store, current, result.value)), patch.warnings)
    }
    case "DELETE":
      return yield* Status.failure(405, `the CRDs of this cluster are always installed and cannot be deleted`)
    default:
      return yield* Handlers.methodNotAllowed(request)
  }
})
