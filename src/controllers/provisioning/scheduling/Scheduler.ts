/**
 * The scheduling simulation (upstream `pkg/controllers/provisioning/scheduling`): given pending pods, existing and
 * in-flight capacity, NodePools and their instance types, decide which pods go to which existing nodes and which
 * NodeClaims to launch — and, for every pod left over, why.
 *
 * `solve` is an Effect that yields between pods, so the simulation timeout (1 minute by default) and interruption
 * stop it between two pods and keep what was decided; the pods not reached are reported as not scheduled because of
 * the timeout. The inner loop is plain TypeScript over plain data.
 */
import * as Arr from "effect/Array"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Equivalence from "effect/Equivalence"
import * as Labels from "../../../api/Labels.ts"
import type { Namespace } from "../../../api/Namespace.ts"
import type { NodePool } from "../../../api/NodePool.ts"
import { keyOf, type Pod } from "../../../api/Pod.ts"
import type { TaintLike } from "../../../api/Taints.ts"
import * as InstanceType from "../../../cloudprovider/InstanceType.ts"
import * as HostPorts from "../../../scheduling/HostPorts.ts"
import * as PodRequirements from "../../../scheduling/PodRequirements.ts"
import * as Requirement from "../../../scheduling/Requirement.ts"
import * as Requirements from "../../../scheduling/Requirements.ts"
import * as Resources from "../../../scheduling/ResourceLists.ts"
import * as Tolerations from "../../../scheduling/Tolerations.ts"
import * as VolumeTopology from "../../../scheduling/VolumeTopology.ts"
import * as VolumeUsage from "../../../scheduling/VolumeUsage.ts"
import * as InstanceTypeFilter from "./InstanceTypeFilter.ts"
import * as Preferences from "./Preferences.ts"
import { ReservationManager } from "./ReservationManager.ts"
import * as Topology from "./Topology.ts"

/** A NodePool the scheduler may launch from, with its instance types. */
export interface NodePoolInput {
  readonly nodePool: NodePool
  readonly instanceTypes: ReadonlyArray<InstanceType.InstanceType>
  /** Extra labels every node of the pool gets (the NodeClass label). */
  readonly labels?: Readonly<Record<string, string>>
}

/** A node that exists (or a NodeClaim in flight) and may take pods. */
export interface ExistingNodeInput {
  /** The Node's name, or the NodeClaim's while no Node exists. */
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  readonly taints: ReadonlyArray<TaintLike>
  readonly allocatable: Resources.Resources
  readonly capacity: Resources.Resources
  /** Requests of the pods bound to it. */
  readonly requested: Resources.Resources
  /** Requests of the DaemonSet pods among them. */
  readonly daemonSetRequested: Resources.Resources
  readonly hostPorts: HostPorts.HostPortUsage
  /** Volumes attached per CSI driver and the node's limits; none means no limits. */
  readonly volumeUsage?: VolumeUsage.VolumeUsage
  readonly initialized: boolean
  readonly nodePool: string | undefined
}

/** Everything one pass decides on. */
export interface Input {
  /** Ready NodePools; ordered here by weight. */
  readonly nodePools: ReadonlyArray<NodePoolInput>
  readonly existingNodes: ReadonlyArray<ExistingNodeInput>
  /** The pods to place (provisionable, volume topology already injected). */
  readonly pods: ReadonlyArray<Pod>
  /** Pods bound to nodes, for topology counting; without it, the arrays of `boundPodsByNode` in order. */
  readonly boundPods?: ReadonlyArray<Pod>
  /**
   * The same pods by node name, when the caller has them in arrays that outlive one call (see Topology); none of them
   * may be among `pods`.
   */
  readonly boundPodsByNode?: ReadonlyMap<string, ReadonlyArray<Pod>>
  /** One pod per DaemonSet (its newest pod, else its template), whose requests every compatible node reserves. */
  readonly daemonSetPods: ReadonlyArray<Pod>
  readonly namespaces: ReadonlyArray<Namespace>
  /** Claims, volumes and classes, to count pod volumes against node volume limits. */
  readonly volumes?: VolumeTopology.VolumeContext
  /** Karpenter's well-known labels plus the cloud provider's. */
  readonly wellKnownLabels: ReadonlySet<string>
  readonly preferencePolicy?: "Respect" | "Ignore"
  /** The simulation timeout; default 1 minute. */
  readonly timeout?: Duration.Input
  /** Instance types kept per NodeClaim; default 60. */
  readonly maxInstanceTypes?: number
  /**
   * Upstream's `ReservedOfferingMode`: `Fallback` (the default, disruption's simulations) lets a pod narrow a NodeClaim
   * off its reserved offerings; `Strict` (provisioning) defers the pod to a later pass instead, when reserved capacity
   * it could use is held by other NodeClaims of this pass or would be lost by adding it.
   */
  readonly reservedOfferingMode?: "Fallback" | "Strict"
  /** MIN_VALUES_POLICY (upstream v1.6); default Strict. */
  readonly minValuesPolicy?: MinValuesPolicy
  /** Consolidation's simulations: existing nodes the pods being moved may not land on. */
  readonly protectedDestinations?: ProtectedDestinations
}

/**
 * Upstream v1.14 (IsConsolidationSimulation): the pods a consolidation moves (`movingPods`, by `namespace/name`) do
 * not land on `nodes`, the existing nodes still within their NodePool's consolidateAfter; pending pods and the pods of
 * nodes already going away still may.
 */
export interface ProtectedDestinations {
  readonly nodes: ReadonlySet<string>
  readonly movingPods: ReadonlySet<string>
}

/**
 * Upstream's `MinValuesPolicy`: `Strict` launches only NodeClaims whose instance types meet every `minValues`;
 * `BestEffort` lowers an unmet `minValues` of a new NodeClaim to what its instance types offer.
 */
export type MinValuesPolicy = "Strict" | "BestEffort"

/** A NodeClaim the pass decided to launch. */
export interface NewNodeClaim {
  readonly nodePool: NodePool
  /** Labels the NodeClaim carries (template labels, the NodePool label, the NodeClass label). */
  readonly labels: Readonly<Record<string, string>>
  /** Its requirements, with `node.kubernetes.io/instance-type In [options]` and without the simulated hostname. */
  readonly requirements: Requirements.Requirements
  /** The instance types it may launch as, cheapest first (at most `maxInstanceTypes`). */
  readonly instanceTypes: ReadonlyArray<InstanceType.InstanceType>
  readonly pods: ReadonlyArray<Pod>
  /** DaemonSet overhead plus the requests of its pods (with `pods`). */
  readonly requests: Resources.Resources
  /**
   * Whether its first pod lowered a `minValues` of its requirements (MinValuesPolicy BestEffort); set by the scheduler,
   * unset on NodeClaims made without it (static capacity), as upstream.
   */
  readonly minValuesRelaxed?: boolean
}

/** The outcome of a pass. */
export interface Results {
  readonly newNodeClaims: ReadonlyArray<NewNodeClaim>
  /** Existing nodes that received pods, in input order. */
  readonly existingNodes: ReadonlyArray<{ readonly name: string; readonly pods: ReadonlyArray<Pod> }>
  /** Why each unplaced pod was not placed, by `namespace/name`. */
  readonly errors: ReadonlyMap<string, string>
  /**
   * The pods among `errors` that wait for reserved capacity (upstream `ReservedOfferingErrors`): deferred to a later
   * pass, not unschedulable.
   */
  readonly deferred: ReadonlySet<string>
  readonly timedOut: boolean
}

/**
 * Why a pod was not added where reserved capacity is at stake (upstream `ReservedOfferingError`): the pod is not
 * relaxed, no lower-weight NodePool is tried, and the decision is deferred.
 */
class ReservedOfferingError {
  constructor(readonly message: string) {}
}

/** `namespace/name` of a pod. */
export const podKey = keyOf

// -- Per-pod data ------------------------------------------------------------------------------------------------

interface PodData extends Topology.TopologyPod {
  readonly requests: Resources.Resources
  readonly requirements: Requirements.Requirements
  readonly hostPorts: ReadonlyArray<HostPorts.HostPort>
  readonly volumes: VolumeUsage.Volumes
}

const podData = (
  pod: Pod,
  key: string,
  ignorePreferences: boolean,
  volumes: VolumeTopology.VolumeContext
): PodData => ({
  key,
  pod,
  requests: Resources.requestsForPod(pod.spec),
  requirements: PodRequirements.requirementsOf(pod.spec, { ignorePreferences }),
  strictRequirements: PodRequirements.strictRequirementsOf(pod.spec),
  hostPorts: HostPorts.hostPortsOf(pod.spec),
  volumes: VolumeUsage.volumesOf(pod, volumes)
})

/** Upstream's queue order: larger CPU, then memory requests first; then older; then by uid (here also name). */
const byCpuAndMemoryDescending = (a: PodData, b: PodData): number =>
  (b.requests.cpu ?? 0) - (a.requests.cpu ?? 0) ||
  (b.requests.memory ?? 0) - (a.requests.memory ?? 0) ||
  compareStrings(a.pod.metadata.creationTimestamp ?? "", b.pod.metadata.creationTimestamp ?? "") ||
  compareStrings(a.pod.metadata.uid ?? "", b.pod.metadata.uid ?? "") ||
  compareStrings(a.key, b.key)

const compareStrings = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

// -- NodeClaim templates -----------------------------------------------------------------------------------------

interface Template {
  readonly nodePool: NodePool
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  readonly requirements: Requirements.Requirements
  readonly taints: ReadonlyArray<TaintLike>
  readonly instanceTypes: ReadonlyArray<InstanceType.InstanceType>
  readonly domains: ReadonlyMap<string, ReadonlySet<string>>
  readonly daemonOverhead: Resources.Resources
  readonly daemonHostPorts: HostPorts.HostPortUsage
}

/** Upstream `OrderByWeight`: heavier first; equal weights by name, descending (as v1.4.0 does). */
const byWeight = (a: NodePoolInput, b: NodePoolInput): number =>
  (b.nodePool.spec.weight ?? 0) - (a.nodePool.spec.weight ?? 0) ||
  compareStrings(b.nodePool.metadata.name ?? "", a.nodePool.metadata.name ?? "")

/** Whether a DaemonSet pod would run on a node with these taints and requirements (trying each OR term). */
const daemonFits = (
  daemon: Pod,
  taints: ReadonlyArray<TaintLike>,
  requirements: Requirements.Requirements,
  wellKnown: ReadonlySet<string>
): boolean => {
  if (
    Tolerations.tolerates([...(daemon.spec.tolerations ?? []), Tolerations.preferNoScheduleToleration], taints) !==
    undefined
  ) {
    return false
  }
  const terms = daemon.spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms
  const selector = Requirements.fromLabels(daemon.spec.nodeSelector)
  const candidates =
    terms === undefined || terms.length === 0
      ? [selector]
      : terms.map((term) =>
          Requirements.addAll(selector, Requirements.fromNodeSelectorRequirements(term.matchExpressions ?? []))
        )
  return candidates.some((candidate) =>
    Requirements.isCompatible(requirements, candidate, { allowUndefined: wellKnown })
  )
}

/** What a NodePool offers regardless of the pass: its labels, requirements, taints and the instance types they allow. */
interface StaticTemplate {
  readonly labels: Readonly<Record<string, string>>
  readonly requirements: Requirements.Requirements
  readonly taints: ReadonlyArray<TaintLike>
  readonly instanceTypes: ReadonlyArray<InstanceType.InstanceType>
  /** Every value each key can take on this template's capacity (its share of the domain universe). */
  readonly domains: ReadonlyMap<string, ReadonlySet<string>>
}

// Disruption solves the same NodePool inputs once per candidate: filtering a large catalogue each time dominated.
const staticTemplates = new WeakMap<NodePoolInput, { wellKnown: ReadonlySet<string>; template: StaticTemplate }>()

const staticTemplateOf = (input: NodePoolInput, wellKnown: ReadonlySet<string>): StaticTemplate => {
  const cached = staticTemplates.get(input)
  if (cached !== undefined && cached.wellKnown === wellKnown) return cached.template
  const { nodePool } = input
  const name = nodePool.metadata.name ?? ""
  const templateSpec = nodePool.spec.template.spec
  const labels = { ...nodePool.spec.template.metadata?.labels, ...input.labels, [Labels.NodePool]: name }
  const requirements = Requirements.addAll(
    Requirements.fromNodeSelectorRequirements(templateSpec.requirements),
    Requirements.fromLabels(labels)
  )
  const taints = templateSpec.taints ?? []
  const instanceTypes = input.instanceTypes.filter(
    (instanceType) =>
      Requirements.hasIntersection(instanceType.requirements, requirements) &&
      InstanceType.compatibleOfferings(instanceType, requirements, wellKnown).length > 0
  )
  const domains = new Map<string, Set<string>>()
  const addAll = (key: string, values: Iterable<string>) => {
    let known = domains.get(key)
    if (known === undefined) {
      known = new Set()
      domains.set(key, known)
    }
    for (const value of values) known.add(value)
  }
  for (const [key, requirement] of requirements) {
    if (!requirement.complement) addAll(key, requirement.values)
  }
  for (const instanceType of instanceTypes) {
    for (const [key, requirement] of instanceType.requirements) {
      const narrowed = Requirement.intersection(requirement, Requirements.get(requirements, key))
      if (!narrowed.complement) addAll(key, narrowed.values)
    }
  }
  const template = { labels, requirements, taints, instanceTypes, domains }
  staticTemplates.set(input, { wellKnown, template })
  return template
}

const templateOf = (
  input: NodePoolInput,
  daemons: ReadonlyArray<PodData>,
  wellKnown: ReadonlySet<string>
): Template | string => {
  const { nodePool } = input
  const name = nodePool.metadata.name ?? ""
  const { labels, requirements, taints, instanceTypes, domains } = staticTemplateOf(input, wellKnown)
  if (instanceTypes.length === 0) {
    return `nodepool "${name}" has no instance type matching ${Requirements.format(requirements)}`
  }
  let daemonOverhead: Resources.Resources = Resources.empty
  const daemonHostPorts = new HostPorts.HostPortUsage()
  for (const daemon of daemons) {
    if (!daemonFits(daemon.pod, taints, requirements, wellKnown)) continue
    daemonOverhead = Resources.add(daemonOverhead, daemon.requests)
    daemonHostPorts.add(daemon.key, daemon.hostPorts)
  }
  return { nodePool, name, labels, requirements, taints, instanceTypes, domains, daemonOverhead, daemonHostPorts }
}

// -- Simulated nodes ---------------------------------------------------------------------------------------------

/** An existing node during the simulation. */
// The disruption controller simulates once per candidate with the same (memoised) node inputs: derive their label
// requirements once per input.
const labelRequirements = new WeakMap<ExistingNodeInput, Requirements.Requirements>()

const requirementsOf = (input: ExistingNodeInput): Requirements.Requirements => {
  let requirements = labelRequirements.get(input)
  if (requirements === undefined) {
    requirements = Requirements.fromLabels({ [Labels.Hostname]: input.name, ...input.labels })
    labelRequirements.set(input, requirements)
  }
  return requirements
}

const noVolumes = new VolumeUsage.VolumeUsage(new Map())

class ExistingNode {
  readonly pods: Array<Pod> = []
  readonly requirements: Requirements.Requirements
  /** The requirements of the last placement (the node's labels narrowed by the pod and its topology). */
  placed: Requirements.Requirements
  private requested: Resources.Resources
  // The input's usage until a pod is placed here: most nodes of a simulation take none, so copy on first write.
  private hostPorts: HostPorts.HostPortUsage
  private volumes: VolumeUsage.VolumeUsage
  private copied = false
  /** CPU left: a pod requesting more fails {@link add}'s resource check (`fitsWith`), whatever else it asks. */
  freeCpu = 0
  /** Memory left, as {@link freeCpu}. */
  freeMemory = 0

  constructor(
    readonly input: ExistingNodeInput,
    remainingDaemon: Resources.Resources,
    /** Whether the pods being moved may not land here (see {@link ProtectedDestinations}). */
    readonly protectedDestination: boolean
  ) {
    this.requirements = requirementsOf(input)
    this.placed = this.requirements
    // Shared with the input until a pod lands here (placing one makes a new object): most nodes take none.
    this.requested = Resources.isZero(remainingDaemon)
      ? input.requested
      : Resources.add(input.requested, remainingDaemon)
    this.hostPorts = input.hostPorts
    this.volumes = input.volumeUsage ?? noVolumes
    this.updateFree()
  }

  get topologyNode(): Topology.TopologyNode {
    return { requirements: this.requirements, taints: this.input.taints }
  }

  private updateFree(): void {
    this.freeCpu = (this.input.allocatable.cpu ?? 0) - (this.requested.cpu ?? 0)
    this.freeMemory = (this.input.allocatable.memory ?? 0) - (this.requested.memory ?? 0)
  }

  /** Places the pod here, or says why it cannot go here. */
  add(pod: PodData, topology: Topology.Topology): string | undefined {
    const untolerated = Tolerations.tolerates(pod.pod.spec.tolerations, this.input.taints)
    if (untolerated !== undefined) return untolerated
    const overLimit = this.volumes.exceeds(pod.volumes)
    if (overLimit !== undefined) return overLimit
    const conflict = this.hostPorts.conflict(pod.hostPorts)
    if (conflict !== undefined) return conflict
    if (!Resources.fitsWith(this.requested, pod.requests, this.input.allocatable)) return "exceeds node resources"
    const incompatible = Requirements.compatible(this.requirements, pod.requirements)
    if (incompatible !== undefined) return incompatible
    const withPod = Requirements.narrow(this.requirements, pod.requirements).requirements
    const narrowed = topology.addRequirements(pod, withPod)
    if (typeof narrowed === "string") return narrowed
    // Topology may require a label value of the node (a zone for a spread); a node without that label cannot give it.
    if (narrowed !== withPod) {
      const missing = Requirements.compatible(withPod, narrowed)
      if (missing !== undefined) return missing
    }
    this.placed = narrowed
    this.pods.push(pod.pod)
    this.requested = Resources.add(this.requested, pod.requests)
    this.updateFree()
    if (!this.copied) {
      this.hostPorts = this.hostPorts.copy()
      this.volumes = this.volumes.copy()
      this.copied = true
    }
    this.hostPorts.add(pod.key, pod.hostPorts)
    this.volumes.add(pod.volumes)
    return undefined
  }
}

/** A NodeClaim being simulated. */
class SimulatedNodeClaim {
  readonly pods: Array<Pod> = []
  private readonly hostPorts: HostPorts.HostPortUsage
  private maxAllocatable: Resources.Resources
  private maxOfCount: number
  /** CPU and memory the largest remaining option has left: a pod asking for more is skipped without a call. */
  freeCpu = 0
  freeMemory = 0

  /** The reservations this NodeClaim holds (upstream keeps the offerings; their ids are what counts). */
  reservationIDs: ReadonlyArray<string> = []
  /** Whether placing its first pod lowered a `minValues` (upstream records it only when the NodeClaim is created). */
  minValuesRelaxed = false

  constructor(
    readonly template: Template,
    readonly hostname: string,
    readonly index: number,
    public requirements: Requirements.Requirements,
    /** The instance types it may still launch as. */
    public options: InstanceTypeFilter.Options,
    public requests: Resources.Resources,
    private readonly reservations: ReservationManager,
    private readonly strictReservations: boolean
  ) {
    this.hostPorts = template.daemonHostPorts.copy()
    this.maxAllocatable = maxOf(options.instanceTypes)
    this.maxOfCount = options.size
    this.updateFree()
  }

  /** The instance types it may still launch as, in the template's order. */
  get instanceTypes(): ReadonlyArray<InstanceType.InstanceType> {
    return this.options.instanceTypes
  }

  private setMax(options: InstanceTypeFilter.Options): void {
    this.maxAllocatable = maxOf(options.instanceTypes)
    this.maxOfCount = options.size
  }

  private updateFree(): void {
    this.freeCpu = (this.maxAllocatable.cpu ?? 0) - (this.requests.cpu ?? 0)
    this.freeMemory = (this.maxAllocatable.memory ?? 0) - (this.requests.memory ?? 0)
  }

  get topologyNode(): Topology.TopologyNode {
    return { requirements: this.requirements, taints: this.template.taints }
  }

  /**
   * Places the pod on this NodeClaim, narrowing its requirements and options, or says why it cannot. With
   * `relaxMinValues` (a new NodeClaim under BestEffort, as upstream) an unmet `minValues` is lowered instead.
   */
  add(
    pod: PodData,
    topology: Topology.Topology,
    wellKnown: ReadonlySet<string>,
    relaxMinValues = false
  ): string | ReservedOfferingError | undefined {
    const untolerated = Tolerations.tolerates(pod.pod.spec.tolerations, this.template.taints)
    if (untolerated !== undefined) return untolerated
    // A cheap rejection before any requirement work: no remaining option could hold the pod.
    if (!Resources.fitsWith(this.requests, pod.requests, this.maxAllocatable)) {
      return `no instance type has ${InstanceTypeFilter.describeRequests(Resources.add(this.requests, pod.requests))}`
    }
    const conflict = this.hostPorts.conflict(pod.hostPorts)
    if (conflict !== undefined) return conflict
    // Topology first: most rejections of a busy pass are topology (a hostname already taken), and the claim's own
    // requirements answer them unless the pod itself constrains a topology key.
    const early = topology.addRequirements(pod, this.requirements)
    if (typeof early === "string") return early
    const incompatible = Requirements.compatible(this.requirements, pod.requirements, { allowUndefined: wellKnown })
    if (incompatible !== undefined) return incompatible
    let requirements = Requirements.narrow(early, pod.requirements).requirements
    if (requirements !== early && topology.constrainsAny(pod, pod.requirements)) {
      const again = topology.addRequirements(pod, Requirements.narrow(this.requirements, pod.requirements).requirements)
      if (typeof again === "string") return again
      requirements = again
    }
    const changed = requirements !== this.requirements
    const total = Resources.add(this.requests, pod.requests)
    const filtered = InstanceTypeFilter.filter(this.options, requirements, total, wellKnown, changed)
    if (!filtered.ok) return filtered.reason
    let relaxed = false
    // Only requirements with minValues read the options' instance types: without them the types are never built.
    if (Requirements.hasMinValues(requirements)) {
      if (relaxMinValues) {
        const narrowed = requirements
        requirements = InstanceTypeFilter.relaxMinValues(filtered.options.instanceTypes, requirements)
        relaxed = requirements !== narrowed
      } else {
        const minValues = InstanceTypeFilter.minValuesViolation(filtered.options.instanceTypes, requirements)
        if (minValues !== undefined) return minValues
      }
    }
    const reserved = this.reserveOfferings(filtered.options, requirements, wellKnown)
    if (reserved instanceof ReservedOfferingError) return reserved
    // Reservations the narrowed NodeClaim can no longer launch into go back to the pass.
    this.reservations.release(
      this.hostname,
      this.reservationIDs.filter((id) => !reserved.includes(id))
    )
    this.reservationIDs = reserved
    if (relaxMinValues) this.minValuesRelaxed = relaxed
    this.pods.push(pod.pod)
    this.requirements = requirements
    this.requests = total
    // The largest allocatable of the old options still bounds the new ones; recompute it only when they shrank a lot.
    if (filtered.options.size * 2 < this.maxOfCount) this.setMax(filtered.options)
    this.options = filtered.options
    this.updateFree()
    this.hostPorts.add(pod.key, pod.hostPorts)
    return undefined
  }

  /**
   * Upstream `reserveOfferings`: reserves every available reserved offering of the options compatible with the
   * requirements (pessimistically: the launch may take any of them), returning the reservation ids held. Strict mode
   * refuses the pod when compatible reservations exist but none is left, or when it would take away all this
   * NodeClaim's reservations.
   */
  private reserveOfferings(
    options: InstanceTypeFilter.Options,
    requirements: Requirements.Requirements,
    wellKnown: ReadonlySet<string>
  ): ReadonlyArray<string> | ReservedOfferingError {
    if (!this.reservations.hasReservations) return this.reservationIDs
    let compatible = false
    const ids: Array<string> = []
    for (const instanceType of options.instanceTypes) {
      for (const offering of instanceType.offerings) {
        if (offering.capacityType !== Labels.CapacityTypeReserved || !offering.available) continue
        if (!Requirements.isCompatible(requirements, offering.requirements, { allowUndefined: wellKnown })) continue
        compatible = true
        if (!this.reservations.reserve(this.hostname, offering)) continue
        const id = InstanceType.reservationIDOf(offering, this.reservations.label)
        if (!ids.includes(id)) ids.push(id)
      }
    }
    if (this.strictReservations && ids.length === 0) {
      if (compatible) {
        return new ReservedOfferingError(
          "one or more instance types with compatible reserved offerings are available, but could not be reserved"
        )
      }
      if (this.reservationIDs.length > 0) {
        return new ReservedOfferingError(
          "satisfying updated nodeclaim constraints would remove all compatible reserved offering options"
        )
      }
    }
    return ids
  }
}

// Every new NodeClaim of a template starts from the template's options: their largest allocatable is computed once.
const maxAllocatable = new WeakMap<ReadonlyArray<InstanceType.InstanceType>, Resources.Resources>()

const maxOf = (instanceTypes: ReadonlyArray<InstanceType.InstanceType>): Resources.Resources => {
  let max = maxAllocatable.get(instanceTypes)
  if (max === undefined) {
    max = Resources.max(...instanceTypes.map((instanceType) => instanceType.allocatable))
    maxAllocatable.set(instanceTypes, max)
  }
  return max
}

/** The options whose capacity fits in what the NodePool has left (all of them without limits). */
const withinLimits = (
  instanceTypes: ReadonlyArray<InstanceType.InstanceType>,
  remaining: Resources.Resources | undefined
): InstanceTypeFilter.Options =>
  InstanceTypeFilter.optionsOf(
    instanceTypes,
    remaining === undefined
      ? instanceTypes
      : instanceTypes.filter((instanceType) =>
          Object.entries(remaining).every(([name, left]) => (instanceType.capacity[name] ?? 0) <= left)
        )
  )

/**
 * The NodeClaims a pass creates, kept in buckets by pod count: upstream tries in-flight NodeClaims fewest pods first,
 * and re-sorting thousands of them for every pod would dominate the run.
 */
class NodeClaimsByPodCount {
  /** Claims by pod count, each bucket in creation order: iterate in order for "fewest pods first". */
  readonly buckets: Array<Array<SimulatedNodeClaim> | undefined> = []

  add(claim: SimulatedNodeClaim): void {
    this.insert(claim, claim.pods.length)
  }

  /** Moves a claim that just received a pod up one bucket. */
  grew(claim: SimulatedNodeClaim): void {
    const bucket = this.buckets[claim.pods.length - 1]
    if (bucket !== undefined) {
      // Shifted by hand: `splice` returns an array of what it removes, one per pod placed on a new NodeClaim.
      const at = bucket.indexOf(claim)
      if (at >= 0) {
        for (let index = at; index < bucket.length - 1; index++) bucket[index] = bucket[index + 1]!
        bucket.pop()
      }
    }
    this.insert(claim, claim.pods.length)
  }

  all(): Array<SimulatedNodeClaim> {
    return this.buckets.flatMap((bucket) => bucket ?? []).sort((a, b) => a.index - b.index)
  }

  private insert(claim: SimulatedNodeClaim, count: number): void {
    let bucket = this.buckets[count]
    if (bucket === undefined) {
      bucket = []
      this.buckets[count] = bucket
    }
    // Keep creation order within a bucket so ties resolve the same way every run.
    let low = 0
    let high = bucket.length
    while (low < high) {
      const middle = (low + high) >> 1
      if (bucket[middle]!.index < claim.index) low = middle + 1
      else high = middle
    }
    bucket.push(claim)
    for (let index = bucket.length - 1; index > low; index--) bucket[index] = bucket[index - 1]!
    bucket[low] = claim
  }
}

// -- Solve -------------------------------------------------------------------------------------------------------

// Untraced: called thousands of times a simulated day; a span and call frame each cost 1.5 µs.
/** Runs one scheduling pass. */
export const solve = Effect.fnUntraced(function* (input: Input) {
  const timeout = Duration.toMillis(Duration.fromInputUnsafe(input.timeout ?? "1 minute"))
  // Read without an Effect per pod: a day's simulations place half a million pods.
  const clock = yield* Clock.Clock
  const deadline = clock.currentTimeMillisUnsafe() + timeout
  const state = new Pass(input)
  let processed = 0
  for (let next = state.next(); next !== undefined; next = state.next()) {
    if (clock.currentTimeMillisUnsafe() >= deadline) {
      state.timeOut(next, timeout)
      break
    }
    state.trySchedule(next)
    // Yield now and then so the fiber can be interrupted; yielding every pod costs more than scheduling one.
    if (++processed % 16 === 0) yield* Effect.yieldNow
  }
  return state.results()
})

// Disruption simulates one snapshot once per candidate, over the same node inputs and daemon pods.
const missingDaemonRoomByNode = new WeakMap<
  ExistingNodeInput,
  { readonly daemonSetPods: ReadonlyArray<Pod>; readonly room: Resources.Resources }
>()

const sameElements = Arr.makeEquivalence(Equivalence.strictEqual<Pod>())

/** The room the node must keep for the daemons that would run on it but do not yet. */
const missingDaemonRoom = (
  node: ExistingNodeInput,
  daemonSetPods: ReadonlyArray<Pod>,
  daemons: ReadonlyArray<PodData>
): Resources.Resources => {
  const known = missingDaemonRoomByNode.get(node)
  if (known !== undefined && sameElements(known.daemonSetPods, daemonSetPods)) return known.room
  const overhead = daemons
    // Strict: on a real node a label the node lacks is a label the daemon's affinity cannot match.
    .filter((daemon) => daemonFits(daemon.pod, node.taints, Requirements.fromLabels(node.labels), noLabels))
    .reduce((sum, daemon) => Resources.add(sum, daemon.requests), Resources.empty)
  // Daemons already running on the node are in its requests; only the missing ones still need room.
  const room = Object.fromEntries(
    Object.entries(Resources.subtract(overhead, node.daemonSetRequested)).map(([name, value]) => [
      name,
      Math.max(0, value)
    ])
  )
  missingDaemonRoomByNode.set(node, { daemonSetPods, room })
  return room
}

/** The mutable state of one pass. */
class Pass {
  private readonly wellKnown: ReadonlySet<string>
  private readonly ignorePreferences: boolean
  private readonly toleratePreferNoSchedule: boolean
  private readonly templates: Array<Template> = []
  private readonly templateErrors: Array<string> = []
  private readonly existing: Array<ExistingNode>
  private readonly claims = new NodeClaimsByPodCount()
  private readonly remaining = new Map<string, Resources.Resources>()
  private readonly topology: Topology.Topology
  private readonly errors = new Map<string, string>()
  private readonly deferred = new Set<string>()
  private readonly reservations: ReservationManager
  private readonly strictReservations: boolean
  private readonly queue: Array<PodData>
  private readonly pushedAt = new Map<string, number>()
  private readonly maxInstanceTypes: number
  private readonly relaxMinValues: boolean
  private readonly volumes: VolumeTopology.VolumeContext
  private readonly movingPods: ReadonlySet<string>
  private claimCount = 0
  private timedOut = false
  private room: { readonly cpu: number; readonly memory: number } | undefined

  constructor(input: Input) {
    this.wellKnown = input.wellKnownLabels
    this.ignorePreferences = input.preferencePolicy === "Ignore"
    this.maxInstanceTypes = input.maxInstanceTypes ?? 60
    this.relaxMinValues = input.minValuesPolicy === "BestEffort"
    this.volumes = input.volumes ?? VolumeTopology.emptyVolumeContext
    const daemons = input.daemonSetPods.map((pod) => podData(pod, podKey(pod), true, this.volumes))
    const pools = [...input.nodePools].sort(byWeight)
    this.reservations = new ReservationManager(
      pools.flatMap(reservedOfferingsOf),
      InstanceType.reservationIDLabelOf(this.wellKnown)
    )
    this.strictReservations = input.reservedOfferingMode === "Strict"
    this.toleratePreferNoSchedule = pools.some((pool) =>
      (pool.nodePool.spec.template.spec.taints ?? []).some((taint) => taint.effect === "PreferNoSchedule")
    )
    for (const pool of pools) {
      const template = templateOf(pool, daemons, this.wellKnown)
      if (typeof template === "string") this.templateErrors.push(template)
      else this.templates.push(template)
      const limits = pool.nodePool.spec.limits
      if (limits !== undefined) {
        // One sum, not a new list per node: every simulation of a disruption pass counts each pool's nodes.
        const name = pool.nodePool.metadata.name
        const capacities: Array<Resources.Resources> = []
        for (const node of input.existingNodes) if (node.nodePool === name) capacities.push(node.capacity)
        const used = Resources.merge(...capacities)
        this.remaining.set(
          pool.nodePool.metadata.name ?? "",
          Resources.subtract(Resources.fromResourceList(limits), used)
        )
      }
    }
    const protectedNodes = input.protectedDestinations?.nodes ?? noNames
    this.movingPods = input.protectedDestinations?.movingPods ?? noNames
    this.existing = [...input.existingNodes]
      .sort((a, b) => Number(b.initialized) - Number(a.initialized) || compareStrings(a.name, b.name))
      .map((node) =>
        daemons.length === 0
          ? new ExistingNode(node, Resources.empty, protectedNodes.has(node.name))
          : new ExistingNode(node, missingDaemonRoom(node, input.daemonSetPods, daemons), protectedNodes.has(node.name))
      )
    const nodes = new Map(this.existing.map((node) => [node.input.name, node.topologyNode]))
    this.queue = input.pods
      .map((pod) => podData(pod, podKey(pod), this.ignorePreferences, this.volumes))
      .sort(byCpuAndMemoryDescending)
    this.topology = new Topology.Topology({
      ...(input.boundPods === undefined ? {} : { boundPods: input.boundPods }),
      ...(input.boundPodsByNode === undefined ? {} : { boundPodsByNode: input.boundPodsByNode }),
      nodes,
      universe: domainUniverse(this.templates),
      namespaces: input.namespaces,
      excluded: new Set(this.queue.map((pod) => pod.key)),
      respectPreferences: !this.ignorePreferences
    })
    for (const pod of this.queue) this.topology.update(pod)
  }

  /** The next pod, or undefined when done or when a full cycle made no progress (upstream's Queue.Pop). */
  next(): PodData | undefined {
    const head = this.queue[0]
    if (head === undefined) return undefined
    if (this.pushedAt.get(head.key) === this.queue.length) return undefined
    this.queue.shift()
    return head
  }

  timeOut(current: PodData, timeout: number): void {
    this.timedOut = true
    const reason = `not scheduled: the scheduling simulation timed out after ${Duration.format(Duration.millis(timeout))}`
    for (const pod of [current, ...this.queue]) this.errors.set(pod.key, reason)
    this.queue.length = 0
  }

  trySchedule(original: PodData): void {
    let pod = original
    for (;;) {
      const error = this.add(pod)
      if (error === undefined) {
        this.errors.delete(original.key)
        this.deferred.delete(original.key)
        if (pod !== original) this.topology.update(original)
        return
      }
      // A pod waiting for reserved capacity keeps its preferences: the capacity may free up in this pass or the next.
      const deferred = error instanceof ReservedOfferingError
      const relaxed = deferred
        ? undefined
        : Preferences.relax(pod.pod.spec, { toleratePreferNoSchedule: this.toleratePreferNoSchedule })
      if (relaxed === undefined) {
        this.errors.set(original.key, deferred ? error.message : error)
        if (deferred) this.deferred.add(original.key)
        else this.deferred.delete(original.key)
        if (pod !== original) this.topology.update(original)
        this.queue.push(original)
        this.pushedAt.set(original.key, this.queue.length)
        return
      }
      pod = podData({ ...pod.pod, spec: relaxed.spec }, pod.key, this.ignorePreferences, this.volumes)
      this.topology.update(pod)
    }
  }

  /** Places the pod somewhere, or says why it fits nowhere. */
  private add(pod: PodData): string | ReservedOfferingError | undefined {
    // Every node and in-flight NodeClaim rejects a pod whose pod affinity no domain meets (a fifth of a busy pass's pods
    // wait so for their peers): only a new NodeClaim's attempt, which says why, is left.
    if (!this.topology.affinityUnmet(pod)) {
      const placed = this.addToExisting(pod) || this.addToInFlight(pod)
      if (placed) return undefined
    }
    return this.addToNew(pod)
  }

  /** Places the pod on the first existing node that takes it. */
  private addToExisting(pod: PodData): boolean {
    // A pod larger than every node's room is refused by each of them (on a packed cluster, most moving pods): the
    // answer without asking them. Rejections change nothing, so skipping them changes nothing either.
    const cpu = pod.requests.cpu ?? 0
    const memory = pod.requests.memory ?? 0
    const room = this.existingRoom()
    if (cpu > room.cpu || memory > room.memory) return false
    const moving = this.movingPods.has(pod.key)
    for (const node of this.existing) {
      if (moving && node.protectedDestination) continue
      // What add would refuse on resources, without its other checks.
      if (cpu > node.freeCpu || memory > node.freeMemory) continue
      if (node.add(pod, this.topology) === undefined) {
        this.topology.record(pod, { requirements: node.placed, taints: node.input.taints })
        this.room = undefined
        return true
      }
    }
    return false
  }

  /** The most CPU and memory any existing node has left (each on its own), until a pod is placed on one. */
  private existingRoom(): { readonly cpu: number; readonly memory: number } {
    if (this.room === undefined) {
      let cpu = Number.NEGATIVE_INFINITY
      let memory = Number.NEGATIVE_INFINITY
      for (const node of this.existing) {
        cpu = Math.max(cpu, node.freeCpu)
        memory = Math.max(memory, node.freeMemory)
      }
      this.room = { cpu, memory }
    }
    return this.room
  }

  /** Places the pod on the first in-flight NodeClaim that takes it, fewest pods first. */
  private addToInFlight(pod: PodData): boolean {
    const cpu = pod.requests.cpu ?? 0
    const memory = pod.requests.memory ?? 0
    const constraints = this.topology.constraintsOf(pod)
    const constrained = constraints.groups.length > 0
    if (constrained && this.topology.excludesEveryNodeClaim(constraints, this.claimCount)) return false
    for (const bucket of this.claims.buckets) {
      if (bucket === undefined) continue
      for (const claim of bucket) {
        if (cpu > claim.freeCpu || memory > claim.freeMemory) continue
        if (constrained && this.topology.rejects(constraints, claim.requirements)) continue
        if (claim.add(pod, this.topology, this.wellKnown) === undefined) {
          // Stop iterating: growing moves the claim to the next bucket.
          this.claims.grew(claim)
          this.topology.record(pod, claim.topologyNode)
          return true
        }
      }
    }
    return false
  }

  /** Places the pod on a new NodeClaim of the first template that can take it, or says why none can. */
  private addToNew(pod: PodData): string | ReservedOfferingError | undefined {
    if (this.templates.length === 0) {
      return this.templateErrors.length === 0 ? "no nodepools found" : this.templateErrors.join("; ")
    }
    const reasons: Array<string> = []
    for (const template of this.templates) {
      const options = withinLimits(template.instanceTypes, this.remaining.get(template.name))
      if (options.size === 0) {
        // Say why the pool could never take the pod, if so: that is the reason to act on, not the limit.
        const mismatch =
          Tolerations.tolerates(pod.pod.spec.tolerations, template.taints) ??
          Requirements.compatible(template.requirements, pod.requirements, { allowUndefined: this.wellKnown })
        reasons.push(
          mismatch === undefined
            ? `nodepool "${template.name}" is at its limits (${limitsOf(template.nodePool)})`
            : `incompatible with nodepool "${template.name}": ${mismatch}`
        )
        continue
      }
      const index = this.claimCount
      const hostname = `hostname-placeholder-${String(index).padStart(4, "0")}`
      this.topology.registerHostname(hostname)
      const claim = new SimulatedNodeClaim(
        template,
        hostname,
        index,
        Requirements.add(template.requirements, Requirement.make(Labels.Hostname, "In", [hostname])),
        options,
        template.daemonOverhead,
        this.reservations,
        this.strictReservations
      )
      const rejected = claim.add(pod, this.topology, this.wellKnown, this.relaxMinValues)
      if (rejected !== undefined) {
        this.topology.unregisterHostname(hostname)
        this.reservations.release(hostname)
        if (rejected instanceof ReservedOfferingError) {
          // Upstream does not fall back to a lighter NodePool while this one has reserved capacity the pod could use.
          reasons.push(
            `compatible with nodepool "${template.name}" but failed to add pod while adhering to reservation fallback policy, ${rejected.message}`
          )
          return new ReservedOfferingError(reasons.join("; "))
        }
        reasons.push(`incompatible with nodepool "${template.name}": ${rejected}`)
        continue
      }
      this.claimCount++
      this.claims.add(claim)
      this.topology.record(pod, claim.topologyNode)
      const remaining = this.remaining.get(template.name)
      if (remaining !== undefined) {
        // Pessimistic: the NodeClaim may launch as its largest option.
        this.remaining.set(template.name, Resources.subtract(remaining, maxCapacity(claim.instanceTypes)))
      }
      return undefined
    }
    return reasons.join("; ")
  }

  results(): Results {
    const newNodeClaims: Array<NewNodeClaim> = []
    for (const claim of this.claims.all()) {
      const finalized = this.finalize(claim)
      if (typeof finalized === "string") {
        for (const pod of claim.pods) this.errors.set(podKey(pod), finalized)
      } else {
        newNodeClaims.push(finalized)
      }
    }
    const existingNodes = this.existing
      .filter((node) => node.pods.length > 0)
      .map((node) => ({ name: node.input.name, pods: node.pods }))
    return {
      newNodeClaims,
      existingNodes,
      errors: this.errors,
      deferred: new Set([...this.deferred].filter((key) => this.errors.has(key))),
      timedOut: this.timedOut
    }
  }

  /** Drops the simulated hostname and keeps the cheapest options (upstream FinalizeScheduling + truncation). */
  private finalize(claim: SimulatedNodeClaim): NewNodeClaim | string {
    const withoutHostname = new Map(claim.requirements)
    withoutHostname.delete(Labels.Hostname)
    // A NodeClaim holding reservations launches into one of them: it is pinned to the reserved capacity type (so a
    // later demotion to on-demand reads as drift) and to its reservations, so two NodeClaims never count on one slot.
    if (claim.reservationIDs.length > 0) {
      withoutHostname.set(
        Labels.CapacityType,
        Requirement.make(Labels.CapacityType, "In", [Labels.CapacityTypeReserved])
      )
      const label = this.reservations.label
      if (label !== undefined) withoutHostname.set(label, Requirement.make(label, "In", claim.reservationIDs))
    }
    const ordered = InstanceTypeFilter.cheapest(claim.options, withoutHostname, this.wellKnown, this.maxInstanceTypes)
    // Upstream `Truncate`: only Strict refuses a NodeClaim whose cheapest types no longer meet minValues.
    const violation = this.relaxMinValues ? undefined : InstanceTypeFilter.minValuesViolation(ordered, withoutHostname)
    if (violation !== undefined)
      return `${violation} after keeping the ${this.maxInstanceTypes} cheapest instance types`
    const existingType = withoutHostname.get(Labels.InstanceType)
    const requirements = Requirements.add(
      withoutHostname,
      Requirement.make(
        Labels.InstanceType,
        "In",
        ordered.map((instanceType) => instanceType.name),
        existingType?.minValues
      )
    )
    return {
      nodePool: claim.template.nodePool,
      labels: claim.template.labels,
      requirements,
      instanceTypes: ordered,
      pods: claim.pods,
      requests: claim.requests,
      minValuesRelaxed: claim.minValuesRelaxed
    }
  }
}

const noLabels: ReadonlySet<string> = new Set()
const noNames: ReadonlySet<string> = new Set()

// Disruption solves the same NodePool inputs once per candidate: find their reserved offerings once.
const reservedOfferings = new WeakMap<NodePoolInput, ReadonlyArray<InstanceType.Offering>>()

const reservedOfferingsOf = (input: NodePoolInput): ReadonlyArray<InstanceType.Offering> => {
  let offerings = reservedOfferings.get(input)
  if (offerings === undefined) {
    offerings = input.instanceTypes.flatMap((instanceType) =>
      instanceType.offerings.filter((offering) => offering.capacityType === Labels.CapacityTypeReserved)
    )
    reservedOfferings.set(input, offerings)
  }
  return offerings
}

const maxCapacity = (instanceTypes: ReadonlyArray<InstanceType.InstanceType>): Resources.Resources =>
  Resources.max(...instanceTypes.map((instanceType) => instanceType.capacity))

const limitsOf = (nodePool: NodePool): string =>
  Object.entries(nodePool.spec.limits ?? {})
    .map(([name, quantity]) => `${name} ${quantity}`)
    .join(", ")

/** Every value each key can take on new capacity, per NodePool template and instance type, with the pools' taints. */
const domainUniverse = (
  templates: ReadonlyArray<Template>
): Map<string, Map<string, Array<ReadonlyArray<TaintLike>>>> => {
  const universe = new Map<string, Map<string, Array<ReadonlyArray<TaintLike>>>>()
  const addAll = (key: string, values: Iterable<string>, taints: ReadonlyArray<TaintLike>) => {
    let domains = universe.get(key)
    if (domains === undefined) {
      domains = new Map()
      universe.set(key, domains)
    }
    for (const value of values) {
      const taintSets = domains.get(value)
      if (taintSets === undefined) domains.set(value, [taints])
      else if (!taintSets.includes(taints)) taintSets.push(taints)
    }
  }
  for (const template of templates) {
    for (const [key, values] of template.domains) addAll(key, values, template.taints)
  }
  return universe
}
