/**
 * `snapshot`: the objects of a live cluster that `schedule`, `simulate` and `explain` decide on, read with LIST
 * requests only, and written as one multi-document YAML file those commands accept. Secrets and ConfigMaps are never
 * read; container environment values, `envFrom` sources and kubectl's last-applied copies (which repeat them) are
 * left out, as are managedFields and the status fields no decision reads.
 */
import * as Effect from "effect/Effect"
import { stringify } from "yaml"
import type { KubeClient } from "../kube/KubeClient.ts"
import * as KubeClientService from "../kube/KubeClient.ts"
import type * as Resource from "../kube/Resource.ts"
import * as Resources from "../kube/Resources.ts"
import { InvalidInput } from "./Schedule.ts"

/** The kinds read, in the order they are written (NodePools and node classes first, as a reader expects them). */
export const kinds: ReadonlyArray<Resource.Resource<Resource.KubeObject>> = [
  Resources.NodePools,
  Resources.KWOKNodeClasses,
  Resources.EC2NodeClasses,
  Resources.NodeClaims,
  Resources.Nodes,
  Resources.Namespaces,
  Resources.StorageClasses,
  Resources.PersistentVolumes,
  Resources.PersistentVolumeClaims,
  Resources.CSINodes,
  Resources.PodDisruptionBudgets,
  Resources.DaemonSets,
  Resources.Deployments,
  Resources.ReplicaSets,
  Resources.Pods
]

/** Kinds a cluster may not serve (the CRDs of a provider it does not run): skipped when the server says 404. */
const optional: ReadonlySet<Resource.Resource<Resource.KubeObject>> = new Set([
  Resources.KWOKNodeClasses,
  Resources.EC2NodeClasses,
  Resources.CSINodes
])

/** One object of the cluster with its descriptor. */
export interface Item {
  readonly resource: Resource.Resource<Resource.KubeObject>
  readonly object: Resource.KubeObject
}

/** Objects per LIST page: a large cluster is read in pages, as kubectl does. */
const pageSize = 500

const listAll = (resource: Resource.Resource<Resource.KubeObject>, kube: KubeClient["Service"]) =>
  Effect.gen(function* () {
    const items: Array<Resource.KubeObject> = []
    let next: string | undefined
    do {
      const page = yield* kube.list(resource, { limit: pageSize, ...(next === undefined ? {} : { continue: next }) })
      items.push(...page.items)
      next = page.continue
    } while (next !== undefined && next !== "")
    return items
  })

/** Reads every kind of {@link kinds} with LIST requests (nothing else is sent); kinds the cluster lacks are skipped. */
export const read = Effect.fn("Snapshot.read")(function* () {
  const kube = yield* KubeClientService.KubeClient
  const items: Array<Item> = []
  for (const resource of kinds) {
    const objects = yield* listAll(resource, kube).pipe(
      Effect.catch((error) =>
        optional.has(resource) && error._tag === "KubeUnavailable" && error.code === 404
          ? Effect.succeed([])
          : Effect.fail(new InvalidInput({ message: `reading ${resource.plural}: ${error.message.split("\n")[0]}` }))
      )
    )
    for (const object of objects) items.push({ resource, object: sanitize(resource, object) })
  }
  return items
})

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/** Annotations that repeat the whole object as applied, environment values included. */
const copyingAnnotations = ["kubectl.kubernetes.io/last-applied-configuration"]

/** Metadata the decisions never read (and the server would reject or ignore on replay). */
const noiseMetadata = ["managedFields", "resourceVersion", "selfLink", "generation"]

/** Status fields kept per kind: what scheduling and disruption read. Other kinds keep their whole status. */
const keptStatus: Readonly<Record<string, ReadonlyArray<string>>> = {
  Pod: ["phase", "conditions", "nominatedNodeName", "startTime"],
  Node: ["capacity", "allocatable", "conditions"]
}

/**
 * Removes secrets and noise, anywhere in the object: every `env` entry keeps its name only (no `value`, no
 * `valueFrom`) and `envFrom` is dropped, so pod templates of DaemonSets, Deployments and ReplicaSets are cleaned too.
 */
const scrub = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(scrub)
  if (!isRecord(value)) return value
  const result: Record<string, unknown> = {}
  for (const [key, field] of Object.entries(value)) {
    if (key === "envFrom") continue
    result[key] =
      key === "env" && Array.isArray(field)
        ? field.flatMap((entry) => (isRecord(entry) && typeof entry.name === "string" ? [{ name: entry.name }] : []))
        : scrub(field)
  }
  return result
}

/** The object as written: apiVersion and kind set, secrets and noise removed. */
export const sanitize = (
  resource: Resource.Resource<Resource.KubeObject>,
  object: Resource.KubeObject
): Resource.KubeObject => {
  const scrubbed = scrub(object) as Record<string, unknown> & Resource.KubeObject
  const metadata: Record<string, unknown> = { ...scrubbed.metadata }
  for (const key of noiseMetadata) delete metadata[key]
  if (isRecord(metadata.annotations)) {
    const annotations = { ...metadata.annotations }
    for (const key of copyingAnnotations) delete annotations[key]
    if (Object.keys(annotations).length === 0) delete metadata.annotations
    else metadata.annotations = annotations
  }
  const result: Record<string, unknown> = {
    ...scrubbed,
    apiVersion: resource.apiVersion,
    kind: resource.kind,
    metadata
  }
  const kept = keptStatus[resource.kind]
  if (kept !== undefined && isRecord(result.status)) {
    const status = result.status
    result.status = Object.fromEntries(kept.filter((key) => status[key] !== undefined).map((key) => [key, status[key]]))
  }
  return result as unknown as Resource.KubeObject
}

// apiVersion, kind, metadata, spec, status first; the rest as the object has them.
const ordered = (object: Resource.KubeObject): Record<string, unknown> => {
  const { apiVersion, kind, metadata, ...rest } = object as unknown as Record<string, unknown>
  return { apiVersion, kind, metadata, ...rest }
}

/** The snapshot file: a comment line, then one YAML document per object, in {@link kinds} order and as listed. */
export const render = (items: ReadonlyArray<Item>, header: string): string =>
  `# ${header}\n${items.map((item) => stringify(ordered(item.object), { lineWidth: 0 })).join("---\n")}`
