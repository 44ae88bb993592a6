/**
 * Helpers for the scheduler suite and property tests: inputs over one shared KWOK catalogue, flexible existing
 * nodes and pods, and reading results back (where did each pod go).
 */
import * as KWOKNodeClass from "../../../../src/api/KWOKNodeClass.ts"
import * as Labels from "../../../../src/api/Labels.ts"
import type * as PodApi from "../../../../src/api/Pod.ts"
import type { TaintLike } from "../../../../src/api/Taints.ts"
import * as Catalog from "../../../../src/cloudprovider/Catalog.ts"
import * as InstanceType from "../../../../src/cloudprovider/InstanceType.ts"
import * as Scheduler from "../../../../src/controllers/provisioning/scheduling/Scheduler.ts"
import * as HostPorts from "../../../../src/scheduling/HostPorts.ts"
import * as Requirement from "../../../../src/scheduling/Requirement.ts"
import * as Requirements from "../../../../src/scheduling/Requirements.ts"
import * as Resources from "../../../../src/scheduling/ResourceLists.ts"
import { catalogue, input, pod } from "./fixtures.ts"

export { catalogue, input }

// -- Catalogue and inputs ----------------------------------------------------------------------------------------

/** Karpenter's well-known labels plus KWOK's. */
export const wellKnown = Catalog.kwokWellKnownLabels

export const zones = ["test-zone-a", "test-zone-b", "test-zone-c", "test-zone-d"] as const
export const FamilyLabel = KWOKNodeClass.InstanceFamilyLabel
export const CpuLabel = KWOKNodeClass.InstanceCPULabel

/** An existing node; `cpu`/`memory` are its allocatable (and capacity unless given). */
export const node = (
  name: string,
  options: {
    readonly labels?: Record<string, string>
    readonly cpu: string
    readonly memory?: string
    readonly pods?: string
    readonly taints?: ReadonlyArray<TaintLike>
    readonly requested?: Record<string, string>
    readonly daemonSetRequested?: Record<string, string>
    readonly initialized?: boolean
    readonly capacity?: Record<string, string>
    readonly hostPorts?: ReadonlyArray<{ readonly key: string; readonly port: number }>
  }
): Scheduler.ExistingNodeInput => {
  const labels: Record<string, string> = { [Labels.Hostname]: name, ...options.labels }
  const allocatable = Resources.fromResourceList({
    cpu: options.cpu,
    memory: options.memory ?? "16Gi",
    pods: options.pods ?? "110"
  })
  const hostPorts = new HostPorts.HostPortUsage()
  for (const used of options.hostPorts ?? [])
    hostPorts.add(used.key, [{ ip: "0.0.0.0", port: used.port, protocol: "TCP" }])
  return {
    name,
    labels,
    taints: options.taints ?? [],
    allocatable,
    capacity: options.capacity === undefined ? allocatable : Resources.fromResourceList(options.capacity),
    requested: Resources.fromResourceList(options.requested),
    daemonSetRequested: Resources.fromResourceList(options.daemonSetRequested),
    hostPorts,
    initialized: options.initialized ?? true,
    nodePool: labels[Labels.NodePool]
  }
}

/** A pod bound to `nodeName` (for topology counting), optionally terminating or terminal. */
export const boundPod = (
  name: string,
  nodeName: string,
  options?: {
    readonly labels?: Record<string, string>
    readonly namespace?: string
    readonly spec?: Record<string, unknown>
    readonly phase?: string
    readonly deletionTimestamp?: string
  }
): PodApi.Pod => {
  const base = pod(name, {
    ...(options?.labels === undefined ? {} : { labels: options.labels }),
    ...(options?.namespace === undefined ? {} : { namespace: options.namespace }),
    spec: { nodeName, ...options?.spec }
  })
  return {
    ...base,
    metadata: {
      ...base.metadata,
      ...(options?.deletionTimestamp === undefined ? {} : { deletionTimestamp: options.deletionTimestamp })
    },
    ...(options?.phase === undefined ? {} : { status: { phase: options.phase } })
  }
}

// -- Pod spec pieces ---------------------------------------------------------------------------------------------

export const matchApp = (app: string) => ({ matchLabels: { app } })

export const spread = (
  topologyKey: string,
  maxSkew: number,
  app: string,
  extra?: Record<string, unknown>
): Record<string, unknown> => ({
  maxSkew,
  topologyKey,
  whenUnsatisfiable: "DoNotSchedule",
  labelSelector: matchApp(app),
  ...extra
})

export const term = (topologyKey: string, app: string) => ({ topologyKey, labelSelector: matchApp(app) })

export const requiredTerms = (...terms: ReadonlyArray<ReadonlyArray<Record<string, unknown>>>) => ({
  nodeAffinity: {
    requiredDuringSchedulingIgnoredDuringExecution: {
      nodeSelectorTerms: terms.map((matchExpressions) => ({ matchExpressions }))
    }
  }
})

export const inZone = (...values: ReadonlyArray<string>) => ({ key: Labels.Zone, operator: "In", values })

// -- Reading results ---------------------------------------------------------------------------------------------

type Named = { readonly metadata: { readonly name?: string } }
export const names = (holder: { readonly pods: ReadonlyArray<Named> }): Array<string> =>
  holder.pods.map((p) => p.metadata.name ?? "").sort()

/** The values of a NodeClaim's requirement on `key` (sorted; excluded values for NotIn). */
export const valuesOf = (claim: Scheduler.NewNodeClaim, key: string): Array<string> =>
  Requirement.values(Requirements.get(claim.requirements, key))

/** The single value a NodeClaim's requirement on `key` pins, if any. */
export const singleValue = (claim: Scheduler.NewNodeClaim, key: string): string | undefined => {
  const requirement = claim.requirements.get(key)
  if (requirement === undefined || requirement.complement || requirement.values.size !== 1) return undefined
  return requirement.values.values().next().value
}

/** The NodeClaim holding the pod named `name`, if any. */
export const claimOf = (results: Scheduler.Results, name: string): Scheduler.NewNodeClaim | undefined =>
  results.newNodeClaims.find((claim) => claim.pods.some((p) => p.metadata.name === name))

/** The existing node holding the pod named `name`, if any. */
export const nodeOf = (results: Scheduler.Results, name: string): string | undefined =>
  results.existingNodes.find((n) => n.pods.some((p) => p.metadata.name === name))?.name

/** Pods (by name) placed anywhere. */
export const scheduled = (results: Scheduler.Results): Array<string> =>
  [...results.newNodeClaims.flatMap(names), ...results.existingNodes.flatMap(names)].sort()

/** The error of the pod named `name` in the default namespace. */
export const errorOf = (results: Scheduler.Results, name: string, namespace = "default"): string | undefined =>
  results.errors.get(`${namespace}/${name}`)

/** Per-zone counts of the placed pods with `app`, over single-zone NodeClaims and zoned existing nodes. */
export const zoneCounts = (
  results: Scheduler.Results,
  app: string,
  existing: ReadonlyArray<Scheduler.ExistingNodeInput> = []
): Record<string, number> => {
  const counts: Record<string, number> = {}
  const bump = (zone: string | undefined, n: number) => {
    if (zone !== undefined && n > 0) counts[zone] = (counts[zone] ?? 0) + n
  }
  for (const claim of results.newNodeClaims) {
    bump(singleValue(claim, Labels.Zone), claim.pods.filter((p) => p.metadata.labels?.app === app).length)
  }
  for (const placed of results.existingNodes) {
    const zone = existing.find((n) => n.name === placed.name)?.labels[Labels.Zone]
    bump(zone, placed.pods.filter((p) => p.metadata.labels?.app === app).length)
  }
  return counts
}

/** Sorted count values, for "ConsistOf"-style assertions. */
export const sortedCounts = (counts: Record<string, number>): Array<number> =>
  Object.values(counts).sort((a, b) => a - b)

/** Where each input pod went: `claim:<index>`, `node:<name>` or `error`. */
export const placements = (results: Scheduler.Results): Map<string, Array<string>> => {
  const where = new Map<string, Array<string>>()
  const put = (key: string, place: string) => {
    const list = where.get(key) ?? []
    list.push(place)
    where.set(key, list)
  }
  results.newNodeClaims.forEach((claim, index) => {
    for (const p of claim.pods) put(Scheduler.podKey(p), `claim:${index}`)
  })
  for (const placed of results.existingNodes)
    for (const p of placed.pods) put(Scheduler.podKey(p), `node:${placed.name}`)
  for (const key of results.errors.keys()) put(key, "error")
  return where
}

/** A canonical rendering of a result: pod → placement, each NodeClaim's pool, requirements and options. */
export const canonical = (results: Scheduler.Results): string =>
  JSON.stringify({
    placements: [...placements(results)].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
    claims: results.newNodeClaims.map((claim) => ({
      nodePool: claim.nodePool.metadata.name,
      pods: names(claim),
      requirements: Requirements.format(claim.requirements),
      instanceTypes: claim.instanceTypes.map((it) => it.name),
      requests: Resources.toResourceList(claim.requests)
    })),
    errors: [...results.errors].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  })

/** The cheapest launchable price of an instance type under a NodeClaim's requirements. */
export const priceUnder = (instanceType: InstanceType.InstanceType, requirements: Requirements.Requirements): number =>
  InstanceType.cheapestOffering(instanceType, requirements, wellKnown)?.price ?? Number.POSITIVE_INFINITY
