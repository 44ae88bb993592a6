/**
 * Server-side printing (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`, kube-api.md §2.4): the columns
 * kubectl shows for `get`, `get -o wide` and `get -w`. Custom resources get their CRD printer columns; nodes, pods,
 * deployments and namespaces upstream's columns; everything else NAME and AGE.
 */
import type * as Crd from "../../api/Crd.ts"
import { isObject } from "../../kube/Json.ts"
import type * as Discovery from "./Discovery.ts"

type Json = { readonly [key: string]: unknown }

const at = (value: unknown, ...path: ReadonlyArray<string>): unknown => {
  let current = value
  for (const key of path) current = isObject(current) ? current[key] : undefined
  return current
}
const arrayAt = (value: unknown, ...path: ReadonlyArray<string>): ReadonlyArray<unknown> => {
  const found = at(value, ...path)
  return Array.isArray(found) ? found : []
}
const text = (value: unknown, fallback = "<none>"): string =>
  typeof value === "string" && value !== "" ? value : typeof value === "number" ? String(value) : fallback

/** Whether an Accept header asks for a Table. */
export const wanted = (accept: string | undefined): boolean => accept?.includes("as=Table") === true

/** kubectl's human duration (`45s`, `3m12s`, `5h2m`, `6d`), as upstream's `duration.HumanDuration`. */
export const humanDuration = (millis: number): string => {
  const seconds = Math.floor(millis / 1000)
  if (seconds < -1) return "<invalid>"
  if (seconds < 0) return "0s"
  if (seconds < 120) return `${seconds}s`
  const minutes = Math.floor(seconds / 60)
  if (minutes < 10) return seconds % 60 === 0 ? `${minutes}m` : `${minutes}m${seconds % 60}s`
  if (minutes < 180) return `${minutes}m`
  const hours = Math.floor(minutes / 60)
  if (hours < 8) return minutes % 60 === 0 ? `${hours}h` : `${hours}h${minutes % 60}m`
  if (hours < 48) return `${hours}h`
  const days = Math.floor(hours / 24)
  if (hours < 24 * 8) return hours % 24 === 0 ? `${days}d` : `${days}d${hours % 24}h`
  if (hours < 24 * 365 * 2) return `${days}d`
  const years = Math.floor(days / 365)
  if (hours < 24 * 365 * 8) return days % 365 === 0 ? `${years}y` : `${years}y${days % 365}d`
  return `${years}y`
}

const age = (timestamp: unknown, now: number): string => {
  const millis = typeof timestamp === "string" ? Date.parse(timestamp) : Number.NaN
  return Number.isNaN(millis) ? "<unknown>" : humanDuration(now - millis)
}

/**
 * Evaluates a printer column's JSONPath: `.a.b`, escaped dots in keys (`labels.node\.kubernetes\.io/x`) and
 * `[?(@.type=="Ready")]` filters over lists.
 */
export const jsonPath = (object: unknown, path: string): unknown => {
  const tokens: Array<string | { readonly key: string; readonly value: string }> = []
  let rest = path
  while (rest !== "") {
    const filter = /^\[\?\(@\.([A-Za-z0-9_]+)=="([^"]*)"\)\]/.exec(rest)
    if (filter !== null) {
      tokens.push({ key: filter[1]!, value: filter[2]! })
      rest = rest.slice(filter[0].length)
      continue
    }
    const field = /^\.((?:\\\.|[^.[])+)/.exec(rest)
    if (field === null) return undefined
    tokens.push(field[1]!.replaceAll("\\.", "."))
    rest = rest.slice(field[0].length)
  }
  let current: unknown = object
  for (const token of tokens) {
    current =
      typeof token === "string"
        ? isObject(current)
          ? current[token]
          : undefined
        : Array.isArray(current)
          ? current.find((item) => isObject(item) && item[token.key] === token.value)
          : undefined
  }
  return current
}

interface Column {
  readonly name: string
  readonly type: string
  readonly priority: number
  readonly cell: (object: Json, now: number) => unknown
}

const column = (name: string, cell: Column["cell"], priority = 0, type = "string"): Column => ({
  name,
  type,
  priority,
  cell
})

const nameColumn = column("Name", (object) => text(at(object, "metadata", "name")))
const ageColumn = column("Age", (object, now) => age(at(object, "metadata", "creationTimestamp"), now))

const condition = (object: Json, type: string): Json | undefined =>
  arrayAt(object, "status", "conditions").find((item): item is Json => isObject(item) && item.type === type)

const nodeStatus = (node: Json): string => {
  const ready = condition(node, "Ready")?.status
  const state = ready === "True" ? "Ready" : ready === "False" ? "NotReady" : "Unknown"
  return at(node, "spec", "unschedulable") === true ? `${state},SchedulingDisabled` : state
}

const nodeRoles = (node: Json): string => {
  const labels = at(node, "metadata", "labels")
  const roles = Object.keys(isObject(labels) ? labels : {})
    .filter((key) => key.startsWith("node-role.kubernetes.io/"))
    .map((key) => key.slice("node-role.kubernetes.io/".length))
  return roles.length === 0 ? "<none>" : roles.sort().join(",")
}

const address = (node: Json, type: string): string =>
  text(
    at(
      arrayAt(node, "status", "addresses").find((item) => isObject(item) && item.type === type),
      "address"
    )
  )

const podStatus = (pod: Json): string => {
  if (at(pod, "metadata", "deletionTimestamp") !== undefined) return "Terminating"
  const waiting = arrayAt(pod, "status", "containerStatuses")
    .map((status) => at(status, "state", "waiting", "reason"))
    .find((reason) => typeof reason === "string")
  return text(waiting ?? at(pod, "status", "reason") ?? at(pod, "status", "phase"), "Pending")
}

const podReady = (pod: Json): string => {
  const total = arrayAt(pod, "spec", "containers").length
  const statuses = arrayAt(pod, "status", "containerStatuses")
  // Without per-container statuses (the embedded kubelet keeps none), the pod's Ready condition speaks for all.
  const ready =
    statuses.length > 0
      ? statuses.filter((status) => at(status, "ready") === true).length
      : condition(pod, "Ready")?.status === "True"
        ? total
        : 0
  return `${ready}/${total}`
}

const restarts = (pod: Json): number =>
  arrayAt(pod, "status", "containerStatuses").reduce<number>((sum, status) => {
    const count = at(status, "restartCount")
    return sum + (typeof count === "number" ? count : 0)
  }, 0)

const integer = (value: unknown): number => (typeof value === "number" ? value : 0)

const builtInColumns: Readonly<Record<string, ReadonlyArray<Column>>> = {
  nodes: [
    nameColumn,
    column("Status", nodeStatus),
    column("Roles", nodeRoles),
    ageColumn,
    column("Version", (node) => text(at(node, "status", "nodeInfo", "kubeletVersion"), "")),
    column("Internal-IP", (node) => address(node, "InternalIP"), 1),
    column("External-IP", (node) => address(node, "ExternalIP"), 1),
    column("OS-Image", (node) => text(at(node, "status", "nodeInfo", "osImage"), "<unknown>"), 1),
    column("Kernel-Version", (node) => text(at(node, "status", "nodeInfo", "kernelVersion"), "<unknown>"), 1),
    column("Container-Runtime", (node) => text(at(node, "status", "nodeInfo", "containerRuntimeVersion"), ""), 1)
  ],
  pods: [
    nameColumn,
    column("Ready", podReady),
    column("Status", podStatus),
    column("Restarts", restarts, 0, "integer"),
    ageColumn,
    column("IP", (pod) => text(at(pod, "status", "podIP")), 1),
    column("Node", (pod) => text(at(pod, "spec", "nodeName")), 1),
    column("Nominated Node", (pod) => text(at(pod, "status", "nominatedNodeName")), 1),
    column("Readiness Gates", () => "<none>", 1)
  ],
  deployments: [
    nameColumn,
    column(
      "Ready",
      (deployment) =>
        `${integer(at(deployment, "status", "readyReplicas"))}/${integer(at(deployment, "spec", "replicas") ?? 1)}`
    ),
    column("Up-to-date", (deployment) => integer(at(deployment, "status", "updatedReplicas")), 0, "integer"),
    column("Available", (deployment) => integer(at(deployment, "status", "availableReplicas")), 0, "integer"),
    ageColumn
  ],
  namespaces: [nameColumn, column("Status", (namespace) => text(at(namespace, "status", "phase"), "Active")), ageColumn]
}

const printerColumn = (printer: Crd.PrinterColumn): Column =>
  column(
    printer.name,
    (object, now) => {
      const value = jsonPath(object, printer.jsonPath)
      if (value === undefined || value === null) return null
      return printer.type === "date" ? age(value, now) : value
    },
    printer.priority ?? 0,
    printer.type === "date" ? "date" : printer.type
  )

const columnsOf = (kind: Discovery.Kind): ReadonlyArray<Column> =>
  kind.printerColumns !== undefined
    ? [nameColumn, ...kind.printerColumns.map(printerColumn)]
    : (builtInColumns[kind.plural] ?? [nameColumn, ageColumn])

/** A metav1.Table of `objects` (wire form); `resourceVersion` and `continue` go into its list metadata. */
export const make = (
  kind: Discovery.Kind,
  objects: ReadonlyArray<unknown>,
  now: number,
  metadata: { readonly resourceVersion?: string; readonly continue?: string } = {}
) => {
  const columns = columnsOf(kind)
  return {
    kind: "Table",
    apiVersion: "meta.k8s.io/v1",
    metadata,
    columnDefinitions: columns.map((definition) => ({
      name: definition.name,
      type: definition.type === "date" ? "string" : definition.type,
      format: definition.name === "Name" ? "name" : "",
      description: "",
      priority: definition.priority
    })),
    rows: objects.filter(isObject).map((object) => ({
      cells: columns.map((definition) => definition.cell(object, now)),
      object: { kind: "PartialObjectMetadata", apiVersion: "meta.k8s.io/v1", metadata: at(object, "metadata") }
    }))
  }
}
