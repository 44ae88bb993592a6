/**
 * What a CapacityBuffer means to the scheduler (upstream v1.14 `pkg/controllers/capacitybuffer/{controller,helpers}.go`,
 * `pkg/utils/apps/resolve.go`, `pkg/state/virtualpods`, `pkg/controllers/provisioning/buffers.go`): the pod template a
 * buffer resolves to, how many chunks it wants, the virtual pods that hold the headroom in every scheduling pass, and
 * the Provisioning condition a pass earns it. Plain functions over plain objects; the controllers call them.
 */
import * as Api from "../../api/CapacityBuffer.ts"
import type { Condition } from "../../api/Meta.ts"
import type { Pod, PodTemplateSpec } from "../../api/Pod.ts"
import type { Deployment, ReplicaSet, StatefulSet } from "../../api/Workloads.ts"
import * as Resource from "../../kube/Resource.ts"
import * as ResourceLists from "../../scheduling/ResourceLists.ts"
import * as Conditions from "../StatusConditions.ts"

/** The objects a buffer's references are resolved against, by `namespace/name` (in the buffer's namespace). */
export interface Workloads {
  readonly podTemplates: ReadonlyMap<string, Api.PodTemplate>
  readonly deployments: ReadonlyMap<string, Deployment>
  readonly statefulSets: ReadonlyMap<string, StatefulSet>
  readonly replicaSets: ReadonlyMap<string, ReplicaSet>
}

/** The {@link Workloads} of these objects. */
export const workloadsOf = (objects: {
  readonly podTemplates: ReadonlyArray<Api.PodTemplate>
  readonly deployments: ReadonlyArray<Deployment>
  readonly statefulSets: ReadonlyArray<StatefulSet>
  readonly replicaSets: ReadonlyArray<ReplicaSet>
}): Workloads => {
  const byKey = <A extends Resource.KubeObject>(list: ReadonlyArray<A>) =>
    new Map(list.map((object) => [Resource.keyOf(object), object]))
  return {
    podTemplates: byKey(objects.podTemplates),
    deployments: byKey(objects.deployments),
    statefulSets: byKey(objects.statefulSets),
    replicaSets: byKey(objects.replicaSets)
  }
}

/** A buffer's resolved pod template, or why it has none (the ReadyForProvisioning=False reason and message). */
export type Resolution =
  | {
      readonly _tag: "Resolved"
      readonly template: PodTemplateSpec
      /** The PodTemplate's name and generation, for a `podTemplateRef`. */
      readonly podTemplate?: { readonly name: string; readonly generation: number }
      /** The workload's replicas, for a `scalableRef`. */
      readonly scalableReplicas?: number
    }
  | { readonly _tag: "Unresolved"; readonly reason: string; readonly message: string }

const namespaceOf = (buffer: Api.CapacityBuffer) => buffer.metadata.namespace ?? "default"

/** Upstream `ResolveCapacityBuffer`: the pod template of the buffer's `podTemplateRef` or `scalableRef`. */
export const resolve = (buffer: Api.CapacityBuffer, workloads: Workloads): Resolution => {
  const namespace = namespaceOf(buffer)
  const { podTemplateRef, scalableRef } = buffer.spec
  if (podTemplateRef !== undefined) {
    const podTemplate = workloads.podTemplates.get(`${namespace}/${podTemplateRef.name}`)
    return podTemplate === undefined
      ? {
          _tag: "Unresolved",
          reason: Api.ReasonPodTemplateNotFound,
          message: `podtemplates "${podTemplateRef.name}" not found`
        }
      : {
          _tag: "Resolved",
          template: podTemplate.template,
          podTemplate: { name: podTemplateRef.name, generation: podTemplate.metadata.generation ?? 0 }
        }
  }
  if (scalableRef === undefined) {
    return {
      _tag: "Unresolved",
      reason: Api.ReasonResolutionFailed,
      message: "Neither podTemplateRef nor scalableRef is set"
    }
  }
  // Upstream resolves the `apps` group only (an empty group means it too).
  const group = scalableRef.apiGroup === undefined || scalableRef.apiGroup === "" ? "apps" : scalableRef.apiGroup
  if (group !== "apps") {
    return {
      _tag: "Unresolved",
      reason: Api.ReasonResolutionFailed,
      message: `unsupported scalableRef API group "${scalableRef.apiGroup}"`
    }
  }
  const lookup =
    scalableRef.kind === "Deployment"
      ? workloads.deployments
      : scalableRef.kind === "StatefulSet"
        ? workloads.statefulSets
        : scalableRef.kind === "ReplicaSet"
          ? workloads.replicaSets
          : undefined
  if (lookup === undefined) {
    return { _tag: "Unresolved", reason: Api.ReasonResolutionFailed, message: `unsupported kind "${scalableRef.kind}"` }
  }
  const workload = lookup.get(`${namespace}/${scalableRef.name}`)
  if (workload === undefined) {
    return {
      _tag: "Unresolved",
      reason: Api.ReasonScalableRefNotFound,
      message: `${scalableRef.kind.toLowerCase()}s.apps "${scalableRef.name}" not found`
    }
  }
  // An unset replicas is 1, as the apiserver defaults it.
  return { _tag: "Resolved", template: workload.spec.template, scalableReplicas: workload.spec.replicas ?? 1 }
}

/**
 * Upstream `calculatePercentageReplicas`: ceil(replicas × percentage / 100), at least 1 when both are positive.
 */
export const percentageReplicas = (scalableReplicas: number, percentage: number): number => {
  const replicas = Math.ceil((scalableReplicas * percentage) / 100)
  return replicas < 1 && percentage > 0 && scalableReplicas > 0 ? 1 : replicas
}

/**
 * Upstream `calculateLimitReplicas`: how many chunks fit in the limits, the least over the resources both the limits
 * and a chunk's requests name; undefined when no resource is in both (the limits constrain nothing).
 */
export const limitReplicas = (limits: Api.Spec["limits"], template: PodTemplateSpec): number | undefined => {
  const requests = ResourceLists.podRequests(template.spec)
  let fewest: number | undefined
  for (const [name, limit] of Object.entries(ResourceLists.fromResourceList(limits))) {
    const request = requests[name]
    if (request === undefined || request === 0) continue
    const chunks = Math.min(Math.floor(limit / request), 2_147_483_647)
    fewest = fewest === undefined ? chunks : Math.min(fewest, chunks)
  }
  return fewest
}

/**
 * Upstream `computeReplicas` (v1.14.0 `pkg/controllers/capacitybuffer/controller.go`): the larger of `replicas` and the
 * percentage of the workload's replicas, capped by what fits in `limits`; with neither set, what fits in the limits;
 * with nothing at all, 0. The code takes the maximum ("following Cluster Autoscaler's semantics"), though the API's
 * `replicas` field doc and the design document say the minimum: the code is what users get, so it is followed here.
 */
export const desiredReplicas = (buffer: Api.CapacityBuffer, resolved: Resolution & { _tag: "Resolved" }): number => {
  const { replicas, percentage, limits } = buffer.spec
  const sizes: Array<number> = []
  if (percentage !== undefined && resolved.scalableReplicas !== undefined && resolved.scalableReplicas > 0) {
    sizes.push(percentageReplicas(resolved.scalableReplicas, percentage))
  }
  if (replicas !== undefined) sizes.push(replicas)
  const desired = sizes.length === 0 ? 0 : Math.max(...sizes)
  const fit = limits === undefined ? undefined : limitReplicas(limits, resolved.template)
  if (fit === undefined) return desired
  return sizes.length === 0 ? fit : Math.min(desired, fit)
}

/** The status the buffer controller writes (upstream `resolveAndUpdateStatus`), given the time for its condition. */
export const status = (buffer: Api.CapacityBuffer, resolution: Resolution, now: number): Api.Status => {
  const options = { generation: buffer.metadata.generation, now }
  const current = buffer.status ?? {}
  const strategy = { provisioningStrategy: buffer.spec.provisioningStrategy }
  if (resolution._tag === "Unresolved") {
    // Upstream leaves the last resolved replicas and template in place: the condition says they are stale.
    return {
      ...current,
      ...strategy,
      conditions: Conditions.set(
        current.conditions,
        {
          type: Api.ReadyForProvisioning,
          status: "False",
          reason: resolution.reason,
          message: resolution.message
        },
        options
      )
    }
  }
  const { podTemplateRef: _ref, podTemplateGeneration: _generation, ...rest } = current
  return {
    ...rest,
    ...(resolution.podTemplate === undefined
      ? {}
      : {
          podTemplateRef: { name: resolution.podTemplate.name },
          podTemplateGeneration: resolution.podTemplate.generation
        }),
    replicas: desiredReplicas(buffer, resolution),
    ...strategy,
    conditions: Conditions.set(
      current.conditions,
      {
        type: Api.ReadyForProvisioning,
        status: "True",
        reason: Api.ReasonResolved,
        message: "Pod template resolved successfully"
      },
      options
    )
  }
}

/** Upstream `isBufferReadyForProvisioning`: resolved, with chunks to hold. */
export const isReadyForProvisioning = (buffer: Api.CapacityBuffer): boolean =>
  Conditions.isTrue(buffer.status?.conditions, Api.ReadyForProvisioning) && (buffer.status?.replicas ?? 0) > 0

/** `namespace/name` of the buffer a virtual pod holds room for; undefined for a real pod. */
export const bufferOf = (pod: Pod): string | undefined => {
  const annotations = pod.metadata.annotations
  if (annotations?.[Api.VirtualPodAnnotation] !== "true") return undefined
  return `${annotations[Api.BufferNamespaceAnnotation]}/${annotations[Api.BufferNameAnnotation]}`
}

/** Whether the pod is a buffer's virtual pod (never bound, never nominated, never an object in the cluster). */
export const isVirtual = (pod: Pod): boolean => bufferOf(pod) !== undefined

/** Upstream's `math.MinInt32` priority: virtual pods are the least valuable pods there are. */
const virtualPodPriority = -2_147_483_648

/** The creation time of virtual pods: after any real pod's, so pending real pods take room before them. */
const virtualCreatedAt = "9999-12-31T23:59:59Z"

/**
 * Upstream `BuildVirtualPods`: `status.replicas` unbound copies of the template, unschedulable as kube-scheduler
 * reports a pending pod, with the template's labels (for spread and affinity: upstream's fix after v1.14.0, #3174 —
 * v1.14.0's virtual pods had none, so anti-affinity and spread among them were ignored) and the buffer's annotations. Claims
 * and ephemeral volumes are dropped (upstream `sanitizeVirtualPodSpec`: no claim would ever exist for them; the pod
 * schema here keeps no volume mounts to drop with them).
 */
export const virtualPods = (buffer: Api.CapacityBuffer, template: PodTemplateSpec): ReadonlyArray<Pod> => {
  const count = buffer.status?.replicas ?? 0
  if (count <= 0) return []
  const { nodeName: _nodeName, volumes, ...templateSpec } = template.spec
  const kept = volumes?.filter((volume) => volume.persistentVolumeClaim === undefined && volume.ephemeral === undefined)
  const spec: Pod["spec"] = {
    ...templateSpec,
    ...(kept === undefined ? {} : { volumes: kept }),
    priority: virtualPodPriority
  }
  const name = buffer.metadata.name ?? ""
  const namespace = namespaceOf(buffer)
  return Array.from({ length: count }, (_, i) => ({
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: `capacity-buffer-${name}-${i + 1}`,
      namespace,
      uid: `${buffer.metadata.uid ?? name}-${i + 1}`,
      creationTimestamp: virtualCreatedAt,
      ...(template.metadata?.labels === undefined ? {} : { labels: template.metadata.labels }),
      annotations: {
        [Api.VirtualPodAnnotation]: "true",
        [Api.BufferNameAnnotation]: name,
        [Api.BufferNamespaceAnnotation]: namespace
      }
    },
    spec,
    status: {
      phase: "Pending",
      conditions: [{ type: "PodScheduled", status: "False", reason: "Unschedulable" }]
    }
  })) as ReadonlyArray<Pod>
}

/**
 * The virtual pods of buffers no controller has resolved (the objects of a `schedule` input): each is resolved
 * against `workloads` now, as the buffer controller would before the pass.
 */
export const resolvedVirtualPods = (
  buffers: ReadonlyArray<Api.CapacityBuffer>,
  workloads: Workloads
): ReadonlyArray<Pod> =>
  buffers.flatMap((buffer) => {
    const resolution = resolve(buffer, workloads)
    if (resolution._tag === "Unresolved") return []
    return virtualPods(
      { ...buffer, status: { ...buffer.status, replicas: desiredReplicas(buffer, resolution) } },
      resolution.template
    )
  })

/** Where a pass put one buffer's virtual pods. */
export interface Placement {
  readonly existing: number
  readonly newNodeClaims: number
  readonly failed: number
}

/**
 * Upstream `computeProvisioningCondition`: the Provisioning condition a pass earns a buffer — False while it is not
 * ready or is empty; False (RequiresNewCapacity) when some of its pods needed a new NodeClaim or fit nowhere; True
 * once all of them fit on existing capacity; undefined (leave it) when the pass did not place them.
 */
export const provisioningCondition = (
  buffer: Api.CapacityBuffer,
  placement: Placement | undefined
): { readonly status: "True" | "False"; readonly reason: string; readonly message: string } | undefined => {
  if (!Conditions.isTrue(buffer.status?.conditions, Api.ReadyForProvisioning)) {
    return {
      status: "False",
      reason: Api.ReasonNotReadyForProvisioning,
      message: "Buffer is not ReadyForProvisioning"
    }
  }
  const desired = buffer.status?.replicas ?? 0
  if (desired === 0)
    return { status: "False", reason: Api.ReasonBufferEmpty, message: "Buffer has zero desired replicas" }
  if (placement === undefined) return undefined
  if (placement.newNodeClaims > 0 || placement.failed > 0) {
    return {
      status: "False",
      reason: Api.ReasonRequiresNewCapacity,
      message: `${placement.newNodeClaims}/${desired} virtual pods required new capacity, ${placement.failed} failed`
    }
  }
  if (placement.existing === desired) {
    return {
      status: "True",
      reason: Api.ReasonFitsExistingCapacity,
      message: `All ${desired} virtual pods fit on existing capacity`
    }
  }
  return undefined
}

/** The conditions with `condition` set (undefined: unchanged), stamped with the generation and time. */
export const withProvisioning = (
  buffer: Api.CapacityBuffer,
  condition: ReturnType<typeof provisioningCondition>,
  now: number
): ReadonlyArray<Condition> | undefined =>
  condition === undefined
    ? buffer.status?.conditions
    : Conditions.set(
        buffer.status?.conditions,
        { type: Api.Provisioning, ...condition },
        { generation: buffer.metadata.generation, now }
      )
