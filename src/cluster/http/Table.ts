/**
 * Server-side printing (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`, kube-api.md §2.4): the columns
 * kubectl shows for `get`, `get -o wide` and `get -w`. Custom resources get their CRD printer columns; the built-in
 * kinds kube-apiserver's (`pkg/printers/internalversion/printers.go`), cells computed as its print functions do from
 * the stored object, ages against the server's Clock.
 */
import type * as Crd from "../../api/Crd.ts"
import { isObject } from "../../kube/Json.ts"
import * as LabelSelector from "../../kube/LabelSelector.ts"
import * as Objects from "../Objects.ts"
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
  // Go's int(d.Seconds()) truncates toward zero.
  const seconds = Math.trunc(millis / 1000)
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
  /** "name" for the column kubectl takes the object's name from. */
  readonly format: string
  readonly cell: (object: Json, now: number) => unknown
}

const column = (
  name: string,
  cell: Column["cell"],
  options?: { readonly priority?: number; readonly type?: string; readonly format?: string }
): Column => ({
  name,
  type: options?.type ?? "string",
  priority: options?.priority ?? 0,
  format: options?.format ?? "",
  cell
})
const wide = { priority: 1 }
const integerType = { type: "integer" }

const nameOf = (object: Json) => text(at(object, "metadata", "name"), "")
const nameColumn = column("Name", nameOf, { format: "name" })
const ageColumn = column("Age", (object, now) => age(at(object, "metadata", "creationTimestamp"), now))

const integer = (value: unknown): number => (typeof value === "number" ? value : 0)
const string = (value: unknown): string => (typeof value === "string" ? value : "")
const stringMap = (value: unknown): Readonly<Record<string, string>> =>
  isObject(value) ? (value as Record<string, string>) : {}
const isDeleting = (object: Json) => at(object, "metadata", "deletionTimestamp") !== undefined

const condition = (object: Json, type: string): Json | undefined =>
  arrayAt(object, "status", "conditions").find((item): item is Json => isObject(item) && item.type === type)

// -- Shared cell formats (apimachinery's labels and metav1 helpers, printers.go's layoutContainerCells) ------------

/** `labels.FormatLabels`: `k=v` sorted by key, `<none>` when empty. */
const formatLabels = (labels: unknown): string =>
  LabelSelector.format(LabelSelector.fromLabels(stringMap(labels))) || "<none>"

/** `LabelSelectorAsSelector(selector).String()`, or undefined when the selector does not parse. */
const selectorText = (selector: unknown): string | undefined => {
  const result = LabelSelector.fromLabelSelector(isObject(selector) ? selector : undefined)
  return result.ok ? LabelSelector.format(result.selector) : undefined
}

/** The Deployment printer's selector: {@link selectorText}, `<invalid>` when it does not parse. */
const selectorString = (selector: unknown): string => selectorText(selector) ?? "<invalid>"

/** `metav1.FormatLabelSelector`: {@link selectorText}, `<none>` when empty, `<error>` when it does not parse. */
const formatLabelSelector = (selector: unknown): string => {
  const formatted = selectorText(selector)
  return formatted === undefined ? "<error>" : formatted || "<none>"
}

const templateContainers = (object: Json) => arrayAt(object, "spec", "template", "spec", "containers")
/** The Containers, Images and Selector columns `-o wide` adds to the workload kinds. */
const workloadColumns = (selector: (object: Json) => string): ReadonlyArray<Column> => [
  column(
    "Containers",
    (object) =>
      templateContainers(object)
        .map((container) => string(at(container, "name")))
        .join(","),
    wide
  ),
  column(
    "Images",
    (object) =>
      templateContainers(object)
        .map((container) => string(at(container, "image")))
        .join(","),
    wide
  ),
  column("Selector", (object) => selector(at(object, "spec", "selector") as Json), wide)
]

/** `metav1.Time.UTC().Format(time.RFC3339)` of the creation timestamp: the zero time when there is none. */
const createdAt = (object: Json): string => {
  const millis = Objects.millisOf(string(at(object, "metadata", "creationTimestamp")))
  return millis === undefined ? "0001-01-01T00:00:00Z" : Objects.timestamp(millis)
}

/** `helper.GetAccessModesAsString`: the distinct modes abbreviated, in a fixed order. */
const accessModes = (modes: ReadonlyArray<unknown>): string =>
  (
    [
      ["ReadWriteOnce", "RWO"],
      ["ReadOnlyMany", "ROX"],
      ["ReadWriteMany", "RWX"],
      ["ReadWriteOncePod", "RWOP"]
    ] as const
  )
    .filter(([mode]) => modes.includes(mode))
    .map(([, short]) => short)
    .join(",")

/** `GetPersistentVolume(Claim)Class`: the beta annotation wins over `spec.storageClassName`. */
const storageClassOf = (object: Json): string =>
  string(
    stringMap(at(object, "metadata", "annotations"))["volume.beta.kubernetes.io/storage-class"] ??
      at(object, "spec", "storageClassName")
  )

const volumeAttributesClass = (object: Json) => text(at(object, "spec", "volumeAttributesClassName"), "<unset>")
const volumeMode = (object: Json) => text(at(object, "spec", "volumeMode"), "<unset>")
const storagePhase = (object: Json) => (isDeleting(object) ? "Terminating" : string(at(object, "status", "phase")))

/** An IntOrString as `intstr.String()`; `N/A` when unset (PodDisruptionBudget). */
const intOrString = (value: unknown): string =>
  typeof value === "number" ? String(value) : typeof value === "string" ? value : "N/A"

// -- Nodes ----------------------------------------------------------------------------------------------------------

const nodeStatus = (node: Json): string => {
  const ready = condition(node, "Ready")?.status
  const state = ready === undefined ? "Unknown" : ready === "True" ? "Ready" : "NotReady"
  return at(node, "spec", "unschedulable") === true ? `${state},SchedulingDisabled` : state
}

/** `findNodeRoles`: `node-role.kubernetes.io/<role>` label keys and the `kubernetes.io/role` label's value. */
const nodeRoles = (node: Json): string => {
  const roles = new Set<string>()
  for (const [key, value] of Object.entries(stringMap(at(node, "metadata", "labels")))) {
    if (key.startsWith("node-role.kubernetes.io/") && key.length > "node-role.kubernetes.io/".length) {
      roles.add(key.slice("node-role.kubernetes.io/".length))
    } else if (key === "kubernetes.io/role" && value !== "") roles.add(value)
  }
  return roles.size === 0 ? "<none>" : [...roles].sort(Objects.compareStrings).join(",")
}

const address = (node: Json, type: string): string =>
  text(
    at(
      arrayAt(node, "status", "addresses").find((item) => isObject(item) && item.type === type),
      "address"
    )
  )

const nodeInfo = (field: string) => (node: Json) => text(at(node, "status", "nodeInfo", field), "<unknown>")

// -- Pods -----------------------------------------------------------------------------------------------------------

const podStatus = (pod: Json): string => {
  const phase = string(at(pod, "status", "phase"))
  let reason = text(at(pod, "status", "reason"), phase)
  if (
    arrayAt(pod, "status", "conditions").some(
      (item) => at(item, "type") === "PodScheduled" && at(item, "reason") === "SchedulingGated"
    )
  ) {
    reason = "SchedulingGated"
  }
  const waiting = arrayAt(pod, "status", "containerStatuses")
    .map((status) => at(status, "state", "waiting", "reason"))
    .find((found) => typeof found === "string" && found !== "")
  if (typeof waiting === "string") reason = waiting
  if (isDeleting(pod) && at(pod, "status", "reason") === "NodeLost") return "Unknown"
  if (isDeleting(pod) && phase !== "Succeeded" && phase !== "Failed") return "Terminating"
  return reason
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

/** The restart count, and how long ago the last container restarted when any did. */
const restarts = (pod: Json, now: number): string => {
  const statuses = arrayAt(pod, "status", "containerStatuses")
  const count = statuses.reduce<number>((sum, status) => sum + integer(at(status, "restartCount")), 0)
  const last = statuses
    .map((status) => Objects.millisOf(string(at(status, "lastState", "terminated", "finishedAt"))))
    .reduce<number | undefined>(
      (latest, finished) => (finished !== undefined && (latest === undefined || finished > latest) ? finished : latest),
      undefined
    )
  return count === 0 || last === undefined ? String(count) : `${count} (${humanDuration(now - last)} ago)`
}

const readinessGates = (pod: Json): string => {
  const gates = arrayAt(pod, "spec", "readinessGates")
  if (gates.length === 0) return "<none>"
  const passed = gates.filter((gate) => condition(pod, string(at(gate, "conditionType")))?.status === "True").length
  return `${passed}/${gates.length}`
}

// -- Events ---------------------------------------------------------------------------------------------------------

/** First Seen: `firstTimestamp`, else the new API's `eventTime`. */
const firstSeen = (event: Json, now: number) =>
  at(event, "firstTimestamp") === undefined ? age(at(event, "eventTime"), now) : age(at(event, "firstTimestamp"), now)

/** `formatEventSource`: component and host, the reporting controller and instance standing in for missing ones. */
const eventSource = (event: Json): string => {
  const component = text(at(event, "source", "component"), string(at(event, "reportingComponent")))
  const host = text(at(event, "source", "host"), string(at(event, "reportingInstance")))
  return host === "" ? component : `${component}, ${host}`
}

const eventObject = (event: Json): string => {
  const kind = string(at(event, "involvedObject", "kind")).toLowerCase()
  const name = string(at(event, "involvedObject", "name"))
  return name === "" ? kind : `${kind}/${name}`
}

// -- Services and RBAC bindings -----------------------------------------------------------------------------------

/** `loadBalancerStatusStringer` for `-o wide`: distinct ingress IPs (or hostnames), sorted. */
const loadBalancerIngress = (service: Json): ReadonlyArray<string> =>
  [
    ...new Set(
      arrayAt(service, "status", "loadBalancer", "ingress")
        .map((ingress) => text(at(ingress, "ip"), string(at(ingress, "hostname"))))
        .filter((value) => value !== "")
    )
  ].sort(Objects.compareStrings)

/** `getServiceExternalIP` (the server prints wide, so load balancer addresses are never clipped). */
const externalIp = (service: Json): string => {
  const externalIps = arrayAt(service, "spec", "externalIPs").map(string)
  switch (at(service, "spec", "type")) {
    case "ClusterIP":
    case "NodePort":
      return externalIps.length > 0 ? externalIps.join(",") : "<none>"
    case "LoadBalancer": {
      const all = [...loadBalancerIngress(service), ...externalIps]
      return all.length > 0 ? all.join(",") : "<pending>"
    }
    case "ExternalName":
      return string(at(service, "spec", "externalName"))
    default:
      return "<unknown>"
  }
}

/** `makePortString`: `port/protocol`, with the node port when there is one. */
const servicePorts = (service: Json): string =>
  arrayAt(service, "spec", "ports")
    .map((port) => {
      const nodePort = integer(at(port, "nodePort"))
      const protocol = string(at(port, "protocol"))
      return nodePort > 0
        ? `${integer(at(port, "port"))}:${nodePort}/${protocol}`
        : `${integer(at(port, "port"))}/${protocol}`
    })
    .join(",") || "<none>"

/** `rbac.SubjectsStrings`, one kind of subject, joined as the printer joins them. */
const subjects = (kind: "User" | "Group" | "ServiceAccount") => (binding: Json) =>
  arrayAt(binding, "subjects")
    .filter((subject) => at(subject, "kind") === kind)
    .map((subject) =>
      kind === "ServiceAccount"
        ? `${string(at(subject, "namespace"))}/${string(at(subject, "name"))}`
        : string(at(subject, "name"))
    )
    .join(", ")

const bindingColumns: ReadonlyArray<Column> = [
  nameColumn,
  column("Role", (binding) => `${string(at(binding, "roleRef", "kind"))}/${string(at(binding, "roleRef", "name"))}`),
  ageColumn,
  column("Users", subjects("User"), wide),
  column("Groups", subjects("Group"), wide),
  column("ServiceAccounts", subjects("ServiceAccount"), wide)
]

/** The columns of kinds upstream registers no printer for (`rest.NewDefaultTableConvertor`): RBAC roles, CRDs. */
const defaultColumns: ReadonlyArray<Column> = [nameColumn, column("Created At", createdAt, { type: "date" })]

/**
 * The columns of `pkg/printers/internalversion/printers.go` (`AddHandlers`) for the built-in kinds served, as the
 * server generates them: every column, wide ones (priority 1) included; kubectl shows those with `-o wide`.
 */
const builtInColumns: Readonly<Record<string, ReadonlyArray<Column>>> = {
  nodes: [
    nameColumn,
    column("Status", nodeStatus),
    column("Roles", nodeRoles),
    ageColumn,
    column("Version", (node) => string(at(node, "status", "nodeInfo", "kubeletVersion"))),
    column("Internal-IP", (node) => address(node, "InternalIP"), wide),
    column("External-IP", (node) => address(node, "ExternalIP"), wide),
    column("OS-Image", nodeInfo("osImage"), wide),
    column("Kernel-Version", nodeInfo("kernelVersion"), wide),
    column("Container-Runtime", nodeInfo("containerRuntimeVersion"), wide)
  ],
  pods: [
    nameColumn,
    column("Ready", podReady),
    column("Status", podStatus),
    column("Restarts", restarts),
    ageColumn,
    column("IP", (pod) => text(at(arrayAt(pod, "status", "podIPs")[0], "ip")), wide),
    column("Node", (pod) => text(at(pod, "spec", "nodeName")), wide),
    column("Nominated Node", (pod) => text(at(pod, "status", "nominatedNodeName")), wide),
    column("Readiness Gates", readinessGates, wide)
  ],
  events: [
    column("Last Seen", (event, now) =>
      at(event, "lastTimestamp") === undefined ? firstSeen(event, now) : age(at(event, "lastTimestamp"), now)
    ),
    column("Type", (event) => string(at(event, "type"))),
    column("Reason", (event) => string(at(event, "reason"))),
    column("Object", eventObject),
    column("Subobject", (event) => string(at(event, "involvedObject", "fieldPath")), wide),
    column("Source", eventSource, wide),
    column("Message", (event) => string(at(event, "message")).trim()),
    column("First Seen", firstSeen, wide),
    // Singleton events of the new API carry no count.
    column("Count", (event) => integer(at(event, "count")) || 1, wide),
    column("Name", nameOf, { ...wide, format: "name" })
  ],
  namespaces: [nameColumn, column("Status", (namespace) => string(at(namespace, "status", "phase"))), ageColumn],
  deployments: [
    nameColumn,
    column(
      "Ready",
      (deployment) =>
        `${integer(at(deployment, "status", "readyReplicas"))}/${integer(at(deployment, "spec", "replicas") ?? 1)}`
    ),
    column("Up-to-date", (deployment) => integer(at(deployment, "status", "updatedReplicas"))),
    column("Available", (deployment) => integer(at(deployment, "status", "availableReplicas"))),
    ageColumn,
    ...workloadColumns(selectorString)
  ],
  replicasets: [
    nameColumn,
    column("Desired", (replicaSet) => integer(at(replicaSet, "spec", "replicas") ?? 1), integerType),
    column("Current", (replicaSet) => integer(at(replicaSet, "status", "replicas")), integerType),
    column("Ready", (replicaSet) => integer(at(replicaSet, "status", "readyReplicas")), integerType),
    ageColumn,
    ...workloadColumns(formatLabelSelector)
  ],
  daemonsets: [
    nameColumn,
    ...(
      [
        ["Desired", "desiredNumberScheduled"],
        ["Current", "currentNumberScheduled"],
        ["Ready", "numberReady"],
        ["Up-to-date", "updatedNumberScheduled"],
        ["Available", "numberAvailable"]
      ] as const
    ).map(([name, field]) => column(name, (daemonSet) => integer(at(daemonSet, "status", field)), integerType)),
    column("Node Selector", (daemonSet) => formatLabels(at(daemonSet, "spec", "template", "spec", "nodeSelector"))),
    ageColumn,
    ...workloadColumns(formatLabelSelector)
  ],
  poddisruptionbudgets: [
    nameColumn,
    column("Min Available", (budget) => intOrString(at(budget, "spec", "minAvailable"))),
    column("Max Unavailable", (budget) => intOrString(at(budget, "spec", "maxUnavailable"))),
    column("Allowed Disruptions", (budget) => integer(at(budget, "status", "disruptionsAllowed")), integerType),
    ageColumn
  ],
  persistentvolumeclaims: [
    nameColumn,
    column("Status", storagePhase),
    column("Volume", (claim) => string(at(claim, "spec", "volumeName"))),
    // Capacity and access modes are the bound volume's: none until the claim is bound.
    column("Capacity", (claim) =>
      string(at(claim, "spec", "volumeName")) === "" ? "" : text(at(claim, "status", "capacity", "storage"), "0")
    ),
    column("Access Modes", (claim) =>
      string(at(claim, "spec", "volumeName")) === "" ? "" : accessModes(arrayAt(claim, "status", "accessModes"))
    ),
    column("StorageClass", storageClassOf),
    column("VolumeAttributesClass", volumeAttributesClass),
    ageColumn,
    column("VolumeMode", volumeMode, wide)
  ],
  persistentvolumes: [
    nameColumn,
    column("Capacity", (volume) => text(at(volume, "spec", "capacity", "storage"), "0")),
    column("Access Modes", (volume) => accessModes(arrayAt(volume, "spec", "accessModes"))),
    column("Reclaim Policy", (volume) => string(at(volume, "spec", "persistentVolumeReclaimPolicy"))),
    column("Status", storagePhase),
    column("Claim", (volume) =>
      at(volume, "spec", "claimRef") === undefined
        ? ""
        : `${string(at(volume, "spec", "claimRef", "namespace"))}/${string(at(volume, "spec", "claimRef", "name"))}`
    ),
    column("StorageClass", storageClassOf),
    column("VolumeAttributesClass", volumeAttributesClass),
    column("Reason", (volume) => string(at(volume, "status", "reason"))),
    ageColumn,
    column("VolumeMode", volumeMode, wide)
  ],
  storageclasses: [
    column(
      "Name",
      (storageClass) => {
        const annotations = stringMap(at(storageClass, "metadata", "annotations"))
        const isDefault =
          annotations["storageclass.kubernetes.io/is-default-class"] === "true" ||
          annotations["storageclass.beta.kubernetes.io/is-default-class"] === "true"
        return isDefault ? `${nameOf(storageClass)} (default)` : nameOf(storageClass)
      },
      { format: "name" }
    ),
    column("Provisioner", (storageClass) => string(at(storageClass, "provisioner"))),
    column("ReclaimPolicy", (storageClass) => text(at(storageClass, "reclaimPolicy"), "Delete")),
    column("VolumeBindingMode", (storageClass) => text(at(storageClass, "volumeBindingMode"), "Immediate")),
    column("AllowVolumeExpansion", (storageClass) => at(storageClass, "allowVolumeExpansion") === true),
    ageColumn
  ],
  csinodes: [
    nameColumn,
    column("Drivers", (csiNode) => arrayAt(csiNode, "spec", "drivers").length, integerType),
    ageColumn
  ],
  leases: [nameColumn, column("Holder", (lease) => string(at(lease, "spec", "holderIdentity"))), ageColumn],
  configmaps: [
    nameColumn,
    column(
      "Data",
      (configMap) =>
        Object.keys(stringMap(at(configMap, "data"))).length +
        Object.keys(stringMap(at(configMap, "binaryData"))).length
    ),
    ageColumn
  ],
  secrets: [
    nameColumn,
    column("Type", (secret) => string(at(secret, "type"))),
    column("Data", (secret) => Object.keys(stringMap(at(secret, "data"))).length),
    ageColumn
  ],
  services: [
    nameColumn,
    column("Type", (service) => string(at(service, "spec", "type"))),
    column("Cluster-IP", (service) => text(arrayAt(service, "spec", "clusterIPs")[0])),
    column("External-IP", externalIp),
    column("Port(s)", servicePorts),
    ageColumn,
    column("Selector", (service) => formatLabels(at(service, "spec", "selector")), wide)
  ],
  serviceaccounts: [nameColumn, column("Secrets", (account) => arrayAt(account, "secrets").length), ageColumn],
  rolebindings: bindingColumns,
  clusterrolebindings: bindingColumns,
  roles: defaultColumns,
  clusterroles: defaultColumns,
  customresourcedefinitions: defaultColumns
}

// A CRD's date columns are printed as ages, so kubectl is told they are strings.
const printerColumn = (printer: Crd.PrinterColumn): Column =>
  column(
    printer.name,
    (object, now) => {
      const value = jsonPath(object, printer.jsonPath)
      if (value === undefined || value === null) return null
      return printer.type === "date" ? age(value, now) : value
    },
    { priority: printer.priority ?? 0, type: printer.type === "date" ? "string" : printer.type }
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
      type: definition.type,
      format: definition.format,
      description: "",
      priority: definition.priority
    })),
    rows: objects.filter(isObject).map((object) => ({
      cells: columns.map((definition) => definition.cell(object, now)),
      object: { kind: "PartialObjectMetadata", apiVersion: "meta.k8s.io/v1", metadata: at(object, "metadata") }
    }))
  }
}
