/**
 * The provisioner (upstream `pkg/controllers/provisioning`): batches pending pods, runs one scheduling pass over the
 * cluster state, and creates the NodeClaims the pass decided on — within NodePool limits, nominating the pods.
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Conditions from "../../api/Conditions.ts"
import * as Labels from "../../api/Labels.ts"
import * as Meta from "../../api/Meta.ts"
import * as NodePool from "../../api/NodePool.ts"
import type { Pod } from "../../api/Pod.ts"
import * as CloudProvider from "../../cloudprovider/CloudProvider.ts"
import * as InstanceType from "../../cloudprovider/InstanceType.ts"
import { type Event, EventRecorder, type RateLimit } from "../../kube/EventRecorder.ts"
import { KubeClient } from "../../kube/KubeClient.ts"
import * as Resource from "../../kube/Resource.ts"
import * as Resources from "../../kube/Resources.ts"
import * as Informer from "../../runtime/Informer.ts"
import * as InformerCache from "../../runtime/InformerCache.ts"
import * as Requirements from "../../scheduling/Requirements.ts"
import * as ResourceMath from "../../scheduling/ResourceLists.ts"
import { ClusterState } from "../../state/ClusterState.ts"
import * as CapacityBufferController from "../capacitybuffer/CapacityBufferController.ts"
import * as CapacityBufferStatus from "../capacitybuffer/CapacityBufferStatus.ts"
import * as CapacityBuffers from "../capacitybuffer/CapacityBuffers.ts"
import * as Hash from "../nodepool/hash/Hash.ts"
import * as Batcher from "./Batcher.ts"
import * as Metrics from "./ProvisioningMetrics.ts"
import * as ClusterView from "./scheduling/ClusterView.ts"
import * as Scheduler from "./scheduling/Scheduler.ts"

/** Batching and timeout settings (upstream BATCH_IDLE_DURATION, BATCH_MAX_DURATION, the simulation timeout). */
export interface Options {
  readonly batchIdle?: Duration.Input
  readonly batchMax?: Duration.Input
  readonly schedulingTimeout?: Duration.Input
  /** PREFERENCE_POLICY: `Ignore` drops preferred affinities and ScheduleAnyway spreads; default `Respect`. */
  readonly preferencePolicy?: "Respect" | "Ignore"
  /** The ReservedCapacity feature gate: when off (the default), reserved offerings are not offered. */
  readonly reservedCapacity?: boolean
  /** How a pass treats reserved offerings (see `Scheduler.Input`); provisioning is Strict, disruption Fallback. */
  readonly reservedOfferingMode?: "Fallback" | "Strict"
  /** MIN_VALUES_POLICY: `BestEffort` lowers a new NodeClaim's unmet minValues; default `Strict`. */
  readonly minValuesPolicy?: Scheduler.MinValuesPolicy
  /** Consolidation's simulations: nodes the pods being moved may not land on. */
  readonly protectedDestinations?: Scheduler.ProtectedDestinations
  /** The CapacityBuffer feature gate: every pass places the ready buffers' virtual pods too (upstream v1.14). */
  readonly capacityBuffer?: boolean
}

/** kube-scheduler gave up on the pod: the only pods Karpenter provisions for. */
export const isUnschedulable = (pod: Pod): boolean =>
  (pod.spec.nodeName === undefined || pod.spec.nodeName === "") &&
  pod.status?.nominatedNodeName === undefined &&
  (pod.status?.conditions ?? []).some(
    (condition) =>
      condition.type === "PodScheduled" && condition.status === "False" && condition.reason === "Unschedulable"
  )

/** A NodePool the provisioner launches from: not being deleted, and Ready=True. */
export const isReady = (nodePool: NodePool.NodePool): boolean =>
  nodePool.metadata.deletionTimestamp === undefined &&
  Meta.isConditionTrue(nodePool.status?.conditions, Conditions.Ready)

/** The NodeClaim object for a decided NodeClaim (upstream `NodeClaimTemplate.ToNodeClaim`). */
export const toNodeClaim = (claim: Scheduler.NewNodeClaim) => {
  const nodePool = claim.nodePool
  const template = nodePool.spec.template
  const spec = template.spec
  return {
    apiVersion: "karpenter.sh/v1",
    kind: "NodeClaim",
    metadata: {
      generateName: `${nodePool.metadata.name}-`,
      labels: { ...claim.labels },
      annotations: {
        ...template.metadata?.annotations,
        [Labels.NodePoolHashAnnotation]: Hash.hashOf(nodePool),
        [Labels.NodePoolHashVersionAnnotation]: Labels.NodePoolHashVersion,
        ...(claim.minValuesRelaxed === undefined
          ? {}
          : { [Labels.NodeClaimMinValuesRelaxedAnnotation]: String(claim.minValuesRelaxed) })
      },
      ownerReferences: [
        {
          apiVersion: "karpenter.sh/v1",
          kind: "NodePool",
          name: nodePool.metadata.name ?? "",
          uid: nodePool.metadata.uid ?? "",
          blockOwnerDeletion: true
        }
      ]
    },
    spec: {
      ...(spec.taints === undefined ? {} : { taints: spec.taints }),
      ...(spec.startupTaints === undefined ? {} : { startupTaints: spec.startupTaints }),
      requirements: Requirements.toNodeSelectorRequirements(claim.requirements),
      resources: { requests: ResourceMath.toResourceList(claim.requests) },
      nodeClassRef: spec.nodeClassRef,
      expireAfter: spec.expireAfter,
      ...(spec.terminationGracePeriod === undefined ? {} : { terminationGracePeriod: spec.terminationGracePeriod })
    }
  }
}

/** The NodeClass label every NodeClaim of the NodePool carries (`<group>/<kind>: <name>`). */
export const nodeClassLabels = (nodePool: NodePool.NodePool): Record<string, string> => {
  const ref = nodePool.spec.template.spec.nodeClassRef
  return { [`${ref.group}/${ref.kind.toLowerCase()}`]: ref.name }
}

// The same NodePool object with the same instance types is the same input, so what the scheduler derives per input
// (the pool's template: its requirements and the catalogue filtered by them) carries over from pass to pass.
const nodePoolInputs = new WeakMap<NodePool.NodePool, Scheduler.NodePoolInput>()

const nodePoolInput = (
  nodePool: NodePool.NodePool,
  instanceTypes: ReadonlyArray<InstanceType.InstanceType>
): Scheduler.NodePoolInput => {
  const known = nodePoolInputs.get(nodePool)
  if (known !== undefined && known.instanceTypes === instanceTypes) return known
  const input = { nodePool, instanceTypes, labels: nodeClassLabels(nodePool) }
  nodePoolInputs.set(nodePool, input)
  return input
}

// Untraced: called thousands of times a simulated day; a span and call frame each cost 1.5 µs.
/**
 * The ready NodePools with their instance types (NodePools without instance types are left out); without the
 * ReservedCapacity gate, without their reserved offerings.
 */
export const readyNodePools = Effect.fnUntraced(function* (options?: { readonly reservedCapacity?: boolean }) {
  const cloud = yield* CloudProvider.CloudProvider
  const nodePools: Array<Scheduler.NodePoolInput> = []
  // From the process's cache, as upstream's cached client lists them: no API request per pass.
  const informer = yield* InformerCache.informer(Resources.NodePools)
  yield* informer.synced
  // A static NodePool launches for its replicas, never for pods (upstream v1.8, whether or not StaticCapacity is on).
  for (const nodePool of (yield* informer.list()).filter((pool) => isReady(pool) && !NodePool.isStatic(pool))) {
    const instanceTypes = yield* cloud
      .getInstanceTypes(nodePool)
      .pipe(
        Effect.catch((error) => Effect.as(Effect.logWarning(`skipping nodepool ${nodePool.metadata.name}`, error), []))
      )
    if (instanceTypes.length === 0) continue
    const offered =
      options?.reservedCapacity === true ? instanceTypes : InstanceType.withoutReservedOfferings(instanceTypes)
    nodePools.push(nodePoolInput(nodePool, offered))
  }
  return nodePools
})

// Every simulation of a disruption pass gets the same NodePool inputs: join their instance types once.
const catalogues = new WeakMap<ReadonlyArray<Scheduler.NodePoolInput>, ReadonlyArray<InstanceType.InstanceType>>()

/** Every instance type the NodePools offer (in-flight NodeClaims are sized by theirs). */
const catalogueOf = (nodePools: ReadonlyArray<Scheduler.NodePoolInput>): ReadonlyArray<InstanceType.InstanceType> => {
  let catalogue = catalogues.get(nodePools)
  if (catalogue === undefined) {
    catalogue = nodePools.flatMap((pool) => pool.instanceTypes)
    catalogues.set(nodePools, catalogue)
  }
  return catalogue
}

// Untraced: called thousands of times a simulated day; a span and call frame each cost 1.5 µs.
/**
 * A scheduling pass over a view of the cluster: the pods that need a node (kube-scheduler's unschedulable pods, and
 * the movable pods of nodes going away or marked for deletion) against the capacity that stays. Disruption runs it
 * with its candidates marked for deletion.
 */
export const simulate = Effect.fnUntraced(function* (
  view: ClusterView.ClusterView,
  nodePools: ReadonlyArray<Scheduler.NodePoolInput>,
  options?: Options
) {
  const cloud = yield* CloudProvider.CloudProvider
  const wellKnown = cloud.wellKnownLabels
  const volumes = ClusterView.volumeContext(view)
  const { pending, boundByNode } = ClusterView.podSets(
    view,
    wellKnown,
    volumes,
    yield* Clock.currentTimeMillis,
    isUnschedulable
  )
  const existingNodes = ClusterView.existingNodes(view, boundByNode, catalogueOf(nodePools), volumes)
  if (pending.length === 0) {
    const results: Scheduler.Results = {
      newNodeClaims: [],
      existingNodes: [],
      errors: new Map(),
      deferred: new Set(),
      timedOut: false
    }
    return { pending, existingNodes, results }
  }
  const results = yield* Scheduler.solve({
    nodePools,
    existingNodes,
    pods: pending,
    boundPodsByNode: boundByNode,
    daemonSetPods: ClusterView.daemonSetPods(view),
    namespaces: view.namespaces,
    volumes,
    wellKnownLabels: wellKnown,
    ...(options?.preferencePolicy === undefined ? {} : { preferencePolicy: options.preferencePolicy }),
    ...(options?.reservedOfferingMode === undefined ? {} : { reservedOfferingMode: options.reservedOfferingMode }),
    ...(options?.minValuesPolicy === undefined ? {} : { minValuesPolicy: options.minValuesPolicy }),
    ...(options?.protectedDestinations === undefined ? {} : { protectedDestinations: options.protectedDestinations }),
    timeout: options?.schedulingTimeout ?? "1 minute"
  })
  return { pending, existingNodes, results }
})

/** What upstream dedupes a pod's events by: its UID (a CapacityBuffer's virtual pod has none: its key). */
const podIdentity = (pod: Pod): string => pod.metadata.uid ?? ClusterView.podKey(pod)

/** Upstream's `PodNominationRateLimiter`: 5 Nominated events a second, 10 at once, across all pods. */
const nominationRateLimit: RateLimit = { name: "Nominated", perSecond: 5, burst: 10 }

/** Upstream `NominatePodEvent`: where the pod is expected to land. */
const nominated = (pod: Pod, target: string): Event => ({
  involvedObject: podReference(pod),
  type: "Normal",
  reason: "Nominated",
  message: `Pod should schedule on: ${target}`,
  dedupeValues: [podIdentity(pod)],
  rateLimit: nominationRateLimit
})

/** Upstream `pretty.Slice` for logs: the first five items, then how many more. */
const prettySlice = (names: ReadonlyArray<string>): string =>
  names.length <= 5 ? names.join(", ") : `${names.slice(0, 5).join(", ")} and ${names.length - 5} other(s)`

/**
 * Creates the NodeClaims a pass decided on, re-checking NodePool limits against what exists now; with
 * `recordPodNomination` (a provisioning pass, upstream's `RecordPodNomination` option) each of their pods gets a
 * Nominated event. Returns the created NodeClaims.
 */
export const createNodeClaims = Effect.fn("Provisioner.createNodeClaims")(function* (
  claims: ReadonlyArray<Scheduler.NewNodeClaim>,
  reason: string,
  options?: { readonly recordPodNomination?: boolean }
) {
  const kube = yield* KubeClient
  const cluster = yield* ClusterState
  const events = yield* EventRecorder
  const created: Array<{ readonly name: string; readonly claim: Scheduler.NewNodeClaim }> = []
  for (const claim of claims) {
    const name = claim.nodePool.metadata.name ?? ""
    const limits = claim.nodePool.spec.limits
    if (limits !== undefined) {
      // Re-check against what exists now: NodeClaims created earlier in this loop count too.
      const exceeded = ResourceMath.exceeds(
        yield* cluster.nodePoolResources(name),
        ResourceMath.fromResourceList(limits)
      )
      if (exceeded !== undefined) {
        yield* Effect.logInfo(`nodepool ${name} limits exceeded: ${exceeded}`)
        continue
      }
    }
    const nodeClaim = yield* kube.create(Resources.NodeClaims, toNodeClaim(claim) as never).pipe(
      Effect.tapError((error) => Effect.logError("creating nodeclaim", error)),
      Effect.option
    )
    if (Option.isNone(nodeClaim)) continue
    yield* Effect.logInfo("created nodeclaim").pipe(
      Effect.annotateLogs({
        NodePool: { name },
        NodeClaim: { name: nodeClaim.value.metadata.name },
        reason,
        requests: ResourceMath.toResourceList(claim.requests),
        "instance-types": prettySlice(claim.instanceTypes.map((instanceType) => instanceType.name))
      })
    )
    yield* Metric.update(
      Metric.withAttributes(Metrics.nodeClaimsCreatedTotal, {
        reason,
        nodepool: name,
        capacity_type: nodeClaim.value.metadata.labels?.[Labels.CapacityType] ?? "",
        min_values_relaxed:
          nodeClaim.value.metadata.annotations?.[Labels.NodeClaimMinValuesRelaxedAnnotation] ?? "false"
      }),
      1
    )
    created.push({ name: nodeClaim.value.metadata.name ?? "", claim })
    if (options?.recordPodNomination !== true) continue
    // CapacityBuffer virtual pods too: upstream v1.14.0's `Provisioner.Create` nominates every pod of the NodeClaim.
    for (const pod of claim.pods) {
      yield* events.publish(nominated(pod, `nodeclaim/${nodeClaim.value.metadata.name}`))
    }
  }
  return created
})

const schedulerAttributes = { controller: "provisioner" }
let schedulingId = 0

/** One provisioning pass: schedule the pending pods and create NodeClaims. Returns how many it created. */
export const provision = Effect.fn("Provisioner.provision")(function* (options?: Options) {
  const cluster = yield* ClusterState
  const events = yield* EventRecorder
  if (!(yield* cluster.synced)) return { created: 0, synced: false }
  const buffered = options?.capacityBuffer === true
  const view: ClusterView.ClusterView = buffered
    ? { ...(yield* cluster.view), virtualPods: yield* CapacityBufferController.virtualPods }
    : yield* cluster.view
  const nodePools = yield* readyNodePools(options)
  const started = yield* Clock.currentTimeMillis
  const depth = Metric.withAttributes(Metrics.queueDepth, {
    ...schedulerAttributes,
    scheduling_id: String(++schedulingId)
  })
  yield* Metric.update(depth, view.pods.filter(isUnschedulable).length)
  // Upstream's DisableReservedCapacityFallback: a pod that would lose reserved capacity waits for the next pass.
  const simulated = yield* simulate(view, nodePools, { ...options, reservedOfferingMode: "Strict" }).pipe(
    Effect.ensuring(Metric.remove(depth))
  )
  const { results } = simulated
  if (buffered) yield* CapacityBufferStatus.record(results, view.virtualPods ?? [])
  // Virtual pods are never bound and leave no scheduling decision in the cluster state (upstream filters them out of
  // MarkPodSchedulingDecisions: no object would ever clear it).
  const pending = realPods(simulated.pending)
  const elapsed = (yield* Clock.currentTimeMillis) - started
  yield* Metric.update(Metric.withAttributes(Metrics.schedulingDurationSeconds, schedulerAttributes), elapsed / 1000)
  // A pod deferred for reserved capacity is not unschedulable, only waiting (upstream's ReservedOfferingErrors); a
  // buffer's virtual pod that fits nowhere counts, as upstream's count of all the pass's pod errors does.
  yield* Metric.update(
    Metric.withAttributes(Metrics.unschedulablePodsCount, schedulerAttributes),
    results.errors.size - results.deferred.size
  )
  yield* cluster.markPodSchedulingDecisions(pending.map(ClusterView.podKey), results.errors)
  if (simulated.pending.length === 0) return { created: 0, synced: true }
  yield* Effect.logInfo("found provisionable pod(s)").pipe(
    Effect.annotateLogs({
      Pods: prettySlice(simulated.pending.map(ClusterView.podKey)),
      duration: `${elapsed}ms`
    })
  )
  if (results.deferred.size > 0) {
    yield* Effect.logDebug(
      "deferring scheduling decision for provisionable pod(s) to future simulation due to limited reserved offering capacity"
    ).pipe(Effect.annotateLogs({ Pods: prettySlice([...results.deferred]) }))
  }
  if (results.newNodeClaims.length > 0) {
    yield* Effect.logInfo("computed new nodeclaim(s) to fit pod(s)").pipe(
      Effect.annotateLogs({
        nodeclaims: results.newNodeClaims.length,
        pods: results.newNodeClaims.reduce((sum, claim) => sum + claim.pods.length, 0)
      })
    )
  }
  for (const placement of results.existingNodes) {
    // Upstream nominates nodes for real pods only: a nomination blocks every disruption, and virtual pods would renew
    // it every pass.
    const placed = realPods(placement.pods)
    if (placed.length === 0) continue
    yield* cluster.nominate(placement.name)
    const node = view.nodes.find((candidate) => candidate.metadata.name === placement.name)
    const claim = view.nodeClaims.find((candidate) =>
      node === undefined
        ? candidate.metadata.name === placement.name
        : node.spec.providerID !== undefined && candidate.status?.providerID === node.spec.providerID
    )
    // Upstream NominatePodEvent: where the pod is expected to land, by NodeClaim and Node.
    const target = [
      ...(claim === undefined ? [] : [`nodeclaim/${claim.metadata.name}`]),
      ...(node === undefined ? [] : [`node/${placement.name}`])
    ].join(", ")
    for (const pod of placed) {
      yield* events.publish(nominated(pod, target))
    }
  }
  // Upstream v1.14.0 `Results.Record`: FailedScheduling for every pod error, virtual pods' too.
  for (const [key, reason] of results.errors) {
    if (results.deferred.has(key)) continue
    const pod = simulated.pending.find((candidate) => ClusterView.podKey(candidate) === key)
    if (pod === undefined) continue
    yield* events.publish({
      involvedObject: podReference(pod),
      type: "Warning",
      reason: "FailedScheduling",
      message: `Failed to schedule pod, ${reason}`,
      dedupeValues: [podIdentity(pod)],
      dedupeTimeoutMillis: 5 * 60_000
    })
  }
  const created = yield* createNodeClaims(results.newNodeClaims, "provisioning", { recordPodNomination: true })
  return { created: created.length, synced: true }
})

const realPods = (pods: ReadonlyArray<Pod>): Array<Pod> => pods.filter((pod) => !CapacityBuffers.isVirtual(pod))

const podReference = (pod: Pod) => ({
  apiVersion: "v1",
  kind: "Pod",
  name: pod.metadata.name ?? "",
  namespace: pod.metadata.namespace ?? "default",
  ...(pod.metadata.uid === undefined ? {} : { uid: pod.metadata.uid })
})

/** How often a pod that stays provisionable triggers the batcher again (upstream pod trigger's `RequeueAfter`). */
const podRequeueMillis = 10_000

/**
 * Runs the provisioner in the current Scope: a batch opens on the first unschedulable pod and closes after
 * `batchIdle` (1 s) without new ones or at `batchMax` (10 s); then one pass runs. Each pod triggers once per batch
 * (updates of a pod already in the batch do not extend it), and again every 10 s while it stays unschedulable, so a
 * pod nothing changes is provisioned for once what held it back (a NodePool not Ready, limits, a failed pass) clears.
 */
export const run = Effect.fn("Provisioner.run")(function* (options?: Options) {
  const batcher = yield* Batcher.make({
    idle: options?.batchIdle ?? "1 second",
    max: options?.batchMax ?? "10 seconds"
  })
  const cluster = yield* ClusterState
  const pods = yield* InformerCache.informer(Resources.Pods)
  const triggerKey = (object: Resource.KubeObject) => object.metadata.uid ?? Resource.keyOf(object)

  // The pod trigger (upstream `provisioner.trigger.pod`): trigger on every change of an unschedulable pod and requeue
  // it 10 s later while it stays so. The delay is constant, so the requeue queue is in due order; a pod already
  // waiting for its requeue is not queued again (the workqueue keeps the earliest time).
  const requeue = yield* Queue.unbounded<{ readonly key: string; readonly id: string; readonly due: number }>()
  const requeued = new Set<string>()
  const triggerPod = (pod: Pod) =>
    Effect.gen(function* () {
      const id = triggerKey(pod)
      yield* batcher.trigger(id)
      // Upstream AckPods: the pod's first sighting as pending, from which its scheduling-decision time is measured.
      yield* cluster.ackPods([ClusterView.podKey(pod)])
      if (requeued.has(id)) return
      requeued.add(id)
      const now = yield* Clock.currentTimeMillis
      yield* Queue.offer(requeue, { key: Resource.keyOf(pod), id, due: now + podRequeueMillis })
    })
  yield* Informer.forEachChange(pods, (change) =>
    change.type !== "DELETED" && isUnschedulable(change.object) ? triggerPod(change.object) : Effect.void
  )
  // The pods cached before that subscription: upstream's pod trigger is a controller-runtime reconciler, which sees
  // every object of the informer's initial list however early its cache synced. Without this a controller that
  // restarts while pods are pending leaves them pending until one of them changes.
  for (const pod of yield* pods.list()) if (isUnschedulable(pod)) yield* triggerPod(pod)
  yield* Effect.gen(function* () {
    const { key, id, due } = yield* Queue.take(requeue)
    const now = yield* Clock.currentTimeMillis
    if (due > now) yield* Effect.sleep(Duration.millis(due - now))
    requeued.delete(id)
    const pod = yield* pods.get(key)
    if (pod !== undefined && triggerKey(pod) === id && isUnschedulable(pod)) yield* triggerPod(pod)
  }).pipe(Effect.forever, Effect.forkScoped)

  // Nodes going away need capacity for their pods too.
  for (const resource of [Resources.Nodes, Resources.NodeClaims] as const) {
    const informer = yield* InformerCache.informer(resource as typeof Resources.Nodes)
    yield* Informer.forEachChange(informer, (change) =>
      change.type === "MODIFIED" && change.object.metadata.deletionTimestamp !== undefined
        ? batcher.trigger(triggerKey(change.object))
        : Effect.void
    )
  }

  // The CapacityBuffer trigger (upstream's buffer controller triggers the provisioner on each reconcile, and
  // requeues every 30 s): a buffer's changes, and the ready buffers every 30 s, since real pods taking a warm node's
  // room change nothing the other triggers see.
  if (options?.capacityBuffer === true) {
    const buffers = yield* InformerCache.informer(Resources.CapacityBuffers)
    yield* Informer.forEachChange(buffers, (change) =>
      change.type === "DELETED" ? Effect.void : batcher.trigger(triggerKey(change.object))
    )
    yield* Effect.gen(function* () {
      yield* Effect.sleep(CapacityBufferController.resyncInterval)
      const ready = (yield* buffers.list()).filter(CapacityBuffers.isReadyForProvisioning)
      for (const buffer of ready) yield* batcher.trigger(triggerKey(buffer))
    }).pipe(Effect.forever, Effect.forkScoped)
  }

  const loop = Effect.gen(function* () {
    yield* batcher.wait
    const outcome = yield* provision(options).pipe(
      Effect.catchCause((cause) =>
        Effect.as(Effect.logError("provisioning failed", cause), { created: 0, synced: true })
      )
    )
    // Not synced yet (a NodeClaim is launching): try again shortly instead of waiting for the next pod.
    if (!outcome.synced) {
      yield* Effect.sleep("1 second")
      yield* batcher.triggerNow
    }
  })
  yield* Effect.forever(loop).pipe(Effect.annotateLogs({ controller: "provisioner" }), Effect.forkScoped)
})
