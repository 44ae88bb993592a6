/**
 * `v1` Pod: the fields scheduling, provisioning and disruption read.
 */
import * as Schema from "effect/Schema"
import { LabelSelector, NodeSelector, NodeSelectorTerm, ObjectMeta, Toleration } from "./Meta.ts"
import * as Quantity from "./Quantity.ts"
import { ResourceList } from "./Quantity.ts"

const optional = Schema.optionalKey
const StringMap = Schema.Record(Schema.String, Schema.String)

export const apiVersion = "v1"
export const kind = "Pod"

/** `corev1.ResourceRequirements` (claims are not used). */
export const ResourceRequirements = Schema.Struct({
  requests: optional(ResourceList),
  limits: optional(ResourceList)
})

/** A container port; only host ports matter to scheduling. */
export const ContainerPort = Schema.Struct({
  containerPort: Schema.Number,
  hostPort: optional(Schema.Number),
  hostIP: optional(Schema.String),
  protocol: optional(Schema.String)
})

/** A container: its requests, limits and host ports; `restartPolicy: Always` marks a sidecar init container. */
export const Container = Schema.Struct({
  name: Schema.String,
  image: optional(Schema.String),
  resources: optional(ResourceRequirements),
  ports: optional(Schema.Array(ContainerPort)),
  restartPolicy: optional(Schema.String)
})
export type Container = typeof Container.Type

/** A preferred node-affinity term. */
export const PreferredSchedulingTerm = Schema.Struct({ weight: Schema.Number, preference: NodeSelectorTerm })

/** A pod (anti-)affinity term. */
export const PodAffinityTerm = Schema.Struct({
  labelSelector: optional(LabelSelector),
  namespaces: optional(Schema.Array(Schema.String)),
  namespaceSelector: optional(LabelSelector),
  topologyKey: Schema.String,
  matchLabelKeys: optional(Schema.Array(Schema.String)),
  mismatchLabelKeys: optional(Schema.Array(Schema.String))
})
export type PodAffinityTerm = typeof PodAffinityTerm.Type

/** A weighted pod (anti-)affinity term. */
export const WeightedPodAffinityTerm = Schema.Struct({ weight: Schema.Number, podAffinityTerm: PodAffinityTerm })

const PodAffinityRules = Schema.Struct({
  requiredDuringSchedulingIgnoredDuringExecution: optional(Schema.Array(PodAffinityTerm)),
  preferredDuringSchedulingIgnoredDuringExecution: optional(Schema.Array(WeightedPodAffinityTerm))
})

/** `corev1.Affinity`. */
export const Affinity = Schema.Struct({
  nodeAffinity: optional(
    Schema.Struct({
      requiredDuringSchedulingIgnoredDuringExecution: optional(NodeSelector),
      preferredDuringSchedulingIgnoredDuringExecution: optional(Schema.Array(PreferredSchedulingTerm))
    })
  ),
  podAffinity: optional(PodAffinityRules),
  podAntiAffinity: optional(PodAffinityRules)
})
export type Affinity = typeof Affinity.Type

/** `corev1.TopologySpreadConstraint`. */
export const TopologySpreadConstraint = Schema.Struct({
  maxSkew: Schema.Number,
  topologyKey: Schema.String,
  whenUnsatisfiable: Schema.String,
  labelSelector: optional(LabelSelector),
  minDomains: optional(Schema.Number),
  nodeAffinityPolicy: optional(Schema.String),
  nodeTaintsPolicy: optional(Schema.String),
  matchLabelKeys: optional(Schema.Array(Schema.String))
})
export type TopologySpreadConstraint = typeof TopologySpreadConstraint.Type

/** The spec of a PVC template inside a generic ephemeral volume. */
const EphemeralClaimSpec = Schema.Struct({
  storageClassName: optional(Schema.String),
  accessModes: optional(Schema.Array(Schema.String)),
  resources: optional(Schema.Struct({ requests: optional(ResourceList) }))
})

/** A pod volume: only the volume sources that bind to claims matter. */
export const Volume = Schema.Struct({
  name: Schema.String,
  persistentVolumeClaim: optional(Schema.Struct({ claimName: Schema.String, readOnly: optional(Schema.Boolean) })),
  ephemeral: optional(
    Schema.Struct({
      volumeClaimTemplate: optional(Schema.Struct({ metadata: optional(ObjectMeta), spec: EphemeralClaimSpec }))
    })
  )
})
export type Volume = typeof Volume.Type

/** The pod spec. */
export const Spec = Schema.Struct({
  nodeName: optional(Schema.String),
  nodeSelector: optional(StringMap),
  affinity: optional(Affinity),
  tolerations: optional(Schema.Array(Toleration)),
  topologySpreadConstraints: optional(Schema.Array(TopologySpreadConstraint)),
  containers: Schema.Array(Container),
  initContainers: optional(Schema.Array(Container)),
  overhead: optional(ResourceList),
  /** Pod-level requests and limits (Kubernetes 1.32+ PodLevelResources): cpu, memory and hugepages only. */
  resources: optional(ResourceRequirements),
  volumes: optional(Schema.Array(Volume)),
  priority: optional(Schema.Number),
  priorityClassName: optional(Schema.String),
  preemptionPolicy: optional(Schema.String),
  schedulerName: optional(Schema.String),
  terminationGracePeriodSeconds: optional(Schema.Number),
  hostNetwork: optional(Schema.Boolean),
  restartPolicy: optional(Schema.String)
})
export type Spec = typeof Spec.Type

/** A pod condition. */
export const PodCondition = Schema.Struct({
  type: Schema.String,
  status: Schema.String,
  reason: optional(Schema.String),
  message: optional(Schema.String),
  lastTransitionTime: optional(Schema.String)
})

/** The pod status. */
export const Status = Schema.Struct({
  phase: optional(Schema.String),
  conditions: optional(Schema.Array(PodCondition)),
  nominatedNodeName: optional(Schema.String),
  startTime: optional(Schema.String),
  reason: optional(Schema.String),
  message: optional(Schema.String)
})

/** A Pod object. */
export const Pod = Schema.Struct({
  apiVersion: optional(Schema.String),
  kind: optional(Schema.String),
  metadata: ObjectMeta,
  spec: Spec,
  status: optional(Status)
})
export type Pod = typeof Pod.Type

/** A pod template (Deployments, ReplicaSets, DaemonSets). */
export const PodTemplateSpec = Schema.Struct({ metadata: optional(ObjectMeta), spec: Spec })
export type PodTemplateSpec = typeof PodTemplateSpec.Type

/** `namespace/name` of a pod ("default" when it names no namespace). */
export const keyOf = (pod: Pod): string => `${pod.metadata.namespace ?? "default"}/${pod.metadata.name ?? ""}`

/** Succeeded or Failed: its containers are done for good (upstream `IsTerminal`). */
export const isTerminal = (pod: Pod): boolean => pod.status?.phase === "Succeeded" || pod.status?.phase === "Failed"

/** Being deleted: a deletionTimestamp is set (upstream `IsTerminating`). */
export const isTerminating = (pod: Pod): boolean => pod.metadata.deletionTimestamp !== undefined

/** Neither terminal nor terminating: a pod that runs, or will. */
export const isActive = (pod: Pod): boolean => !isTerminal(pod) && !isTerminating(pod)

/** Whether the pod has a required pod anti-affinity term (it keeps the pods it selects off its topology domain). */
export const hasRequiredAntiAffinity = (pod: Pod): boolean =>
  (pod.spec.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.length ?? 0) > 0

// -- Requests (milli-units per resource, as src/scheduling/ResourceLists; here so validation can use them) ---------

type MilliList = Record<string, number>

// A wire resource list in milli-units; malformed quantities are left out.
const milliOf = (list: Readonly<Record<string, string | number>> | undefined): MilliList => {
  const result: MilliList = {}
  for (const name of Object.keys(list ?? {})) {
    const milli = Quantity.toMilli(list![name]!)
    if (milli !== undefined) result[name] = milli
  }
  return result
}

const addInto = (target: MilliList, source: Readonly<MilliList>): void => {
  for (const name in source) target[name] = (target[name] ?? 0) + source[name]!
}

const maxInto = (target: MilliList, source: Readonly<MilliList>): void => {
  for (const name in source) if (!(name in target) || source[name]! > target[name]!) target[name] = source[name]!
}

// A container's requests with its limits standing in for missing ones (the API server's defaulting; upstream
// `MergeResourceLimitsIntoRequests` before v1.8).
const containerRequests = (container: Container): MilliList => ({
  ...milliOf(container.resources?.limits),
  ...milliOf(container.resources?.requests)
})

/**
 * The containers' aggregate requests in milli-units (kube's `AggregateContainerRequests`, the sidecar KEP's rule):
 * max(sum of containers + sidecar init containers, max over init containers of that container + the sidecars started
 * before it). A sidecar is an init container with `restartPolicy: Always`.
 */
export const aggregateContainerRequests = (spec: Pick<Spec, "containers" | "initContainers">): MilliList => {
  const requests: MilliList = {}
  for (const container of spec.containers) addInto(requests, containerRequests(container))
  const sidecars: MilliList = {}
  const initPeak: MilliList = {}
  for (const container of spec.initContainers ?? []) {
    const needs = containerRequests(container)
    if (container.restartPolicy === "Always") {
      addInto(requests, needs)
      addInto(sidecars, needs)
      maxInto(initPeak, sidecars)
    } else {
      const whileRunning = { ...sidecars }
      addInto(whileRunning, needs)
      maxInto(initPeak, whileRunning)
    }
  }
  maxInto(requests, initPeak)
  return requests
}

/** Whether pod-level resources may name `name` (kube's `IsSupportedPodLevelResource`): cpu, memory, hugepages-*. */
export const isPodLevelResource = (name: string): boolean =>
  name === "cpu" || name === "memory" || name.startsWith("hugepages-")

/**
 * The pod-level requests in milli-units that replace the containers' aggregate, as kube-apiserver stores them:
 * `spec.resources.requests` of the supported resources and, by its defaulting (`defaultPodRequests`), the pod-level
 * limit of a resource no container requests (of hugepages always). Empty without pod-level resources. Derived here
 * rather than written on create, as container requests default to their limits here.
 */
export const podLevelRequests = (
  spec: Spec,
  aggregate: Readonly<MilliList> = aggregateContainerRequests(spec)
): MilliList => {
  const result: MilliList = {}
  const limits = milliOf(spec.resources?.limits)
  for (const name in limits) {
    if (isPodLevelResource(name) && (!(name in aggregate) || name.startsWith("hugepages-")))
      result[name] = limits[name]!
  }
  const requests = milliOf(spec.resources?.requests)
  for (const name in requests) if (isPodLevelResource(name)) result[name] = requests[name]!
  return result
}
