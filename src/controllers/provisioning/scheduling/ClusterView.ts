/**
 * The cluster as one provisioning pass sees it, built the same way from manifests (`schedule`) and from informer
 * caches (the provisioner): capacity that exists or is in flight, pods that need a node, pods already bound, and
 * DaemonSet pods every new node must make room for (each DaemonSet's newest pod, else its template).
 */
import * as Arr from "effect/Array"
import * as Equivalence from "effect/Equivalence"
import * as DoNotDisrupt from "../../../api/DoNotDisrupt.ts"
import * as Labels from "../../../api/Labels.ts"
import * as Meta from "../../../api/Meta.ts"
import type { Namespace } from "../../../api/Namespace.ts"
import type { Node } from "../../../api/Node.ts"
import type { NodeClaim } from "../../../api/NodeClaim.ts"
import { isTerminal, keyOf, type Pod } from "../../../api/Pod.ts"
import type { PodDisruptionBudget } from "../../../api/PodDisruptionBudget.ts"
import type * as Storage from "../../../api/Storage.ts"
import * as Taints from "../../../api/Taints.ts"
import type { DaemonSet } from "../../../api/Workloads.ts"
import * as InstanceType from "../../../cloudprovider/InstanceType.ts"
import * as HostPorts from "../../../scheduling/HostPorts.ts"
import * as PodRequirements from "../../../scheduling/PodRequirements.ts"
import * as PodsByNode from "../../../scheduling/PodsByNode.ts"
import * as Reschedulable from "../../../scheduling/Reschedulable.ts"
import * as Resources from "../../../scheduling/ResourceLists.ts"
import * as VolumeTopology from "../../../scheduling/VolumeTopology.ts"
import * as VolumeUsage from "../../../scheduling/VolumeUsage.ts"
import type * as Scheduler from "./Scheduler.ts"

/** The objects a pass reads. */
export interface ClusterView {
  readonly nodes: ReadonlyArray<Node>
  readonly nodeClaims: ReadonlyArray<NodeClaim>
  readonly pods: ReadonlyArray<Pod>
  readonly daemonSets: ReadonlyArray<DaemonSet>
  readonly persistentVolumeClaims: ReadonlyArray<Storage.PersistentVolumeClaim>
  readonly persistentVolumes: ReadonlyArray<Storage.PersistentVolume>
  readonly storageClasses: ReadonlyArray<Storage.StorageClass>
  readonly csiNodes: ReadonlyArray<Storage.CSINode>
  readonly podDisruptionBudgets: ReadonlyArray<PodDisruptionBudget>
  readonly namespaces: ReadonlyArray<Namespace>
  /** Nodes (by name) that disruption chose: their pods need capacity elsewhere, as on deleting nodes. */
  readonly markedForDeletion?: ReadonlySet<string>
  /**
   * The newest pod of each DaemonSet (by `namespace/name`) as ClusterState recorded it, kept once the pods are gone;
   * without it, the newest of `pods` ({@link newestDaemonSetPods}).
   */
  readonly recordedDaemonSetPods?: ReadonlyMap<string, Pod>
  /**
   * What moves off each node going away (unbound copies of its pods), shared by every simulation given the same cache
   * (the disruption controller's passes); without it, each simulation works it out anew.
   */
  readonly movingPods?: MovingPods
  /** CapacityBuffer virtual pods (CapacityBuffer gate): pending in every pass, so headroom is kept launched. */
  readonly virtualPods?: ReadonlyArray<Pod>
}

/** `namespace/name` of a pod. */
export const podKey = keyOf

const isDaemonSetPod = (pod: Pod) => pod.metadata.ownerReferences?.some((owner) => owner.kind === "DaemonSet") ?? false

const daemonSetKey = (daemonSet: DaemonSet): string =>
  `${daemonSet.metadata.namespace ?? "default"}/${daemonSet.metadata.name ?? ""}`

/** Whether the DaemonSet is the pod's controller (upstream `metav1.IsControlledBy`: the controller reference's uid). */
const isControlledBy = (pod: Pod, daemonSet: DaemonSet): boolean => {
  const owner = Meta.controllerOf(pod)
  if (owner === undefined || (pod.metadata.namespace ?? "default") !== (daemonSet.metadata.namespace ?? "default")) {
    return false
  }
  // Hand-written manifests for `schedule` may leave the DaemonSet's uid out: then its name identifies it.
  return daemonSet.metadata.uid === undefined
    ? owner.kind === "DaemonSet" && owner.name === daemonSet.metadata.name
    : owner.uid === daemonSet.metadata.uid
}

const noDaemonSetPods: ReadonlyMap<string, Pod> = new Map()

/**
 * The newest pod each DaemonSet controls, by `namespace/name` (upstream `Cluster.UpdateDaemonSet`: the latest
 * creationTimestamp wins, the first listed on a tie). A DaemonSet none of whose pods is in `pods` keeps its pod of
 * `recorded`, as upstream keeps it until the DaemonSet is deleted: a cluster scaled to zero still sizes new nodes by
 * what its daemons last ran with.
 */
export const newestDaemonSetPods = (
  daemonSets: ReadonlyArray<DaemonSet>,
  pods: ReadonlyArray<Pod>,
  recorded: ReadonlyMap<string, Pod> = new Map()
): ReadonlyMap<string, Pod> => {
  // Without DaemonSets there is nothing to find (and the cluster state asks again after every pod change).
  if (daemonSets.length === 0) return noDaemonSetPods
  const byUid = new Map<string, DaemonSet>()
  const withoutUid = new Map<string, DaemonSet>()
  for (const daemonSet of daemonSets) {
    if (daemonSet.metadata.uid === undefined) withoutUid.set(daemonSetKey(daemonSet), daemonSet)
    else byUid.set(daemonSet.metadata.uid, daemonSet)
  }
  const newest = new Map<string, Pod>()
  for (const pod of pods) {
    const owner = Meta.controllerOf(pod)
    if (owner === undefined) continue
    const daemonSet =
      byUid.get(owner.uid) ??
      (withoutUid.size === 0 ? undefined : withoutUid.get(`${pod.metadata.namespace ?? "default"}/${owner.name}`))
    if (daemonSet === undefined || !isControlledBy(pod, daemonSet)) continue
    const key = daemonSetKey(daemonSet)
    const current = newest.get(key)
    if (current === undefined || (pod.metadata.creationTimestamp ?? "") > (current.metadata.creationTimestamp ?? "")) {
      newest.set(key, pod)
    }
  }
  for (const daemonSet of daemonSets) {
    const key = daemonSetKey(daemonSet)
    const kept = recorded.get(key)
    // A DaemonSet deleted and created again under the same name does not inherit its predecessor's pod.
    if (!newest.has(key) && kept !== undefined && isControlledBy(kept, daemonSet)) newest.set(key, kept)
  }
  return newest
}

// One pod per DaemonSet object, so the simulations of a pass see the same daemon pods (and reuse what they cache).
const templatePods = new WeakMap<DaemonSet, Pod>()

/** A DaemonSet's template as a pod: what its overhead is sized from while no pod of it is known. */
const templatePod = (daemonSet: DaemonSet): Pod => {
  let pod = templatePods.get(daemonSet)
  if (pod === undefined) {
    pod = newTemplatePod(daemonSet)
    templatePods.set(daemonSet, pod)
  }
  return pod
}

const newTemplatePod = (daemonSet: DaemonSet): Pod => ({
  metadata: {
    name: daemonSet.metadata.name ?? "",
    namespace: daemonSet.metadata.namespace ?? "default",
    ...(daemonSet.spec.template.metadata?.labels === undefined
      ? {}
      : { labels: daemonSet.spec.template.metadata.labels }),
    ownerReferences: [
      {
        apiVersion: "apps/v1",
        kind: "DaemonSet",
        name: daemonSet.metadata.name ?? "",
        uid: daemonSet.metadata.uid ?? ""
      }
    ]
  },
  spec: daemonSet.spec.template.spec
})

// One copy per (pod, template affinity), reused by every simulation, so what is cached per spec (requests) is too.
const withTemplateAffinity = new WeakMap<Pod, { readonly required: unknown; readonly pod: Pod }>()

/**
 * The pod with its DaemonSet template's required node affinity: the DaemonSet controller replaces it on the pods it
 * creates with one that pins the pod to its node (upstream `getDaemonSetPods` puts the template's back).
 */
const restoreNodeAffinity = (pod: Pod, daemonSet: DaemonSet): Pod => {
  const required = daemonSet.spec.template.spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution
  if (required === undefined) return pod
  const cached = withTemplateAffinity.get(pod)
  if (cached !== undefined && cached.required === required) return cached.pod
  const affinity = pod.spec.affinity
  const restored: Pod = {
    ...pod,
    spec: {
      ...pod.spec,
      affinity: {
        ...affinity,
        nodeAffinity: { ...affinity?.nodeAffinity, requiredDuringSchedulingIgnoredDuringExecution: required }
      }
    }
  }
  withTemplateAffinity.set(pod, { required, pod: restored })
  return restored
}

/**
 * The pod every compatible new node reserves room for, one per DaemonSet (upstream `Provisioner.getDaemonSetPods`):
 * its newest pod, which a VPA or a LimitRange may have sized differently from the template, else the template.
 */
export const daemonSetPods = (view: ClusterView): Array<Pod> => {
  const newest = view.recordedDaemonSetPods ?? newestDaemonSetPods(view.daemonSets, view.pods)
  return view.daemonSets.map((daemonSet) => {
    const pod = newest.get(daemonSetKey(daemonSet))
    return pod === undefined ? templatePod(daemonSet) : restoreNodeAffinity(pod, daemonSet)
  })
}

/** The single instance type a NodeClaim launched as (or will launch as), if it names exactly one. */
const instanceTypeOf = (
  nodeClaim: NodeClaim,
  catalogue: ReadonlyArray<InstanceType.InstanceType>
): InstanceType.InstanceType | undefined => {
  const labelled = nodeClaim.metadata.labels?.[Labels.InstanceType]
  const required = nodeClaim.spec.requirements.find((r) => r.key === Labels.InstanceType && r.operator === "In")
  const name = labelled ?? (required?.values?.length === 1 ? required.values[0] : undefined)
  return InstanceType.named(catalogue, name)
}

/** A node's scheduling input and what it was built from (the scheduler copies what it changes, so it is shared). */
interface ExistingMemo {
  readonly claim: NodeClaim | undefined
  readonly pods: ReadonlyArray<Pod>
  readonly sources: ReadonlyArray<unknown>
  readonly input: Scheduler.ExistingNodeInput
}

// Disruption simulates the same snapshot once per candidate: a node whose objects are unchanged keeps its input.
const existingByNode = new WeakMap<Node, ExistingMemo>()

const sameElements = Arr.makeEquivalence(Equivalence.strictEqual<unknown>())

/** What every pass over the same Node and NodeClaim lists shares: a disruption pass simulates them ~1,000 times. */
interface Lists {
  readonly nodeClaims: ReadonlyArray<NodeClaim>
  /** Names of the nodes (and in-flight NodeClaims) that are going away. */
  readonly deleting: ReadonlySet<string>
  /** Names of the Nodes and NodeClaims. */
  readonly known: ReadonlySet<string>
  /** Each Node with its NodeClaim (by provider id), in the Nodes' order. */
  readonly joined: ReadonlyArray<{ readonly node: Node; readonly claim: NodeClaim | undefined }>
  /** The NodeClaims no Node joined: capacity in flight. */
  readonly inFlight: ReadonlyArray<NodeClaim>
}

const listsOfNodes = new WeakMap<ReadonlyArray<Node>, Lists>()

const listsOf = (view: ClusterView): Lists => {
  const cached = listsOfNodes.get(view.nodes)
  if (cached !== undefined && cached.nodeClaims === view.nodeClaims) return cached
  const { nodes, nodeClaims } = view
  const claimsByProviderID = new Map(
    nodeClaims.flatMap((claim) =>
      claim.status?.providerID === undefined ? [] : [[claim.status.providerID, claim] as const]
    )
  )
  // Joined first: the NodeClaim of a node going away is going too, not capacity in flight. (Where a Node is not
  // named after its NodeClaim, as on EC2, a drifted node's own NodeClaim was offered as room for its pods.)
  const joined = nodes.map((node) => ({
    node,
    claim: node.spec.providerID === undefined ? undefined : claimsByProviderID.get(node.spec.providerID)
  }))
  const joinedClaims = new Set(joined.map(({ claim }) => claim))
  const lists: Lists = {
    nodeClaims,
    deleting: deletingNodes(view),
    known: new Set([
      ...nodes.map((node) => node.metadata.name ?? ""),
      ...nodeClaims.map((claim) => claim.metadata.name ?? "")
    ]),
    joined,
    inFlight: nodeClaims.filter((claim) => !joinedClaims.has(claim))
  }
  listsOfNodes.set(nodes, lists)
  return lists
}

/** Whether the node (or in-flight NodeClaim) of that name is going away: deleting, or chosen by disruption. */
const leavingOf = (view: ClusterView, lists: Lists) => {
  const marked = view.markedForDeletion
  return (name: string): boolean => lists.deleting.has(name) || (marked?.has(name) ?? false)
}

// Volume attach limits by node name, per CSINode list.
const limitsOfCsiNodes = new WeakMap<ReadonlyArray<Storage.CSINode>, ReadonlyMap<string, ReadonlyMap<string, number>>>()

const attachLimitsByNode = (
  csiNodes: ReadonlyArray<Storage.CSINode>
): ReadonlyMap<string, ReadonlyMap<string, number>> => {
  let limits = limitsOfCsiNodes.get(csiNodes)
  if (limits === undefined) {
    limits = new Map(
      csiNodes.map((csiNode) => [
        csiNode.metadata.name ?? "",
        new Map(
          csiNode.spec.drivers.flatMap((driver) =>
            driver.allocatable?.count === undefined ? [] : [[driver.name, driver.allocatable.count] as const]
          )
        )
      ])
    )
    limitsOfCsiNodes.set(csiNodes, limits)
  }
  return limits
}

/** Capacity that exists (a Node, with its NodeClaim if any) or is in flight (a NodeClaim without a Node). */
export const existingNodes = (
  view: ClusterView,
  boundByNode: ReadonlyMap<string, ReadonlyArray<Pod>>,
  catalogue: ReadonlyArray<InstanceType.InstanceType>,
  volumes: VolumeTopology.VolumeContext
): Array<Scheduler.ExistingNodeInput> => {
  const lists = listsOf(view)
  const leaving = leavingOf(view, lists)
  const usage = (name: string) => {
    const pods = boundByNode.get(name) ?? []
    const hostPorts = new HostPorts.HostPortUsage()
    const volumeUsage = new VolumeUsage.VolumeUsage(attachLimitsByNode(view.csiNodes).get(name) ?? new Map())
    for (const pod of pods) {
      hostPorts.add(podKey(pod), HostPorts.hostPortsOf(pod.spec))
      volumeUsage.add(VolumeUsage.volumesOf(pod, volumes))
    }
    return {
      requested: Resources.requestsForPods(...pods.map((pod) => pod.spec)),
      daemonSetRequested: Resources.requestsForPods(...pods.filter(isDaemonSetPod).map((pod) => pod.spec)),
      hostPorts,
      volumeUsage
    }
  }
  const result: Array<Scheduler.ExistingNodeInput> = []
  const sources = [view.persistentVolumeClaims, view.persistentVolumes, view.storageClasses, view.csiNodes]
  for (const { node, claim } of lists.joined) {
    const name = node.metadata.name ?? ""
    if (leaving(name)) continue
    const pods = boundByNode.get(name) ?? []
    const memo = existingByNode.get(node)
    if (
      memo !== undefined &&
      memo.claim === claim &&
      sameElements(memo.pods, pods) &&
      sameElements(memo.sources, sources)
    ) {
      result.push(memo.input)
      continue
    }
    const allocatable = Resources.fromResourceList(node.status?.allocatable ?? claim?.status?.allocatable)
    const labels = { ...node.metadata.labels }
    const initialized = claim === undefined || labels[Labels.NodeInitialized] === "true"
    // A node still starting keeps its NodeClaim's view: startup and ephemeral taints are about to go.
    const taints = (node.spec.taints ?? []).filter(
      (taint) =>
        initialized ||
        (!Taints.KnownEphemeral.some((known) => Taints.matches(known, taint)) &&
          !(claim?.spec.startupTaints ?? []).some((startup) => Taints.matches(startup, taint)))
    )
    const input: Scheduler.ExistingNodeInput = {
      name,
      labels,
      taints,
      allocatable,
      capacity: Resources.fromResourceList(node.status?.capacity ?? node.status?.allocatable),
      ...usage(name),
      initialized,
      nodePool: labels[Labels.NodePool]
    }
    existingByNode.set(node, { claim, pods, sources, input })
    result.push(input)
  }
  for (const claim of lists.inFlight) {
    if (leaving(claim.metadata.name ?? "")) continue
    const instanceType = instanceTypeOf(claim, catalogue)
    const allocatable =
      claim.status?.allocatable ??
      (instanceType === undefined ? undefined : Resources.toResourceList(instanceType.allocatable))
    if (allocatable === undefined) continue
    const name = claim.metadata.name ?? ""
    const singleValues = Object.fromEntries(
      claim.spec.requirements.flatMap((r) =>
        r.operator === "In" && r.values?.length === 1 ? [[r.key, r.values[0]!]] : []
      )
    )
    const labels = { ...singleValues, ...claim.metadata.labels }
    result.push({
      name,
      labels,
      taints: claim.spec.taints ?? [],
      allocatable: Resources.fromResourceList(allocatable),
      capacity: Resources.fromResourceList(claim.status?.capacity ?? allocatable),
      ...usage(name),
      initialized: false,
      nodePool: labels[Labels.NodePool]
    })
  }
  return result
}

// Keyed by the informers' lists: the same lists give the same (shared, read-only) context.
const volumeContexts = new WeakMap<
  ReadonlyArray<unknown>,
  {
    readonly pvs: ReadonlyArray<unknown>
    readonly storageClasses: ReadonlyArray<unknown>
    readonly context: VolumeTopology.VolumeContext
  }
>()

/** The claims, volumes and classes of the view, by key; the same object while those lists are unchanged. */
export const volumeContext = (view: ClusterView): VolumeTopology.VolumeContext => {
  const cached = volumeContexts.get(view.persistentVolumeClaims)
  if (cached !== undefined && cached.pvs === view.persistentVolumes && cached.storageClasses === view.storageClasses) {
    return cached.context
  }
  const context = buildVolumeContext(view)
  volumeContexts.set(view.persistentVolumeClaims, {
    pvs: view.persistentVolumes,
    storageClasses: view.storageClasses,
    context
  })
  return context
}

const buildVolumeContext = (view: ClusterView): VolumeTopology.VolumeContext => ({
  pvcs: new Map(
    view.persistentVolumeClaims.map((pvc) => [`${pvc.metadata.namespace ?? "default"}/${pvc.metadata.name}`, pvc])
  ),
  pvs: new Map(view.persistentVolumes.map((pv) => [pv.metadata.name ?? "", pv])),
  storageClasses: new Map(view.storageClasses.map((sc) => [sc.metadata.name ?? "", sc]))
})

/** Names of the nodes (and in-flight NodeClaims) that are going away. */
const deletingNodes = (view: ClusterView): Set<string> =>
  new Set([
    ...view.nodes
      .filter((node) => node.metadata.deletionTimestamp !== undefined)
      .map((node) => node.metadata.name ?? ""),
    ...view.nodeClaims
      .filter((claim) => claim.metadata.deletionTimestamp !== undefined)
      .map((claim) => claim.status?.nodeName ?? claim.metadata.name ?? "")
  ])

// Every simulation of a disruption pass shares the per-node arrays, and what is cached per array (topology counts)
// with them; so do later passes for the nodes whose pods did not change.
/** The bound pods that have not finished, by node name. */
const runningByNode = PodsByNode.make((pod) => !isTerminal(pod))

/** The creation time given to pods that must move: later than any real pod's. */
const recreatedAt = "9999-12-31T23:59:59Z"

/**
 * Per node going away (by its array of running pods): the pods that move, as their controllers recreate them, under
 * which budgets, and from when until when (a do-not-disrupt duration ending changes them).
 */
export type MovingPods = WeakMap<
  ReadonlyArray<Pod>,
  {
    readonly budgets: ReadonlyArray<PodDisruptionBudget>
    readonly from: number
    readonly until: number
    readonly pods: ReadonlyArray<Pod>
  }
>

/**
 * The pod as its controller will create it anew, unbound: it queues behind the pods already pending (the scheduler
 * orders equal pods by age); otherwise a simulation hands it a slot a pending pod takes first.
 */
const recreated = (pod: Pod): Pod => ({
  ...pod,
  metadata: { ...pod.metadata, creationTimestamp: recreatedAt },
  spec: withoutNode(pod.spec)
})

// A spread that overwrites keeps the spec's shape (and is cheap); leaving the key out with a rest pattern built each
// copy property by property, 2 µs a pod. Nothing tells an absent nodeName from an undefined one.
const withoutNode = (spec: Pod["spec"]): Pod["spec"] => ({ ...spec, nodeName: undefined }) as unknown as Pod["spec"]

/**
 * The node's pods that need a home elsewhere at `now`, recreated; once in `cache` while the node's pods, the budgets
 * and the do-not-disrupt durations that matter stay, so every simulation that moves them gets the same copies (and
 * what is cached per spec, like requests, with them): asking each pod of each candidate in each of a day's ~10,000
 * simulations was 5% of a simulated day.
 */
const movingOff = (
  pods: ReadonlyArray<Pod>,
  budgets: ReadonlyArray<PodDisruptionBudget>,
  now: number,
  cache: MovingPods | undefined
): ReadonlyArray<Pod> => {
  const known = cache?.get(pods)
  if (known !== undefined && known.budgets === budgets && known.from <= now && now < known.until) return known.pods
  const moving: Array<Pod> = []
  // Until the first do-not-disrupt protection still running at `now` ends, the same pods move.
  let until = Number.POSITIVE_INFINITY
  for (const pod of pods) {
    const protectedUntil = DoNotDisrupt.protectedUntil(pod)
    if (protectedUntil !== undefined && protectedUntil > now) until = Math.min(until, protectedUntil)
    if (Reschedulable.notReschedulable(pod, budgets, now) === undefined) moving.push(recreated(pod))
  }
  cache?.set(pods, { budgets, from: now, until, pods: moving })
  return moving
}

/** The pods of a pass: those that need a node, those bound to live capacity, and those the provisioner ignores. */
export interface PodSets {
  readonly pending: Array<Pod>
  /** Shared by the passes over the same pods, nodes and marks: read only. Built on first read when nodes leave. */
  readonly bound: ReadonlyArray<Pod>
  /** `bound` by node name; each node's array is the same for every pass over the same pod list. */
  readonly boundByNode: ReadonlyMap<string, ReadonlyArray<Pod>>
  readonly ignored: ReadonlyArray<{ readonly pod: string; readonly reason: string }>
}

/** A node's running pods (in the pod list's order of nodes) and how the pass's Node and NodeClaim lists see it. */
interface Running {
  readonly name: string
  readonly pods: ReadonlyArray<Pod>
  readonly known: boolean
  readonly deleting: boolean
  /** Where its pods start in the placement's `bound` (known nodes that are not deleting). */
  readonly start: number
}

/**
 * The running pods of one pod list over one Node and NodeClaim list before disruption marks any node: each
 * simulation of a disruption pass takes its candidates' pods out of it, instead of sorting 30,000 pods anew.
 */
interface Placement {
  readonly lists: Lists
  readonly nodes: ReadonlyArray<Running>
  readonly indexByName: ReadonlyMap<string, number>
  readonly bound: ReadonlyArray<Pod>
  readonly boundByNode: ReadonlyMap<string, ReadonlyArray<Pod>>
  /** The indices of the nodes being deleted, in order: their pods need a home in every pass. */
  readonly deleting: ReadonlyArray<number>
}

const placementOfPods = new WeakMap<ReadonlyArray<Pod>, Placement>()

const placementOf = (view: ClusterView, lists: Lists): Placement => {
  const cached = placementOfPods.get(view.pods)
  if (cached !== undefined && cached.lists === lists) return cached
  const nodes: Array<Running> = []
  const bound: Array<Pod> = []
  const boundByNode = new Map<string, ReadonlyArray<Pod>>()
  for (const [name, pods] of runningByNode(view.pods)) {
    const deleting = lists.deleting.has(name)
    const known = lists.known.has(name)
    nodes.push({ name, pods, known, deleting, start: bound.length })
    if (deleting || !known) continue
    boundByNode.set(name, pods)
    for (const pod of pods) bound.push(pod)
  }
  const placement: Placement = {
    lists,
    nodes,
    indexByName: new Map(nodes.map((node, index) => [node.name, index])),
    bound,
    boundByNode,
    deleting: nodes.flatMap((node, index) => (node.deleting ? [index] : []))
  }
  placementOfPods.set(view.pods, placement)
  return placement
}

/**
 * Sorts the view's pods. Unbound pods are pending when provisionable (volume topology injected); `isPending` adds a
 * condition (the provisioner asks for kube-scheduler's PodScheduled=False/Unschedulable). Pods of nodes going away
 * need a new home when they can move at `now` (upstream v1.4.0 IsCurrentlyReschedulable).
 */
export const podSets = (
  view: ClusterView,
  wellKnown: ReadonlySet<string>,
  volumes: VolumeTopology.VolumeContext,
  now: number,
  isPending: (pod: Pod) => boolean = () => true
): PodSets => {
  const placement = placementOf(view, listsOf(view))
  // The nodes whose pods leave, in the pod list's order: those deleting and those disruption marked.
  const marked: Array<number> = []
  for (const name of view.markedForDeletion ?? []) {
    const index = placement.indexByName.get(name)
    if (index !== undefined && !placement.nodes[index]!.deleting) marked.push(index)
  }
  marked.sort((a, b) => a - b)
  const unbound = unboundPods(view.pods, wellKnown, volumes, isPending)
  // Virtual pods come after the real ones (upstream appends them to the pending pods): real pods take room first.
  const pending: Array<Pod> = [...unbound.pending, ...(view.virtualPods ?? [])]
  // The deleting and the marked nodes' pods, in the pod list's order of nodes (two sorted index lists merged).
  const { deleting } = placement
  for (let d = 0, m = 0; d < deleting.length || m < marked.length; ) {
    const index =
      m === marked.length || (d < deleting.length && deleting[d]! < marked[m]!) ? deleting[d++]! : marked[m++]!
    for (const pod of movingOff(placement.nodes[index]!.pods, view.podDisruptionBudgets, now, view.movingPods)) {
      pending.push(pod)
    }
  }
  const leavingBound = marked.filter((index) => placement.nodes[index]!.known)
  if (leavingBound.length === 0) {
    return { pending, bound: placement.bound, boundByNode: placement.boundByNode, ignored: unbound.ignored }
  }
  // The placement's map less the leaving nodes: the same nodes in the same order as a walk over them would give.
  const boundByNode = new Map(placement.boundByNode)
  for (const index of leavingBound) boundByNode.delete(placement.nodes[index]!.name)
  // Copied on first read: a consolidation simulation reads `boundByNode` only, and copying every other node's pods
  // for each of its ~10,000 simulations a day was 1% of a simulated day.
  let bound: ReadonlyArray<Pod> | undefined
  return {
    pending,
    get bound() {
      bound ??= boundWithout(placement, leavingBound)
      return bound
    },
    boundByNode,
    ignored: unbound.ignored
  }
}

/** The placement's bound pods less those of the leaving nodes (indices in order), in the same order. */
const boundWithout = (placement: Placement, leaving: ReadonlyArray<number>): ReadonlyArray<Pod> => {
  const parts: Array<ReadonlyArray<Pod>> = []
  let from = 0
  for (const index of leaving) {
    const node = placement.nodes[index]!
    parts.push(placement.bound.slice(from, node.start))
    from = node.start + node.pods.length
  }
  parts.push(placement.bound.slice(from))
  return ([] as Array<Pod>).concat(...parts)
}

interface Unbound {
  readonly volumes: VolumeTopology.VolumeContext
  readonly wellKnown: ReadonlySet<string>
  readonly isPending: (pod: Pod) => boolean
  readonly pending: ReadonlyArray<Pod>
  readonly ignored: ReadonlyArray<{ readonly pod: string; readonly reason: string }>
}

// The simulations of a disruption pass share the pod list, the volumes and the rules: sort the unbound pods once.
const unboundOfList = new WeakMap<ReadonlyArray<Pod>, Unbound>()

/** The unbound pods to provision (volume topology injected), and those the provisioner ignores with why. */
const unboundPods = (
  pods: ReadonlyArray<Pod>,
  wellKnown: ReadonlySet<string>,
  volumes: VolumeTopology.VolumeContext,
  isPending: (pod: Pod) => boolean
): Unbound => {
  const cached = unboundOfList.get(pods)
  if (
    cached !== undefined &&
    cached.volumes === volumes &&
    cached.wellKnown === wellKnown &&
    cached.isPending === isPending
  ) {
    return cached
  }
  const pending: Array<Pod> = []
  const ignored: Array<{ pod: string; reason: string }> = []
  for (const pod of pods) {
    if (pod.spec.nodeName !== undefined && pod.spec.nodeName !== "") continue
    const reason = PodRequirements.notProvisionable(pod, wellKnown)
    if (reason !== undefined) {
      ignored.push({ pod: podKey(pod), reason: `not provisionable: ${reason}` })
      continue
    }
    if (!isPending(pod)) continue
    const injected = VolumeTopology.inject(pod, volumes)
    if ("error" in injected) {
      ignored.push({ pod: podKey(pod), reason: `not provisionable: ${injected.error}` })
      continue
    }
    pending.push(injected.pod)
  }
  const result = { volumes, wellKnown, isPending, pending, ignored }
  unboundOfList.set(pods, result)
  return result
}
