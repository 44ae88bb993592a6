/**
 * `schedule`: a dry-run of one provisioning pass over manifests — which pods would go to existing capacity, which
 * NodeClaims would be launched for the rest (and as what), and why any pod cannot be placed.
 */
import { Effect, FileSystem, Schema } from "effect"
import * as KWOKNodeClass from "../api/KWOKNodeClass.ts"
import * as Labels from "../api/Labels.ts"
import type { NodeClaim } from "../api/NodeClaim.ts"
import type { Pod } from "../api/Pod.ts"
import * as Taints from "../api/Taints.ts"
import type { DaemonSet } from "../api/Workloads.ts"
import * as Catalog from "../cloudprovider/Catalog.ts"
import type * as InstanceType from "../cloudprovider/InstanceType.ts"
import * as HostPorts from "../scheduling/HostPorts.ts"
import * as PodRequirements from "../scheduling/PodRequirements.ts"
import * as Requirements from "../scheduling/Requirements.ts"
import * as Reschedulable from "../scheduling/Reschedulable.ts"
import * as Resources from "../scheduling/Resources.ts"
import * as Scheduler from "../scheduling/Scheduler.ts"
import * as VolumeTopology from "../scheduling/VolumeTopology.ts"
import * as VolumeUsage from "../scheduling/VolumeUsage.ts"
import * as Manifests from "./Manifests.ts"
import * as ScheduleOutput from "./ScheduleOutput.ts"

/** Input the command cannot use: printed as one line, exit code 2. */
export class InvalidInput extends Schema.TaggedError<InvalidInput>()("InvalidInput", { message: Schema.String }) {}

/** Reads an instance-type catalogue file (the format of shared/data/kwok-instance-types.json). */
export const loadCatalogue = Effect.fn("Schedule.loadCatalogue")(function* (path: string) {
  const fs = yield* FileSystem.FileSystem
  const text = yield* fs
    .readFileString(path)
    .pipe(Effect.mapError((error) => new InvalidInput({ message: `${path}: ${error.message.split("\n")[0]}` })))
  const json = yield* Effect.try({
    try: () => JSON.parse(text) as unknown,
    catch: (error) => new InvalidInput({ message: `${path}: not JSON: ${(error as Error).message}` })
  })
  return yield* Catalog.fromJson(json).pipe(
    Effect.mapError((error) => new InvalidInput({ message: `${path}: ${error.message}` }))
  )
})

/** The well-known labels for a catalogue: KWOK's, plus every extra label a catalogue entry declares. */
export const wellKnownFor = (instanceTypes: ReadonlyArray<InstanceType.InstanceType>): ReadonlySet<string> => {
  const keys = new Set(Catalog.kwokWellKnownLabels)
  for (const instanceType of instanceTypes) {
    for (const key of instanceType.requirements.keys()) keys.add(key)
  }
  return keys
}

const podKey = Scheduler.podKey
const isTerminal = (pod: Pod) => pod.status?.phase === "Succeeded" || pod.status?.phase === "Failed"
const isDaemonSetPod = (pod: Pod) => pod.metadata.ownerReferences?.some((owner) => owner.kind === "DaemonSet") ?? false

/** A DaemonSet's pod as the scheduler reserves room for it. */
const daemonPod = (daemonSet: DaemonSet): Pod => ({
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

/** The single instance type a NodeClaim launched as (or will launch as), if it names exactly one. */
const instanceTypeOf = (
  nodeClaim: NodeClaim,
  catalogue: ReadonlyArray<InstanceType.InstanceType>
): InstanceType.InstanceType | undefined => {
  const labelled = nodeClaim.metadata.labels?.[Labels.InstanceType]
  const required = nodeClaim.spec.requirements.find((r) => r.key === Labels.InstanceType && r.operator === "In")
  const name = labelled ?? (required?.values?.length === 1 ? required.values[0] : undefined)
  return name === undefined ? undefined : catalogue.find((instanceType) => instanceType.name === name)
}

/** Capacity that exists (a Node, with its NodeClaim if any) or is in flight (a NodeClaim without a Node). */
const existingNodes = (
  manifests: Manifests.Manifests,
  boundPods: ReadonlyArray<Pod>,
  catalogue: ReadonlyArray<InstanceType.InstanceType>,
  volumes: VolumeTopology.VolumeContext
): Array<Scheduler.ExistingNodeInput> => {
  const { nodes, nodeClaims } = manifests
  const limitsByNode = new Map(
    manifests.csiNodes.map((csiNode) => [
      csiNode.metadata.name ?? "",
      new Map(
        csiNode.spec.drivers.flatMap((driver) =>
          driver.allocatable?.count === undefined ? [] : [[driver.name, driver.allocatable.count] as const]
        )
      )
    ])
  )
  const podsByNode = new Map<string, Array<Pod>>()
  for (const pod of boundPods) {
    const name = pod.spec.nodeName ?? ""
    podsByNode.set(name, [...(podsByNode.get(name) ?? []), pod])
  }
  const usage = (name: string) => {
    const pods = podsByNode.get(name) ?? []
    const hostPorts = new HostPorts.HostPortUsage()
    const volumeUsage = new VolumeUsage.VolumeUsage(limitsByNode.get(name) ?? new Map())
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
  const claimsByProviderID = new Map(
    nodeClaims.flatMap((claim) =>
      claim.status?.providerID === undefined ? [] : [[claim.status.providerID, claim] as const]
    )
  )
  const result: Array<Scheduler.ExistingNodeInput> = []
  const joined = new Set<NodeClaim>()
  for (const node of nodes) {
    if (node.metadata.deletionTimestamp !== undefined) continue
    const claim = node.spec.providerID === undefined ? undefined : claimsByProviderID.get(node.spec.providerID)
    if (claim !== undefined) joined.add(claim)
    const name = node.metadata.name ?? ""
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
    result.push({
      name,
      labels,
      taints,
      allocatable,
      capacity: Resources.fromResourceList(node.status?.capacity ?? node.status?.allocatable),
      ...usage(name),
      initialized,
      nodePool: labels[Labels.NodePool]
    })
  }
  for (const claim of nodeClaims) {
    if (joined.has(claim) || claim.metadata.deletionTimestamp !== undefined) continue
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

/** One provisioning pass over the manifests, as the contract's result. */
export const plan = Effect.fn("Schedule.plan")(function* (
  manifests: Manifests.Manifests,
  catalogue: ReadonlyArray<InstanceType.InstanceType>
) {
  const wellKnown = wellKnownFor(catalogue)
  const unschedulable: Array<{ pod: string; reason: string }> = []
  const nodeClassNames = new Set(manifests.nodeClasses.map((nodeClass) => nodeClass.metadata.name ?? ""))
  const nodePools: Array<Scheduler.NodePoolInput> = []
  const skippedPools: Array<string> = []
  for (const nodePool of manifests.nodePools) {
    if (nodePool.metadata.deletionTimestamp !== undefined) continue
    const ref = nodePool.spec.template.spec.nodeClassRef
    const isKwok = ref.group === KWOKNodeClass.group && ref.kind === KWOKNodeClass.kind
    if (isKwok && nodeClassNames.size > 0 && !nodeClassNames.has(ref.name)) {
      skippedPools.push(`nodepool "${nodePool.metadata.name}": KWOKNodeClass "${ref.name}" not found`)
      continue
    }
    nodePools.push({
      nodePool,
      instanceTypes: catalogue,
      labels: isKwok ? { [KWOKNodeClass.NodeClassLabel]: ref.name } : {}
    })
  }
  const volumes: VolumeTopology.VolumeContext = {
    pvcs: new Map(
      manifests.persistentVolumeClaims.map((pvc) => [
        `${pvc.metadata.namespace ?? "default"}/${pvc.metadata.name}`,
        pvc
      ])
    ),
    pvs: new Map(manifests.persistentVolumes.map((pv) => [pv.metadata.name ?? "", pv])),
    storageClasses: new Map(manifests.storageClasses.map((sc) => [sc.metadata.name ?? "", sc]))
  }
  const knownNodes = new Set([
    ...manifests.nodes.map((node) => node.metadata.name ?? ""),
    ...manifests.nodeClaims.map((claim) => claim.metadata.name ?? "")
  ])
  // Pods of nodes being deleted need a new home, unless they cannot move now (the provisioner makes room for them).
  const deletingNodes = new Set([
    ...manifests.nodes
      .filter((node) => node.metadata.deletionTimestamp !== undefined)
      .map((node) => node.metadata.name ?? ""),
    ...manifests.nodeClaims
      .filter((claim) => claim.metadata.deletionTimestamp !== undefined)
      .map((claim) => claim.status?.nodeName ?? claim.metadata.name ?? "")
  ])
  const pending: Array<Pod> = []
  const bound: Array<Pod> = []
  for (const pod of manifests.pods) {
    if (pod.spec.nodeName !== undefined && pod.spec.nodeName !== "") {
      if (isTerminal(pod)) continue
      if (deletingNodes.has(pod.spec.nodeName)) {
        if (Reschedulable.notReschedulable(pod, manifests.podDisruptionBudgets) === undefined) {
          const { nodeName: _nodeName, ...spec } = pod.spec
          pending.push({ ...pod, spec })
        }
      } else if (knownNodes.has(pod.spec.nodeName)) {
        bound.push(pod)
      }
      continue
    }
    const ignored = PodRequirements.notProvisionable(pod, wellKnown)
    if (ignored !== undefined) {
      unschedulable.push({ pod: podKey(pod), reason: `not provisionable: ${ignored}` })
      continue
    }
    const injected = VolumeTopology.inject(pod, volumes)
    if ("error" in injected) {
      unschedulable.push({ pod: podKey(pod), reason: `not provisionable: ${injected.error}` })
      continue
    }
    pending.push(injected.pod)
  }
  const results = yield* Scheduler.solve({
    nodePools,
    existingNodes: existingNodes(manifests, bound, catalogue, volumes),
    pods: pending,
    boundPods: bound,
    daemonSetPods: manifests.daemonSets.map(daemonPod),
    namespaces: manifests.namespaces,
    volumes,
    wellKnownLabels: wellKnown
  })
  for (const [pod, reason] of results.errors) {
    const why = nodePools.length === 0 && skippedPools.length > 0 ? skippedPools.join("; ") : reason
    unschedulable.push({ pod, reason: why })
  }
  const result: ScheduleOutput.PassResult = {
    nodeClaims: results.newNodeClaims.map((claim) => ({
      nodePool: claim.nodePool.metadata.name ?? "",
      instanceTypes: claim.instanceTypes,
      requirements: Requirements.toNodeSelectorRequirements(claim.requirements).map(({ key, operator, values }) => ({
        key,
        operator,
        values
      })),
      requirementsForLaunch: claim.requirements,
      pods: claim.pods.map(podKey)
    })),
    existingNodes: results.existingNodes.map((node) => ({ name: node.name, pods: node.pods.map(podKey) })),
    unschedulable
  }
  return { result, wellKnown }
})

/** Runs the command: read, plan, print. */
export const run = Effect.fn("Schedule.run")(function* (options: {
  readonly files: ReadonlyArray<string>
  readonly instanceTypes: string | undefined
  readonly output: "json" | "text"
}) {
  const manifests = yield* Manifests.load(options.files).pipe(
    Effect.mapError((error) => new InvalidInput({ message: error.message }))
  )
  const catalogue = options.instanceTypes === undefined ? Catalog.kwok() : yield* loadCatalogue(options.instanceTypes)
  const { result, wellKnown } = yield* plan(manifests, catalogue)
  return options.output === "json"
    ? JSON.stringify(ScheduleOutput.toJson(result, wellKnown), null, 2)
    : ScheduleOutput.toText(result, wellKnown)
})
