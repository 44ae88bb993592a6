/**
 * kube-apiserver's validation of the objects people write, in its words: object names per kind (DNS-1123 subdomain,
 * DNS-1123 or DNS-1035 label, path segment), labels, annotations and finalizers, and the pod rules users hit
 * (containers, quantities, restart policies, ports, tolerations, affinity, spread constraints, volumes) wherever a
 * pod spec sits. The schemas check types and shapes; this checks what Kubernetes' Go validation adds. One place,
 * used by the in-memory API server (so `dev`, `simulate` and the tests), the HTTP façade's own kinds, and the
 * manifests `schedule` and `simulate` read.
 *
 * Mirrors `k8s.io/apimachinery/pkg/util/validation`, `.../api/validation/objectmeta.go`,
 * `pkg/apis/core/validation` and `pkg/apis/apps/validation` (Kubernetes 1.32). Deliberately not enforced: a
 * container `image` (the emulator runs no images, and `schedule` inputs routinely omit it).
 */
import type { Problem } from "./Decode.ts"
import * as Pod from "./Pod.ts"
import * as Quantity from "./Quantity.ts"

type Json = { readonly [key: string]: unknown }

const isObject = (value: unknown): value is Json => typeof value === "object" && value !== null && !Array.isArray(value)
const objectAt = (value: unknown, key: string): Json | undefined => {
  const field = isObject(value) ? value[key] : undefined
  return isObject(field) ? field : undefined
}
const arrayAt = (value: unknown, key: string): ReadonlyArray<unknown> | undefined => {
  const field = isObject(value) ? value[key] : undefined
  return Array.isArray(field) ? field : undefined
}
const stringAt = (value: unknown, key: string): string | undefined => {
  const field = isObject(value) ? value[key] : undefined
  return typeof field === "string" ? field : undefined
}

// -- Field errors (k8s.io/apimachinery/pkg/util/validation/field) -------------------------------------------------

/** A value Go prints as it is (a struct or a map with `%#v`), not quoted as a string. */
interface Printed {
  readonly printed: string
}
const printed = (text: string): Printed => ({ printed: text })

// Go's %q for strings, %v for numbers and booleans.
const show = (value: unknown): string =>
  typeof value === "number" || typeof value === "boolean"
    ? String(value)
    : isObject(value) && typeof value.printed === "string"
      ? value.printed
      : JSON.stringify(value)

const invalid = (field: string, value: unknown, detail: string): Problem => ({
  field,
  message: `Invalid value: ${show(value)}: ${detail}`
})
const required = (field: string, detail = ""): Problem => ({
  field,
  message: detail === "" ? "Required value" : `Required value: ${detail}`
})
const notSupported = (field: string, value: unknown, supported: ReadonlyArray<string>): Problem => ({
  field,
  message: `Unsupported value: ${show(value)}: supported values: ${supported.map((v) => JSON.stringify(v)).join(", ")}`
})
const duplicate = (field: string, value: unknown): Problem => ({ field, message: `Duplicate value: ${show(value)}` })
const forbidden = (field: string, detail: string): Problem => ({ field, message: `Forbidden: ${detail}` })

const key = (path: string, name: string): string => `${path}[${name}]`
const index = (path: string, i: number): string => `${path}[${i}]`

// -- Formats (k8s.io/apimachinery/pkg/util/validation) ------------------------------------------------------------

const dns1123LabelFormat = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
const dns1123SubdomainFormat = `${dns1123LabelFormat}(\\.${dns1123LabelFormat})*`
const dns1035LabelFormat = "[a-z]([-a-z0-9]*[a-z0-9])?"
const qualifiedNameFormat = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
const labelValueFormat = `(${qualifiedNameFormat})?`
const dns1123Label = new RegExp(`^${dns1123LabelFormat}$`)
const dns1123Subdomain = new RegExp(`^${dns1123SubdomainFormat}$`)
const dns1035Label = new RegExp(`^${dns1035LabelFormat}$`)
const qualifiedName = new RegExp(`^${qualifiedNameFormat}$`)
const labelValue = new RegExp(`^${labelValueFormat}$`)

// Go's RegexError, to the letter (its examples are joined with " or " after a "', ", hence two spaces).
const regexError = (message: string, format: string, ...examples: ReadonlyArray<string>): string =>
  `${message} (e.g. ${examples.map((example) => `'${example}', `).join(" or ")}regex used for validation is '${format}')`
const maxLengthError = (length: number): string => `must be no more than ${length} characters`

const subdomainMessage = regexError(
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
  dns1123SubdomainFormat,
  "example.com"
)
const qualifiedNameMessage = regexError(
  "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
  qualifiedNameFormat,
  "MyName",
  "my.name",
  "123-abc"
)

/** `IsDNS1123Subdomain`: lowercase alphanumerics, '-' and '.', at most 253 characters. */
export const subdomainErrors = (value: string): Array<string> => {
  const errors: Array<string> = []
  if (value.length > 253) errors.push(maxLengthError(253))
  if (!dns1123Subdomain.test(value)) errors.push(subdomainMessage)
  return errors
}

/** `IsDNS1123Label`: lowercase alphanumerics and '-', at most 63 characters. */
export const labelErrors = (value: string): Array<string> => {
  const errors: Array<string> = []
  if (value.length > 63) errors.push(maxLengthError(63))
  if (!dns1123Label.test(value)) {
    errors.push(
      dns1123Subdomain.test(value)
        ? "must not contain dots"
        : regexError(
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
            dns1123LabelFormat,
            "my-name",
            "123-abc"
          )
    )
  }
  return errors
}

/** `IsDNS1035Label`: as a DNS-1123 label, but starting with a letter. */
export const dns1035LabelErrors = (value: string): Array<string> => {
  const errors: Array<string> = []
  if (value.length > 63) errors.push(maxLengthError(63))
  if (!dns1035Label.test(value)) {
    errors.push(
      regexError(
        "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character",
        dns1035LabelFormat,
        "my-name",
        "abc-123"
      )
    )
  }
  return errors
}

// The whole of IsQualifiedName as one expression, for the common case of a valid key (every write checks labels).
const validQualifiedName = new RegExp(`^(${dns1123SubdomainFormat}/)?${qualifiedNameFormat}$`)

/** `IsQualifiedName` (label keys and more): an optional DNS-subdomain prefix and '/', then a name of at most 63. */
export const qualifiedNameErrors = (value: string): Array<string> => {
  // Short enough that neither part can be too long.
  if (value.length <= 63 && validQualifiedName.test(value)) return []
  const parts = value.split("/")
  if (parts.length > 2) {
    return [
      `a qualified name ${qualifiedNameMessage} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')`
    ]
  }
  const errors: Array<string> = []
  const name = parts.length === 1 ? parts[0]! : parts[1]!
  if (parts.length === 2) {
    const prefix = parts[0]!
    if (prefix.length === 0) errors.push("prefix part must be non-empty")
    else errors.push(...subdomainErrors(prefix).map((error) => `prefix part ${error}`))
  }
  if (name.length === 0) errors.push("name part must be non-empty")
  else if (name.length > 63) errors.push(`name part ${maxLengthError(63)}`)
  if (!qualifiedName.test(name)) errors.push(`name part ${qualifiedNameMessage}`)
  return errors
}

/** `IsValidLabelValue`: empty, or a qualified name's name part (at most 63 characters). */
export const labelValueErrors = (value: string): Array<string> => {
  const errors: Array<string> = []
  if (value.length > 63) errors.push(maxLengthError(63))
  if (!labelValue.test(value)) {
    errors.push(
      regexError(
        "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
        labelValueFormat,
        "MyValue",
        "my_value",
        "12345"
      )
    )
  }
  return errors
}

// -- Object names per kind ----------------------------------------------------------------------------------------

/** A name rule: the problems of a name, or of a generateName prefix (`prefix`), which may end with '-'. */
type NameRule = (name: string, prefix: boolean) => Array<string>

// apimachinery's maskTrailingDash: a generateName prefix may end with '-', the generated suffix follows it.
const masked = (name: string, prefix: boolean): string =>
  prefix && name.length > 1 && name.endsWith("-") ? `${name.slice(0, -2)}a` : name

const subdomainName: NameRule = (name, prefix) => subdomainErrors(masked(name, prefix))
const labelName: NameRule = (name, prefix) => labelErrors(masked(name, prefix))
const dns1035Name: NameRule = (name, prefix) => dns1035LabelErrors(masked(name, prefix))
// path.ValidatePathSegmentName: RBAC objects may be named almost anything a URL path segment can hold.
const pathSegmentName: NameRule = (name, prefix) => [
  ...(!prefix && (name === "." || name === "..") ? [`may not be '${name}'`] : []),
  ...["/", "%"].filter((character) => name.includes(character)).map((character) => `may not contain '${character}'`)
]

const rbac = "rbac.authorization.k8s.io"

/** Kinds whose names are not DNS-1123 subdomains (every other kind's are, custom resources included). */
const nameRules: ReadonlyMap<string, NameRule> = new Map([
  ["/Namespace", labelName],
  ["/Service", dns1035Name],
  [`${rbac}/Role`, pathSegmentName],
  [`${rbac}/ClusterRole`, pathSegmentName],
  [`${rbac}/RoleBinding`, pathSegmentName],
  [`${rbac}/ClusterRoleBinding`, pathSegmentName]
])

/** The kind an object is validated as. */
export interface Kind {
  readonly group: string
  readonly kind: string
  readonly namespaced: boolean
}

const nameRuleOf = (kind: Kind): NameRule => nameRules.get(`${kind.group}/${kind.kind}`) ?? subdomainName

// -- Metadata (apimachinery api/validation/objectmeta.go) ---------------------------------------------------------

const annotationsSizeLimit = 256 * 1024

const labelsProblems = (labels: unknown, path: string): Array<Problem> => {
  if (!isObject(labels)) return []
  const problems: Array<Problem> = []
  for (const [name, value] of Object.entries(labels)) {
    for (const error of qualifiedNameErrors(name)) problems.push(invalid(path, name, error))
    if (typeof value === "string")
      for (const error of labelValueErrors(value)) problems.push(invalid(path, value, error))
  }
  return problems
}

const annotationsProblems = (annotations: unknown, path: string): Array<Problem> => {
  if (!isObject(annotations)) return []
  const problems: Array<Problem> = []
  let size = 0
  for (const [name, value] of Object.entries(annotations)) {
    // Case does not matter in annotation keys.
    for (const error of qualifiedNameErrors(name.toLowerCase())) problems.push(invalid(path, name, error))
    size += Buffer.byteLength(name) + (typeof value === "string" ? Buffer.byteLength(value) : 0)
  }
  if (size > annotationsSizeLimit)
    problems.push({ field: path, message: `Too long: must have at most ${annotationsSizeLimit} bytes` })
  return problems
}

const metadataProblems = (kind: Kind, metadata: Json): Array<Problem> => {
  const problems: Array<Problem> = []
  const nameRule = nameRuleOf(kind)
  const generateName = stringAt(metadata, "generateName")
  if (generateName !== undefined && generateName !== "") {
    for (const error of nameRule(generateName, true))
      problems.push(invalid("metadata.generateName", generateName, error))
  }
  const name = stringAt(metadata, "name")
  if (name === undefined || name === "") problems.push(required("metadata.name", "name or generateName is required"))
  else for (const error of nameRule(name, false)) problems.push(invalid("metadata.name", name, error))
  const namespace = stringAt(metadata, "namespace")
  if (kind.namespaced && namespace !== undefined && namespace !== "") {
    for (const error of labelErrors(namespace)) problems.push(invalid("metadata.namespace", namespace, error))
  }
  problems.push(...labelsProblems(metadata.labels, "metadata.labels"))
  problems.push(...annotationsProblems(metadata.annotations, "metadata.annotations"))
  for (const finalizer of arrayAt(metadata, "finalizers") ?? []) {
    if (typeof finalizer !== "string") continue
    for (const error of qualifiedNameErrors(finalizer)) problems.push(invalid("metadata.finalizers", finalizer, error))
  }
  return problems
}

// -- Resources (pkg/apis/core/validation: ValidateResourceRequirements) -------------------------------------------

const standardContainerResources = new Set(["cpu", "memory", "ephemeral-storage"])
// helper.IsStandardResourceName: container resources, quota resources and their requests./limits. forms.
const standardResources = new Set([
  ...standardContainerResources,
  "pods",
  "services",
  "replicationcontrollers",
  "resourcequotas",
  "secrets",
  "configmaps",
  "persistentvolumeclaims",
  "storage",
  "requests.cpu",
  "requests.memory",
  "requests.ephemeral-storage",
  "requests.storage",
  "limits.cpu",
  "limits.memory",
  "limits.ephemeral-storage"
])
const isHugePages = (name: string): boolean => name.startsWith("hugepages-")
// Native resources live in kubernetes.io (or have no domain); extended ones in any other domain.
const isNative = (name: string): boolean => !name.includes("/") || name.includes("kubernetes.io/")
const isExtended = (name: string): boolean =>
  !isNative(name) && !name.startsWith("requests.") && qualifiedNameErrors(`requests.${name}`).length === 0

const resourceNameProblems = (name: string, path: string): Array<Problem> => {
  if (standardContainerResources.has(name) || isHugePages(name)) return []
  const problems = qualifiedNameErrors(name).map((error) => invalid(path, name, error))
  if (problems.length > 0) return problems
  if (!name.includes("/")) {
    if (!standardResources.has(name) && !isHugePages(name)) {
      problems.push(invalid(path, name, "must be a standard resource type or fully qualified"))
    }
    if (!standardContainerResources.has(name) && !isHugePages(name)) {
      problems.push(invalid(path, name, "must be a standard resource for containers"))
    }
  } else if (!isNative(name) && !isExtended(name)) {
    problems.push(invalid(path, name, "doesn't follow extended resource name standard"))
  }
  return problems
}

// A quantity as Go's Quantity.String() prints it: canonical, in the notation it was written in.
const canonical = (quantity: unknown, milli: number): string =>
  Quantity.format(milli, { binary: typeof quantity === "string" && /i$/.test(quantity) })

const milliOf = (quantity: unknown): number | undefined =>
  typeof quantity === "string" || typeof quantity === "number" ? Quantity.toMilli(quantity) : undefined

const quantityProblems = (resource: string, quantity: unknown, path: string): Array<Problem> => {
  const extended = isExtended(resource)
  // Parsing quantities is most of this check's cost: only signed ones, and extended resources', need it.
  const signed = typeof quantity === "string" ? quantity.startsWith("-") : typeof quantity === "number" && quantity < 0
  if (!signed && !extended) return []
  const milli = milliOf(quantity)
  if (milli === undefined) return []
  const problems: Array<Problem> = []
  if (milli < 0) problems.push(invalid(path, canonical(quantity, milli), "must be greater than or equal to 0"))
  if (extended && milli % 1000 !== 0) problems.push(invalid(path, canonical(quantity, milli), "must be an integer"))
  return problems
}

// validatePodResourceName: pod-level resources name cpu, memory or hugepages only.
const podResourceNameProblems = (name: string, path: string): Array<Problem> => {
  if (Pod.isPodLevelResource(name)) return []
  const problems = qualifiedNameErrors(name).map((error) => invalid(path, name, error))
  if (problems.length > 0) return problems
  if (!name.includes("/") && !standardResources.has(name)) {
    return [invalid(path, name, "must be a standard resource type or fully qualified")]
  }
  return [notSupported(path, name, ["cpu", "hugepages-", "memory"])]
}

const resourcesProblems = (
  resources: Json | undefined,
  path: string,
  nameProblems: (name: string, path: string) => Array<Problem> = resourceNameProblems
): Array<Problem> => {
  if (resources === undefined) return []
  const problems: Array<Problem> = []
  const limits = objectAt(resources, "limits") ?? {}
  const requests = objectAt(resources, "requests") ?? {}
  for (const [name, quantity] of Object.entries(limits)) {
    const at = key(`${path}.limits`, name)
    problems.push(...nameProblems(name, at), ...quantityProblems(name, quantity, at))
  }
  for (const [name, quantity] of Object.entries(requests)) {
    const at = key(`${path}.requests`, name)
    problems.push(...nameProblems(name, at), ...quantityProblems(name, quantity, at))
    // Extended resources cannot be overcommitted: their requests equal their limits.
    const overcommitAllowed = !isExtended(name)
    const limitQuantity = limits[name]
    if (limitQuantity === undefined) {
      if (!overcommitAllowed)
        problems.push(required(`${path}.limits`, "Limit must be set for non overcommitable resources"))
      continue
    }
    const request = milliOf(quantity)
    const limit = milliOf(limitQuantity)
    if (limit === undefined || request === undefined) continue
    if (request !== limit && !overcommitAllowed) {
      const detail = `must be equal to ${name} limit of ${canonical(limitQuantity, limit)}`
      problems.push(invalid(`${path}.requests`, canonical(quantity, request), detail))
    } else if (request > limit) {
      const detail = `must be less than or equal to ${name} limit of ${canonical(limitQuantity, limit)}`
      problems.push(invalid(`${path}.requests`, canonical(quantity, request), detail))
    }
  }
  return problems
}

// -- Pod-level resources (pkg/apis/core/validation: validatePodResources, validatePodResourceConsistency) -----------

const quantityAsGo = (name: string, milli: number): string =>
  Quantity.format(milli, { binary: Quantity.isByteResource(name) })

/**
 * `spec.resources` of a pod: resource requirements of cpu, memory and hugepages only; pod-level requests at least the
 * containers' aggregate requests, and no container's limit above the pod-level limit.
 */
const podResourcesProblems = (spec: Json, path: string): Array<Problem> => {
  const resources = objectAt(spec, "resources")
  if (resources === undefined) return []
  const at = `${path}.resources`
  const problems = resourcesProblems(resources, at, podResourceNameProblems)
  const containers = (arrayAt(spec, "containers") ?? []).filter(isObject)
  const initContainers = (arrayAt(spec, "initContainers") ?? []).filter(isObject)
  const aggregate = Pod.aggregateContainerRequests({ containers, initContainers } as unknown as Pod.Spec)
  const requests = objectAt(resources, "requests") ?? {}
  for (const name of Object.keys(aggregate).sort()) {
    const requested = milliOf(requests[name])
    if (requested === undefined || aggregate[name]! <= requested) continue
    const detail = `must be greater than or equal to aggregate container requests of ${quantityAsGo(name, aggregate[name]!)}`
    problems.push(invalid(key(`${at}.requests`, name), canonical(requests[name], requested), detail))
  }
  const limits = objectAt(resources, "limits") ?? {}
  for (const [i, container] of containers.entries()) {
    const containerLimits = objectAt(objectAt(container, "resources"), "limits") ?? {}
    for (const name of Object.keys(containerLimits).sort()) {
      const limit = milliOf(containerLimits[name])
      const podLimit = milliOf(limits[name])
      if (limit === undefined || podLimit === undefined || limit <= podLimit) continue
      // kube-apiserver builds this path from the pod-level resources path, as here.
      problems.push(
        invalid(
          `${index(`${at}.containers`, i)}[${name}].limits`,
          canonical(containerLimits[name], limit),
          `must be less than or equal to pod limits of ${canonical(limits[name], podLimit)}`
        )
      )
    }
  }
  return problems
}

// -- Pod spec (pkg/apis/core/validation: ValidatePodSpec) ---------------------------------------------------------

const restartPolicies = ["Always", "OnFailure", "Never"]
const protocols = ["SCTP", "TCP", "UDP"]
const taintEffects = ["NoSchedule", "PreferNoSchedule", "NoExecute"]
const tolerationOperators = ["Equal", "Exists"]
const spreadActions = ["DoNotSchedule", "ScheduleAnyway"]
const selectorOperators = ["In", "NotIn", "Exists", "DoesNotExist"]

const portProblems = (port: unknown, path: string, field: string): Array<Problem> => {
  if (typeof port !== "number") return []
  return Number.isInteger(port) && port >= 1 && port <= 65535
    ? []
    : [invalid(`${path}.${field}`, port, "must be between 1 and 65535, inclusive")]
}

const containerPortsProblems = (ports: ReadonlyArray<unknown>, path: string): Array<Problem> =>
  ports.flatMap((port, i) => {
    const at = index(path, i)
    const problems: Array<Problem> = []
    const containerPort = isObject(port) ? port.containerPort : undefined
    if (containerPort === undefined || containerPort === 0) problems.push(required(`${at}.containerPort`))
    else problems.push(...portProblems(containerPort, at, "containerPort"))
    const hostPort = isObject(port) ? port.hostPort : undefined
    if (hostPort !== undefined && hostPort !== 0) problems.push(...portProblems(hostPort, at, "hostPort"))
    const protocol = stringAt(port, "protocol")
    if (protocol !== undefined && !protocols.includes(protocol)) {
      problems.push(notSupported(`${at}.protocol`, protocol, protocols))
    }
    return problems
  })

/** Regular containers, then init containers (whose names may not repeat any container's). */
const containersProblems = (spec: Json, path: string): Array<Problem> => {
  const problems: Array<Problem> = []
  const containers = arrayAt(spec, "containers") ?? []
  if (containers.length === 0) problems.push(required(`${path}.containers`))
  const names = new Set<string>()
  const lists: ReadonlyArray<readonly [string, ReadonlyArray<unknown>]> = [
    ["containers", containers],
    ["initContainers", arrayAt(spec, "initContainers") ?? []]
  ]
  for (const [list, items] of lists) {
    for (const [i, container] of items.entries()) {
      const at = index(`${path}.${list}`, i)
      const name = stringAt(container, "name")
      if (name === undefined || name === "") problems.push(required(`${at}.name`))
      else {
        const errors = labelErrors(name)
        for (const error of errors) problems.push(invalid(`${at}.name`, name, error))
        if (names.has(name)) problems.push(duplicate(`${at}.name`, name))
        else if (errors.length === 0) names.add(name)
      }
      problems.push(...resourcesProblems(objectAt(container, "resources"), `${at}.resources`))
      problems.push(...containerPortsProblems(arrayAt(container, "ports") ?? [], `${at}.ports`))
      const restartPolicy = isObject(container) ? container.restartPolicy : undefined
      if (restartPolicy !== undefined) {
        if (list === "containers") {
          problems.push(forbidden(`${at}.restartPolicy`, "may not be set for non-init containers"))
        } else if (restartPolicy !== "Always") {
          // Only sidecars (restartPolicy Always) may set it on an init container.
          problems.push(notSupported(`${at}.restartPolicy`, restartPolicy, ["Always"]))
        }
      }
    }
  }
  return problems
}

const tolerationsProblems = (tolerations: ReadonlyArray<unknown>, path: string): Array<Problem> =>
  tolerations.flatMap((toleration, i) => {
    const at = index(path, i)
    const problems: Array<Problem> = []
    const tolerationKey = stringAt(toleration, "key") ?? ""
    const operator = stringAt(toleration, "operator") ?? ""
    const value = stringAt(toleration, "value") ?? ""
    const effect = stringAt(toleration, "effect") ?? ""
    if (tolerationKey !== "") {
      for (const error of qualifiedNameErrors(tolerationKey)) problems.push(invalid(`${at}.key`, tolerationKey, error))
    } else if (operator !== "Exists") {
      problems.push(
        invalid(
          `${at}.operator`,
          operator,
          'operator must be Exists when `key` is empty, which means "match all values and all keys"'
        )
      )
    }
    if (isObject(toleration) && toleration.tolerationSeconds !== undefined && effect !== "NoExecute") {
      problems.push(invalid(`${at}.effect`, effect, "effect must be 'NoExecute' when `tolerationSeconds` is set"))
    }
    if (operator === "" || operator === "Equal") {
      const errors = labelValueErrors(value)
      if (errors.length > 0) problems.push(invalid(`${at}.operator`, value, errors.join(";")))
    } else if (operator === "Exists") {
      if (value !== "")
        problems.push(invalid(`${at}.operator`, value, "value must be empty when `operator` is 'Exists'"))
    } else problems.push(notSupported(`${at}.operator`, operator, tolerationOperators))
    if (effect !== "" && !taintEffects.includes(effect))
      problems.push(notSupported(`${at}.effect`, effect, taintEffects))
    return problems
  })

const weightProblems = (term: unknown, path: string): Array<Problem> => {
  const weight = isObject(term) ? term.weight : undefined
  return typeof weight === "number" && (weight <= 0 || weight > 100)
    ? [invalid(`${path}.weight`, weight, "must be in the range 1-100")]
    : []
}

const nodeSelectorRequirementsProblems = (requirements: ReadonlyArray<unknown>, path: string): Array<Problem> =>
  requirements.flatMap((requirement, i) => {
    const at = index(path, i)
    const problems: Array<Problem> = []
    const operator = stringAt(requirement, "operator") ?? ""
    const values = arrayAt(requirement, "values") ?? []
    if (operator === "In" || operator === "NotIn") {
      if (values.length === 0) {
        problems.push(required(`${at}.values`, "must be specified when `operator` is 'In' or 'NotIn'"))
      }
    } else if (operator === "Exists" || operator === "DoesNotExist") {
      if (values.length > 0) {
        problems.push(forbidden(`${at}.values`, "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
      }
    } else if (operator === "Gt" || operator === "Lt") {
      if (values.length !== 1) {
        problems.push(required(`${at}.values`, "must be specified single value when `operator` is 'Lt' or 'Gt'"))
      }
    } else problems.push(invalid(`${at}.operator`, operator, "not a valid selector operator"))
    const requirementKey = stringAt(requirement, "key") ?? ""
    for (const error of qualifiedNameErrors(requirementKey)) problems.push(invalid(`${at}.key`, requirementKey, error))
    return problems
  })

const labelSelectorProblems = (selector: Json | undefined, path: string): Array<Problem> => {
  if (selector === undefined) return []
  const problems = labelsProblems(selector.matchLabels, `${path}.matchLabels`)
  for (const [i, requirement] of (arrayAt(selector, "matchExpressions") ?? []).entries()) {
    const at = index(`${path}.matchExpressions`, i)
    const operator = stringAt(requirement, "operator") ?? ""
    const values = arrayAt(requirement, "values") ?? []
    if (!selectorOperators.includes(operator)) {
      problems.push(invalid(`${at}.operator`, operator, "not a valid selector operator"))
    } else if ((operator === "In" || operator === "NotIn") && values.length === 0) {
      problems.push(required(`${at}.values`, "must be specified when `operator` is 'In' or 'NotIn'"))
    } else if ((operator === "Exists" || operator === "DoesNotExist") && values.length > 0) {
      problems.push(forbidden(`${at}.values`, "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
    }
    const requirementKey = stringAt(requirement, "key") ?? ""
    for (const error of qualifiedNameErrors(requirementKey)) problems.push(invalid(`${at}.key`, requirementKey, error))
  }
  return problems
}

const podAffinityTermProblems = (term: unknown, path: string): Array<Problem> => {
  const problems = labelSelectorProblems(objectAt(term, "labelSelector"), `${path}.labelSelector`)
  const topologyKey = stringAt(term, "topologyKey") ?? ""
  if (topologyKey === "") problems.push(required(`${path}.topologyKey`, "can not be empty"))
  else
    for (const error of qualifiedNameErrors(topologyKey))
      problems.push(invalid(`${path}.topologyKey`, topologyKey, error))
  return problems
}

const affinityProblems = (affinity: Json | undefined, path: string): Array<Problem> => {
  if (affinity === undefined) return []
  const problems: Array<Problem> = []
  const nodeAffinity = objectAt(affinity, "nodeAffinity")
  const requiredTerms = objectAt(nodeAffinity, "requiredDuringSchedulingIgnoredDuringExecution")
  if (requiredTerms !== undefined) {
    const at = `${path}.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms`
    const terms = arrayAt(requiredTerms, "nodeSelectorTerms") ?? []
    if (terms.length === 0) problems.push(required(at, "must have at least one node selector term"))
    for (const [i, term] of terms.entries()) {
      problems.push(
        ...nodeSelectorRequirementsProblems(arrayAt(term, "matchExpressions") ?? [], `${index(at, i)}.matchExpressions`)
      )
    }
  }
  for (const [i, term] of (arrayAt(nodeAffinity, "preferredDuringSchedulingIgnoredDuringExecution") ?? []).entries()) {
    const at = index(`${path}.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution`, i)
    problems.push(...weightProblems(term, at))
    problems.push(
      ...nodeSelectorRequirementsProblems(
        arrayAt(objectAt(term, "preference"), "matchExpressions") ?? [],
        `${at}.preference.matchExpressions`
      )
    )
  }
  for (const rules of ["podAffinity", "podAntiAffinity"]) {
    const podRules = objectAt(affinity, rules)
    const requiredAt = `${path}.${rules}.requiredDuringSchedulingIgnoredDuringExecution`
    for (const [i, term] of (arrayAt(podRules, "requiredDuringSchedulingIgnoredDuringExecution") ?? []).entries()) {
      problems.push(...podAffinityTermProblems(term, index(requiredAt, i)))
    }
    const preferredAt = `${path}.${rules}.preferredDuringSchedulingIgnoredDuringExecution`
    for (const [i, term] of (arrayAt(podRules, "preferredDuringSchedulingIgnoredDuringExecution") ?? []).entries()) {
      problems.push(...weightProblems(term, index(preferredAt, i)))
      problems.push(
        ...podAffinityTermProblems(objectAt(term, "podAffinityTerm"), `${index(preferredAt, i)}.podAffinityTerm`)
      )
    }
  }
  return problems
}

const spreadConstraintsProblems = (constraints: ReadonlyArray<unknown>, path: string): Array<Problem> =>
  constraints.flatMap((constraint, i) => {
    const at = index(path, i)
    const problems: Array<Problem> = []
    const maxSkew = isObject(constraint) ? constraint.maxSkew : undefined
    if (typeof maxSkew === "number" && maxSkew <= 0)
      problems.push(invalid(`${at}.maxSkew`, maxSkew, "must be greater than zero"))
    const topologyKey = stringAt(constraint, "topologyKey") ?? ""
    if (topologyKey === "") problems.push(required(`${at}.topologyKey`, "can not be empty"))
    else
      for (const error of qualifiedNameErrors(topologyKey))
        problems.push(invalid(`${at}.topologyKey`, topologyKey, error))
    const action = stringAt(constraint, "whenUnsatisfiable")
    if (action !== undefined && !spreadActions.includes(action)) {
      problems.push(notSupported(`${at}.whenUnsatisfiable`, action, spreadActions))
    }
    const minDomains = isObject(constraint) ? constraint.minDomains : undefined
    if (typeof minDomains === "number" && minDomains <= 0) {
      problems.push(invalid(`${at}.minDomains`, minDomains, "must be greater than zero"))
    }
    problems.push(...labelSelectorProblems(objectAt(constraint, "labelSelector"), `${at}.labelSelector`))
    return problems
  })

const volumesProblems = (volumes: ReadonlyArray<unknown>, path: string): Array<Problem> => {
  const names = new Set<string>()
  return volumes.flatMap((volume, i) => {
    const at = index(path, i)
    const problems: Array<Problem> = []
    const name = stringAt(volume, "name")
    if (name === undefined || name === "") problems.push(required(`${at}.name`))
    else {
      for (const error of labelErrors(name)) problems.push(invalid(`${at}.name`, name, error))
      if (names.has(name)) problems.push(duplicate(`${at}.name`, name))
      names.add(name)
    }
    const claim = objectAt(volume, "persistentVolumeClaim")
    if (claim !== undefined && (stringAt(claim, "claimName") ?? "") === "") {
      problems.push(required(`${at}.persistentVolumeClaim.claimName`))
    }
    return problems
  })
}

/** A pod spec at `path`; in a workload's template only restartPolicy Always is allowed. */
const podSpecProblems = (spec: Json | undefined, path: string, template: boolean): Array<Problem> => {
  if (spec === undefined) return []
  const problems = containersProblems(spec, path)
  problems.push(...podResourcesProblems(spec, path))
  const restartPolicy = spec.restartPolicy
  if (restartPolicy !== undefined) {
    const supported = template ? ["Always"] : restartPolicies
    if (typeof restartPolicy !== "string" || !supported.includes(restartPolicy)) {
      problems.push(notSupported(`${path}.restartPolicy`, restartPolicy, supported))
    }
  }
  const nodeName = stringAt(spec, "nodeName")
  if (nodeName !== undefined && nodeName !== "") {
    for (const error of subdomainErrors(nodeName)) problems.push(invalid(`${path}.nodeName`, nodeName, error))
  }
  problems.push(...labelsProblems(spec.nodeSelector, `${path}.nodeSelector`))
  problems.push(...tolerationsProblems(arrayAt(spec, "tolerations") ?? [], `${path}.tolerations`))
  problems.push(...affinityProblems(objectAt(spec, "affinity"), `${path}.affinity`))
  problems.push(
    ...spreadConstraintsProblems(arrayAt(spec, "topologySpreadConstraints") ?? [], `${path}.topologySpreadConstraints`)
  )
  problems.push(...volumesProblems(arrayAt(spec, "volumes") ?? [], `${path}.volumes`))
  const grace = spec.terminationGracePeriodSeconds
  if (typeof grace === "number" && grace < 0) {
    problems.push(invalid(`${path}.terminationGracePeriodSeconds`, grace, "must be greater than or equal to 0"))
  }
  return problems
}

// -- Workloads (pkg/apis/apps/validation) ---------------------------------------------------------------------------

// Go's %v of a map[string]string, as kube-apiserver prints template labels.
const goMap = (labels: Json): Printed =>
  printed(
    `map[string]string{${Object.entries(labels)
      .map(([name, value]) => `${JSON.stringify(name)}:${JSON.stringify(value)}`)
      .join(", ")}}`
  )

const selects = (selector: Json, labels: Json): boolean => {
  const matchLabels = objectAt(selector, "matchLabels") ?? {}
  if (!Object.entries(matchLabels).every(([name, value]) => labels[name] === value)) return false
  return (arrayAt(selector, "matchExpressions") ?? []).every((requirement) => {
    const requirementKey = stringAt(requirement, "key") ?? ""
    const values = arrayAt(requirement, "values") ?? []
    const value = labels[requirementKey]
    switch (stringAt(requirement, "operator")) {
      case "In":
        return value !== undefined && values.includes(value)
      case "NotIn":
        return value === undefined || !values.includes(value)
      case "Exists":
        return value !== undefined
      case "DoesNotExist":
        return value === undefined
      default:
        return false
    }
  })
}

const workloadProblems = (kind: string, object: Json): Array<Problem> => {
  const spec = objectAt(object, "spec")
  if (spec === undefined) return []
  const problems: Array<Problem> = []
  const replicas = spec.replicas
  if (typeof replicas === "number" && replicas < 0) {
    problems.push(invalid("spec.replicas", replicas, "must be greater than or equal to 0"))
  }
  const selector = objectAt(spec, "selector")
  const template = objectAt(spec, "template")
  const labels = objectAt(objectAt(template, "metadata"), "labels") ?? {}
  if (selector !== undefined) {
    problems.push(...labelSelectorProblems(selector, "spec.selector"))
    const empty =
      Object.keys(objectAt(selector, "matchLabels") ?? {}).length === 0 &&
      (arrayAt(selector, "matchExpressions") ?? []).length === 0
    if (empty) {
      problems.push(
        invalid(
          "spec.selector",
          printed(JSON.stringify(selector)),
          `empty selector is invalid for ${kind.toLowerCase()}`
        )
      )
    } else if (!selects(selector, labels)) {
      problems.push(
        invalid("spec.template.metadata.labels", goMap(labels), "`selector` does not match template `labels`")
      )
    }
  }
  problems.push(...labelsProblems(labels, "spec.template.metadata.labels"))
  problems.push(
    ...annotationsProblems(objectAt(template, "metadata")?.annotations, "spec.template.metadata.annotations")
  )
  problems.push(...podSpecProblems(objectAt(template, "spec"), "spec.template.spec", true))
  return problems
}

// -- Other kinds ----------------------------------------------------------------------------------------------------

const nodeProblems = (object: Json): Array<Problem> =>
  (arrayAt(objectAt(object, "spec"), "taints") ?? []).flatMap((taint, i) => {
    const at = index("spec.taints", i)
    const problems: Array<Problem> = []
    const taintKey = stringAt(taint, "key") ?? ""
    for (const error of qualifiedNameErrors(taintKey)) problems.push(invalid(`${at}.key`, taintKey, error))
    const value = stringAt(taint, "value") ?? ""
    for (const error of labelValueErrors(value)) problems.push(invalid(`${at}.value`, value, error))
    const effect = stringAt(taint, "effect") ?? ""
    if (effect === "") problems.push(required(`${at}.effect`))
    else if (!taintEffects.includes(effect)) problems.push(notSupported(`${at}.effect`, effect, taintEffects))
    return problems
  })

const budgetProblems = (object: Json): Array<Problem> => {
  const spec = objectAt(object, "spec")
  if (spec === undefined) return []
  const problems: Array<Problem> = []
  if (spec.minAvailable !== undefined && spec.maxUnavailable !== undefined) {
    problems.push(invalid("spec", printed(JSON.stringify(spec)), "minAvailable and maxUnavailable cannot be both set"))
  }
  for (const field of ["minAvailable", "maxUnavailable"]) {
    const value = spec[field]
    if (typeof value === "number" && value < 0) {
      problems.push(invalid(`spec.${field}`, value, "must be greater than or equal to 0"))
    }
  }
  problems.push(...labelSelectorProblems(objectAt(spec, "selector"), "spec.selector"))
  return problems
}

const kindProblems = (kind: Kind, object: Json): Array<Problem> => {
  switch (`${kind.group}/${kind.kind}`) {
    case "/Pod":
      return podSpecProblems(objectAt(object, "spec"), "spec", false)
    case "apps/Deployment":
    case "apps/ReplicaSet":
    case "apps/DaemonSet":
      return workloadProblems(kind.kind, object)
    case "/Node":
      return nodeProblems(object)
    case "policy/PodDisruptionBudget":
      return budgetProblems(object)
    default:
      return []
  }
}

/**
 * Every problem kube-apiserver would report for `object` of `kind` on create (names are validated as given: the
 * server generates a name from `generateName` first), as `field: message` pairs; empty when valid.
 */
export const validate = (kind: Kind, object: unknown): Array<Problem> => {
  if (!isObject(object)) return []
  return [...metadataProblems(kind, objectAt(object, "metadata") ?? {}), ...kindProblems(kind, object)]
}
