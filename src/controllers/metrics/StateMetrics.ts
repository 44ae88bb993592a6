/**
 * The gauges of upstream's metrics controllers (`metrics/pod`'s pod state, `metrics/node`, `metrics/nodepool`, and the
 * cluster state's own, v1.4.0), under their Prometheus names: recomputed from the cluster state's caches on a short
 * period. The pods' latency metrics are in PodMetrics.ts.
 * A series whose object went away is removed, as upstream deletes it, so a scrape shows only what exists.
 * `karpenter_pods_state` and the per-node series are rendered from the caches when scraped (ScrapeSeries): a
 * registered series per pod held tens of MB at 30,000 pods, and the nodes' ~6 MB at 1,000 nodes (each series a key
 * with its description, an attributes object, closures).
 */

import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Labels from "../../api/Labels.ts"
import type { Node } from "../../api/Node.ts"
import type { NodeClaim } from "../../api/NodeClaim.ts"
import type { Pod } from "../../api/Pod.ts"
import { CloudProvider } from "../../cloudprovider/CloudProvider.ts"
import type * as InstanceType from "../../cloudprovider/InstanceType.ts"
import * as Resources from "../../kube/Resources.ts"
import * as InformerCache from "../../runtime/InformerCache.ts"
import * as Result from "../../runtime/Result.ts"
import * as ScrapeSeries from "../../runtime/ScrapeSeries.ts"
import * as Singleton from "../../runtime/Singleton.ts"
import * as ResourceMath from "../../scheduling/ResourceLists.ts"
import { ClusterState } from "../../state/ClusterState.ts"

/** `karpenter_pods_state`: 1 per pod, labelled with where it runs and its phase. */
export const podsState = Metric.gauge("karpenter_pods_state", {
  description:
    "Pod state is the current state of pods. This metric can be used several ways as it is labeled by the pod name, namespace, owner, node, nodepool name, zone, architecture, capacity type, instance type and pod phase."
})

/** `karpenter_nodes_allocatable{node_name,nodepool,resource_type,...}` (cores for cpu, bytes for memory). */
export const nodesAllocatable = Metric.gauge("karpenter_nodes_allocatable", {
  description: "Node allocatable are the resources allocatable by nodes."
})

/** `karpenter_nodes_total_pod_requests{node_name,nodepool,resource_type,...}`: requests of the pods bound there. */
export const nodesTotalPodRequests = Metric.gauge("karpenter_nodes_total_pod_requests", {
  description:
    "Node total pod requests are the resources requested by pods bound to nodes, including the DaemonSet pods."
})

/** `karpenter_nodepools_usage{nodepool,resource_type}`: the capacity of a NodePool's nodes and in-flight NodeClaims. */
export const nodePoolsUsage = Metric.gauge("karpenter_nodepools_usage", {
  description:
    "The amount of resources that have been provisioned for a nodepool. Labeled by nodepool name and resource type."
})

/** `karpenter_nodepools_limit{nodepool,resource_type}`: `spec.limits`. */
export const nodePoolsLimit = Metric.gauge("karpenter_nodepools_limit", {
  description:
    "Limits specified on the nodepool that restrict the quantity of resources provisioned. Labeled by nodepool name and resource type."
})

/**
 * `karpenter_nodepools_cost_total{nodepool}`: what a NodePool's NodeClaims cost per hour at their offerings' prices.
 * Upstream added it after v1.4.0 (`metrics/nodepool`, `state/cost`); the shape is theirs.
 */
export const nodePoolsCostTotal = Metric.gauge("karpenter_nodepools_cost_total", {
  description:
    "Total cost of the nodepool from Karpenter's perspective. Units are determined by the cloud provider. Not an authoritative source for billing."
})

/**
 * The hourly price of the launched NodeClaims (upstream `ClusterCost`): each priced at the offering of its instance
 * type, zone and capacity type labels; one not launched yet (no such labels) or whose offering is gone counts 0.
 */
export const nodeClaimsCost = (
  nodeClaims: ReadonlyArray<NodeClaim>,
  instanceTypes: ReadonlyArray<InstanceType.InstanceType>
): number => {
  const byName = new Map(instanceTypes.map((instanceType) => [instanceType.name, instanceType]))
  let total = 0
  for (const claim of nodeClaims) {
    const labels = claim.metadata.labels ?? {}
    const offering = byName
      .get(labels[Labels.InstanceType] ?? "")
      ?.offerings.find(
        (candidate) => candidate.zone === labels[Labels.Zone] && candidate.capacityType === labels[Labels.CapacityType]
      )
    total += offering?.price ?? 0
  }
  return total
}

/** `karpenter_cluster_state_node_count`: nodes and in-flight NodeClaims the cluster state tracks. */
export const clusterStateNodeCount = Metric.gauge("karpenter_cluster_state_node_count", {
  description: "Current count of nodes in cluster state"
})

/** `karpenter_cluster_state_synced`: 1 when the cluster state has synced with the API server. */
export const clusterStateSynced = Metric.gauge("karpenter_cluster_state_synced", {
  description:
    "Returns 1 if cluster state is synced and 0 otherwise. Synced checks that nodeclaims and nodes that are stored in the APIServer have the same representation as Karpenter's cluster state"
})

/** A resource name as a label value: `ephemeral-storage` → `ephemeral_storage`, `nvidia.com/gpu` → `nvidia_com_gpu`. */
export const resourceType = (name: string): string => name.replace(/[^a-zA-Z0-9]/g, "_")

/** A milli-unit quantity as a metric value: cores for cpu, bytes for memory, counts for the rest. */
const value = (milli: number): number => milli / 1000

const nodeLabels = (node: Node | undefined): Record<string, string> => {
  const labels = node?.metadata.labels ?? {}
  return {
    nodepool: labels[Labels.NodePool] ?? "",
    zone: labels[Labels.Zone] ?? "",
    arch: labels[Labels.Arch] ?? "",
    capacity_type: labels[Labels.CapacityType] ?? "",
    instance_type: labels[Labels.InstanceType] ?? ""
  }
}

const podLabels = (pod: Pod, node: Node | undefined): Record<string, string> => {
  const owner = pod.metadata.ownerReferences?.[0]
  const scheduled = pod.status?.conditions?.find((condition) => condition.type === "PodScheduled")
  return {
    name: pod.metadata.name ?? "",
    namespace: pod.metadata.namespace ?? "default",
    owner: owner === undefined ? "" : `${owner.kind}/${owner.name}`,
    node: pod.spec.nodeName ?? "",
    scheduled: scheduled?.status ?? "",
    ...nodeLabels(node),
    phase: pod.status?.phase ?? ""
  }
}

/** A series set in a pass: its gauge and attributes. */
interface Series {
  readonly gauge: Metric.Gauge<number>
  readonly attributes: Record<string, string>
}

/**
 * The series set in one pass; the ones of the pass before that were not set again are removed. Kept between passes
 * as gauge and attributes, not as the attributed metric, which holds closures and a merged copy of its attributes.
 */
const makeSeries = () => {
  let previous = new Map<string, Series>()
  let current = new Map<string, Series>()
  return {
    set: (gauge: Metric.Gauge<number>, attributes: Record<string, string>, amount: number) => {
      current.set(`${gauge.id}${JSON.stringify(attributes)}`, { gauge, attributes })
      return Metric.update(Metric.withAttributes(gauge, attributes), amount)
    },
    sweep: Effect.suspend(() => {
      const gone = [...previous].filter(([key]) => !current.has(key)).map(([, series]) => series)
      previous = current
      current = new Map()
      return Effect.forEach(gone, (series) => Metric.remove(Metric.withAttributes(series.gauge, series.attributes)), {
        discard: true
      })
    })
  }
}

/** Each node's allocatable and the requests of the pods bound to it, by resource. */
const nodeSeries = (view: {
  readonly nodes: ReadonlyArray<Node>
  readonly pods: ReadonlyArray<Pod>
}): Array<ScrapeSeries.Series> => {
  const requestsByNode = new Map<string, ResourceMath.Resources>()
  for (const pod of view.pods) {
    const nodeName = pod.spec.nodeName
    if (nodeName === undefined || nodeName === "") continue
    if (pod.status?.phase === "Succeeded" || pod.status?.phase === "Failed") continue
    requestsByNode.set(
      nodeName,
      ResourceMath.add(requestsByNode.get(nodeName) ?? ResourceMath.empty, ResourceMath.podRequests(pod.spec))
    )
  }
  const series: Array<ScrapeSeries.Series> = []
  for (const node of view.nodes) {
    const name = node.metadata.name ?? ""
    const labels = { node_name: name, ...nodeLabels(node) }
    for (const [resource, milli] of Object.entries(ResourceMath.fromResourceList(node.status?.allocatable))) {
      series.push({
        gauge: nodesAllocatable,
        attributes: { ...labels, resource_type: resourceType(resource) },
        value: value(milli)
      })
    }
    for (const [resource, milli] of Object.entries(requestsByNode.get(name) ?? ResourceMath.empty)) {
      series.push({
        gauge: nodesTotalPodRequests,
        attributes: { ...labels, resource_type: resourceType(resource) },
        value: value(milli)
      })
    }
  }
  return series
}

/** Starts the metrics controller in the current Scope: one pass at once, then one every `interval` (default 10 s). */
export const make = Effect.fn("StateMetrics.make")(function* (options?: { readonly interval?: Duration.Input }) {
  const cluster = yield* ClusterState
  const cloud = yield* CloudProvider
  const nodePools = yield* InformerCache.informer(Resources.NodePools)
  const series = makeSeries()

  yield* ScrapeSeries.add(
    Effect.map(cluster.view, (view) => {
      const nodesByName = new Map(view.nodes.map((node) => [node.metadata.name ?? "", node]))
      return view.pods.map((pod) => ({
        gauge: podsState,
        attributes: podLabels(pod, nodesByName.get(pod.spec.nodeName ?? "")),
        value: 1
      }))
    })
  )
  yield* ScrapeSeries.add(Effect.map(cluster.view, nodeSeries))

  const pass = Effect.gen(function* () {
    const view = yield* cluster.view
    for (const nodePool of yield* nodePools.list()) {
      const name = nodePool.metadata.name ?? ""
      for (const [resource, milli] of Object.entries(yield* cluster.nodePoolResources(name))) {
        yield* series.set(nodePoolsUsage, { nodepool: name, resource_type: resourceType(resource) }, value(milli))
      }
      for (const [resource, milli] of Object.entries(ResourceMath.fromResourceList(nodePool.spec.limits))) {
        yield* series.set(nodePoolsLimit, { nodepool: name, resource_type: resourceType(resource) }, value(milli))
      }
      // Without the catalogue the cost is unknown, not 0: the series is left out of this pass.
      const instanceTypes = yield* cloud.getInstanceTypes(nodePool).pipe(
        Effect.tapError((error) => Effect.logError(`pricing nodepool ${name}`, error)),
        Effect.option
      )
      if (Option.isSome(instanceTypes)) {
        const claims = view.nodeClaims.filter((claim) => claim.metadata.labels?.[Labels.NodePool] === name)
        yield* series.set(nodePoolsCostTotal, { nodepool: name }, nodeClaimsCost(claims, instanceTypes.value))
      }
    }
    yield* series.set(clusterStateNodeCount, {}, (yield* cluster.nodes).length)
    yield* series.set(clusterStateSynced, {}, (yield* cluster.synced) ? 1 : 0)
    yield* series.sweep
    return Result.done
  })

  yield* Singleton.make({ name: "metrics.state", interval: options?.interval ?? "10 seconds", run: pass })
})
