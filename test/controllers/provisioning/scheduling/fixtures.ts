/** Builders for scheduling tests: decoded NodePools and Pods, and a Scheduler input around them. */

import type * as Duration from "effect/Duration"
import * as Schema from "effect/Schema"
import * as KWOKNodeClass from "../../../../src/api/KWOKNodeClass.ts"
import * as NodePoolApi from "../../../../src/api/NodePool.ts"
import * as PodApi from "../../../../src/api/Pod.ts"
import * as Catalog from "../../../../src/cloudprovider/Catalog.ts"
import type * as InstanceType from "../../../../src/cloudprovider/InstanceType.ts"
import type * as Scheduler from "../../../../src/controllers/provisioning/scheduling/Scheduler.ts"
import * as HostPorts from "../../../../src/scheduling/HostPorts.ts"
import * as Resources from "../../../../src/scheduling/ResourceLists.ts"

const decodeNodePool = Schema.decodeUnknownSync(NodePoolApi.NodePool)
const decodePod = Schema.decodeUnknownSync(PodApi.Pod)

/** A NodePool (decoded, with defaults) for the KWOK provider. */
export const nodePool = (
  name: string,
  options?: {
    readonly requirements?: ReadonlyArray<{
      key: string
      operator: string
      values?: ReadonlyArray<string>
      minValues?: number
    }>
    readonly taints?: ReadonlyArray<{ key: string; value?: string; effect: string }>
    readonly labels?: Record<string, string>
    readonly limits?: Record<string, string>
    readonly weight?: number
  }
): NodePoolApi.NodePool =>
  decodeNodePool({
    apiVersion: "karpenter.sh/v1",
    kind: "NodePool",
    metadata: { name },
    spec: {
      template: {
        ...(options?.labels === undefined ? {} : { metadata: { labels: options.labels } }),
        spec: {
          nodeClassRef: { group: KWOKNodeClass.group, kind: KWOKNodeClass.kind, name: "default" },
          requirements: options?.requirements ?? [{ key: "kubernetes.io/os", operator: "In", values: ["linux"] }],
          ...(options?.taints === undefined ? {} : { taints: options.taints })
        }
      },
      ...(options?.limits === undefined ? {} : { limits: options.limits }),
      ...(options?.weight === undefined ? {} : { weight: options.weight })
    }
  })

/** A pending pod (decoded); `spec` fields are merged over one container with the given requests. */
export const pod = (
  name: string,
  options?: {
    readonly cpu?: string
    readonly memory?: string
    readonly labels?: Record<string, string>
    readonly namespace?: string
    readonly spec?: Record<string, unknown>
    readonly hostPort?: number
    readonly ownerKind?: string
    readonly creationTimestamp?: string
  }
): PodApi.Pod =>
  decodePod({
    metadata: {
      name,
      namespace: options?.namespace ?? "default",
      ...(options?.labels === undefined ? {} : { labels: options.labels }),
      ...(options?.creationTimestamp === undefined ? {} : { creationTimestamp: options.creationTimestamp }),
      ...(options?.ownerKind === undefined
        ? {}
        : {
            ownerReferences: [
              { apiVersion: "apps/v1", kind: options.ownerKind, name: "owner", uid: "u", controller: true }
            ]
          })
    },
    spec: {
      containers: [
        {
          name: "app",
          resources: { requests: { cpu: options?.cpu ?? "1", memory: options?.memory ?? "1Gi" } },
          ...(options?.hostPort === undefined ? {} : { ports: [{ containerPort: 80, hostPort: options.hostPort }] })
        }
      ],
      ...options?.spec
    }
  })

/** One KWOK catalogue shared by every input (the instance-type filter caches per catalogue). */
export const catalogue: ReadonlyArray<InstanceType.InstanceType> = Catalog.kwok()

/** The built-in KWOK catalogue, shared. */
export const kwokTypes = (): ReadonlyArray<InstanceType.InstanceType> => catalogue

/** A scheduler input with sensible defaults, over the shared catalogue unless given instance types. */
export const input = (options: {
  readonly nodePools: ReadonlyArray<NodePoolApi.NodePool>
  readonly pods: ReadonlyArray<PodApi.Pod>
  readonly instanceTypes?: ReadonlyArray<InstanceType.InstanceType>
  readonly existingNodes?: ReadonlyArray<Scheduler.ExistingNodeInput>
  readonly boundPods?: ReadonlyArray<PodApi.Pod>
  readonly daemonSetPods?: ReadonlyArray<PodApi.Pod>
  readonly preferencePolicy?: "Respect" | "Ignore"
  readonly timeout?: Duration.Input | undefined
  readonly maxInstanceTypes?: number
}): Scheduler.Input => {
  const instanceTypes = options.instanceTypes ?? kwokTypes()
  return {
    nodePools: options.nodePools.map((nodePool) => ({ nodePool, instanceTypes })),
    existingNodes: options.existingNodes ?? [],
    pods: options.pods,
    boundPods: options.boundPods ?? [],
    daemonSetPods: options.daemonSetPods ?? [],
    namespaces: [],
    wellKnownLabels: Catalog.kwokWellKnownLabels,
    ...(options.preferencePolicy === undefined ? {} : { preferencePolicy: options.preferencePolicy }),
    ...(options.timeout === undefined ? {} : { timeout: options.timeout }),
    ...(options.maxInstanceTypes === undefined ? {} : { maxInstanceTypes: options.maxInstanceTypes })
  }
}

/** An existing, initialized node. */
export const existingNode = (
  name: string,
  options: {
    readonly labels: Record<string, string>
    readonly cpu: string
    readonly memory: string
    readonly pods?: string
  }
): Scheduler.ExistingNodeInput => {
  const allocatable = Resources.fromResourceList({
    cpu: options.cpu,
    memory: options.memory,
    pods: options.pods ?? "110"
  })
  return {
    name,
    labels: { "kubernetes.io/hostname": name, ...options.labels },
    taints: [],
    allocatable,
    capacity: allocatable,
    requested: Resources.empty,
    daemonSetRequested: Resources.empty,
    hostPorts: new HostPorts.HostPortUsage(),
    initialized: true,
    nodePool: options.labels["karpenter.sh/nodepool"]
  }
}
