/**
 * Reading Kubernetes manifests (files or directories of multi-document YAML or JSON) for `schedule` and `simulate`:
 * every document is decoded with its kind's descriptor, and every problem is reported in one line naming the file,
 * the document and the field.
 */
import * as Effect from "effect/Effect"
import * as FileSystem from "effect/FileSystem"
import * as Path from "effect/Path"
import type { PlatformError } from "effect/PlatformError"
import * as Schema from "effect/Schema"
import { LineCounter, parseAllDocuments } from "yaml"
import type * as CapacityBuffer from "../api/CapacityBuffer.ts"
import type * as KWOKNodeClass from "../api/KWOKNodeClass.ts"
import type * as Namespace from "../api/Namespace.ts"
import type * as Node from "../api/Node.ts"
import type * as NodeClaim from "../api/NodeClaim.ts"
import type * as NodeOverlay from "../api/NodeOverlay.ts"
import type * as NodePool from "../api/NodePool.ts"
import type * as Pod from "../api/Pod.ts"
import type * as PodDisruptionBudget from "../api/PodDisruptionBudget.ts"
import type * as Storage from "../api/Storage.ts"
import type * as Workloads from "../api/Workloads.ts"
import * as Discovery from "../cluster/http/Discovery.ts"
import * as Admission from "../kube/Admission.ts"
import * as Resource from "../kube/Resource.ts"
import * as Resources from "../kube/Resources.ts"

/** The apiVersion of this project's own documents (`Scenario`). */
export const ScenarioApiVersion = "karpenter-effect.dev/v1alpha1"
/** The kind of a simulation scenario document. */
export const ScenarioKind = "Scenario"

/** The file extensions read from a directory. */
export const extensions: ReadonlyArray<string> = [".yaml", ".yml", ".json"]

/** Manifests that cannot be read: `message` is one line naming the file, the document (1-based) and the problem. */
export class ManifestError extends Schema.TaggedError<ManifestError>()("ManifestError", {
  file: Schema.String,
  document: Schema.optionalKey(Schema.Number),
  reason: Schema.String
}) {
  override get message(): string {
    return oneLine(`${this.file}: ${this.document === undefined ? "" : `document ${this.document}: `}${this.reason}`)
  }
}

// Messages end up on one stderr line: schema and YAML texts may carry line breaks.
const oneLine = (text: string): string => text.replace(/\s*[\r\n]+\s*/g, " ")

/** Where an object comes from: the file (as given or joined to its directory) and the document, 1-based. */
export interface Source {
  readonly file: string
  readonly document: number
}

/** A decoded object with its descriptor and its source. */
export interface Entry {
  readonly resource: Resource.Resource<Resource.KubeObject>
  readonly object: Resource.KubeObject
  readonly source: Source
}

/** A `Scenario` document, undecoded: `simulate` decodes it (and reports problems with its source). */
export interface ScenarioDocument {
  readonly source: Source
  readonly raw: unknown
}

/** The decoded objects, per kind, each array in input order. */
export interface Manifests {
  readonly nodePools: ReadonlyArray<NodePool.NodePool>
  readonly nodeOverlays: ReadonlyArray<NodeOverlay.NodeOverlay>
  readonly capacityBuffers: ReadonlyArray<CapacityBuffer.CapacityBuffer>
  readonly podTemplates: ReadonlyArray<CapacityBuffer.PodTemplate>
  readonly nodeClaims: ReadonlyArray<NodeClaim.NodeClaim>
  readonly nodeClasses: ReadonlyArray<KWOKNodeClass.KWOKNodeClass>
  readonly nodes: ReadonlyArray<Node.Node>
  readonly pods: ReadonlyArray<Pod.Pod>
  readonly daemonSets: ReadonlyArray<Workloads.DaemonSet>
  readonly deployments: ReadonlyArray<Workloads.Deployment>
  readonly replicaSets: ReadonlyArray<Workloads.ReplicaSet>
  readonly statefulSets: ReadonlyArray<Workloads.StatefulSet>
  readonly persistentVolumeClaims: ReadonlyArray<Storage.PersistentVolumeClaim>
  readonly persistentVolumes: ReadonlyArray<Storage.PersistentVolume>
  readonly storageClasses: ReadonlyArray<Storage.StorageClass>
  readonly csiNodes: ReadonlyArray<Storage.CSINode>
  readonly podDisruptionBudgets: ReadonlyArray<PodDisruptionBudget.PodDisruptionBudget>
  readonly namespaces: ReadonlyArray<Namespace.Namespace>
  /** Objects of the other known kinds (Event, Lease, ...). */
  readonly others: ReadonlyArray<{
    readonly resource: Resource.Resource<Resource.KubeObject>
    readonly object: Resource.KubeObject
  }>
  readonly scenarios: ReadonlyArray<ScenarioDocument>
  /** Every decoded object in input order; read it through {@link objects}. */
  readonly entries: ReadonlyArray<Entry>
}

type Bucket = Exclude<keyof Manifests, "others" | "scenarios" | "entries">

const buckets: ReadonlyMap<Resource.Resource<Resource.KubeObject>, Bucket> = new Map<
  Resource.Resource<Resource.KubeObject>,
  Bucket
>([
  [Resources.NodePools, "nodePools"],
  [Resources.NodeOverlays, "nodeOverlays"],
  [Resources.CapacityBuffers, "capacityBuffers"],
  [Resources.PodTemplates, "podTemplates"],
  [Resources.NodeClaims, "nodeClaims"],
  [Resources.KWOKNodeClasses, "nodeClasses"],
  [Resources.Nodes, "nodes"],
  [Resources.Pods, "pods"],
  [Resources.DaemonSets, "daemonSets"],
  [Resources.Deployments, "deployments"],
  [Resources.ReplicaSets, "replicaSets"],
  [Resources.StatefulSets, "statefulSets"],
  [Resources.PersistentVolumeClaims, "persistentVolumeClaims"],
  [Resources.PersistentVolumes, "persistentVolumes"],
  [Resources.StorageClasses, "storageClasses"],
  [Resources.CSINodes, "csiNodes"],
  [Resources.PodDisruptionBudgets, "podDisruptionBudgets"],
  [Resources.Namespaces, "namespaces"]
])

/** Every decoded object in input order (files in the order given, documents and List items in file order). */
export const objects = (manifests: Manifests): ReadonlyArray<Entry> => manifests.entries

const group = (entries: ReadonlyArray<Entry>, scenarios: ReadonlyArray<ScenarioDocument>): Manifests => {
  const typed: Record<Bucket, Array<Resource.KubeObject>> = {
    nodePools: [],
    nodeOverlays: [],
    capacityBuffers: [],
    podTemplates: [],
    nodeClaims: [],
    nodeClasses: [],
    nodes: [],
    pods: [],
    daemonSets: [],
    deployments: [],
    replicaSets: [],
    statefulSets: [],
    persistentVolumeClaims: [],
    persistentVolumes: [],
    storageClasses: [],
    csiNodes: [],
    podDisruptionBudgets: [],
    namespaces: []
  }
  const others: Array<Manifests["others"][number]> = []
  for (const entry of entries) {
    const bucket = buckets.get(entry.resource)
    if (bucket === undefined) others.push({ resource: entry.resource, object: entry.object })
    else typed[bucket].push(entry.object)
  }
  // Each bucket only receives objects decoded by that bucket's own descriptor, so its element type is right.
  return { ...(typed as unknown as Pick<Manifests, Bucket>), others, scenarios, entries }
}

/** Manifests of objects read elsewhere (a live cluster): `origin` names their source in messages. */
export const fromObjects = (
  objects: ReadonlyArray<{
    readonly resource: Resource.Resource<Resource.KubeObject>
    readonly object: Resource.KubeObject
  }>,
  origin: string
): Manifests =>
  group(
    objects.map(({ resource, object }, index) => ({ resource, object, source: { file: origin, document: index + 1 } })),
    []
  )

// -- Decoding one object -------------------------------------------------------------------------------------------

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

// As the apiserver does on create: namespaced objects default to "default", cluster-scoped ones drop a namespace
// (kubectl ignores it), so keys (`Resource.keyOf`) are the ones the cluster would use.
const withScope = (raw: Record<string, unknown>, namespaced: boolean): Record<string, unknown> => {
  const metadata = raw.metadata
  if (!isRecord(metadata)) return raw
  const namespace = metadata.namespace
  if (namespaced) {
    return namespace === undefined || namespace === ""
      ? { ...raw, metadata: { ...metadata, namespace: "default" } }
      : raw
  }
  if (namespace === undefined) return raw
  const copy = { ...metadata }
  delete copy.namespace
  return { ...raw, metadata: copy }
}

/**
 * Decodes one object of a known kind; `at` names where it sits inside the document (`items[2]`,
 * `spec.steps[0].apply[1]`) and prefixes the problem. Objects of the other kinds a cluster serves (Secrets,
 * Services, RBAC, ...) are validated, then left out (undefined): nothing here reads them. Scenario documents are not
 * objects: this rejects them.
 */
export const decodeObject = (
  raw: unknown,
  source: Source,
  at?: string
): Effect.Effect<Entry | undefined, ManifestError> => {
  const fail = (reason: string) =>
    Effect.fail(
      new ManifestError({
        file: source.file,
        document: source.document,
        reason: at === undefined ? reason : `${at}: ${reason}`
      })
    )
  if (!isRecord(raw)) return fail("expected a Kubernetes object (a mapping with apiVersion and kind)")
  const { apiVersion, kind } = raw
  if (typeof apiVersion !== "string" || apiVersion === "") return fail("missing apiVersion")
  if (typeof kind !== "string" || kind === "") return fail("missing kind")
  const resource = Resources.byKind(apiVersion, kind)
  const served =
    resource ?? Discovery.localKinds.find((local) => local.apiVersion === apiVersion && local.kind === kind)
  if (served === undefined) return fail(`unknown kind ${apiVersion} ${kind}`)
  const scoped = withScope(raw, served.namespaced)
  const refusal = Admission.strictRefusal(served, scoped)
  if (refusal !== undefined) return fail(refusal)
  if (resource === undefined) return Effect.succeed(undefined)
  return resource.decode(scoped).pipe(
    Effect.catch((error) => fail(error.message)),
    Effect.flatMap((object) =>
      // A generateName alone names nothing here: objects are keyed by their names.
      object.metadata.name === undefined || object.metadata.name === ""
        ? fail(`invalid ${kind}: metadata.name: Required value: name is required`)
        : Effect.succeed({ resource, object, source })
    )
  )
}

// -- Parsing a file ------------------------------------------------------------------------------------------------

interface Parsed {
  readonly entries: ReadonlyArray<Entry>
  readonly scenarios: ReadonlyArray<ScenarioDocument>
}

const isScenario = (raw: unknown): boolean =>
  isRecord(raw) && raw.apiVersion === ScenarioApiVersion && raw.kind === ScenarioKind

// `kind: List` (and kubectl's typed lists such as `PodList`) hold their objects in `items`.
const listItems = (raw: unknown): ReadonlyArray<unknown> | undefined => {
  if (Array.isArray(raw)) return raw
  if (!isRecord(raw) || !Array.isArray(raw.items) || typeof raw.kind !== "string") return undefined
  if (raw.kind !== "List" && !raw.kind.endsWith("List")) return undefined
  return typeof raw.apiVersion === "string" && Resources.byKind(raw.apiVersion, raw.kind) !== undefined
    ? undefined
    : raw.items
}

const parseFile = (file: string, text: string): Effect.Effect<Parsed, ManifestError> =>
  Effect.gen(function* () {
    const lineCounter = new LineCounter()
    const documents = parseAllDocuments(text, { prettyErrors: false, lineCounter })
    const entries: Array<Entry> = []
    const scenarios: Array<ScenarioDocument> = []
    for (const [index, document] of documents.entries()) {
      const source: Source = { file, document: index + 1 }
      const [syntax] = document.errors
      if (syntax !== undefined) {
        const { line, col } = lineCounter.linePos(syntax.pos[0])
        return yield* new ManifestError({
          file,
          reason: `YAML syntax error at line ${line}, column ${col}: ${syntax.message}`
        })
      }
      const raw = yield* Effect.try({
        // Unresolved or excessive aliases only surface when converting.
        try: () => document.toJS({ maxAliasCount: 100 }) as unknown,
        catch: (error) =>
          new ManifestError({
            file,
            document: index + 1,
            reason: `YAML error: ${error instanceof Error ? error.message : String(error)}`
          })
      })
      if (raw === null || raw === undefined) continue
      const items = listItems(raw)
      const located: ReadonlyArray<readonly [unknown, string | undefined]> =
        items === undefined
          ? [[raw, undefined]]
          : items.map((item, i) => [item, Array.isArray(raw) ? `[${i}]` : `items[${i}]`] as const)
      for (const [object, at] of located) {
        if (isScenario(object)) scenarios.push({ source, raw: object })
        else {
          const entry = yield* decodeObject(object, source, at)
          if (entry !== undefined) entries.push(entry)
        }
      }
    }
    return { entries, scenarios }
  })

const duplicateCheck = (entries: ReadonlyArray<Entry>): Effect.Effect<void, ManifestError> => {
  const seen = new Map<string, Source>()
  for (const { resource, object, source } of entries) {
    const key = `${resource.apiVersion} ${resource.kind} ${Resource.keyOf(object)}`
    const first = seen.get(key)
    if (first !== undefined) {
      return Effect.fail(
        new ManifestError({
          file: source.file,
          document: source.document,
          reason: `duplicate ${resource.kind} "${Resource.keyOf(object)}" (first in ${first.file}, document ${first.document})`
        })
      )
    }
    seen.set(key, source)
  }
  return Effect.void
}

const finish = (parsed: ReadonlyArray<Parsed>): Effect.Effect<Manifests, ManifestError> => {
  const entries = parsed.flatMap((p) => p.entries)
  return duplicateCheck(entries).pipe(
    Effect.as(
      group(
        entries,
        parsed.flatMap((p) => p.scenarios)
      )
    )
  )
}

/** Manifests from the text of one file (`file` only names it in errors). */
export const parse = Effect.fn("Manifests.parse")(function* (file: string, text: string) {
  return yield* finish([yield* parseFile(file, text)])
})

// -- Reading files -------------------------------------------------------------------------------------------------

const describePlatformError = (error: PlatformError): string => {
  const reason = error.reason
  if (reason._tag === "NotFound") return "no such file or directory"
  if (reason._tag === "PermissionDenied") return "permission denied"
  return reason.description ?? reason._tag
}

const filesOf = Effect.fnUntraced(function* (input: string) {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const platform = (file: string) => (error: PlatformError) =>
    new ManifestError({ file, reason: describePlatformError(error) })
  const info = yield* fs.stat(input).pipe(Effect.mapError(platform(input)))
  if (info.type === "File") return [input]
  if (info.type !== "Directory") return yield* new ManifestError({ file: input, reason: "not a file or directory" })
  const names = yield* fs.readDirectory(input).pipe(Effect.mapError(platform(input)))
  const candidates = names
    .filter((name) => extensions.some((extension) => name.toLowerCase().endsWith(extension)))
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    .map((name) => path.join(input, name))
  const files: Array<string> = []
  for (const candidate of candidates) {
    const candidateInfo = yield* fs.stat(candidate).pipe(Effect.mapError(platform(candidate)))
    if (candidateInfo.type === "File") files.push(candidate)
  }
  if (files.length === 0) {
    return yield* new ManifestError({ file: input, reason: `no ${extensions.map((e) => `*${e}`).join(", ")} files` })
  }
  return files
})

/**
 * Reads manifests from files and directories. A directory contributes its `*.yaml`, `*.yml` and `*.json` files
 * (not its subdirectories, as `kubectl apply -f` without `-R`), sorted by name; a directory without any is an error.
 * A file named explicitly is read whatever its extension. JSON is read as YAML (a subset). Documents that are empty
 * are skipped; `List` documents (and top-level arrays) contribute their items; `Scenario` documents are returned
 * undecoded. Objects need a name, and the same object (kind, namespace, name) twice is an error.
 */
export const load = Effect.fn("Manifests.load")(function* (paths: ReadonlyArray<string>) {
  const fs = yield* FileSystem.FileSystem
  const parsed: Array<Parsed> = []
  for (const input of paths) {
    for (const file of yield* filesOf(input)) {
      const text = yield* fs
        .readFileString(file)
        .pipe(Effect.mapError((error) => new ManifestError({ file, reason: describePlatformError(error) })))
      parsed.push(yield* parseFile(file, text))
    }
  }
  return yield* finish(parsed)
})
