/**
 * An in-memory Kubernetes API server: the storage and REST semantics of kube-apiserver that controllers depend on
 * (../shared/reference/kube-api.md §4 A–I, K, L), over plain JSON. Synchronous and single-threaded by design: every
 * operation is atomic, so a watch registered and replayed in one call can neither miss nor duplicate an event.
 *
 * Failures are thrown as the KubeClient's tagged errors; `MemoryKubeClient` turns them into typed Effect failures.
 *
 * Known simplifications: no strategic-merge or server-side apply (the HTTP façade adds them), list pagination serves
 * the current state rather than a snapshot, Foreground deletion behaves like Background, and namespace deletion
 * removes the namespace's objects at once instead of through a Terminating phase.
 */
import type { Problem } from "../../../src/api/Decode.ts"
import * as Admission from "../../../src/kube/Admission.ts"
import * as FieldSelector from "../../../src/kube/FieldSelector.ts"
import type { JsonPatchOperation, WatchEvent } from "../../../src/kube/KubeClient.ts"
import * as KubeError from "../../../src/kube/KubeError.ts"
import * as LabelSelector from "../../../src/kube/LabelSelector.ts"
import * as OpenApi from "../../../src/kube/OpenApi.ts"
import * as Patch from "../../../src/kube/Patch.ts"
import * as Resource from "../../../src/kube/Resource.ts"
import * as Resources from "../../../src/kube/Resources.ts"
import * as Kinds from "./Kinds.ts"
import { type Json, objectAt } from "./Kinds.ts"

/** The operations faults can be injected into. */
export type Operation = "get" | "list" | "watch" | "create" | "replace" | "patch" | "delete" | "evict" | "bind"

/** Options of the server. */
export interface Options {
  /** Watch events kept for resuming watches; older resourceVersions get 410 Expired. */
  readonly historyLimit?: number
  /** Seed of the generator of uids and generated names (deterministic runs). */
  readonly seed?: number
  /** Namespaces that exist from the start. */
  readonly namespaces?: ReadonlyArray<string>
}

/** Which objects a list or watch selects. */
export interface Selection {
  readonly namespace?: string | undefined
  readonly labelSelector?: string | undefined
  readonly fieldSelector?: string | undefined
}

interface HistoryEvent {
  readonly rv: number
  readonly kindId: string
  readonly type: "ADDED" | "MODIFIED" | "DELETED"
  readonly object: Json
  /** The state before a modification (selector transitions need it). */
  readonly previous: Json | undefined
}

interface Watcher {
  readonly kind: Kinds.Kind
  readonly matches: (object: Json) => boolean
  readonly emit: (event: WatchEvent<Json>) => void
  readonly fail: (error: KubeError.Expired | KubeError.KubeUnavailable) => void
}

/** A matcher for a selection, or an Invalid error for a malformed selector. */
interface Matcher {
  readonly namespace: string | undefined
  readonly matches: (object: Json) => boolean
}

/**
 * A deep copy of a written value, so later changes by the caller do not reach the store: plain objects and arrays
 * copied member by member (structuredClone's serialization was a percent of a simulated day), anything else by
 * structuredClone.
 */
const clone = <A>(value: A): A => copyValue(value) as A

const copyValue = (value: unknown): unknown => {
  if (typeof value !== "object" || value === null) return value
  if (Array.isArray(value)) return value.map(copyValue)
  const prototype = Object.getPrototypeOf(value)
  if (prototype !== Object.prototype && prototype !== null) return structuredClone(value)
  const copy: Json = {}
  for (const key of Object.keys(value)) {
    const member = copyValue((value as Json)[key])
    // defineProperty keeps a "__proto__" key an own key, as structuredClone does.
    if (key === "__proto__")
      Object.defineProperty(copy, key, { value: member, enumerable: true, writable: true, configurable: true })
    else copy[key] = member
  }
  return copy
}
const metadataOf = (object: unknown): Json => objectAt(object, "metadata")
const stringAt = (object: Json, key: string): string | undefined => {
  const value = object[key]
  return typeof value === "string" ? value : undefined
}

/** RFC 3339 with second precision, as the apiserver writes timestamps. */
export const timestamp = (millis: number): string => `${new Date(millis).toISOString().slice(0, 19)}Z`

const microTimePattern = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}(Z|[+-]\d{2}:\d{2})$/
const nameAlphabet = "bcdfghjklmnpqrstvwxz2456789"
const generatedSuffixLength = 5
const maxGeneratedNameLength = 63

const objectKey = (namespace: string | undefined, name: string): string =>
  namespace === undefined || namespace === "" ? name : `${namespace}/${name}`

/**
 * The in-memory API server. Stored objects are never changed in place (a write stores a new object), and reads and
 * watch events hand out the stored objects themselves: callers must treat them as read-only.
 */
export class ApiServer {
  private revision = 0
  private historyStart = 0
  // Entries before `historyHead` are forgotten; they are cut off in bulk, not one by one per event.
  private history: Array<HistoryEvent> = []
  private historyHead = 0
  private readonly historyLimit: number
  private readonly stores = new Map<string, Map<string, Json>>()
  private readonly kinds = new Map<string, Kinds.Kind>()
  private readonly watchers = new Set<Watcher>()
  /** Owner uid → the objects whose ownerReferences name it (kind id and key): garbage collection without a scan. */
  private readonly dependents = new Map<string, Map<string, { readonly kind: Kinds.Kind; readonly key: string }>>()
  private readonly faults = new Map<Operation, Array<KubeError.KubeError>>()
  /** Stored objects that passed admission (the server's own writes, like a binding, do not). */
  private readonly admitted = new WeakSet<Json>()
  private random: number

  /** `startedAt`: when the cluster starts (epoch millis), the creation time of the namespaces that exist from it. */
  constructor(options?: Options, startedAt = 0) {
    this.historyLimit = options?.historyLimit ?? 10_000
    this.random = options?.seed ?? 1
    for (const namespace of options?.namespaces ?? ["default", "kube-system", "kube-node-lease"]) {
      this.create(Resources.Namespaces, { metadata: { name: namespace } }, { now: startedAt })
    }
  }

  // -- Fault injection and test hooks ----------------------------------------------------------------------------

  /** The next `count` calls of `operation` fail with `error` (default: 503 KubeUnavailable). */
  failNext(operation: Operation, count: number, error?: KubeError.KubeError): void {
    const queue = this.faults.get(operation) ?? []
    for (let i = 0; i < count; i++) {
      queue.push(
        error ??
          new KubeError.KubeUnavailable({ resource: "", name: "", message: `injected ${operation} failure`, code: 503 })
      )
    }
    this.faults.set(operation, queue)
  }

  /** Ends every open watch with a KubeUnavailable error (a dropped connection). */
  dropWatches(): void {
    const watchers = [...this.watchers]
    this.watchers.clear()
    for (const watcher of watchers) {
      watcher.fail(new KubeError.KubeUnavailable({ resource: watcher.kind.id, name: "", message: "watch dropped" }))
    }
  }

  /** Forgets the event history: watches from any earlier resourceVersion get 410 Expired. */
  compact(): void {
    this.history = []
    this.historyHead = 0
    this.historyStart = this.revision
  }

  /** The current (global) resourceVersion. */
  get resourceVersion(): string {
    return String(this.revision)
  }

  private injected(operation: Operation): void {
    const error = this.faults.get(operation)?.shift()
    if (error !== undefined) throw error
  }

  // -- Reads -----------------------------------------------------------------------------------------------------

  /** The stored object. */
  get(resource: Resource.Resource<Resource.KubeObject>, name: string, namespace?: string): Json {
    this.injected("get")
    const kind = this.kindOf(resource)
    return this.existing(kind, name, this.namespaceFor(kind, namespace))
  }

  /** Matching objects, sorted by namespace and name, and the collection's resourceVersion. */
  list(
    resource: Resource.Resource<Resource.KubeObject>,
    options?: Selection & { readonly limit?: number | undefined; readonly continue?: string | undefined }
  ): { readonly items: Array<Json>; readonly resourceVersion: string; readonly continue?: string } {
    this.injected("list")
    const kind = this.kindOf(resource)
    return this.select(kind, this.matcher(kind, options), options)
  }

  private select(
    kind: Kinds.Kind,
    matcher: Matcher,
    options?: { readonly limit?: number | undefined; readonly continue?: string | undefined }
  ): { readonly items: Array<Json>; readonly resourceVersion: string; readonly continue?: string } {
    let after: string | undefined
    if (options?.continue !== undefined) {
      const [revision, key] = decodeContinue(options.continue)
      if (revision === undefined || key === undefined)
        throw this.invalid(kind, "", [{ field: "continue", message: "invalid continue token" }])
      if (revision < this.historyStart) {
        throw new KubeError.Expired({
          resource: kind.id,
          name: "",
          message: "the provided continue parameter is too old"
        })
      }
      after = key
    }
    const store = this.storeOf(kind)
    const keys = [...store.keys()].sort()
    const items: Array<Json> = []
    let next: string | undefined
    for (const key of keys) {
      if (after !== undefined && key <= after) continue
      const object = store.get(key)!
      if (!matcher.matches(object)) continue
      if (options?.limit !== undefined && options.limit > 0 && items.length === options.limit) {
        next = encodeContinue(this.revision, keyOfObject(items[items.length - 1]!))
        break
      }
      items.push(object)
    }
    return { items, resourceVersion: String(this.revision), ...(next === undefined ? {} : { continue: next }) }
  }

  /**
   * Starts a watch: replays history after `resourceVersion` (or synthetic ADDED events for the current state when it
   * is unset or "0"), then delivers live events. Returns the function that stops it.
   */
  watch(
    resource: Resource.Resource<Resource.KubeObject>,
    options: Selection & {
      readonly resourceVersion?: string | undefined
      readonly allowBookmarks?: boolean | undefined
    },
    emit: (event: WatchEvent<Json>) => void,
    fail: (error: KubeError.Expired | KubeError.KubeUnavailable) => void
  ): () => void {
    this.injected("watch")
    const kind = this.kindOf(resource)
    const matcher = this.matcher(kind, options)
    const from = options.resourceVersion
    if (from === undefined || from === "" || from === "0") {
      for (const object of this.select(kind, matcher).items) emit({ type: "ADDED", object })
    } else {
      const revision = Number(from)
      if (!Number.isInteger(revision) || revision < 0) {
        throw this.invalid(kind, "", [{ field: "resourceVersion", message: `invalid resource version ${from}` }])
      }
      if (revision < this.historyStart) {
        throw new KubeError.Expired({
          resource: kind.id,
          name: "",
          message: `too old resource version: ${revision} (${this.revision})`
        })
      }
      for (let index = this.historyHead; index < this.history.length; index++) {
        const event = this.history[index]!
        if (event.rv <= revision || event.kindId !== kind.id) continue
        const translated = translate(event, matcher.matches)
        if (translated !== undefined) emit(translated)
      }
    }
    if (options.allowBookmarks === true) {
      emit({ type: "BOOKMARK", resourceVersion: String(this.revision) })
    }
    const watcher: Watcher = { kind, matches: matcher.matches, emit, fail }
    this.watchers.add(watcher)
    return () => {
      this.watchers.delete(watcher)
    }
  }

  // -- Writes ----------------------------------------------------------------------------------------------------

  /** POST: creates an object from its wire form. */
  create(
    resource: Resource.Resource<Resource.KubeObject>,
    input: unknown,
    options: { readonly namespace?: string | undefined; readonly now: number }
  ): Json {
    this.injected("create")
    const kind = this.kindOf(resource)
    if (typeof input !== "object" || input === null || Array.isArray(input)) {
      throw this.invalid(kind, "", [{ field: "", message: "the object must be a JSON object" }])
    }
    const object: Json = { ...clone(input as Json), apiVersion: resource.apiVersion, kind: resource.kind }
    const metadata: Json = { ...metadataOf(object) }
    let name = stringAt(metadata, "name") ?? ""
    if (name === "") {
      const prefix = stringAt(metadata, "generateName")
      if (prefix === undefined || prefix === "") {
        throw this.invalid(kind, "", [
          { field: "metadata.name", message: "Required value: name or generateName is required" }
        ])
      }
      name = this.generateName(kind, prefix, options.namespace ?? stringAt(metadata, "namespace"))
    }
    if (metadata.resourceVersion !== undefined && metadata.resourceVersion !== "") {
      throw this.invalid(kind, name, [
        { field: "metadata.resourceVersion", message: "Invalid value: must be empty on create" }
      ])
    }
    const namespace = this.createNamespace(kind, metadata, options.namespace)
    const store = this.storeOf(kind)
    const key = objectKey(namespace, name)
    if (store.has(key)) {
      throw new KubeError.AlreadyExists({
        resource: kind.id,
        name: key,
        message: `${kind.id} "${name}" already exists`
      })
    }
    const { deletionTimestamp: _d, deletionGracePeriodSeconds: _g, managedFields: _m, ...kept } = metadata
    object.metadata = {
      ...kept,
      name,
      ...(namespace === undefined ? {} : { namespace }),
      uid: this.uid(),
      creationTimestamp: timestamp(options.now),
      ...(kind.generation ? { generation: 1 } : {})
    }
    if (!kind.resource.namespaced) delete (object.metadata as Json).namespace
    this.resetStatusOnCreate(kind, object)
    const defaulted = kind.crdSchema === undefined ? object : (OpenApi.applyDefaults(kind.crdSchema, object) as Json)
    return this.commit(kind, key, defaulted, undefined, true)
  }

  /** PUT: replaces an object (or its status); `input` must carry the resourceVersion it was read at. */
  replace(
    resource: Resource.Resource<Resource.KubeObject>,
    input: unknown,
    options: {
      readonly namespace?: string | undefined
      readonly subresource?: "status" | undefined
      readonly now: number
    }
  ): Json {
    this.injected("replace")
    const kind = this.kindOf(resource)
    const metadata = metadataOf(input)
    const name = stringAt(metadata, "name") ?? ""
    const namespace = this.namespaceFor(kind, options.namespace ?? stringAt(metadata, "namespace"))
    const existing = this.existing(kind, name, namespace)
    const version = stringAt(metadata, "resourceVersion")
    if (version === undefined || version === "") {
      if (kind.custom) {
        throw this.invalid(kind, name, [
          { field: "metadata.resourceVersion", message: "Invalid value: 0x0: must be specified for an update" }
        ])
      }
    } else if (version !== stringAt(metadataOf(existing), "resourceVersion")) {
      throw this.conflict(kind, name)
    }
    return this.update(kind, existing, clone(input as Json), options.subresource)
  }

  /** PATCH: merge patch or JSON patch; a resourceVersion in the result is a precondition. */
  patch(
    resource: Resource.Resource<Resource.KubeObject>,
    name: string,
    patch:
      | { readonly type: "merge"; readonly patch: unknown }
      | { readonly type: "json"; readonly patch: ReadonlyArray<JsonPatchOperation> },
    options: {
      readonly namespace?: string | undefined
      readonly subresource?: "status" | undefined
      readonly now: number
    }
  ): Json {
    this.injected("patch")
    const kind = this.kindOf(resource)
    const namespace = this.namespaceFor(kind, options.namespace)
    const existing = this.existing(kind, name, namespace)
    let patched: unknown
    if (patch.type === "merge") {
      patched = Patch.mergePatch(existing, clone(patch.patch))
    } else {
      const result = Patch.jsonPatch(existing, clone(patch.patch))
      if (!result.ok) throw this.invalid(kind, name, [{ field: "", message: result.message }])
      patched = result.value
    }
    if (stringAt(metadataOf(patched), "resourceVersion") !== stringAt(metadataOf(existing), "resourceVersion")) {
      throw this.conflict(kind, name)
    }
    return this.update(kind, existing, patched as Json, options.subresource)
  }

  /**
   * DELETE: removes the object, or starts its deletion while finalizers (or a bound pod's grace period) remain.
   * Returns the object's last state.
   */
  delete(
    resource: Resource.Resource<Resource.KubeObject>,
    name: string,
    options: {
      readonly namespace?: string | undefined
      readonly gracePeriodSeconds?: number | undefined
      readonly preconditions?:
        | { readonly uid?: string | undefined; readonly resourceVersion?: string | undefined }
        | undefined
      readonly propagationPolicy?: "Background" | "Foreground" | "Orphan" | undefined
      readonly now: number
    }
  ): Json {
    this.injected("delete")
    const kind = this.kindOf(resource)
    const namespace = this.namespaceFor(kind, options.namespace)
    const existing = this.existing(kind, name, namespace)
    const metadata = metadataOf(existing)
    const { uid, resourceVersion } = options.preconditions ?? {}
    if (uid !== undefined && uid !== metadata.uid) {
      throw this.conflict(
        kind,
        name,
        `Precondition failed: UID in precondition: ${uid}, UID in object meta: ${String(metadata.uid)}`
      )
    }
    if (resourceVersion !== undefined && resourceVersion !== metadata.resourceVersion) {
      throw this.conflict(
        kind,
        name,
        `Precondition failed: ResourceVersion in precondition: ${resourceVersion}, ResourceVersion in object meta: ${String(metadata.resourceVersion)}`
      )
    }
    const key = objectKey(namespace, name)
    const grace = this.gracePeriod(kind, existing, options.gracePeriodSeconds)
    if (grace > 0) {
      const deadline = options.now + grace * 1000
      const current = stringAt(metadata, "deletionTimestamp")
      if (current !== undefined && Date.parse(current) <= deadline) return existing
      return this.commit(
        kind,
        key,
        {
          ...existing,
          metadata: { ...metadata, deletionTimestamp: timestamp(deadline), deletionGracePeriodSeconds: grace }
        },
        existing
      )
    }
    const finalizers = metadata.finalizers
    if (Array.isArray(finalizers) && finalizers.length > 0) {
      if (metadata.deletionTimestamp !== undefined && metadata.deletionGracePeriodSeconds === 0) return existing
      return this.commit(
        kind,
        key,
        {
          ...existing,
          metadata: { ...metadata, deletionTimestamp: timestamp(options.now), deletionGracePeriodSeconds: 0 }
        },
        existing
      )
    }
    const removed = this.remove(kind, key, existing)
    this.collectGarbage(kind, removed, options.propagationPolicy ?? "Background", options.now)
    return removed
  }

  /** The eviction subresource: deletes the pod gracefully if its PodDisruptionBudget allows it now. */
  evict(
    namespace: string,
    name: string,
    options: { readonly gracePeriodSeconds?: number | undefined; readonly now: number }
  ): void {
    this.injected("evict")
    const pods = this.kindOf(Resources.Pods)
    const pod = this.existing(pods, name, namespace)
    const phase = stringAt(objectAt(pod, "status"), "phase")
    const terminating = metadataOf(pod).deletionTimestamp !== undefined
    if (!(phase === "Pending" || phase === "Succeeded" || phase === "Failed" || terminating)) {
      this.checkDisruptionBudget(pod, namespace, name, options.now)
      const conditions = objectAt(pod, "status").conditions
      const disruptionTarget = {
        type: "DisruptionTarget",
        status: "True",
        reason: "EvictionByEvictionAPI",
        message: "Eviction API: evicting",
        lastTransitionTime: timestamp(options.now)
      }
      const current = this.existing(pods, name, namespace)
      this.commit(
        pods,
        objectKey(namespace, name),
        {
          ...current,
          status: {
            ...objectAt(current, "status"),
            conditions: [
              ...(Array.isArray(conditions) ? conditions.filter((c) => objectAt(c).type !== "DisruptionTarget") : []),
              disruptionTarget
            ]
          }
        },
        current
      )
    }
    this.delete(Resources.Pods, name, { namespace, gracePeriodSeconds: options.gracePeriodSeconds, now: options.now })
  }

  /** The binding subresource: assigns a pending pod to a node. */
  bind(namespace: string, name: string, nodeName: string, now: number): void {
    this.injected("bind")
    const pods = this.kindOf(Resources.Pods)
    const pod = this.existing(pods, name, namespace)
    const assigned = stringAt(objectAt(pod, "spec"), "nodeName")
    if (assigned !== undefined && assigned !== "") {
      throw new KubeError.Conflict({
        resource: "pods",
        name: objectKey(namespace, name),
        message: `pod ${name} is already assigned to node "${assigned}"`
      })
    }
    if (metadataOf(pod).deletionTimestamp !== undefined) {
      throw new KubeError.Conflict({
        resource: "pods",
        name: objectKey(namespace, name),
        message: `pod ${name} is being deleted, cannot be assigned to a host`
      })
    }
    const status = objectAt(pod, "status")
    const conditions = Array.isArray(status.conditions)
      ? status.conditions.filter((c) => objectAt(c).type !== "PodScheduled")
      : []
    this.commit(
      pods,
      objectKey(namespace, name),
      {
        ...pod,
        spec: { ...objectAt(pod, "spec"), nodeName },
        status: {
          ...status,
          conditions: [...conditions, { type: "PodScheduled", status: "True", lastTransitionTime: timestamp(now) }]
        }
      },
      pod
    )
  }

  // -- Internals -------------------------------------------------------------------------------------------------

  private kindOf(resource: Resource.Resource<Resource.KubeObject>): Kinds.Kind {
    const id = Resource.qualifiedName(resource)
    let kind = this.kinds.get(id)
    if (kind === undefined) {
      kind = Kinds.of(resource)
      this.kinds.set(id, kind)
    }
    return kind
  }

  private storeOf(kind: Kinds.Kind): Map<string, Json> {
    let store = this.stores.get(kind.id)
    if (store === undefined) {
      store = new Map()
      this.stores.set(kind.id, store)
    }
    return store
  }

  private namespaceFor(kind: Kinds.Kind, namespace: string | undefined): string | undefined {
    if (!kind.resource.namespaced) return undefined
    return namespace === undefined || namespace === "" ? "default" : namespace
  }

  private createNamespace(kind: Kinds.Kind, metadata: Json, requested: string | undefined): string | undefined {
    if (!kind.resource.namespaced) return undefined
    const inBody = stringAt(metadata, "namespace")
    if (requested !== undefined && inBody !== undefined && inBody !== "" && inBody !== requested) {
      throw this.invalid(kind, stringAt(metadata, "name") ?? "", [
        {
          field: "metadata.namespace",
          message: "the namespace of the provided object does not match the namespace sent on the request"
        }
      ])
    }
    const namespace = requested ?? (inBody === undefined || inBody === "" ? "default" : inBody)
    if (!this.storeOf(this.kindOf(Resources.Namespaces)).has(namespace)) {
      throw new KubeError.NotFound({
        resource: "namespaces",
        name: namespace,
        message: `namespaces "${namespace}" not found`
      })
    }
    return namespace
  }

  private existing(kind: Kinds.Kind, name: string, namespace: string | undefined): Json {
    const object = this.storeOf(kind).get(objectKey(namespace, name))
    if (object === undefined) {
      throw new KubeError.NotFound({
        resource: kind.id,
        name: objectKey(namespace, name),
        message: `${kind.id} "${name}" not found`
      })
    }
    return object
  }

  private matcher(kind: Kinds.Kind, selection: Selection | undefined): Matcher {
    const namespace = kind.resource.namespaced && selection?.namespace !== "" ? selection?.namespace : undefined
    const labels = LabelSelector.parse(selection?.labelSelector ?? "")
    if (!labels.ok) throw this.invalid(kind, "", [{ field: "labelSelector", message: labels.message }])
    const fields = FieldSelector.parse(selection?.fieldSelector ?? "")
    if (!fields.ok) throw this.invalid(kind, "", [{ field: "fieldSelector", message: fields.message }])
    const unsupported = FieldSelector.validate(
      fields.selector,
      FieldSelector.supportedFields(kind.resource.group, kind.resource.kind)
    )
    if (unsupported !== undefined) throw this.invalid(kind, "", [{ field: "fieldSelector", message: unsupported }])
    return {
      namespace,
      matches: (object) => {
        const metadata = metadataOf(object)
        if (namespace !== undefined && metadata.namespace !== namespace) return false
        return (
          LabelSelector.matches(labels.selector, objectAt(metadata, "labels") as Record<string, string>) &&
          FieldSelector.matches(fields.selector, object)
        )
      }
    }
  }

  /** The shared path of PUT and PATCH once preconditions passed. */
  private update(kind: Kinds.Kind, existing: Json, input: Json, subresource: "status" | undefined): Json {
    const before = metadataOf(existing)
    const name = stringAt(before, "name") ?? ""
    let next: Json
    if (subresource === "status") {
      if (!kind.statusSubresource) {
        throw new KubeError.NotFound({
          resource: kind.id,
          name,
          message: `the server could not find the requested resource`
        })
      }
      next = { ...existing, status: input.status }
      if (input.status === undefined) delete next.status
    } else {
      const after = metadataOf(input)
      next = {
        ...input,
        apiVersion: kind.resource.apiVersion,
        kind: kind.resource.kind,
        metadata: {
          ...after,
          name: before.name,
          ...(before.namespace === undefined ? {} : { namespace: before.namespace }),
          uid: before.uid,
          creationTimestamp: before.creationTimestamp,
          resourceVersion: before.resourceVersion,
          ...(before.generation === undefined ? {} : { generation: before.generation }),
          ...(before.deletionTimestamp === undefined ? {} : { deletionTimestamp: before.deletionTimestamp }),
          ...(before.deletionGracePeriodSeconds === undefined
            ? {}
            : { deletionGracePeriodSeconds: before.deletionGracePeriodSeconds })
        }
      }
      if (after.deletionTimestamp === undefined) delete (next.metadata as Json).managedFields
      if (kind.statusSubresource) {
        if (existing.status === undefined) delete next.status
        else next.status = existing.status
      }
      this.checkFinalizers(kind, existing, next)
    }
    if (kind.crdSchema !== undefined) next = OpenApi.applyDefaults(kind.crdSchema, next) as Json
    const problems = kind.updateProblems(existing, next)
    if (problems.length > 0) throw this.invalid(kind, name, problems)
    if (kind.generation && subresource !== "status" && specChanged(existing, next)) {
      next = { ...next, metadata: { ...metadataOf(next), generation: Number(before.generation ?? 0) + 1 } }
    }
    const key = keyOfObject(next)
    const metadata = metadataOf(next)
    const finalizers = metadata.finalizers
    const unfinalized = !Array.isArray(finalizers) || finalizers.length === 0
    if (metadata.deletionTimestamp !== undefined && unfinalized && (metadata.deletionGracePeriodSeconds ?? 0) === 0) {
      // The last finalizer is gone: the object goes.
      return this.remove(kind, key, this.admit(kind, next))
    }
    return this.commit(kind, key, next, existing, true)
  }

  private checkFinalizers(kind: Kinds.Kind, existing: Json, next: Json): void {
    const before = metadataOf(existing)
    if (before.deletionTimestamp === undefined) return
    const old = new Set(Array.isArray(before.finalizers) ? before.finalizers : [])
    const added = (
      Array.isArray(metadataOf(next).finalizers) ? (metadataOf(next).finalizers as Array<unknown>) : []
    ).filter((f) => !old.has(f))
    if (added.length > 0) {
      throw this.invalid(kind, stringAt(before, "name") ?? "", [
        {
          field: "metadata.finalizers",
          message: `Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers ${JSON.stringify(added)}`
        }
      ])
    }
  }

  /**
   * Validation every write passes: kube-apiserver's rules and the kind's schema (with its CEL-equivalent checks), and
   * MicroTime fields. Of an update of an admitted object, only what changed is checked again.
   */
  private admit(kind: Kinds.Kind, object: Json, previous?: Json): Json {
    const name = stringAt(metadataOf(object), "name") ?? ""
    const problems = Admission.problems(
      kind.resource,
      object,
      previous !== undefined && this.admitted.has(previous) ? previous : undefined
    )
    if (kind.id === "leases.coordination.k8s.io") {
      for (const field of ["acquireTime", "renewTime"]) {
        const value = objectAt(object, "spec")[field]
        if (typeof value === "string" && !microTimePattern.test(value)) {
          problems.push({
            field: `spec.${field}`,
            message: `Invalid value: "${value}": must be RFC 3339 with exactly 6 fractional digits`
          })
        }
      }
    }
    if (problems.length > 0) throw this.invalid(kind, name, problems)
    this.admitted.add(object)
    return object
  }

  private resetStatusOnCreate(kind: Kinds.Kind, object: Json): void {
    if (!kind.statusSubresource || kind.id === "nodes") return
    if (kind.id === "pods") object.status = { phase: "Pending" }
    else if (kind.id === "namespaces") object.status = { phase: "Active" }
    else delete object.status
  }

  private gracePeriod(kind: Kinds.Kind, object: Json, requested: number | undefined): number {
    if (kind.id !== "pods") return 0
    const spec = objectAt(object, "spec")
    const phase = stringAt(objectAt(object, "status"), "phase")
    const bound = typeof spec.nodeName === "string" && spec.nodeName !== ""
    if (!bound || phase === "Succeeded" || phase === "Failed") return 0
    const fallback = typeof spec.terminationGracePeriodSeconds === "number" ? spec.terminationGracePeriodSeconds : 30
    return Math.max(0, requested ?? fallback)
  }

  private checkDisruptionBudget(pod: Json, namespace: string, name: string, now: number): void {
    const budgets = this.kindOf(Resources.PodDisruptionBudgets)
    const labels = objectAt(metadataOf(pod), "labels") as Record<string, string>
    const matching = [...this.storeOf(budgets).values()].filter((pdb) => {
      if (metadataOf(pdb).namespace !== namespace) return false
      // policy/v1: an empty selector selects every pod of the namespace; a missing one selects none.
      return LabelSelector.matchesLabelSelector(objectAt(pdb, "spec").selector as never, labels)
    })
    if (matching.length === 0) return
    if (matching.length > 1) {
      throw new KubeError.KubeUnavailable({
        resource: "pods",
        name: objectKey(namespace, name),
        message: "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
        code: 500
      })
    }
    const pdb = matching[0]!
    const pdbName = stringAt(metadataOf(pdb), "name") ?? ""
    const status = objectAt(pdb, "status")
    const number = (value: unknown) => (typeof value === "number" ? value : 0)
    const ready = (
      Array.isArray(objectAt(pod, "status").conditions) ? (objectAt(pod, "status").conditions as Array<unknown>) : []
    ).some((condition) => objectAt(condition).type === "Ready" && objectAt(condition).status === "True")
    if (!ready) {
      const policy = objectAt(pdb, "spec").unhealthyPodEvictionPolicy
      const desired = number(status.desiredHealthy)
      if (policy === "AlwaysAllow" || (number(status.currentHealthy) >= desired && desired > 0)) return
    }
    if (number(status.observedGeneration) < number(metadataOf(pdb).generation)) {
      throw new KubeError.TooManyRequests({
        resource: "pods",
        name: objectKey(namespace, name),
        message: `The disruption budget ${pdbName} is still being processed by the server.`,
        retryAfterSeconds: 10
      })
    }
    const allowed = number(status.disruptionsAllowed)
    if (allowed < 0) {
      throw new KubeError.KubeUnavailable({
        resource: "pods",
        name: objectKey(namespace, name),
        message: "pdb disruptions allowed is negative",
        code: 403
      })
    }
    if (allowed === 0) {
      throw new KubeError.TooManyRequests({
        resource: "pods",
        name: objectKey(namespace, name),
        message: `Cannot evict pod as it would violate the pod's disruption budget. The disruption budget ${pdbName} needs ${number(status.desiredHealthy)} healthy pods and has ${number(status.currentHealthy)} currently`
      })
    }
    const disrupted = { ...objectAt(status, "disruptedPods"), [name]: timestamp(now) }
    this.commit(
      budgets,
      objectKey(namespace, pdbName),
      { ...pdb, status: { ...status, disruptionsAllowed: allowed - 1, disruptedPods: disrupted } },
      pdb
    )
  }

  private collectGarbage(
    owner: Kinds.Kind,
    removed: Json,
    policy: "Background" | "Foreground" | "Orphan",
    now: number
  ): void {
    const uid = metadataOf(removed).uid
    if (owner.id === "namespaces") {
      const namespace = stringAt(metadataOf(removed), "name")
      for (const kind of [...this.kinds.values()].filter((k) => k.resource.namespaced)) {
        for (const [key, object] of [...this.storeOf(kind)]) {
          if (metadataOf(object).namespace === namespace) this.remove(kind, key, object)
        }
      }
      return
    }
    for (const { kind, key } of [...(this.dependents.get(String(uid))?.values() ?? [])]) {
      const object = this.storeOf(kind).get(key)
      const references = object === undefined ? undefined : metadataOf(object).ownerReferences
      if (object === undefined || !Array.isArray(references)) continue
      if (policy === "Orphan") {
        const kept = references.filter((reference) => objectAt(reference).uid !== uid)
        this.commit(kind, key, { ...object, metadata: { ...metadataOf(object), ownerReferences: kept } }, object)
      } else {
        const metadata = metadataOf(object)
        this.delete(kind.resource, stringAt(metadata, "name") ?? "", {
          namespace: stringAt(metadata, "namespace"),
          propagationPolicy: "Background",
          now
        })
      }
    }
  }

  /**
   * Stores a new state: a no-op write keeps the version and emits nothing; it is not validated again, since what it
   * leaves is what was admitted (about half of a simulated day's NodeClaim writes: concurrent pod-event reconciles
   * writing the same time). A write a client asked for (`admit`) is admitted first, as stored — with its new
   * resourceVersion — so that the validation's decoded value is the one every reader of this version gets.
   */
  private commit(kind: Kinds.Kind, key: string, next: Json, previous: Json | undefined, admit = false): Json {
    if (previous !== undefined && Patch.deepEqual(previous, next)) return previous
    const stored: Json = { ...next, metadata: { ...metadataOf(next), resourceVersion: String(this.revision + 1) } }
    if (admit) this.admit(kind, stored, previous)
    this.revision += 1
    this.storeOf(kind).set(key, stored)
    if (previous !== undefined) this.indexOwners(kind, key, previous, false)
    this.indexOwners(kind, key, stored, true)
    this.record({
      rv: this.revision,
      kindId: kind.id,
      type: previous === undefined ? "ADDED" : "MODIFIED",
      object: stored,
      previous
    })
    return stored
  }

  private indexOwners(kind: Kinds.Kind, key: string, object: Json, add: boolean): void {
    const references = metadataOf(object).ownerReferences
    if (!Array.isArray(references)) return
    const id = `${kind.id}/${key}`
    for (const reference of references) {
      const uid = String(objectAt(reference).uid)
      let objects = this.dependents.get(uid)
      if (add) {
        if (objects === undefined) {
          objects = new Map()
          this.dependents.set(uid, objects)
        }
        objects.set(id, { kind, key })
      } else if (objects !== undefined) {
        objects.delete(id)
        if (objects.size === 0) this.dependents.delete(uid)
      }
    }
  }

  private remove(kind: Kinds.Kind, key: string, last: Json): Json {
    this.revision += 1
    this.storeOf(kind).delete(key)
    this.indexOwners(kind, key, last, false)
    const removed: Json = { ...last, metadata: { ...metadataOf(last), resourceVersion: String(this.revision) } }
    this.record({ rv: this.revision, kindId: kind.id, type: "DELETED", object: removed, previous: undefined })
    return removed
  }

  private record(event: HistoryEvent): void {
    this.history.push(event)
    if (this.history.length - this.historyHead > this.historyLimit) {
      this.historyStart = this.history[this.historyHead]!.rv
      this.historyHead++
      if (this.historyHead >= this.historyLimit) {
        this.history = this.history.slice(this.historyHead)
        this.historyHead = 0
      }
    }
    for (const watcher of [...this.watchers]) {
      if (watcher.kind.id !== event.kindId) continue
      const translated = translate(event, watcher.matches)
      if (translated !== undefined) watcher.emit(translated)
    }
  }

  private conflict(kind: Kinds.Kind, name: string, message?: string): KubeError.Conflict {
    return new KubeError.Conflict({
      resource: kind.id,
      name,
      message:
        message ??
        `Operation cannot be fulfilled on ${kind.id} "${name}": the object has been modified; please apply your changes to the latest version and try again`
    })
  }

  private invalid(kind: Kinds.Kind, name: string, problems: ReadonlyArray<Problem>): KubeError.Invalid {
    const group = kind.resource.group === "" ? "" : `.${kind.resource.group}`
    const detail = problems.map(({ field, message }) => (field === "" ? message : `${field}: ${message}`)).join(", ")
    return new KubeError.Invalid({
      resource: kind.id,
      name,
      message: `${kind.resource.kind}${group} "${name}" is invalid: ${detail}`,
      causes: problems.map(({ field, message }) => ({ field, message }))
    })
  }

  private nextRandom(): number {
    // mulberry32: deterministic, so simulations and tests reproduce byte for byte.
    this.random = (this.random + 0x6d2b79f5) | 0
    let t = this.random
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }

  private uid(): string {
    const hex = Array.from({ length: 32 }, () => Math.floor(this.nextRandom() * 16).toString(16)).join("")
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`
  }

  private generateName(kind: Kinds.Kind, generateName: string, namespace: string | undefined): string {
    const store = this.storeOf(kind)
    // As apiserver's name generator: the prefix is cut so that a generated name fits a DNS label (63 characters).
    const prefix = generateName.slice(0, maxGeneratedNameLength - generatedSuffixLength)
    for (;;) {
      const suffix = Array.from(
        { length: generatedSuffixLength },
        () => nameAlphabet[Math.floor(this.nextRandom() * nameAlphabet.length)]
      ).join("")
      const name = `${prefix}${suffix}`
      if (!store.has(objectKey(this.namespaceFor(kind, namespace), name))) return name
    }
  }
}

/** Whether anything outside metadata and status changed (what bumps `metadata.generation`). */
const specChanged = (before: Json, after: Json): boolean => {
  const strip = ({ metadata: _m, status: _s, ...rest }: Json) => rest
  return !Patch.deepEqual(strip(before), strip(after))
}

const keyOfObject = (object: Json): string => {
  const metadata = metadataOf(object)
  return objectKey(stringAt(metadata, "namespace"), stringAt(metadata, "name") ?? "")
}

/** A history event as a watcher with this selection sees it (selector transitions, kube-api.md H4). */
const translate = (event: HistoryEvent, matches: (object: Json) => boolean): WatchEvent<Json> | undefined => {
  const now = matches(event.object)
  if (event.type !== "MODIFIED" || event.previous === undefined) {
    return now ? { type: event.type, object: event.object } : undefined
  }
  const before = matches(event.previous)
  if (before && now) return { type: "MODIFIED", object: event.object }
  if (now) return { type: "ADDED", object: event.object }
  if (before) {
    const previous = event.previous
    return {
      type: "DELETED",
      object: { ...previous, metadata: { ...metadataOf(previous), resourceVersion: String(event.rv) } }
    }
  }
  return undefined
}

const encodeContinue = (revision: number, key: string): string =>
  Buffer.from(JSON.stringify([revision, key]), "utf8").toString("base64url")

const decodeContinue = (token: string): [number | undefined, string | undefined] => {
  try {
    const parsed = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as unknown
    if (Array.isArray(parsed) && typeof parsed[0] === "number" && typeof parsed[1] === "string")
      return [parsed[0], parsed[1]]
  } catch {
    // fall through: a malformed token
  }
  return [undefined, undefined]
}
