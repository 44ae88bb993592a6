/**
 * The REST verbs of a served kind over a KubeClient (kube-api.md §2.2, §4): get, list, watch, create, replace, the
 * four patch types, delete and deletecollection, and the status, scale, eviction and binding subresources.
 *
 * Strategic merge patch and server-side apply are not KubeClient operations: the façade reads the object, computes
 * the result, and writes the difference as a merge patch carrying the resourceVersion it read (retried on conflict).
 * Server-side apply merges the applied fields into the object (keyed lists by their merge keys) without field
 * ownership or conflict detection.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { parse as parseYaml } from "yaml"
import * as Crd from "../../api/Crd.ts"
import * as Admission from "../../kube/Admission.ts"
import { isObject, type Json as JsonObject } from "../../kube/Json.ts"
import * as KnownFields from "../../kube/KnownFields.ts"
import type * as KubeClient from "../../kube/KubeClient.ts"
import * as KubeError from "../../kube/KubeError.ts"
import * as OpenApi from "../../kube/OpenApi.ts"
import * as Patch from "../../kube/Patch.ts"
import * as Resource from "../../kube/Resource.ts"
import * as StrategicMerge from "../../kube/StrategicMerge.ts"
import * as Discovery from "./Discovery.ts"
import * as Nesting from "./Nesting.ts"
import * as Protobuf from "./Protobuf.ts"
import * as Status from "./Status.ts"
import * as Table from "./Table.ts"

/** A JSON object (re-exported for the façade's other modules). */
export type Json = JsonObject

/** An incoming request, its body read. */
export interface Request {
  readonly method: string
  readonly path: string
  readonly query: URLSearchParams
  readonly contentType: string
  readonly accept: string | undefined
  /** The body as text. */
  readonly body: string
  /** The body as sent (protobuf is binary). */
  readonly bytes: Uint8Array
}

/** A watch event as sent on the wire. */
export interface WireEvent {
  readonly type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR"
  readonly object: unknown
}

/** What a handler answers: a JSON document, or a stream of watch events. */
export type Reply =
  | {
      readonly _tag: "Json"
      readonly code: number
      readonly body: unknown
      readonly contentType?: string
      /** `Warning` headers (as kube-apiserver's: unknown fields dropped under `fieldValidation=Warn`). */
      readonly warnings?: ReadonlyArray<string>
    }
  | {
      readonly _tag: "Watch"
      /** Ends after an ERROR event, or never. */
      readonly events: Stream.Stream<WireEvent>
      readonly timeoutSeconds: number | undefined
      readonly table: boolean
    }

/** A resource URL, parsed. */
export interface Target {
  readonly kind: Discovery.Kind
  readonly namespace: string | undefined
  readonly name: string | undefined
  readonly subresource: string | undefined
}

/** A JSON reply. */
export const json = (code: number, body: unknown, contentType?: string): Reply => ({
  _tag: "Json",
  code,
  body,
  ...(contentType === undefined ? {} : { contentType })
})

/** A JSON reply carrying `Warning` headers. */
export const withWarnings = (reply: Reply, warnings: ReadonlyArray<string>): Reply =>
  reply._tag === "Json" && warnings.length > 0 ? { ...reply, warnings } : reply

const tableContentType = "application/json;as=Table;v=v1;g=meta.k8s.io"

const metadataOf = (value: unknown): Json => (isObject(value) && isObject(value.metadata) ? value.metadata : {})

/** The wire form of a decoded object, with its apiVersion and kind. */
export const wire = (resource: Resource.Resource<Resource.KubeObject>, object: Resource.KubeObject): Json => {
  const { apiVersion: _apiVersion, kind: _kind, ...rest } = Schema.encodeSync(resource.schema)(object) as Json
  return { apiVersion: resource.apiVersion, kind: resource.kind, ...rest }
}

const badRequest = (message: string) => Status.failure(400, message)

/** Parses a JSON body (YAML for apply patches and `application/yaml`, protobuf for the kinds kubectl generates). */
export const parseBody = (request: Request): Effect.Effect<unknown, Status.Failure> => {
  if (request.contentType.startsWith("application/vnd.kubernetes.protobuf")) {
    const decoded = Protobuf.decode(request.bytes)
    return decoded.ok ? Effect.succeed(decoded.value) : Effect.fail(Status.failure(415, decoded.message))
  }
  const yaml =
    request.contentType.startsWith("application/apply-patch+yaml") || request.contentType.startsWith("application/yaml")
  const tooDeep = badRequest(`the request body is malformed: it nests deeper than ${Nesting.maxDepth} levels`)
  // Measured before parsing: past the limit, the parsers and everything after them would overflow the stack.
  if ((yaml ? Nesting.yaml(request.body) : Nesting.json(request.body)) > Nesting.maxDepth) return Effect.fail(tooDeep)
  const parsed = Effect.try({
    try: () => (yaml ? parseYaml(request.body) : JSON.parse(request.body === "" ? "null" : request.body)),
    catch: (error) => badRequest(`the request body is malformed: ${String(error)}`)
  })
  // YAML aliases share values: they can nest deeper than the text, or in a circle.
  return yaml
    ? Effect.flatMap(parsed, (value) =>
        Nesting.value(value) > Nesting.maxDepth ? Effect.fail(tooDeep) : Effect.succeed(value)
      )
    : parsed
}

/** Parses a body that must be a JSON object. */
export const objectBody = (request: Request): Effect.Effect<Json, Status.Failure> =>
  Effect.flatMap(parseBody(request), (body) =>
    isObject(body) ? Effect.succeed(body) : Effect.fail(badRequest("the request body must be a JSON object"))
  )

// strconv.ParseUint's range: a resourceVersion is an unsigned 64-bit integer.
const maxResourceVersion = 2n ** 64n - 1n

/**
 * What kube-apiserver refuses in any request before it reaches storage: an unparseable `resourceVersion` on a read
 * (list, watch, get), and a PUT whose body names another object than its URL.
 */
export const checkRequest = Effect.fn("HttpApi.checkRequest")(function* (target: Target, request: Request) {
  const resourceVersion = request.query.get("resourceVersion")
  if (request.method === "GET" && resourceVersion !== null && resourceVersion !== "") {
    const problem = !/^[0-9]+$/.test(resourceVersion)
      ? "invalid syntax"
      : BigInt(resourceVersion) > maxResourceVersion
        ? "value out of range"
        : undefined
    if (problem !== undefined) {
      const message = `Invalid value: ${JSON.stringify(resourceVersion)}: strconv.ParseUint: parsing ${JSON.stringify(resourceVersion)}: ${problem}`
      return yield* badRequest(`resourceVersion: ${message}`)
    }
  }
  if (request.method === "PUT" && target.name !== undefined) {
    const metadata = metadataOf(yield* objectBody(request))
    if (typeof metadata.name === "string" && metadata.name !== target.name) {
      return yield* badRequest(
        `the name of the object (${metadata.name}) does not match the name on the URL (${target.name})`
      )
    }
    const namespace = metadata.namespace
    if (
      typeof namespace === "string" &&
      namespace !== "" &&
      target.namespace !== undefined &&
      namespace !== target.namespace
    ) {
      return yield* badRequest(
        `the namespace of the object (${namespace}) does not match the namespace on the URL (${target.namespace})`
      )
    }
  }
})

/** What `fieldValidation` asks for unknown fields; kube-apiserver's default is Warn. */
type FieldValidation = "Strict" | "Warn" | "Ignore"

const fieldValidationOf = (request: Request): Effect.Effect<FieldValidation, Status.Failure> => {
  const directive = request.query.get("fieldValidation") ?? ""
  if (directive === "") return Effect.succeed("Warn")
  if (directive === "Strict" || directive === "Warn" || directive === "Ignore") return Effect.succeed(directive)
  return Effect.fail(
    Status.failure(
      422,
      `fieldValidation: Unsupported value: ${JSON.stringify(directive)}: supported values: "", "Ignore", "Strict", "Warn"`
    )
  )
}

/** A request body after `fieldValidation`: without the unknown fields, and the warnings to send. */
export interface CheckedBody<A> {
  readonly body: A
  readonly warnings: ReadonlyArray<string>
}

/** The kind whose fields a body is checked against: the target's, or the subresource's (autoscaling/v1 Scale). */
type FieldsOf = { readonly group: string; readonly version: string; readonly kind: string }

/**
 * kube-apiserver's `fieldValidation` of a body: under `Strict` fields the kind does not have are refused (400 for an
 * object, 422 Invalid naming `patch` for a patch), under `Warn` (the default) they are dropped with a `Warning`
 * each, under `Ignore` dropped silently.
 */
export const checkFields = Effect.fn("HttpApi.checkFields")(function* <A>(
  kind: FieldsOf,
  request: Request,
  body: A,
  as: "object" | "patch"
) {
  const schema = KnownFields.schemaOf(kind)
  const unknown = schema === undefined ? [] : OpenApi.unknownFields(schema, body)
  if (unknown.length === 0) return { body, warnings: [] } satisfies CheckedBody<A>
  const directive = yield* fieldValidationOf(request)
  if (directive === "Strict") return yield* strictFailure(kind, body, unknown, as)
  return {
    body: OpenApi.prune(schema!, body) as A,
    warnings: directive === "Warn" ? unknown.map(unknownFieldWarning) : []
  } satisfies CheckedBody<A>
})

const unknownFieldWarning = (field: string): string => `unknown field ${JSON.stringify(field)}`

const strictFailure = (kind: FieldsOf, body: unknown, unknown: ReadonlyArray<string>, as: "object" | "patch") => {
  const error = KnownFields.strictDecodingError(unknown)
  if (as === "object") {
    return badRequest(
      `${kind.kind} in version ${JSON.stringify(kind.version)} cannot be handled as a ${kind.kind}: ${error}`
    )
  }
  const message = `Invalid value: ${JSON.stringify(JSON.stringify(body))}: ${error}`
  const name = metadataOf(body).name
  return Status.failure(
    422,
    `${kind.kind} ${JSON.stringify(typeof name === "string" ? name : "")} is invalid: patch: ${message}`,
    {
      details: { causes: [{ reason: "FieldValueInvalid", message, field: "patch" }] }
    }
  )
}

/** A JSON patch's unknown fields (the values its operations write), under `fieldValidation`. */
const checkJsonPatch = Effect.fn("HttpApi.checkJsonPatch")(function* (
  kind: FieldsOf,
  request: Request,
  operations: ReadonlyArray<KubeClient.JsonPatchOperation>
) {
  const schema = KnownFields.schemaOf(kind)
  const unknown =
    schema === undefined
      ? []
      : operations.flatMap((operation) =>
          (operation.op === "add" || operation.op === "replace") && typeof operation.path === "string"
            ? OpenApi.unknownFieldsAt(schema, operation.path, operation.value)
            : []
        )
  if (unknown.length === 0) return []
  const directive = yield* fieldValidationOf(request)
  if (directive === "Strict") return yield* strictFailure(kind, operations, unknown, "patch")
  return directive === "Warn" ? unknown.map(unknownFieldWarning) : []
})

const optionalNumber = (value: string | null): number | undefined => {
  if (value === null || value === "") return undefined
  const number = Number(value)
  return Number.isFinite(number) ? number : undefined
}

const optionalString = (value: string | null): string | undefined =>
  value === null || value === "" ? undefined : value

const selection = (target: Target, query: URLSearchParams): KubeClient.Selection => {
  const labelSelector = optionalString(query.get("labelSelector"))
  const fieldSelector = optionalString(query.get("fieldSelector"))
  return {
    ...(target.namespace === undefined ? {} : { namespace: target.namespace }),
    ...(labelSelector === undefined ? {} : { labelSelector }),
    ...(fieldSelector === undefined ? {} : { fieldSelector })
  }
}

/** Answers with the object, or a one-row Table when asked for one. */
export const objectReply = (request: Request, kind: Discovery.Kind, object: Json, code = 200) =>
  Table.wanted(request.accept)
    ? Effect.map(Clock.currentTimeMillis, (now) =>
        json(code, Table.make(kind, [object], now, resourceVersionOf(object)), tableContentType)
      )
    : Effect.succeed(json(code, object))

const resourceVersionOf = (object: Json): { readonly resourceVersion?: string } => {
  const resourceVersion = metadataOf(object).resourceVersion
  return typeof resourceVersion === "string" ? { resourceVersion } : {}
}

/** GET on a collection: the list (or Table), or a watch with `watch=true`. */
const listOrWatch = (kube: KubeClient.KubeClient["Service"], resource: Resource.Resource<Resource.KubeObject>) =>
  Effect.fn("HttpApi.list")(function* (target: Target, request: Request) {
    const watch = request.query.get("watch")
    if (watch === "true" || watch === "1") return watchReply(kube, resource, target, request)
    const limit = optionalNumber(request.query.get("limit"))
    const token = optionalString(request.query.get("continue"))
    const page = yield* kube
      .list(resource, {
        ...selection(target, request.query),
        ...(limit === undefined || limit <= 0 ? {} : { limit }),
        ...(token === undefined ? {} : { continue: token })
      })
      .pipe(Effect.mapError(Status.fromKubeError))
    const items = page.items.map((item) => wire(resource, item))
    const metadata = {
      resourceVersion: page.resourceVersion,
      ...(page.continue === undefined ? {} : { continue: page.continue })
    }
    if (Table.wanted(request.accept)) {
      const now = yield* Clock.currentTimeMillis
      return json(200, Table.make(target.kind, items, now, metadata), tableContentType)
    }
    return json(200, { kind: `${resource.kind}List`, apiVersion: resource.apiVersion, metadata, items })
  })

/** The ERROR event a failed watch ends with. */
export const errorEvent = (failure: Status.Failure): WireEvent => ({ type: "ERROR", object: failure.status })

const watchReply = (
  kube: KubeClient.KubeClient["Service"],
  resource: Resource.Resource<Resource.KubeObject>,
  target: Target,
  request: Request
): Reply => {
  const resourceVersion = optionalString(request.query.get("resourceVersion"))
  const bookmarks = request.query.get("allowWatchBookmarks") === "true"
  const events = kube
    .watch(resource, {
      ...selection(target, request.query),
      ...(resourceVersion === undefined ? {} : { resourceVersion }),
      ...(bookmarks ? { allowBookmarks: true } : {})
    })
    .pipe(
      Stream.map(
        (event): WireEvent =>
          event.type === "BOOKMARK"
            ? {
                type: "BOOKMARK",
                object: {
                  apiVersion: resource.apiVersion,
                  kind: resource.kind,
                  metadata: { resourceVersion: event.resourceVersion }
                }
              }
            : { type: event.type, object: wire(resource, event.object) }
      ),
      Stream.catch((error) => Stream.succeed(errorEvent(Status.fromKubeError(error))))
    )
  return {
    _tag: "Watch",
    events,
    timeoutSeconds: optionalNumber(request.query.get("timeoutSeconds")),
    table: Table.wanted(request.accept)
  }
}

/**
 * Rewrites an object through `transform` and stores the difference as a merge patch that carries the
 * resourceVersion read, retrying when someone else wrote in between (unless the request itself named a version).
 */
const rewrite = (
  kube: KubeClient.KubeClient["Service"],
  resource: Resource.Resource<Resource.KubeObject>,
  target: Target,
  name: string,
  transform: (current: Json) => Patch.Result,
  retry: boolean
) => {
  const namespaceOption = target.namespace === undefined ? {} : { namespace: target.namespace }
  const subresourceOption = target.subresource === "status" ? { subresource: "status" as const } : {}
  const attempt = Effect.gen(function* () {
    const current = wire(resource, yield* kube.get(resource, name, namespaceOption))
    const result = transform(current)
    if (!result.ok) {
      return yield* new KubeError.Invalid({
        resource: resource.plural,
        name,
        message: result.message,
        causes: [{ field: "patch", message: result.message }]
      })
    }
    const patch = Patch.diffMerge(current, result.value) as Json
    const resourceVersion = metadataOf(result.value).resourceVersion ?? metadataOf(current).resourceVersion
    const locked = { ...patch, metadata: { ...metadataOf(patch), resourceVersion } }
    return yield* kube.patch(
      resource,
      name,
      { type: "merge", patch: locked },
      { ...namespaceOption, ...subresourceOption }
    )
  })
  return attempt.pipe(
    Effect.retry({ while: (error) => retry && error._tag === "Conflict", times: 5 }),
    Effect.mapError(Status.fromKubeError)
  )
}

const unsupportedMediaType = (custom: boolean) =>
  Status.failure(
    415,
    `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml${custom ? "" : ", application/strategic-merge-patch+json"}`
  )

/**
 * Reads a PATCH request: a merge or JSON patch to forward, or a transformation of the stored object, its fields
 * checked under `fieldValidation` against `fields` (the target kind unless a subresource takes another).
 */
export const patchOf = Effect.fn("HttpApi.patchOf")(function* (
  kind: Discovery.Kind,
  request: Request,
  fields: FieldsOf = kind
) {
  const mediaType = request.contentType.split(";")[0]!.trim()
  const body = yield* parseBody(request)
  switch (mediaType) {
    case "application/merge-patch+json": {
      const checked = yield* checkFields(fields, request, body, "patch")
      return { _tag: "Merge" as const, patch: checked.body, warnings: checked.warnings }
    }
    case "application/json-patch+json": {
      if (!Array.isArray(body)) return yield* badRequest("a JSON patch must be an array of operations")
      const operations = body as ReadonlyArray<KubeClient.JsonPatchOperation>
      return { _tag: "Json" as const, patch: operations, warnings: yield* checkJsonPatch(fields, request, operations) }
    }
    case "application/strategic-merge-patch+json": {
      if (Discovery.isCustom(kind)) return yield* unsupportedMediaType(true)
      const checked = yield* checkFields(fields, request, body, "patch")
      return {
        _tag: "Transform" as const,
        transform: (current: Json) => StrategicMerge.apply(current, checked.body),
        retry: metadataOf(body).resourceVersion === undefined,
        warnings: checked.warnings
      }
    }
    case "application/apply-patch+yaml": {
      if (optionalString(request.query.get("fieldManager")) === undefined) {
        return yield* Status.failure(422, "fieldManager: Required value: is required for apply patch")
      }
      if (!isObject(body)) return yield* badRequest("an apply patch must be an object")
      const checked = yield* checkFields(fields, request, body, "patch")
      return {
        _tag: "Apply" as const,
        object: checked.body,
        transform: (current: Json) => StrategicMerge.apply(current, checked.body),
        retry: metadataOf(body).resourceVersion === undefined,
        warnings: checked.warnings
      }
    }
    default:
      return yield* unsupportedMediaType(Discovery.isCustom(kind))
  }
})

/** A patch request read by {@link patchOf}. */
export type PatchRequest = Effect.Success<ReturnType<typeof patchOf>>

/** Applies a patch request to an object in memory (the scale subresource, CRDs, dry runs). */
export const applyPatch = (patch: PatchRequest, current: Json): Patch.Result =>
  patch._tag === "Merge"
    ? { ok: true, value: Patch.mergePatch(current, patch.patch) }
    : patch._tag === "Json"
      ? Patch.jsonPatch(current, patch.patch)
      : patch.transform(current)

/** A patch request on an object (or its status): the patched object and whether it was created (apply). */
const patchObject = (kube: KubeClient.KubeClient["Service"], resource: Resource.Resource<Resource.KubeObject>) =>
  Effect.fn("HttpApi.patch")(function* (target: Target, name: string, request: Request) {
    const namespaceOption = target.namespace === undefined ? {} : { namespace: target.namespace }
    const subresourceOption = target.subresource === "status" ? { subresource: "status" as const } : {}
    const patch = yield* patchOf(target.kind, request)
    switch (patch._tag) {
      case "Merge":
      case "Json": {
        const patched = yield* kube
          .patch(
            resource,
            name,
            patch._tag === "Merge" ? { type: "merge", patch: patch.patch } : { type: "json", patch: patch.patch },
            { ...namespaceOption, ...subresourceOption }
          )
          .pipe(Effect.mapError(Status.fromKubeError))
        return { object: wire(resource, patched), created: false, warnings: patch.warnings }
      }
      case "Apply": {
        const existing = yield* kube.get(resource, name, namespaceOption).pipe(
          Effect.map(() => true),
          Effect.catchTag("NotFound", () => Effect.succeed(false)),
          Effect.mapError(Status.fromKubeError)
        )
        if (!existing && target.subresource === undefined) {
          const created = yield* kube
            .create(resource, { ...patch.object, metadata: { ...metadataOf(patch.object), name } }, namespaceOption)
            .pipe(Effect.mapError(Status.fromKubeError))
          return { object: wire(resource, created), created: true, warnings: patch.warnings }
        }
        const patched = yield* rewrite(kube, resource, target, name, patch.transform, patch.retry)
        return { object: wire(resource, patched), created: false, warnings: patch.warnings }
      }
      case "Transform": {
        const patched = yield* rewrite(kube, resource, target, name, patch.transform, patch.retry)
        return { object: wire(resource, patched), created: false, warnings: patch.warnings }
      }
    }
  })

const deleteOptions = Effect.fn("HttpApi.deleteOptions")(function* (target: Target, request: Request) {
  const body = request.body.trim() === "" ? {} : yield* objectBody(request)
  const grace = optionalNumber(request.query.get("gracePeriodSeconds")) ?? body.gracePeriodSeconds
  const policy = optionalString(request.query.get("propagationPolicy")) ?? body.propagationPolicy
  const preconditions = isObject(body.preconditions) ? body.preconditions : {}
  return {
    ...(target.namespace === undefined ? {} : { namespace: target.namespace }),
    ...(typeof grace === "number" ? { gracePeriodSeconds: grace } : {}),
    ...(policy === "Background" || policy === "Foreground" || policy === "Orphan" ? { propagationPolicy: policy } : {}),
    ...(typeof preconditions.uid === "string" || typeof preconditions.resourceVersion === "string"
      ? {
          preconditions: {
            ...(typeof preconditions.uid === "string" ? { uid: preconditions.uid } : {}),
            ...(typeof preconditions.resourceVersion === "string"
              ? { resourceVersion: preconditions.resourceVersion }
              : {})
          }
        }
      : {})
  } satisfies KubeClient.DeleteOptions
})

/** DELETE of one object: the object if it lives on (finalizers, grace period), else a success Status. */
const deleteObject = (kube: KubeClient.KubeClient["Service"], resource: Resource.Resource<Resource.KubeObject>) =>
  Effect.fn("HttpApi.delete")(function* (target: Target, name: string, request: Request) {
    const options = yield* deleteOptions(target, request)
    const before = yield* kube.get(resource, name, options).pipe(Effect.mapError(Status.fromKubeError))
    yield* kube.delete(resource, name, options).pipe(Effect.mapError(Status.fromKubeError))
    const after = yield* kube.get(resource, name, options).pipe(
      Effect.map((object) => wire(resource, object)),
      Effect.catchTag("NotFound", () => Effect.succeed(undefined)),
      Effect.mapError(Status.fromKubeError)
    )
    return json(
      200,
      after ??
        Status.success(200, {
          name,
          ...(resource.group === "" ? {} : { group: resource.group }),
          kind: resource.plural,
          uid: before.metadata.uid
        })
    )
  })

/** Where a kind keeps its replicas: a custom resource's CRD says (NodePool: `.status.nodes`), apps kinds as Deployment. */
interface ScalePaths {
  readonly spec: string
  readonly status: string
  /** What a custom resource without `spec.replicas` scales from (apiextensions reads it as 0), apps kinds 1. */
  readonly unset: number
}
const appsScalePaths: ScalePaths = { spec: "replicas", status: "replicas", unset: 1 }
const scalePathsOf = (resource: Resource.Resource<Resource.KubeObject>): ScalePaths => {
  const definition = Crd.definitions.find(
    (candidate) => candidate.group === resource.group && candidate.plural === resource.plural
  )
  if (definition?.scale === undefined) return appsScalePaths
  // Both paths are `.spec.<field>` / `.status.<field>` in the CRDs this project ships.
  return {
    spec: definition.scale.specReplicasPath.replace(/^\.spec\./, ""),
    status: definition.scale.statusReplicasPath.replace(/^\.status\./, ""),
    unset: 0
  }
}

const scaleOf = (object: Json, paths: ScalePaths = appsScalePaths): Json => {
  const metadata = metadataOf(object)
  const spec = isObject(object.spec) ? object.spec : {}
  const status = isObject(object.status) ? object.status : {}
  const matchLabels = isObject(spec.selector) && isObject(spec.selector.matchLabels) ? spec.selector.matchLabels : {}
  return {
    kind: "Scale",
    apiVersion: "autoscaling/v1",
    metadata: {
      name: metadata.name,
      namespace: metadata.namespace,
      uid: metadata.uid,
      resourceVersion: metadata.resourceVersion,
      creationTimestamp: metadata.creationTimestamp
    },
    spec: { replicas: typeof spec[paths.spec] === "number" ? spec[paths.spec] : paths.unset },
    status: {
      replicas: typeof status[paths.status] === "number" ? status[paths.status] : 0,
      selector: Object.entries(matchLabels)
        .map(([key, value]) => `${key}=${String(value)}`)
        .join(",")
    }
  }
}

const scaleKind: FieldsOf = { group: "autoscaling", version: "v1", kind: "Scale" }

/**
 * The scale subresource of deployments, replicasets and custom resources whose CRD declares one (NodePool,
 * `kubectl scale nodepool`): the replicas through an autoscaling/v1 Scale.
 */
const scale = (kube: KubeClient.KubeClient["Service"], resource: Resource.Resource<Resource.KubeObject>) =>
  Effect.fn("HttpApi.scale")(function* (target: Target, name: string, request: Request) {
    const paths = scalePathsOf(resource)
    const namespaceOption = target.namespace === undefined ? {} : { namespace: target.namespace }
    const current = scaleOf(
      wire(resource, yield* kube.get(resource, name, namespaceOption).pipe(Effect.mapError(Status.fromKubeError))),
      paths
    )
    if (request.method === "GET") return json(200, current)
    let next: unknown
    if (request.method === "PUT") next = yield* objectBody(request)
    else if (request.method === "PATCH") {
      const result = applyPatch(yield* patchOf(target.kind, request, scaleKind), current)
      if (!result.ok) return yield* Status.failure(422, result.message)
      next = result.value
    } else return yield* Status.failure(405, `${request.method} is not allowed on the scale subresource`)
    const replicas = isObject(next) && isObject(next.spec) ? next.spec.replicas : undefined
    if (typeof replicas !== "number" || !Number.isInteger(replicas) || replicas < 0) {
      return yield* Status.failure(422, "spec.replicas: Invalid value: must be a non-negative integer")
    }
    const patched = yield* kube
      .patch(resource, name, { type: "merge", patch: { spec: { [paths.spec]: replicas } } }, namespaceOption)
      .pipe(Effect.mapError(Status.fromKubeError))
    return json(200, scaleOf(wire(resource, patched), paths))
  })

/** POST pods/<name>/eviction: 201 when the pod is being evicted, 429 when a PodDisruptionBudget forbids it. */
const evict = (kube: KubeClient.KubeClient["Service"]) =>
  Effect.fn("HttpApi.evict")(function* (target: Target, name: string, request: Request) {
    const body = yield* objectBody(request)
    const bodyName = metadataOf(body).name
    if (typeof bodyName === "string" && bodyName !== name) {
      return yield* badRequest(`name in URL does not match name in Eviction object`)
    }
    const grace = isObject(body.deleteOptions) ? body.deleteOptions.gracePeriodSeconds : undefined
    yield* kube
      .evict(target.namespace ?? "default", name, typeof grace === "number" ? { gracePeriodSeconds: grace } : {})
      .pipe(Effect.mapError(Status.fromKubeError))
    return json(201, Status.success(201))
  })

/** POST pods/<name>/binding (or namespaces/<ns>/bindings): assigns the pod to the target node. */
export const bind = (kube: KubeClient.KubeClient["Service"]) =>
  Effect.fn("HttpApi.bind")(function* (namespace: string, name: string | undefined, request: Request) {
    const body = yield* objectBody(request)
    const podName = name ?? metadataOf(body).name
    const node = isObject(body.target) ? body.target.name : undefined
    if (typeof podName !== "string" || typeof node !== "string") {
      return yield* Status.failure(422, "Binding is invalid: metadata.name and target.name are required")
    }
    yield* kube.bind(namespace, podName, node).pipe(Effect.mapError(Status.fromKubeError))
    return json(201, Status.success(201))
  })

/** 405 for a method the URL does not take. */
export const methodNotAllowed = (request: Request) =>
  Status.failure(405, `the server does not allow this method on the requested resource: ${request.method}`)

/** A would-be result of a dry run: admitted as a write would be, never stored. */
const checked = (
  resource: Resource.Resource<Resource.KubeObject>,
  object: unknown,
  code: number,
  warnings: ReadonlyArray<string>
) => {
  const problems = Admission.problems(resource, object)
  if (problems.length === 0) return Effect.succeed(withWarnings(json(code, object), warnings))
  return Effect.fail(Status.invalid(resource, String(metadataOf(object).name ?? ""), problems))
}

/**
 * `dryRun=All` (`kubectl diff`, `--dry-run=server`): the result of the write, computed from the stored object and
 * checked against the kind's schema, but not stored. Evictions and bindings report success without acting.
 */
const dryRun = Effect.fn("HttpApi.dryRun")(function* (
  kube: KubeClient.KubeClient["Service"],
  resource: Resource.Resource<Resource.KubeObject>,
  target: Target,
  request: Request
) {
  if (target.subresource === "eviction" || target.subresource === "binding") return json(201, Status.success(201))
  const inNamespace = (object: Json): Json =>
    target.namespace === undefined
      ? object
      : { ...object, metadata: { ...metadataOf(object), namespace: target.namespace } }
  const bodyOf = Effect.fn(function* () {
    return yield* checkFields(target.kind, request, yield* objectBody(request), "object")
  })
  if (target.name === undefined) {
    if (request.method !== "POST") return yield* methodNotAllowed(request)
    const { body, warnings } = yield* bodyOf()
    return yield* checked(resource, inNamespace(body), 201, warnings)
  }
  const current = yield* kube
    .get(resource, target.name, target.namespace === undefined ? {} : { namespace: target.namespace })
    .pipe(
      Effect.map((object) => wire(resource, object)),
      Effect.catchTag("NotFound", () => Effect.succeed(undefined)),
      Effect.mapError(Status.fromKubeError)
    )
  const missing = Status.failure(404, `${Resource.qualifiedName(resource)} "${target.name}" not found`)
  switch (request.method) {
    case "PUT": {
      if (current === undefined) return yield* missing
      const { body, warnings } = yield* bodyOf()
      return yield* checked(resource, inNamespace(body), 200, warnings)
    }
    case "PATCH": {
      const patch = yield* patchOf(target.kind, request)
      if (current === undefined) {
        if (patch._tag === "Apply") return yield* checked(resource, inNamespace(patch.object), 201, patch.warnings)
        return yield* missing
      }
      const result = applyPatch(patch, current)
      if (!result.ok) return yield* Status.failure(422, result.message)
      return yield* checked(resource, result.value, 200, patch.warnings)
    }
    case "DELETE":
      if (current === undefined) return yield* missing
      return json(200, current)
    default:
      return yield* methodNotAllowed(request)
  }
})

/** Serves a request on a kind backed by the KubeClient. */
export const handle = Effect.fn("HttpApi.handle")(function* (
  kube: KubeClient.KubeClient["Service"],
  resource: Resource.Resource<Resource.KubeObject>,
  target: Target,
  request: Request
) {
  yield* checkRequest(target, request)
  if (request.query.get("dryRun") === "All" && request.method !== "GET") {
    return yield* dryRun(kube, resource, target, request)
  }
  const namespaceOption = target.namespace === undefined ? {} : { namespace: target.namespace }
  if (target.name === undefined) {
    switch (request.method) {
      case "GET":
        return yield* listOrWatch(kube, resource)(target, request)
      case "POST": {
        const { body, warnings } = yield* checkFields(target.kind, request, yield* objectBody(request), "object")
        const created = yield* kube.create(resource, body, namespaceOption).pipe(Effect.mapError(Status.fromKubeError))
        return withWarnings(yield* objectReply(request, target.kind, wire(resource, created), 201), warnings)
      }
      case "DELETE": {
        const options = yield* deleteOptions(target, request)
        const page = yield* kube
          .list(resource, selection(target, request.query))
          .pipe(Effect.mapError(Status.fromKubeError))
        yield* Effect.forEach(
          page.items,
          (item) =>
            kube
              .delete(resource, item.metadata.name ?? "", {
                ...options,
                ...(item.metadata.namespace === undefined ? {} : { namespace: item.metadata.namespace })
              })
              .pipe(Effect.catchTag("NotFound", () => Effect.void)),
          { discard: true }
        ).pipe(Effect.mapError(Status.fromKubeError))
        return json(200, {
          kind: `${resource.kind}List`,
          apiVersion: resource.apiVersion,
          metadata: { resourceVersion: page.resourceVersion },
          items: page.items.map((item) => wire(resource, item))
        })
      }
      default:
        return yield* methodNotAllowed(request)
    }
  }
  const name = target.name
  switch (target.subresource) {
    case undefined:
    case "status":
      break
    case "scale":
      if (target.kind.subresources.some((sub) => sub.name === "scale"))
        return yield* scale(kube, resource)(target, name, request)
      return yield* Status.failure(404, "the server could not find the requested resource")
    case "eviction":
      if (target.kind.plural !== "pods" || request.method !== "POST") return yield* methodNotAllowed(request)
      return yield* evict(kube)(target, name, request)
    case "binding":
      if (target.kind.plural !== "pods" || request.method !== "POST") return yield* methodNotAllowed(request)
      return yield* bind(kube)(target.namespace ?? "default", name, request)
    default:
      return yield* Status.failure(404, "the server could not find the requested resource")
  }
  switch (request.method) {
    case "GET": {
      const object = yield* kube.get(resource, name, namespaceOption).pipe(Effect.mapError(Status.fromKubeError))
      return yield* objectReply(request, target.kind, wire(resource, object))
    }
    case "PUT": {
      const { body, warnings } = yield* checkFields(target.kind, request, yield* objectBody(request), "object")
      const replaced = yield* kube
        .replace(
          resource,
          { ...body, metadata: { ...metadataOf(body), name } },
          {
            ...namespaceOption,
            ...(target.subresource === "status" ? { subresource: "status" as const } : {})
          }
        )
        .pipe(Effect.mapError(Status.fromKubeError))
      return withWarnings(json(200, wire(resource, replaced)), warnings)
    }
    case "PATCH": {
      const { object, created, warnings } = yield* patchObject(kube, resource)(target, name, request)
      return withWarnings(json(created ? 201 : 200, object), warnings)
    }
    case "DELETE":
      if (target.subresource !== undefined) return yield* methodNotAllowed(request)
      return yield* deleteObject(kube, resource)(target, name, request)
    default:
      return yield* methodNotAllowed(request)
  }
})
