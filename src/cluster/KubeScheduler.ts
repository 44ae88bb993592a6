/**
 * kube-scheduler emulation for the embedded cluster (not Karpenter's provisioning scheduler): binds pending pods to
 * nodes they fit, and marks the ones that fit nowhere `PodScheduled=False, reason Unschedulable` — the signal
 * Karpenter provisions for.
 *
 * The filters follow the default profile's plugins, in their order, and each node reports the first that rejects it:
 * NodeUnschedulable and TaintToleration (NoSchedule/NoExecute taints, plus the `not-ready`/`unreachable`/
 * `unschedulable` taints the node lifecycle controller would add), NodeAffinity (nodeSelector and required node
 * affinity), NodePorts, NodeResourcesFit (allocatable minus the requests of the non-terminal pods bound there,
 * `pods` included), PodTopologySpread (DoNotSchedule constraints) and InterPodAffinity (required affinity and
 * anti-affinity, both directions). Of the nodes that pass, the best by NodeResourcesFit's LeastAllocated score
 * (kube's default; MostAllocated on request) wins, ties going to the smallest node name — where kube-scheduler would
 * pick at random — so the same cluster always gets the same placements.
 *
 * Each pass works on a snapshot of the informer caches. Pods it binds are "assumed" (kube-scheduler's assume cache)
 * until the pod informer shows the binding, so a pass that starts before the watch caught up never double-books a
 * node. Passes run when pods or nodes change (a Singleton triggered by the informers) and every `resyncInterval`.
 *
 * Not emulated: preemption, scoring plugins other than resource allocation, volume plugins, scheduling gates,
 * nominated nodes, and nodes being deleted are not candidates at all (kube-scheduler would still consider them).
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type * as Meta from "../api/Meta.ts"
import type * as Node from "../api/Node.ts"
import * as Pod from "../api/Pod.ts"
import { KubeClient } from "../kube/KubeClient.ts"
import * as LabelSelector from "../kube/LabelSelector.ts"
import * as Patch from "../kube/Patch.ts"
import * as Resource from "../kube/Resource.ts"
import * as Resources from "../kube/Resources.ts"
import * as Indices from "../runtime/Indices.ts"
import * as Informer from "../runtime/Informer.ts"
import * as InformerCache from "../runtime/InformerCache.ts"
import * as Result from "../runtime/Result.ts"
import * as Singleton from "../runtime/Singleton.ts"
import * as HostPorts from "../scheduling/HostPorts.ts"
import * as SchedulingResources from "../scheduling/ResourceLists.ts"
import * as Tolerations from "../scheduling/Tolerations.ts"
import * as Objects from "./Objects.ts"

type Labels = Readonly<Record<string, string>>

/** How nodes that fit are ranked: kube's default spreads (`LeastAllocated`); `MostAllocated` packs. */
export type Scoring = "LeastAllocated" | "MostAllocated"

/** How the scheduler runs. */
export interface Options {
  /** Default `LeastAllocated`, as kube-scheduler. */
  readonly scoring?: Scoring
  /** A pass runs at least this often even without changes; default 5 minutes (kube's unschedulable-pod flush). */
  readonly resyncInterval?: Duration.Input
}

/** A running scheduler. */
export interface Scheduler {
  /** Runs a pass now (after the current one). */
  readonly trigger: Effect.Effect<void>
}

// -- Predicates ----------------------------------------------------------------------------------------------------

/** The taint the node lifecycle controller puts on a node whose Ready condition is False or missing. */
export const NotReadyTaint: Meta.Taint = { key: "node.kubernetes.io/not-ready", effect: "NoSchedule" }
/** The taint the node lifecycle controller puts on a node whose Ready condition is Unknown. */
export const UnreachableTaint: Meta.Taint = { key: "node.kubernetes.io/unreachable", effect: "NoSchedule" }
/** The taint TaintNodesByCondition puts on a cordoned node (`spec.unschedulable`). */
export const UnschedulableTaint: Meta.Taint = { key: "node.kubernetes.io/unschedulable", effect: "NoSchedule" }

const nodeSelectorOperators: Readonly<Record<string, LabelSelector.Operator>> = {
  In: "in",
  NotIn: "notin",
  Exists: "exists",
  DoesNotExist: "!",
  Gt: "gt",
  Lt: "lt"
}

interface CompiledTerm {
  readonly expressions: ReadonlyArray<LabelSelector.Requirement>
  readonly fields: ReadonlyArray<LabelSelector.Requirement>
}

// Decoded objects are immutable and cached by the informers, so their terms compile once.
const compiledTerms = new WeakMap<Meta.NodeSelectorTerm, CompiledTerm | null>()

const compileRequirements = (
  list: ReadonlyArray<Meta.NodeSelectorRequirement>
): ReadonlyArray<LabelSelector.Requirement> | undefined => {
  const result: Array<LabelSelector.Requirement> = []
  for (const item of list) {
    const operator = Object.hasOwn(nodeSelectorOperators, item.operator)
      ? nodeSelectorOperators[item.operator]
      : undefined
    if (operator === undefined) return undefined
    const built = LabelSelector.requirement(item.key, operator, item.values ?? [])
    if (!built.ok) return undefined
    result.push(built.requirement)
  }
  return result
}

const compileTerm = (term: Meta.NodeSelectorTerm): CompiledTerm | null => {
  const cached = compiledTerms.get(term)
  if (cached !== undefined) return cached
  const expressions = compileRequirements(term.matchExpressions ?? [])
  const fields = compileRequirements(term.matchFields ?? [])
  // Only metadata.name is a supported node field; an empty term selects nothing (upstream nodeaffinity).
  const compiled =
    expressions === undefined ||
    fields === undefined ||
    fields.some((field) => field.key !== "metadata.name") ||
    expressions.length + fields.length === 0
      ? null
      : { expressions, fields }
  compiledTerms.set(term, compiled)
  return compiled
}

/**
 * Whether a node with `labels` (and name `nodeName`, for `matchFields` on `metadata.name`) satisfies one node
 * selector term: its expressions ANDed with kube's label semantics (a missing label satisfies only NotIn and
 * DoesNotExist; Gt/Lt need an integer). An empty or invalid term matches nothing, as upstream.
 */
export const labelsMatchTerm = (
  labels: Labels | undefined,
  term: Meta.NodeSelectorTerm,
  nodeName?: string
): boolean => {
  const compiled = compileTerm(term)
  if (compiled === null) return false
  for (const requirement of compiled.expressions) {
    if (!LabelSelector.matchesRequirement(requirement, labels)) return false
  }
  if (compiled.fields.length > 0) {
    const fields = nodeName === undefined ? {} : { "metadata.name": nodeName }
    for (const requirement of compiled.fields) {
      if (!LabelSelector.matchesRequirement(requirement, fields)) return false
    }
  }
  return true
}

/** Whether the node satisfies the pod spec's nodeSelector and any term of its required node affinity. */
export const matchesNodeSelector = (spec: Pod.Spec, node: Node.Node): boolean => {
  const labels = node.metadata.labels ?? {}
  if (spec.nodeSelector !== undefined) {
    for (const key of Object.keys(spec.nodeSelector)) {
      if (labels[key] !== spec.nodeSelector[key]) return false
    }
  }
  const required = spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution
  if (required === undefined) return true
  return required.nodeSelectorTerms.some((term) => labelsMatchTerm(labels, term, node.metadata.name))
}

/**
 * The node's taints that keep pods off (NoSchedule and NoExecute; PreferNoSchedule only weighs in scoring), plus the
 * ones the node lifecycle controller derives from its Ready condition and `spec.unschedulable`.
 */
export const schedulingTaints = (node: Node.Node): ReadonlyArray<Meta.Taint> => {
  const taints = (node.spec.taints ?? []).filter(
    (taint) => taint.effect === "NoSchedule" || taint.effect === "NoExecute"
  )
  const has = (key: string) => taints.some((taint) => taint.key === key)
  const ready = node.status?.conditions?.find((condition) => condition.type === "Ready")?.status
  if (ready !== "True") {
    const implied = ready === "Unknown" ? UnreachableTaint : NotReadyTaint
    if (!has(implied.key)) taints.push(implied)
  }
  if (node.spec.unschedulable === true && !has(UnschedulableTaint.key)) taints.push(UnschedulableTaint)
  return taints
}

/** The first of `taints` none of `tolerations` tolerates, or undefined. */
export const untoleratedTaint = (
  tolerations: ReadonlyArray<Meta.Toleration> | undefined,
  taints: ReadonlyArray<Meta.Taint>
): Meta.Taint | undefined =>
  taints.find((taint) => !(tolerations ?? []).some((toleration) => Tolerations.toleratesTaint(toleration, taint)))

/** Whether the default scheduler should place the pod: unbound, not finished, not being deleted, ours. */
export const isPending = (pod: Pod.Pod): boolean =>
  Objects.nodeNameOf(pod) === undefined &&
  !Objects.isTerminating(pod) &&
  !Pod.isTerminal(pod) &&
  (pod.spec.schedulerName === undefined ||
    pod.spec.schedulerName === "" ||
    pod.spec.schedulerName === Objects.DefaultSchedulerName)

/** kube-scheduler's queue order: higher priority first, then older, then by key. */
export const queueOrder = (a: Pod.Pod, b: Pod.Pod): number =>
  (b.spec.priority ?? 0) - (a.spec.priority ?? 0) ||
  Objects.compareStrings(a.metadata.creationTimestamp ?? "", b.metadata.creationTimestamp ?? "") ||
  Objects.compareStrings(Resource.keyOf(a), Resource.keyOf(b))

// -- Snapshot --------------------------------------------------------------------------------------------------------

interface NodeInfo {
  readonly node: Node.Node
  readonly name: string
  readonly labels: Labels
  readonly deleting: boolean
  readonly taints: ReadonlyArray<Meta.Taint>
  readonly allocatable: SchedulingResources.Resources
  /** The `pods` allocatable, when the node declares one. */
  readonly maxPods: number | undefined
  readonly requested: Record<string, number>
  readonly scored: { cpu: number; memory: number }
  readonly ports: HostPorts.HostPortUsage
  readonly pods: Array<Pod.Pod>
}

/** Where a pod goes: a node, or why none fits (kube's FitError message). */
export type Placement =
  | { readonly _tag: "Fit"; readonly node: string }
  | { readonly _tag: "NoFit"; readonly message: string }

const Cpu = "cpu"
const Memory = "memory"
// kube-scheduler scores a container without requests as 100m CPU and 200Mi memory (non-zero requests).
const DefaultMilliCpu = 100
const DefaultMemory = 200 * 1024 * 1024 * 1000
const MaxNodeScore = 100

// Every pass snapshots every bound pod: their specs are immutable, so score each spec once.
const scoredBySpec = new WeakMap<Pod.Spec, { readonly cpu: number; readonly memory: number }>()

const scoredRequests = (spec: Pod.Spec): { readonly cpu: number; readonly memory: number } => {
  let scored = scoredBySpec.get(spec)
  if (scored === undefined) {
    scored = computeScoredRequests(spec)
    scoredBySpec.set(spec, scored)
  }
  return scored
}

const computeScoredRequests = (spec: Pod.Spec): { readonly cpu: number; readonly memory: number } => {
  let cpu = 0
  let memory = 0
  for (const container of spec.containers) {
    const requests = SchedulingResources.podRequests({ containers: [container] })
    cpu += requests[Cpu] || DefaultMilliCpu
    memory += requests[Memory] || DefaultMemory
  }
  // Pod-level requests replace the containers' (defaulted) sum, as kube's PodRequests does for scoring too.
  const podLevel = Pod.podLevelRequests(spec)
  cpu = podLevel[Cpu] ?? cpu
  memory = podLevel[Memory] ?? memory
  const overhead = SchedulingResources.fromResourceList(spec.overhead)
  return { cpu: cpu + (overhead[Cpu] ?? 0), memory: memory + (overhead[Memory] ?? 0) }
}

const resourceScore = (scoring: Scoring, requested: number, capacity: number): number => {
  if (capacity <= 0 || requested > capacity) return 0
  return scoring === "LeastAllocated"
    ? Math.floor(((capacity - requested) * MaxNodeScore) / capacity)
    : Math.floor((requested * MaxNodeScore) / capacity)
}

/** A pod (anti-)affinity term made concrete for the pod that declares it. */
interface AffinityTerm {
  readonly topologyKey: string
  readonly selector: LabelSelector.Selector
  readonly namespaces: (namespace: string) => boolean
}

const MetadataNameLabel = "kubernetes.io/metadata.name"

/** The selector of a term or constraint, with `matchLabelKeys`/`mismatchLabelKeys` resolved against the owner pod. */
const selectorFor = (
  labelSelector: Meta.LabelSelector | undefined,
  owner: Pod.Pod,
  matchLabelKeys: ReadonlyArray<string> | undefined,
  mismatchLabelKeys: ReadonlyArray<string> | undefined
): LabelSelector.Selector => {
  const base = LabelSelector.fromLabelSelector(labelSelector)
  if (!base.ok || base.selector._tag === "Nothing") return LabelSelector.nothing
  const labels = owner.metadata.labels ?? {}
  const extra: Array<LabelSelector.Requirement> = []
  for (const [keys, operator] of [
    [matchLabelKeys, "in"],
    [mismatchLabelKeys, "notin"]
  ] as const) {
    for (const key of keys ?? []) {
      if (!Object.hasOwn(labels, key)) continue
      const built = LabelSelector.requirement(key, operator, [labels[key]!])
      if (built.ok) extra.push(built.requirement)
    }
  }
  return extra.length === 0
    ? base.selector
    : { _tag: "Requirements", requirements: [...base.selector.requirements, ...extra] }
}

/** Whether `pod` is one the term selects (its namespace and labels). */
const termMatches = (term: AffinityTerm, pod: Pod.Pod): boolean =>
  term.namespaces(pod.metadata.namespace ?? "") && LabelSelector.matches(term.selector, pod.metadata.labels)

const pairKey = (key: string, value: string): string => `${key}\u0000${value}`

const noPods: ReadonlyArray<Pod.Pod> = []

/** Adds the pod's requests, scoring requests, host ports and itself to the node's bookings. */
const book = (info: NodeInfo, pod: Pod.Pod): void => {
  const requests = SchedulingResources.podRequests(pod.spec)
  for (const name of Object.keys(requests)) info.requested[name] = (info.requested[name] ?? 0) + requests[name]!
  const scored = scoredRequests(pod.spec)
  info.scored.cpu += scored.cpu
  info.scored.memory += scored.memory
  info.ports.add(Resource.keyOf(pod), HostPorts.hostPortsOf(pod.spec))
  info.pods.push(pod)
}

/** A node with its non-terminal pods booked (read only: a snapshot copies what it books onto), and those that repel. */
interface Bookings {
  readonly pods: ReadonlyArray<Pod.Pod>
  readonly info: NodeInfo
  readonly repelling: ReadonlyArray<Pod.Pod>
}

// Every pass snapshots every node; between two passes most nodes and their pods are the same objects.
const bookingsByNode = new WeakMap<Node.Node, Bookings>()

const bookingsOf = (node: Node.Node, pods: ReadonlyArray<Pod.Pod>): Bookings => {
  const known = bookingsByNode.get(node)
  if (known !== undefined && known.pods === pods) return known
  const allocatable = SchedulingResources.fromResourceList(node.status?.allocatable)
  const info: NodeInfo = {
    node,
    name: node.metadata.name ?? "",
    labels: node.metadata.labels ?? {},
    deleting: Objects.isTerminating(node),
    taints: schedulingTaints(node),
    allocatable,
    maxPods:
      allocatable[SchedulingResources.Pods] === undefined
        ? undefined
        : Math.floor(allocatable[SchedulingResources.Pods] / 1000),
    requested: {},
    scored: { cpu: 0, memory: 0 },
    ports: new HostPorts.HostPortUsage(),
    pods: []
  }
  const repelling: Array<Pod.Pod> = []
  for (const pod of pods) {
    if (Pod.isTerminal(pod)) continue
    book(info, pod)
    if (Pod.hasRequiredAntiAffinity(pod)) repelling.push(pod)
  }
  const bookings = { pods, info, repelling }
  bookingsByNode.set(node, bookings)
  return bookings
}

/**
 * A point-in-time view of nodes and the pods bound to them, with the accounting the filters need. `place` is pure;
 * `assume` books a pod onto a node so later placements in the same pass see it.
 */
export class Snapshot {
  private readonly nodes: Array<NodeInfo> = []
  private readonly byName = new Map<string, NodeInfo>()
  private readonly namespaceLabels = new Map<string, Labels>()
  /** Bound pods with required anti-affinity, with their node: their terms repel incoming pods. */
  private readonly repelling: Array<{ readonly terms: ReadonlyArray<AffinityTerm>; readonly node: NodeInfo }> = []

  /**
   * A snapshot of `nodes` (any order) and the non-terminal pods bound to them; `assumed` maps pod keys to the node a
   * pass bound them to before the cache showed it.
   */
  static make(
    nodes: ReadonlyArray<Node.Node>,
    pods: ReadonlyArray<Pod.Pod>,
    namespaces: ReadonlyArray<{ readonly metadata: Meta.ObjectMeta }> = [],
    assumed: ReadonlyMap<string, string> = new Map()
  ): Snapshot {
    const byNode = new Map<string, Array<Pod.Pod>>()
    const assumedPods: Array<readonly [Pod.Pod, string]> = []
    for (const pod of pods) {
      const bound = Objects.nodeNameOf(pod)
      if (bound !== undefined) {
        const onNode = byNode.get(bound)
        if (onNode === undefined) byNode.set(bound, [pod])
        else onNode.push(pod)
        continue
      }
      const assumedOn = assumed.get(Resource.keyOf(pod))
      if (assumedOn !== undefined) assumedPods.push([pod, assumedOn])
    }
    return Snapshot.ofNodes(nodes, (name) => byNode.get(name) ?? noPods, namespaces, assumedPods)
  }

  /**
   * A snapshot of `nodes` with the pods `podsOn` gives for each (terminal ones skipped), then the `assumed` pods booked
   * onto their nodes. Each node's bookings are kept for as long as its object and its pod array stay the same (an
   * informer index hands out the same array until a pod of that node changes), so a pass after one pod's change books
   * only that pod's node anew.
   */
  static ofNodes(
    nodes: ReadonlyArray<Node.Node>,
    podsOn: (nodeName: string) => ReadonlyArray<Pod.Pod>,
    namespaces: ReadonlyArray<{ readonly metadata: Meta.ObjectMeta }>,
    assumed: ReadonlyArray<readonly [Pod.Pod, string]>
  ): Snapshot {
    const snapshot = new Snapshot()
    for (const namespace of namespaces) {
      const name = namespace.metadata.name ?? ""
      snapshot.namespaceLabels.set(name, namespace.metadata.labels ?? {})
    }
    const sorted = [...nodes].sort((a, b) => Objects.compareStrings(a.metadata.name ?? "", b.metadata.name ?? ""))
    for (const node of sorted) {
      const booked = bookingsOf(node, podsOn(node.metadata.name ?? ""))
      const info: NodeInfo = {
        ...booked.info,
        requested: { ...booked.info.requested },
        scored: { ...booked.info.scored },
        ports: booked.info.ports.copy(),
        pods: [...booked.info.pods]
      }
      snapshot.nodes.push(info)
      snapshot.byName.set(info.name, info)
      for (const pod of booked.repelling) snapshot.repel(pod, info)
    }
    for (const [pod, nodeName] of assumed) if (!Pod.isTerminal(pod)) snapshot.assume(pod, nodeName)
    return snapshot
  }

  private labelsOfNamespace(namespace: string): Labels {
    return { ...this.namespaceLabels.get(namespace), [MetadataNameLabel]: namespace }
  }

  private affinityTerms(owner: Pod.Pod, terms: ReadonlyArray<Pod.PodAffinityTerm> | undefined): Array<AffinityTerm> {
    const ownNamespace = owner.metadata.namespace ?? ""
    return (terms ?? []).map((term) => {
      const names = new Set(term.namespaces ?? [])
      const namespaceSelector = term.namespaceSelector
      const namespaces =
        names.size === 0 && namespaceSelector === undefined
          ? (namespace: string) => namespace === ownNamespace
          : (namespace: string) =>
              names.has(namespace) ||
              (namespaceSelector !== undefined &&
                LabelSelector.matchesLabelSelector(namespaceSelector, this.labelsOfNamespace(namespace)))
      return {
        topologyKey: term.topologyKey,
        selector: selectorFor(term.labelSelector, owner, term.matchLabelKeys, term.mismatchLabelKeys),
        namespaces
      }
    })
  }

  /** Books `pod` onto `nodeName` (ignored when the node is not in the snapshot). */
  assume(pod: Pod.Pod, nodeName: string): void {
    const info = this.byName.get(nodeName)
    if (info === undefined) return
    book(info, pod)
    if (Pod.hasRequiredAntiAffinity(pod)) this.repel(pod, info)
  }

  /** Records that `pod`, on `info`'s node, repels the pods its required anti-affinity selects. */
  private repel(pod: Pod.Pod, info: NodeInfo): void {
    const anti = pod.spec.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution
    this.repelling.push({ terms: this.affinityTerms(pod, anti), node: info })
  }

  /** Counts, per topology pair, the bound pods any of `terms` selects. */
  private countMatching(terms: ReadonlyArray<AffinityTerm>): Map<string, number> {
    const counts = new Map<string, number>()
    if (terms.length === 0) return counts
    for (const info of this.nodes) {
      for (const term of terms) {
        const value = info.labels[term.topologyKey]
        if (value === undefined) continue
        let matching = 0
        for (const pod of info.pods) if (termMatches(term, pod)) matching++
        if (matching === 0) continue
        const pair = pairKey(term.topologyKey, value)
        counts.set(pair, (counts.get(pair) ?? 0) + matching)
      }
    }
    return counts
  }

  /** The topology pairs bound pods' anti-affinity forbids to `pod`. */
  private repelledPairs(pod: Pod.Pod): Set<string> {
    const pairs = new Set<string>()
    for (const { terms, node } of this.repelling) {
      for (const term of terms) {
        const value = node.labels[term.topologyKey]
        if (value !== undefined && termMatches(term, pod)) pairs.add(pairKey(term.topologyKey, value))
      }
    }
    return pairs
  }

  /** The filter for the pod's DoNotSchedule topology spread constraints, or undefined when it has none. */
  private spreadFilter(pod: Pod.Pod): ((info: NodeInfo) => string | undefined) | undefined {
    const constraints = (pod.spec.topologySpreadConstraints ?? []).filter(
      (constraint) => constraint.whenUnsatisfiable === "DoNotSchedule"
    )
    if (constraints.length === 0) return undefined
    const keys = constraints.map((constraint) => constraint.topologyKey)
    const hasKeys = (info: NodeInfo) => keys.every((key) => info.labels[key] !== undefined)
    const namespace = pod.metadata.namespace ?? ""
    const evaluated = constraints.map((constraint) => {
      const selector = selectorFor(constraint.labelSelector, pod, constraint.matchLabelKeys, undefined)
      const counts = new Map<string, number>()
      for (const info of this.nodes) {
        if (info.deleting || !hasKeys(info)) continue
        if (constraint.nodeAffinityPolicy !== "Ignore" && !matchesNodeSelector(pod.spec, info.node)) continue
        if (constraint.nodeTaintsPolicy === "Honor" && untoleratedTaint(pod.spec.tolerations, info.taints)) continue
        const value = info.labels[constraint.topologyKey]!
        let matching = 0
        for (const other of info.pods) {
          if (
            (other.metadata.namespace ?? "") === namespace &&
            !Objects.isTerminating(other) &&
            LabelSelector.matches(selector, other.metadata.labels)
          ) {
            matching++
          }
        }
        counts.set(value, (counts.get(value) ?? 0) + matching)
      }
      let minimum = counts.size === 0 ? 0 : Math.min(...counts.values())
      if (constraint.minDomains !== undefined && counts.size < constraint.minDomains) minimum = 0
      const self = LabelSelector.matches(selector, pod.metadata.labels) ? 1 : 0
      return { constraint, counts, minimum, self }
    })
    return (info) => {
      if (!hasKeys(info)) return "node(s) didn't match pod topology spread constraints (missing required label)"
      for (const { constraint, counts, minimum, self } of evaluated) {
        const value = info.labels[constraint.topologyKey]!
        if ((counts.get(value) ?? 0) + self - minimum > constraint.maxSkew) {
          return "node(s) didn't match pod topology spread constraints"
        }
      }
      return undefined
    }
  }

  /** The filter for the pod's required pod affinity and anti-affinity and bound pods' anti-affinity. */
  private interPodFilter(pod: Pod.Pod): ((info: NodeInfo) => string | undefined) | undefined {
    const rules = pod.spec.affinity
    const affinity = this.affinityTerms(pod, rules?.podAffinity?.requiredDuringSchedulingIgnoredDuringExecution)
    const anti = this.affinityTerms(pod, rules?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution)
    const repelled = this.repelledPairs(pod)
    if (affinity.length === 0 && anti.length === 0 && repelled.size === 0) return undefined
    const affinityCounts = this.countMatching(affinity)
    const antiCounts = this.countMatching(anti)
    // The first pod of a group with affinity to itself may go anywhere its terms' topologies exist (upstream).
    const selfAffine = affinityCounts.size === 0 && affinity.every((term) => termMatches(term, pod))
    const repelledKeys = [...new Set(Array.from(repelled, (pair) => pair.slice(0, pair.indexOf("\u0000"))))]
    // Upstream's order: the pod's affinity, its anti-affinity, then the anti-affinity of pods already bound.
    return (info) => {
      let podsExist = true
      for (const term of affinity) {
        const value = info.labels[term.topologyKey]
        if (value === undefined) return "node(s) didn't match pod affinity rules"
        if ((affinityCounts.get(pairKey(term.topologyKey, value)) ?? 0) <= 0) podsExist = false
      }
      if (!podsExist && !selfAffine) return "node(s) didn't match pod affinity rules"
      for (const term of anti) {
        const value = info.labels[term.topologyKey]
        if (value !== undefined && (antiCounts.get(pairKey(term.topologyKey, value)) ?? 0) > 0) {
          return "node(s) didn't match pod anti-affinity rules"
        }
      }
      for (const key of repelledKeys) {
        const value = info.labels[key]
        if (value !== undefined && repelled.has(pairKey(key, value))) {
          return "node(s) didn't satisfy existing pods anti-affinity rules"
        }
      }
      return undefined
    }
  }

  /** Where `pod` fits best now, or kube-scheduler's message saying why it fits nowhere. */
  place(pod: Pod.Pod, scoring: Scoring = "LeastAllocated"): Placement {
    if (this.nodes.length === 0) return { _tag: "NoFit", message: "no nodes available to schedule pods" }
    const requests = SchedulingResources.podRequests(pod.spec)
    const requested = Object.keys(requests)
      .filter((name) => name !== SchedulingResources.Pods && requests[name]! > 0)
      .sort(Objects.compareStrings)
    const ports = HostPorts.hostPortsOf(pod.spec)
    const spread = this.spreadFilter(pod)
    const interPod = this.interPodFilter(pod)
    const scored = scoredRequests(pod.spec)
    const reasons = new Map<string, number>()
    const reject = (reason: string) => reasons.set(reason, (reasons.get(reason) ?? 0) + 1)
    let best: { readonly info: NodeInfo; readonly score: number } | undefined

    for (const info of this.nodes) {
      if (info.deleting) {
        reject("node(s) were being deleted")
        continue
      }
      const taint = untoleratedTaint(pod.spec.tolerations, info.taints)
      if (taint !== undefined) {
        reject(`node(s) had untolerated taint {${taint.key}: ${taint.value ?? ""}}`)
        continue
      }
      if (!matchesNodeSelector(pod.spec, info.node)) {
        reject("node(s) didn't match Pod's node affinity/selector")
        continue
      }
      if (ports.length > 0 && info.ports.conflict(ports) !== undefined) {
        reject("node(s) didn't have free ports for the requested pod ports")
        continue
      }
      const insufficient: Array<string> = []
      if (info.maxPods !== undefined && info.pods.length + 1 > info.maxPods) insufficient.push("Too many pods")
      for (const name of requested) {
        if ((info.requested[name] ?? 0) + requests[name]! > (info.allocatable[name] ?? 0)) {
          insufficient.push(`Insufficient ${name}`)
        }
      }
      if (insufficient.length > 0) {
        for (const reason of insufficient) reject(reason)
        continue
      }
      const spreadReason = spread?.(info)
      if (spreadReason !== undefined) {
        reject(spreadReason)
        continue
      }
      const interPodReason = interPod?.(info)
      if (interPodReason !== undefined) {
        reject(interPodReason)
        continue
      }
      const score = Math.floor(
        (resourceScore(scoring, info.scored.cpu + scored.cpu, info.allocatable[Cpu] ?? 0) +
          resourceScore(scoring, info.scored.memory + scored.memory, info.allocatable[Memory] ?? 0)) /
          2
      )
      // Nodes are visited by name, so keeping the first of equal scores picks the smallest name.
      if (best === undefined || score > best.score) best = { info, score }
    }
    if (best !== undefined) return { _tag: "Fit", node: best.info.name }
    const parts = Array.from(reasons, ([reason, count]) => `${count} ${reason}`).sort(Objects.compareStrings)
    return { _tag: "NoFit", message: `0/${this.nodes.length} nodes are available: ${parts.join(", ")}.` }
  }
}

// -- The controller --------------------------------------------------------------------------------------------------

/** Whether a pod change can change what the scheduler decides (status-only updates of pods cannot). */
const podChangeMatters = (previous: Pod.Pod | undefined, pod: Pod.Pod): boolean =>
  previous === undefined ||
  Objects.nodeNameOf(previous) !== Objects.nodeNameOf(pod) ||
  Objects.isTerminating(previous) !== Objects.isTerminating(pod) ||
  Pod.isTerminal(previous) !== Pod.isTerminal(pod) ||
  !Patch.deepEqual(previous.metadata.labels, pod.metadata.labels) ||
  (Objects.nodeNameOf(pod) === undefined && !Patch.deepEqual(previous.spec, pod.spec))

/** The condition kube-scheduler writes on a pod that fits no node. */
export const unschedulableCondition = (message: string, now: number): Objects.ConditionLike => ({
  type: "PodScheduled",
  status: "False",
  reason: "Unschedulable",
  message,
  lastTransitionTime: Objects.timestamp(now)
})

/** Starts the scheduler in the current Scope. */
export const make = Effect.fn("Scheduler.make")(function* (
  options?: Options
): Effect.fn.Return<Scheduler, never, KubeClient | InformerCache.InformerCache | Scope.Scope> {
  const kube = yield* KubeClient
  const pods = yield* InformerCache.informer(Resources.Pods)
  const nodes = yield* InformerCache.informer(Resources.Nodes)
  const namespaces = yield* InformerCache.informer(Resources.Namespaces)
  const scoring = options?.scoring ?? "LeastAllocated"
  /** Pod key → node, for bindings the pod informer has not shown yet. */
  const assumed = new Map<string, string>()

  const markUnschedulable = (pod: Pod.Pod, message: string, now: number) => {
    const condition = unschedulableCondition(message, now)
    if (Objects.hasConditions(pod.status?.conditions, [condition])) return Effect.void
    return kube
      .patch(
        Resources.Pods,
        pod.metadata.name ?? "",
        {
          type: "merge",
          patch: {
            metadata: { resourceVersion: pod.metadata.resourceVersion },
            status: { conditions: Objects.withConditions(pod.status?.conditions, [condition]) }
          }
        },
        { namespace: pod.metadata.namespace ?? "", subresource: "status" }
      )
      .pipe(
        Effect.asVoid,
        // A newer version (or none) is on its way through the informer and triggers another pass.
        Effect.catchTags({ NotFound: () => Effect.void, Conflict: () => Effect.void })
      )
  }

  const pass = Effect.gen(function* () {
    yield* pods.synced
    yield* nodes.synced
    yield* namespaces.synced
    // Only pods without a node can be pending: a pass runs after every binding, and most pods are bound.
    const unbound = yield* pods.byIndex(Indices.podUnbound, Indices.unbound)
    for (const key of [...assumed.keys()]) {
      const cached = yield* pods.get(key)
      if (cached === undefined || Objects.nodeNameOf(cached) !== undefined || !isPending(cached)) assumed.delete(key)
    }
    const queue = unbound.filter((pod) => isPending(pod) && !assumed.has(Resource.keyOf(pod))).sort(queueOrder)
    // Most passes follow a binding or a deletion and find nothing pending: no snapshot of every pod for them.
    if (queue.length === 0) return Result.done
    const assumedPods: Array<readonly [Pod.Pod, string]> = []
    for (const [key, nodeName] of assumed) {
      const pod = yield* pods.get(key)
      if (pod !== undefined) assumedPods.push([pod, nodeName])
    }
    const nodeList = yield* nodes.list()
    // The index's array of a node is the same until one of its pods changes: the snapshot keeps the others' bookings.
    const podsByNode = new Map<string, ReadonlyArray<Pod.Pod>>()
    for (const node of nodeList) {
      const name = node.metadata.name ?? ""
      podsByNode.set(name, yield* pods.byIndex(Indices.podNodeName, name))
    }
    const snapshot = Snapshot.ofNodes(
      nodeList,
      (name) => podsByNode.get(name) ?? noPods,
      yield* namespaces.list(),
      assumedPods
    )
    const now = yield* Clock.currentTimeMillis
    let placed = 0
    for (const pod of queue) {
      // A pass over thousands of pending pods must not hold the fiber: let interruption and other fibers in.
      if (++placed % 64 === 0) yield* Effect.yieldNow
      const placement = snapshot.place(pod, scoring)
      if (placement._tag === "NoFit") {
        yield* markUnschedulable(pod, placement.message, now)
        continue
      }
      const bound = yield* kube.bind(pod.metadata.namespace ?? "", pod.metadata.name ?? "", placement.node).pipe(
        Effect.as(true),
        // Already bound, being deleted, or gone: the informer will tell.
        Effect.catchTags({ NotFound: () => Effect.succeed(false), Conflict: () => Effect.succeed(false) })
      )
      if (bound) {
        snapshot.assume(pod, placement.node)
        assumed.set(Resource.keyOf(pod), placement.node)
      }
    }
    return Result.done
  })

  const singleton = yield* Singleton.make({
    name: "cluster.scheduler",
    run: pass,
    interval: options?.resyncInterval ?? Duration.minutes(5)
  })
  yield* Informer.forEachChange(pods, (change) =>
    change.type !== "MODIFIED" || podChangeMatters(change.previous, change.object) ? singleton.trigger : Effect.void
  )
  yield* Informer.forEachChange(nodes, () => singleton.trigger)
  yield* Informer.forEachChange(namespaces, () => singleton.trigger)
  return { trigger: singleton.trigger }
})

/** The scheduler as a Layer: built, it runs until the Layer's scope closes. */
export const layer = (options?: Options): Layer.Layer<never, never, KubeClient | InformerCache.InformerCache> =>
  Layer.effectDiscard(make(options))
