/**
 * What a pod demands of node labels, and whether the provisioner should look at the pod at all: Karpenter's
 * `newPodRequirements` (`pkg/scheduling/requirements.go`) and the pod filters of `pkg/utils/pod/scheduling.go` and
 * `Provisioner.Validate` (`pkg/controllers/provisioning/provisioner.go`), v1.4.0.
 */
import * as Labels from "../api/Labels.ts"
import * as Meta from "../api/Meta.ts"
import type * as Pod from "../api/Pod.ts"
import * as Requirement from "./Requirement.ts"
import * as Requirements from "./Requirements.ts"

/** The first of the heaviest weighted items, or undefined for none (upstream sorts by weight and takes the head). */
export const heaviest = <A extends { readonly weight: number }>(items: ReadonlyArray<A> | undefined): A | undefined => {
  if (items === undefined) return undefined
  let best: A | undefined
  for (const item of items) if (best === undefined || item.weight > best.weight) best = item
  return best
}

const pushExpressions = (
  into: Array<Requirement.Requirement>,
  expressions: ReadonlyArray<Meta.NodeSelectorRequirement> | undefined
): void => {
  if (expressions === undefined) return
  for (const expression of expressions) {
    into.push(Requirement.make(expression.key, expression.operator, expression.values ?? []))
  }
}

/**
 * The pod's node requirements: its nodeSelector as `In`, the heaviest preferred node-affinity term treated as required
 * (unless `ignorePreferences`), and only the first required node-selector term; the other OR terms are reached by
 * relaxation dropping the first.
 */
export const requirementsOf = (
  spec: Pod.Spec,
  options?: { readonly ignorePreferences?: boolean }
): Requirements.Requirements => {
  const nodeAffinity = spec.affinity?.nodeAffinity
  if (nodeAffinity === undefined) return Requirements.fromLabels(spec.nodeSelector)
  const reqs: Array<Requirement.Requirement> = []
  if (spec.nodeSelector !== undefined) {
    for (const key of Object.keys(spec.nodeSelector)) reqs.push(Requirement.make(key, "In", [spec.nodeSelector[key]!]))
  }
  if (options?.ignorePreferences !== true) {
    pushExpressions(
      reqs,
      heaviest(nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution)?.preference.matchExpressions
    )
  }
  pushExpressions(
    reqs,
    nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms[0]?.matchExpressions
  )
  return Requirements.make(...reqs)
}

/** Only what the pod requires: its nodeSelector and first required node-selector term (upstream's strict ones). */
export const strictRequirementsOf = (spec: Pod.Spec): Requirements.Requirements =>
  requirementsOf(spec, { ignorePreferences: true })

/** Whether the pod declares preferred node affinity (then its strict requirements differ from its requirements). */
export const hasPreferredNodeAffinity = (spec: Pod.Spec): boolean =>
  (spec.affinity?.nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution?.length ?? 0) > 0

const mirrorAnnotation = "kubernetes.io/config.mirror"
const supportedOperators: ReadonlySet<string> = new Set(["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"])
const nonNegativeInteger = /^\+?[0-9]+$/

// Restricted under Labels.WellKnownLabels widened by `extra`, without building the union per key.
const restricted = (key: string, extra: ReadonlySet<string> | undefined): boolean =>
  Labels.isRestricted(key) && (extra === undefined || Labels.RestrictedLabels.has(key) || !extra.has(key))

// Kubernetes' IsQualifiedName: an optional DNS-subdomain prefix of at most 253 characters, a name of at most 63.
const isQualifiedName = (key: string): boolean => {
  if (!Meta.QualifiedNamePattern.test(key)) return false
  const slash = key.indexOf("/")
  return slash < 0 ? key.length <= 63 : slash <= 253 && key.length - slash - 1 <= 63
}

const isLabelValue = (value: string): boolean => value.length <= 63 && Meta.LabelValuePattern.test(value)

// Upstream `ValidateRequirement` for one expression, as a short message naming where the expression came from.
const invalidExpression = (
  source: string,
  expression: Meta.NodeSelectorRequirement,
  wellKnown: ReadonlySet<string> | undefined
): string | undefined => {
  const key = Labels.normalize(expression.key)
  const operator = expression.operator
  const values = expression.values ?? []
  if (!supportedOperators.has(operator)) return `${source} uses unsupported operator ${operator} on label ${key}`
  if (restricted(key, wellKnown)) return `${source} uses restricted label ${key}`
  if (!isQualifiedName(key)) return `${source} label ${JSON.stringify(key)} is not a qualified name`
  for (const value of values) {
    if (!isLabelValue(value)) {
      return `${source} value ${JSON.stringify(value)} of label ${key} is not a valid label value`
    }
  }
  if (operator === "In" && values.length === 0) return `${source} label ${key} uses In without values`
  if ((operator === "Gt" || operator === "Lt") && (values.length !== 1 || !nonNegativeInteger.test(values[0]!))) {
    return `${source} label ${key} uses ${operator} without a single non-negative integer`
  }
  return undefined
}

const invalidTerm = (
  source: string,
  term: Meta.NodeSelectorTerm,
  wellKnown: ReadonlySet<string> | undefined
): string | undefined => {
  if (term.matchFields !== undefined && term.matchFields.length > 0) return `${source} uses matchFields (unsupported)`
  if (term.matchExpressions === undefined) return undefined
  for (const expression of term.matchExpressions) {
    const problem = invalidExpression(source, expression, wellKnown)
    if (problem !== undefined) return problem
  }
  return undefined
}

const validateNodeSelector = (spec: Pod.Spec, wellKnown: ReadonlySet<string> | undefined): string | undefined => {
  const selector = spec.nodeSelector
  if (selector === undefined) return undefined
  for (const key of Object.keys(selector)) {
    const problem = invalidExpression("node selector", { key, operator: "In", values: [selector[key]!] }, wellKnown)
    if (problem !== undefined) return problem
  }
  return undefined
}

const validateAffinity = (spec: Pod.Spec, wellKnown: ReadonlySet<string> | undefined): string | undefined => {
  const nodeAffinity = spec.affinity?.nodeAffinity
  if (nodeAffinity === undefined) return undefined
  for (const term of nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? []) {
    const problem = invalidTerm("node affinity", term, wellKnown)
    if (problem !== undefined) return problem
  }
  for (const term of nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution ?? []) {
    const problem = invalidTerm("preferred node affinity", term.preference, wellKnown)
    if (problem !== undefined) return problem
  }
  return undefined
}

const terminalPhases: ReadonlySet<string> = new Set(["Succeeded", "Failed"])

/**
 * Why the provisioner leaves the pod alone, or undefined when it should find it capacity. In order: bound to a node,
 * terminating, owned by a DaemonSet, a mirror (static) pod, terminal; then upstream `Validate`: requirements that
 * forbid Karpenter nodes (`karpenter.sh/nodepool DoesNotExist`), and nodeSelector or node-affinity expressions with a
 * restricted label, an unsupported operator, malformed keys or values, or `matchFields`. `wellKnown` adds a cloud
 * provider's labels to {@link Labels.WellKnownLabels}. Volume problems are reported by `VolumeTopology.inject`.
 */
export const notProvisionable = (pod: Pod.Pod, wellKnown?: ReadonlySet<string>): string | undefined => {
  const { metadata, spec } = pod
  if (spec.nodeName !== undefined && spec.nodeName !== "") return `bound to node ${spec.nodeName}`
  if (metadata.deletionTimestamp !== undefined) return "terminating"
  for (const owner of metadata.ownerReferences ?? []) {
    // Upstream matches any DaemonSet owner reference, not only the controller one.
    if (owner.kind === "DaemonSet") return `owned by DaemonSet ${metadata.namespace ?? "default"}/${owner.name}`
  }
  if (metadata.annotations?.[mirrorAnnotation] !== undefined) return "mirror pod"
  for (const owner of metadata.ownerReferences ?? []) {
    if (owner.kind === "Node" && owner.apiVersion === "v1") return `mirror pod of node ${owner.name}`
  }
  const phase = pod.status?.phase
  if (phase !== undefined && terminalPhases.has(phase)) return `terminal (phase ${phase})`
  const nodePool = requirementsOf(spec).get(Labels.NodePool)
  if (nodePool !== undefined && Requirement.operator(nodePool) === "DoesNotExist") {
    return `configured not to run on Karpenter nodes (${Labels.NodePool} DoesNotExist)`
  }
  return validateNodeSelector(spec, wellKnown) ?? validateAffinity(spec, wellKnown)
}
