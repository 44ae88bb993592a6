/**
 * Topology during a scheduling simulation: topology spread constraints, pod affinity and pod anti-affinity (and the
 * inverse anti-affinity of pods already running), as domain counts per topology key. For a pod about to land on a
 * node or NodeClaim, a group narrows the node's requirement on its key to the domains the constraint allows
 * (karpenter-semantics.md §4.7).
 *
 * Candidate domains are computed from the node's own requirement on the key when it is concrete (a NodeClaim's
 * hostname, a zone already chosen), else from the domain universe, so a check costs the number of candidates, not
 * the number of known domains.
 */

import * as Arr from "effect/Array"
import * as Equivalence from "effect/Equivalence"
import * as Labels from "../../../api/Labels.ts"
import type { Namespace } from "../../../api/Namespace.ts"
import {
  hasRequiredAntiAffinity,
  isActive,
  keyOf,
  type Pod,
  type PodAffinityTerm,
  type TopologySpreadConstraint
} from "../../../api/Pod.ts"
import type { TaintLike } from "../../../api/Taints.ts"
import * as LabelSelector from "../../../kube/LabelSelector.ts"
import * as Requirement from "../../../scheduling/Requirement.ts"
import * as Requirements from "../../../scheduling/Requirements.ts"
import * as Tolerations from "../../../scheduling/Tolerations.ts"

/** What a group constrains. */
export type Kind = "spread" | "affinity" | "antiAffinity"

/** Which nodes a spread constraint counts (nodeAffinityPolicy and nodeTaintsPolicy). */
interface NodeFilter {
  /** Honor node affinity: a node counts when its requirements are compatible with one of these terms. */
  readonly terms: ReadonlyArray<Requirements.Requirements> | undefined
  /** Honor taints: a node counts when these tolerations tolerate its taints. */
  readonly tolerations: Pod["spec"]["tolerations"] | undefined
}

/** A node (existing or simulated) as topology sees it. */
export interface TopologyNode {
  readonly requirements: Requirements.Requirements
  readonly taints: ReadonlyArray<TaintLike>
}

/** One constraint shared by every pod that declares it (deduplicated by its definition). */
export class Group {
  /** Domain → number of counted pods (zero-count domains included once known). */
  readonly counts = new Map<string, number>()
  /** For an inverse group: the pods whose anti-affinity it is (a pod's own groups are kept by {@link Topology}). */
  readonly owners = new Set<string>()
  /** The sum of all counts: 0 while no selected pod runs anywhere. */
  total = 0
  /** How many simulated NodeClaims' hostnames have a count (kept by {@link Topology}). */
  populatedNodeClaims = 0
  private unmetText: string | undefined = undefined

  constructor(
    readonly id: string,
    readonly kind: Kind,
    readonly key: string,
    readonly namespaces: ReadonlySet<string>,
    readonly selector: LabelSelector.Selector,
    readonly maxSkew: number,
    readonly minDomains: number | undefined,
    readonly filter: NodeFilter | undefined,
    readonly inverse: boolean
  ) {}

  /** Whether the group counts (selects) this pod. */
  selects(namespace: string, labels: Readonly<Record<string, string>> | undefined): boolean {
    return this.namespaces.has(namespace) && LabelSelector.matches(this.selector, labels)
  }

  /** Whether a node counts for this group's spread. */
  countsNode(node: TopologyNode): boolean {
    const filter = this.filter
    if (filter === undefined) return true
    if (
      filter.terms !== undefined &&
      !filter.terms.some((term) => Requirements.isCompatible(node.requirements, term))
    ) {
      return false
    }
    return filter.tolerations === undefined || Tolerations.tolerates(filter.tolerations, node.taints) === undefined
  }

  record(domain: string, pods = 1): void {
    this.counts.set(domain, (this.counts.get(domain) ?? 0) + pods)
    this.total += pods
  }

  /**
   * Why a node fails the constraint. Made once per group: a pass tries a pod on every node, and most rejections go
   * unread (the pod lands elsewhere).
   */
  unmet(): string {
    this.unmetText ??= `${this.describe()} cannot be met`
    return this.unmetText
  }

  /** One line naming the constraint, for explanations. */
  describe(): string {
    switch (this.kind) {
      case "spread":
        return `topology spread maxSkew=${this.maxSkew} on ${this.key}`
      case "affinity":
        return `pod affinity on ${this.key}`
      case "antiAffinity":
        return this.inverse ? `anti-affinity of running pods on ${this.key}` : `pod anti-affinity on ${this.key}`
    }
  }
}

/** The pod facts topology needs. */
export interface TopologyPod {
  readonly key: string
  readonly pod: Pod
  /** The pod's required requirements (nodeSelector and the first required node-affinity term). */
  readonly strictRequirements: Requirements.Requirements
}

/** The constraints that apply to one pod, with what each needs of it (see {@link Topology.constraintsOf}). */
export interface PodConstraints {
  readonly groups: ReadonlyArray<Group>
  /** Whether each group selects the pod itself. */
  readonly selfSelecting: ReadonlyArray<boolean>
  /** The domains the pod's own requirements allow for each group's key. */
  readonly podDomains: ReadonlyArray<Requirement.Requirement>
}

/** What the simulation starts from. */
export interface TopologyInput {
  /**
   * Pods bound to nodes: counted into domains (terminal and terminating pods are skipped). Without it, the arrays of
   * `boundPodsByNode` in order.
   */
  readonly boundPods?: ReadonlyArray<Pod>
  /**
   * The same pods by node name, none of them among the pods being scheduled (`excluded` is not consulted for them).
   * Optional; when the arrays outlive one simulation (the disruption controller runs one per candidate over the same
   * pods), what each group selects of them is worked out once per array.
   */
  readonly boundPodsByNode?: ReadonlyMap<string, ReadonlyArray<Pod>>
  /** Existing nodes by name. */
  readonly nodes: ReadonlyMap<string, TopologyNode>
  /**
   * Domains each key can take on new capacity (from NodePools and instance types), each with the taints of the
   * NodePools that offer it (a spread with nodeTaintsPolicy Honor only counts domains of pools it tolerates).
   */
  readonly universe: ReadonlyMap<string, ReadonlyMap<string, ReadonlyArray<ReadonlyArray<TaintLike>>>>
  /** Namespaces and their labels, for namespace selectors of affinity terms. */
  readonly namespaces: ReadonlyArray<Namespace>
  /** Keys of the pods being scheduled: they are not counted where they currently are. */
  readonly excluded: ReadonlySet<string>
  /** Whether preferred terms and ScheduleAnyway constraints are enforced (PreferencePolicy Respect). */
  readonly respectPreferences: boolean
}

const noGroups: ReadonlyArray<Group> = []

/** The topology of one scheduling simulation. */
export class Topology {
  private readonly groups = new Map<string, Group>()
  private readonly inverseGroups = new Map<string, Group>()
  private readonly owned = new Map<string, ReadonlyArray<Group>>()
  /** Hostnames of simulated NodeClaims (existing nodes' hostnames come in through the groups' counts). */
  private readonly hostnames = new Set<string>()
  private readonly poolDomainsByGroup = new Map<Group, ReadonlyArray<string>>()
  private readonly namespaceLabels = new Map<string, Readonly<Record<string, string>>>()
  // Which inverse groups select a pod changes only when inverse groups are added; owners with no domain yet are
  // harmless (an empty group allows every domain).
  private readonly inverseCache = new Map<string, { readonly version: number; readonly groups: ReadonlyArray<Group> }>()
  private inverseVersion = 0
  // Pods of one workload repeat their constraints: parsing each pod's selectors again to find the group they share was
  // a sixth of a large pass's set-up. Keyed by everything a group is built from (see definitionOf).
  private readonly groupsByDefinition = new Map<string, Group>()

  constructor(private readonly input: TopologyInput) {
    for (const namespace of input.namespaces) {
      this.namespaceLabels.set(namespace.metadata.name ?? "", namespace.metadata.labels ?? {})
    }
    // Running pods with required anti-affinity constrain every pod they select, wherever it goes.
    const scan = input.boundPodsByNode === undefined || anyAntiAffinity(input.boundPodsByNode)
    for (const pod of scan ? boundPodsOf(input) : []) {
      const terms = pod.spec.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution
      if (terms === undefined || terms.length === 0) continue
      if (!isActive(pod) || input.excluded.has(keyOf(pod))) continue
      const node = pod.spec.nodeName === undefined ? undefined : input.nodes.get(pod.spec.nodeName)
      if (node === undefined) continue
      for (const term of terms) {
        const group = this.inverseGroup(pod, term)
        group.owners.add(keyOf(pod))
        for (const domain of this.domainsOf(node.requirements, term.topologyKey, pod.spec.nodeName))
          group.record(domain)
      }
    }
  }

  /** Makes `name` a known hostname domain (a new simulated NodeClaim). */
  registerHostname(name: string): void {
    this.hostnames.add(name)
  }

  /** Forgets a hostname domain whose simulated NodeClaim was abandoned. */
  unregisterHostname(name: string): void {
    this.hostnames.delete(name)
  }

  /** (Re)builds the groups a pod owns, after creation or relaxation of its spec. */
  update(pod: TopologyPod): void {
    const groups: Array<Group> = []
    const spec = pod.pod.spec
    for (const constraint of spec.topologySpreadConstraints ?? []) {
      if (constraint.whenUnsatisfiable !== "DoNotSchedule" && !this.input.respectPreferences) continue
      groups.push(this.spreadGroup(pod, constraint))
    }
    const affinity = spec.affinity
    for (const term of affinity?.podAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? []) {
      groups.push(this.termGroup(pod.pod, "affinity", term))
    }
    for (const term of affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? []) {
      groups.push(this.termGroup(pod.pod, "antiAffinity", term))
    }
    if (this.input.respectPreferences) {
      for (const weighted of affinity?.podAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? []) {
        groups.push(this.termGroup(pod.pod, "affinity", weighted.podAffinityTerm))
      }
      for (const weighted of affinity?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? []) {
        groups.push(this.termGroup(pod.pod, "antiAffinity", weighted.podAffinityTerm))
      }
    }
    this.owned.set(pod.key, groups)
  }

  /**
   * The node's requirements narrowed by every constraint that applies to the pod (its own groups, and the inverse
   * anti-affinity of pods that select it), or why the first constraint that leaves no domain cannot be met. The
   * requirements object is returned unchanged (the same object) when no constraint narrowed it; nothing is allocated
   * then (this is asked for every node a pod is tried on).
   */
  addRequirements(pod: TopologyPod, nodeRequirements: Requirements.Requirements): Requirements.Requirements | string {
    let requirements = nodeRequirements
    const namespace = pod.pod.metadata.namespace ?? "default"
    const labels = pod.pod.metadata.labels
    for (const group of this.applicableGroups(pod)) {
      const nodeDomains = Requirements.get(requirements, group.key)
      const allowed = this.allowedDomains(group, pod, nodeDomains, group.selects(namespace, labels))
      if (allowed === true) continue
      if (allowed.length === 0) return group.unmet()
      requirements = Requirements.narrow(
        requirements,
        Requirements.make(Requirement.make(group.key, "In", allowed))
      ).requirements
    }
    return requirements
  }

  /**
   * The constraints that apply to the pod, prepared for {@link rejects} and {@link excludesEveryNodeClaim}: a pass
   * checks them against thousands of NodeClaims per pod.
   */
  constraintsOf(pod: TopologyPod): PodConstraints {
    const groups = this.applicableGroups(pod)
    const namespace = pod.pod.metadata.namespace ?? "default"
    const labels = pod.pod.metadata.labels
    return {
      groups,
      selfSelecting: groups.map((group) => group.selects(namespace, labels)),
      podDomains: groups.map((group) => Requirements.get(pod.strictRequirements, group.key))
    }
  }

  /**
   * Whether a constraint rules the pod out of a node at once: the node's requirements pin the constraint's key to one
   * domain, which the constraint does not allow. {@link addRequirements} would then fail too; this answers without
   * narrowing anything (the hostname of every NodeClaim, and the zone of most, is pinned).
   */
  rejects(constraints: PodConstraints, nodeRequirements: Requirements.Requirements): boolean {
    const { groups, selfSelecting, podDomains } = constraints
    for (let index = 0; index < groups.length; index++) {
      const group = groups[index]!
      const nodeDomains = nodeRequirements.get(group.key)
      if (nodeDomains === undefined || nodeDomains.complement || nodeDomains.values.size !== 1) continue
      const domain = nodeDomains.values.values().next().value as string
      if (!this.allowsDomain(group, podDomains[index]!, domain, selfSelecting[index]!)) return true
    }
    return false
  }

  /**
   * Whether the pod's constraints rule out all `nodeClaims` simulated NodeClaims: an anti-affinity on hostnames that
   * counts a selected pod on each of them. Counts only grow, so the pod's in-flight search can stop before it starts.
   */
  excludesEveryNodeClaim(constraints: PodConstraints, nodeClaims: number): boolean {
    for (const group of constraints.groups) {
      if (group.kind === "antiAffinity" && group.key === Labels.Hostname && group.populatedNodeClaims === nodeClaims) {
        return true
      }
    }
    return false
  }

  /**
   * Whether a required (or, respecting preferences, preferred) pod affinity of the pod can be met on no node at all: no
   * selected pod runs in a domain the pod may use, and the pod does not select itself. Every node and NodeClaim then
   * rejects it ({@link allowedDomains} allows no domain), whatever its requirements.
   */
  affinityUnmet(pod: TopologyPod): boolean {
    const namespace = pod.pod.metadata.namespace ?? "default"
    const labels = pod.pod.metadata.labels
    for (const group of this.owned.get(pod.key) ?? []) {
      if (group.kind !== "affinity" || group.selects(namespace, labels)) continue
      if (!this.populatesAnyOf(group, Requirements.get(pod.strictRequirements, group.key))) return true
    }
    return false
  }

  /** Whether any constraint that applies to the pod uses one of these keys. */
  constrainsAny(pod: TopologyPod, keys: Requirements.Requirements): boolean {
    for (const group of this.applicableGroups(pod)) if (keys.has(group.key)) return true
    return false
  }

  /** The pod's own groups, then the inverse groups that select it (cached until inverse groups change). */
  private applicableGroups(pod: TopologyPod): ReadonlyArray<Group> {
    const owned = this.owned.get(pod.key) ?? noGroups
    const cached = this.inverseCache.get(pod.key)
    let inverse: ReadonlyArray<Group>
    if (cached !== undefined && cached.version === this.inverseVersion) {
      inverse = cached.groups
    } else {
      const namespace = pod.pod.metadata.namespace ?? "default"
      inverse = [...this.inverseGroups.values()].filter((group) => group.selects(namespace, pod.pod.metadata.labels))
      this.inverseCache.set(pod.key, { version: this.inverseVersion, groups: inverse })
    }
    if (inverse.length === 0) return owned
    return owned.length === 0 ? inverse : [...owned, ...inverse]
  }

  /** Counts the pod into every group that selects it, now that it landed on a node with these requirements. */
  record(pod: TopologyPod, node: TopologyNode): void {
    const namespace = pod.pod.metadata.namespace ?? "default"
    const labels = pod.pod.metadata.labels
    for (const group of this.groups.values()) {
      if (!group.selects(namespace, labels)) continue
      this.recordInto(group, node)
    }
    for (const group of this.inverseGroups.values()) {
      if (group.owners.has(pod.key)) this.recordAllDomains(group, node)
    }
    // A pod with anti-affinity constrains the pods it selects from now on.
    for (const term of pod.pod.spec.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? []) {
      const group = this.inverseGroup(pod.pod, term)
      if (!group.owners.has(pod.key)) {
        group.owners.add(pod.key)
        this.recordAllDomains(group, node)
      }
    }
  }

  // -- Domains ---------------------------------------------------------------------------------------------------

  /** The domains new capacity can have for `key`. */
  private universeOf(key: string): Iterable<string> {
    return key === Labels.Hostname ? this.hostnames : (this.input.universe.get(key)?.keys() ?? [])
  }

  /** Every domain the requirement on `key` may take (the universe when it is open-ended). */
  private domainsOf(requirements: Requirements.Requirements, key: string, hostname?: string): Array<string> {
    const requirement = requirements.get(key)
    if (requirement === undefined && key === Labels.Hostname && hostname !== undefined) return [hostname]
    if (requirement !== undefined && !requirement.complement) return [...requirement.values]
    return [...this.universeOf(key)].filter((value) => requirement === undefined || Requirement.has(requirement, value))
  }

  /**
   * The NodePool domains a group considers, computed once: for a spread that honours taints, only domains offered by
   * a NodePool whose taints the pod tolerates.
   */
  private poolDomains(group: Group): ReadonlyArray<string> {
    let domains = this.poolDomainsByGroup.get(group)
    if (domains === undefined) {
      const tolerations = group.kind === "spread" ? group.filter?.tolerations : undefined
      const offered = this.input.universe.get(group.key)
      domains =
        offered === undefined
          ? []
          : [...offered]
              .filter(
                ([, taintSets]) =>
                  tolerations === undefined ||
                  taintSets.some(
                    (taints) => taints.length === 0 || Tolerations.tolerates(tolerations, taints) === undefined
                  )
              )
              .map(([domain]) => domain)
      this.poolDomainsByGroup.set(group, domains)
    }
    return domains
  }

  private recordInto(group: Group, node: TopologyNode): void {
    if (group.kind === "spread" && !group.countsNode(node)) return
    if (group.kind === "antiAffinity") {
      this.recordAllDomains(group, node)
      return
    }
    // Spread and affinity count a pod only where its domain is certain.
    const requirement = node.requirements.get(group.key)
    if (requirement !== undefined && !requirement.complement && requirement.values.size === 1) {
      this.recordPlaced(group, requirement.values.values().next().value as string)
    }
  }

  private recordAllDomains(group: Group, node: TopologyNode): void {
    for (const domain of this.domainsOf(node.requirements, group.key)) this.recordPlaced(group, domain)
  }

  /** Counts a pod the simulation placed (the only way a simulated NodeClaim's hostname gets a count). */
  private recordPlaced(group: Group, domain: string): void {
    if (this.hostnames.has(domain) && (group.counts.get(domain) ?? 0) === 0) group.populatedNodeClaims++
    group.record(domain)
  }

  /**
   * The domains of the node's requirement that the group allows for this pod (for spread: the one to use), or `true`
   * when the node's requirement is a single domain that is allowed as it is (the common case, answered without
   * allocating).
   */
  private allowedDomains(
    group: Group,
    pod: TopologyPod,
    nodeDomains: Requirement.Requirement,
    selfSelecting: boolean
  ): ReadonlyArray<string> | true {
    const podDomains = Requirements.get(pod.strictRequirements, group.key)
    if (!nodeDomains.complement && nodeDomains.values.size === 1) {
      const domain = nodeDomains.values.values().next().value as string
      return this.allowsDomain(group, podDomains, domain, selfSelecting) ? true : []
    }
    const candidates = (nodeDomains.complement ? this.knownDomains(group) : [...nodeDomains.values]).filter(
      (domain) => Requirement.has(podDomains, domain) && Requirement.has(nodeDomains, domain)
    )
    switch (group.kind) {
      case "spread":
        return this.nextSpreadDomain(group, podDomains, candidates, selfSelecting)
      case "affinity": {
        const populated = candidates.filter((domain) => (group.counts.get(domain) ?? 0) > 0)
        if (populated.length > 0) return populated
        // A self-selecting pod starts a domain of its own when no selected pod runs in a domain it may use (none
        // runs yet, or all run in domains its node affinity excludes); upstream picks one at random, we the first.
        if (selfSelecting && candidates.length > 0 && !this.populatesAnyOf(group, podDomains)) {
          return [candidates.sort()[0]!]
        }
        return []
      }
      case "antiAffinity":
        return candidates.filter((domain) => (group.counts.get(domain) ?? 0) === 0)
    }
  }

  /** Whether the group allows the pod (which may use `podDomains`) on a node whose only domain is `domain`. */
  private allowsDomain(
    group: Group,
    podDomains: Requirement.Requirement,
    domain: string,
    selfSelecting: boolean
  ): boolean {
    if (!Requirement.has(podDomains, domain)) return false
    const count = group.counts.get(domain) ?? 0
    switch (group.kind) {
      case "antiAffinity":
        return count === 0
      case "affinity":
        return count > 0 || (selfSelecting && !this.populatesAnyOf(group, podDomains))
      case "spread":
        return count + (selfSelecting ? 1 : 0) - this.spreadMinimum(group, podDomains) <= group.maxSkew
    }
  }

  /** Whether the group counts a selected pod in one of these domains (upstream's `anyCompatiblePodDomain`). */
  private populatesAnyOf(group: Group, podDomains: Requirement.Requirement): boolean {
    if (group.total === 0) return false
    if (!podDomains.complement) {
      for (const domain of podDomains.values) if ((group.counts.get(domain) ?? 0) > 0) return true
      return false
    }
    for (const [domain, count] of group.counts) if (count > 0 && Requirement.has(podDomains, domain)) return true
    return false
  }

  /** Domains of new capacity the group considers, and every domain it has counted (existing nodes included). */
  private knownDomains(group: Group): Array<string> {
    const domains = new Set(group.key === Labels.Hostname ? this.hostnames : this.poolDomains(group))
    for (const domain of group.counts.keys()) domains.add(domain)
    return [...domains]
  }

  /**
   * The lowest count among the domains the pod may use: 0 for hostnames (a new one can always be made) and when
   * fewer than minDomains domains are eligible.
   */
  private spreadMinimum(group: Group, podDomains: Requirement.Requirement): number {
    if (group.key === Labels.Hostname) return 0
    // Asked for every node a spread-constrained pod is checked against: two plain loops, no closure per call.
    let eligible = 0
    let lowest = Number.POSITIVE_INFINITY
    const pool = this.poolDomains(group)
    for (const domain of pool) {
      if (!Requirement.has(podDomains, domain)) continue
      eligible++
      lowest = Math.min(lowest, group.counts.get(domain) ?? 0)
    }
    for (const domain of group.counts.keys()) {
      if (pool.includes(domain) || !Requirement.has(podDomains, domain)) continue
      eligible++
      lowest = Math.min(lowest, group.counts.get(domain) ?? 0)
    }
    return eligible === 0 || (group.minDomains !== undefined && eligible < group.minDomains) ? 0 : lowest
  }

  private nextSpreadDomain(
    group: Group,
    podDomains: Requirement.Requirement,
    candidates: ReadonlyArray<string>,
    selfSelecting: boolean
  ): Array<string> {
    const min = this.spreadMinimum(group, podDomains)
    let best: string | undefined
    let bestCount = Number.POSITIVE_INFINITY
    for (const domain of candidates) {
      const count = (group.counts.get(domain) ?? 0) + (selfSelecting ? 1 : 0)
      if (count - min > group.maxSkew) continue
      if (count < bestCount || (count === bestCount && best !== undefined && domain < best)) {
        best = domain
        bestCount = count
      }
    }
    return best === undefined ? [] : [best]
  }

  // -- Groups ----------------------------------------------------------------------------------------------------

  private namespacesOf(pod: Pod, term: PodAffinityTerm): ReadonlySet<string> {
    const namespaces = new Set(term.namespaces ?? [])
    if (term.namespaceSelector !== undefined) {
      for (const [name, labels] of this.namespaceLabels) {
        if (LabelSelector.matchesLabelSelector(term.namespaceSelector, labels)) namespaces.add(name)
      }
    }
    if (namespaces.size === 0 && term.namespaceSelector === undefined)
      namespaces.add(pod.metadata.namespace ?? "default")
    return namespaces
  }

  private termGroup(pod: Pod, kind: "affinity" | "antiAffinity", term: PodAffinityTerm): Group {
    return this.affinityTermGroup(pod, kind, term, false)
  }

  /** The group that counts the pods a pod's required anti-affinity term keeps away (upstream's inverse topology). */
  private inverseGroup(pod: Pod, term: PodAffinityTerm): Group {
    return this.affinityTermGroup(pod, "antiAffinity", term, true)
  }

  private affinityTermGroup(
    pod: Pod,
    kind: "affinity" | "antiAffinity",
    term: PodAffinityTerm,
    inverse: boolean
  ): Group {
    return this.memoized(definitionOf(inverse ? "inverse" : kind, pod, term), () =>
      this.intern(
        inverse ? this.inverseGroups : this.groups,
        kind,
        term.topologyKey,
        this.namespacesOf(pod, term),
        withLabelKeys(term.labelSelector, pod, term.matchLabelKeys),
        0,
        undefined,
        undefined,
        inverse
      )
    )
  }

  private spreadGroup(pod: TopologyPod, constraint: TopologySpreadConstraint): Group {
    const honorsAffinity = constraint.nodeAffinityPolicy !== "Ignore"
    const honorsTaints = constraint.nodeTaintsPolicy === "Honor"
    const spec = pod.pod.spec
    const nodeFilterInput = [
      honorsAffinity ? spec.nodeSelector : null,
      honorsAffinity ? spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution : null,
      honorsTaints ? (spec.tolerations ?? noTolerations) : null
    ]
    return this.memoized(definitionOf("spread", pod.pod, constraint, nodeFilterInput), () => {
      const affinityTerms = honorsAffinity ? nodeAffinityTerms(pod.pod) : undefined
      const tolerations = honorsTaints ? (spec.tolerations ?? []) : undefined
      const filter =
        affinityTerms === undefined && tolerations === undefined ? undefined : { terms: affinityTerms, tolerations }
      return this.intern(
        this.groups,
        "spread",
        constraint.topologyKey,
        new Set([pod.pod.metadata.namespace ?? "default"]),
        withLabelKeys(constraint.labelSelector, pod.pod, constraint.matchLabelKeys),
        constraint.maxSkew,
        constraint.minDomains,
        filter,
        false
      )
    })
  }

  /** The group built from this definition (see {@link definitionOf}), building it the first time. */
  private memoized(definition: string, build: () => Group): Group {
    let group = this.groupsByDefinition.get(definition)
    if (group === undefined) {
      group = build()
      this.groupsByDefinition.set(definition, group)
    }
    return group
  }

  private intern(
    table: Map<string, Group>,
    kind: Kind,
    key: string,
    namespaces: ReadonlySet<string>,
    selector: LabelSelector.Selector,
    maxSkew: number,
    minDomains: number | undefined,
    filter: NodeFilter | undefined,
    inverse: boolean
  ): Group {
    const id = JSON.stringify([
      kind,
      key,
      [...namespaces].sort(),
      LabelSelector.isNothing(selector) ? null : LabelSelector.format(selector),
      maxSkew,
      minDomains ?? null,
      filter === undefined ? null : [filter.terms?.map(Requirements.format) ?? null, filter.tolerations ?? null]
    ])
    const existing = table.get(id)
    if (existing !== undefined) return existing
    const group = new Group(id, kind, key, namespaces, selector, maxSkew, minDomains, filter, inverse)
    if (inverse) this.inverseVersion++
    else this.countExisting(group)
    table.set(id, group)
    return group
  }

  /** Counts the running pods a new group selects, and makes every matching node's domain known. */
  private countExisting(group: Group): void {
    const byNode = this.input.boundPodsByNode
    // One walk over the nodes (a group is built in every simulation of a disruption pass): each node's domains become
    // known in node order, and its pods are counted there as the walk passes it.
    for (const [name, node] of this.input.nodes) {
      if (group.kind === "spread" && !group.countsNode(node)) continue
      const domains = this.domainsOf(node.requirements, group.key, name)
      for (const domain of domains) {
        if (!group.counts.has(domain)) group.counts.set(domain, 0)
      }
      const pods = byNode?.get(name)
      if (pods === undefined || (group.kind !== "antiAffinity" && domains.length !== 1)) continue
      const counted = selectedBy(group, pods)
      if (counted.length > 0) for (const domain of domains) group.record(domain, counted.length)
    }
    if (byNode !== undefined) return
    for (const pod of boundPodsOf(this.input)) {
      if (!group.selects(pod.metadata.namespace ?? "default", pod.metadata.labels)) continue
      if (!isActive(pod) || this.input.excluded.has(keyOf(pod))) continue
      const node = pod.spec.nodeName === undefined ? undefined : this.input.nodes.get(pod.spec.nodeName)
      if (node === undefined || (group.kind === "spread" && !group.countsNode(node))) continue
      const domains = this.domainsOf(node.requirements, group.key, pod.spec.nodeName)
      if (group.kind === "antiAffinity" || domains.length === 1) for (const domain of domains) group.record(domain)
    }
  }
}

/** The input's bound pods; those of `boundPodsByNode` when it leaves them out. */
const boundPodsOf = (input: TopologyInput): ReadonlyArray<Pod> =>
  input.boundPods ?? [...(input.boundPodsByNode?.values() ?? [])].flat()

// Whether a node's bound pods (an array shared by the simulations of one snapshot) include one with required
// anti-affinity: most clusters have none, and scanning every bound pod for them took a tenth of a consolidation pass.
const antiAffinityOfPods = new WeakMap<ReadonlyArray<Pod>, boolean>()

const anyAntiAffinity = (byNode: ReadonlyMap<string, ReadonlyArray<Pod>>): boolean => {
  for (const pods of byNode.values()) {
    let found = antiAffinityOfPods.get(pods)
    if (found === undefined) {
      found = pods.some(hasRequiredAntiAffinity)
      antiAffinityOfPods.set(pods, found)
    }
    if (found) return true
  }
  return false
}

// A node's bound pods (an array shared by the simulations of one snapshot) → group id → the active ones it selects.
const selectedOfPods = new WeakMap<ReadonlyArray<Pod>, Map<string, ReadonlyArray<Pod>>>()

/** The active pods of `pods` the group selects; the id names the selection, so groups of one id share it. */
const selectedBy = (group: Group, pods: ReadonlyArray<Pod>): ReadonlyArray<Pod> => {
  let byGroup = selectedOfPods.get(pods)
  if (byGroup === undefined) {
    byGroup = new Map()
    selectedOfPods.set(pods, byGroup)
  }
  let selected = byGroup.get(group.id)
  if (selected === undefined) {
    selected = pods.filter(
      (pod) => isActive(pod) && group.selects(pod.metadata.namespace ?? "default", pod.metadata.labels)
    )
    byGroup.set(group.id, selected)
  }
  return selected
}

const noTolerations: ReadonlyArray<never> = []
const noExtra: ReadonlyArray<unknown> = []

/** A definition's text and the objects it was written from, compared by identity. */
interface Definition {
  readonly kind: string
  readonly namespace: string | undefined
  readonly labels: unknown
  readonly extra: ReadonlyArray<unknown>
  readonly text: string
}

// Pods are immutable, and the pods a disruption pass moves are simulated once per candidate (their copies share the
// spec's constraint objects): writing the same definition anew for each was 1.5% of a simulated day.
const definitionsOfTerm = new WeakMap<PodAffinityTerm | TopologySpreadConstraint, Array<Definition>>()

const sameObjects = Arr.makeEquivalence(Equivalence.strictEqual<unknown>())

/**
 * Everything a group of this kind is built from, as text: the term or constraint, the pod's namespace, the pod's values
 * for `matchLabelKeys`, and `extra` (what a spread's node filter reads of the pod). Equal text, equal group.
 */
const definitionOf = (
  kind: string,
  pod: Pod,
  term: PodAffinityTerm | TopologySpreadConstraint,
  extra: ReadonlyArray<unknown> = noExtra
): string => {
  const namespace = pod.metadata.namespace
  // The labels matter only through matchLabelKeys.
  const labels = term.matchLabelKeys === undefined ? undefined : pod.metadata.labels
  let known = definitionsOfTerm.get(term)
  const found = known?.find(
    (definition) =>
      definition.kind === kind &&
      definition.namespace === namespace &&
      definition.labels === labels &&
      sameObjects(definition.extra, extra)
  )
  if (found !== undefined) return found.text
  const text = JSON.stringify([
    kind,
    namespace ?? "default",
    term,
    term.matchLabelKeys?.map((key) => labels?.[key] ?? null) ?? null,
    extra
  ])
  if (known === undefined) {
    known = []
    definitionsOfTerm.set(term, known)
  }
  // A term is read as one or two kinds (anti-affinity and its inverse) by a handful of relaxations: keep a few.
  if (known.length >= 4) known.shift()
  known.push({ kind, namespace, labels, extra, text })
  return text
}

/** A label selector plus `matchLabelKeys` as equality requirements on the pod's own labels. */
const withLabelKeys = (
  labelSelector: LabelSelector.LabelSelectorInput | undefined,
  pod: Pod,
  matchLabelKeys: ReadonlyArray<string> | undefined
): LabelSelector.Selector => {
  const parsed = LabelSelector.fromLabelSelector(labelSelector)
  const selector = parsed.ok ? parsed.selector : LabelSelector.nothing
  if (matchLabelKeys === undefined || matchLabelKeys.length === 0 || selector._tag === "Nothing") return selector
  const extra: Array<LabelSelector.Requirement> = []
  for (const key of matchLabelKeys) {
    const value = pod.metadata.labels?.[key]
    if (value === undefined) continue
    const requirement = LabelSelector.requirement(key, "in", [value])
    if (requirement.ok) extra.push(requirement.requirement)
  }
  return { _tag: "Requirements", requirements: [...selector.requirements, ...extra] }
}

/** The pod's node-affinity terms with its nodeSelector merged into each (a node must satisfy one). */
const nodeAffinityTerms = (pod: Pod): ReadonlyArray<Requirements.Requirements> | undefined => {
  const selector = Requirements.fromLabels(pod.spec.nodeSelector)
  const terms = pod.spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? []
  if (terms.length === 0) return selector.size === 0 ? undefined : [selector]
  return terms.map((term) =>
    Requirements.addAll(selector, Requirements.fromNodeSelectorRequirements(term.matchExpressions ?? []))
  )
}
