/**
 * The scheduler's decisions on the benchmark's inputs, pinned: the solver's hot loops are rewritten for speed, and
 * every rewrite must keep the same NodeClaims (pods, requirements, instance types in order) and the same bindings to
 * existing nodes. The golden digests were recorded by the solver before those rewrites; a change here is a change of
 * behaviour, to be explained, never re-recorded to make a speed-up pass.
 */
import { createHash } from "node:crypto"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { catalogue, diversePods, nodePool } from "../../../../bench/SchedulingInputs.ts"
import * as Labels from "../../../../src/api/Labels.ts"
import type * as PodApi from "../../../../src/api/Pod.ts"
import * as InstanceType from "../../../../src/cloudprovider/InstanceType.ts"
import * as Scheduler from "../../../../src/controllers/provisioning/scheduling/Scheduler.ts"
import * as HostPorts from "../../../../src/scheduling/HostPorts.ts"
import * as Requirements from "../../../../src/scheduling/Requirements.ts"
import * as Resources from "../../../../src/scheduling/ResourceLists.ts"

interface Digest {
  readonly nodeClaims: number
  readonly boundToExisting: number
  readonly unscheduled: number
  readonly sha256: string
}

const golden = JSON.parse(readFileSync(join(import.meta.dirname, "SchedulerDecisions.golden.json"), "utf8")) as Record<
  string,
  Digest
>

const solve = (
  catalog: ReturnType<typeof catalogue>,
  input: Pick<Scheduler.Input, "existingNodes" | "pods" | "boundPods">
): Promise<Scheduler.Results> =>
  Effect.runPromise(
    Scheduler.solve({
      nodePools: [{ nodePool, instanceTypes: catalog.instanceTypes }],
      namespaces: [],
      daemonSetPods: [],
      wellKnownLabels: catalog.wellKnown,
      timeout: "10 minutes",
      ...input
    })
  )

const names = (pods: ReadonlyArray<PodApi.Pod>): Array<string> => pods.map(Scheduler.podKey)

/** Everything the pass decided, as canonical text, and its digest. */
const digestOf = (results: Scheduler.Results): Digest => {
  const decisions = {
    nodeClaims: results.newNodeClaims.map((claim) => ({
      nodePool: claim.nodePool.metadata.name,
      labels: claim.labels,
      pods: names(claim.pods),
      requirements: Requirements.toNodeSelectorRequirements(claim.requirements),
      instanceTypes: claim.instanceTypes.map((instanceType) => instanceType.name),
      requests: Resources.toResourceList(claim.requests),
      minValuesRelaxed: claim.minValuesRelaxed ?? null
    })),
    existingNodes: results.existingNodes.map((node) => ({ name: node.name, pods: names(node.pods) })),
    errors: [...results.errors].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
    deferred: [...results.deferred].sort(),
    timedOut: results.timedOut
  }
  return {
    nodeClaims: results.newNodeClaims.length,
    boundToExisting: results.existingNodes.reduce((sum, node) => sum + node.pods.length, 0),
    unscheduled: results.errors.size,
    sha256: createHash("sha256").update(JSON.stringify(decisions)).digest("hex")
  }
}

/**
 * The NodeClaims of a pass as running nodes: each launched as its cheapest option in that option's cheapest zone, its
 * pods bound to it (a second pass then packs onto them and counts them for topology).
 */
const launch = (results: Scheduler.Results, wellKnown: ReadonlySet<string>) => {
  const existingNodes: Array<Scheduler.ExistingNodeInput> = []
  const boundPods: Array<PodApi.Pod> = []
  results.newNodeClaims.forEach((claim, index) => {
    const name = `node-${String(index).padStart(4, "0")}`
    const instanceType = claim.instanceTypes[0]!
    const offering = InstanceType.cheapestOffering(instanceType, claim.requirements, wellKnown)!
    const labels: Record<string, string> = { ...claim.labels }
    for (const [key, requirement] of instanceType.requirements) {
      if (!requirement.complement && requirement.values.size === 1) labels[key] = [...requirement.values][0]!
    }
    labels[Labels.Zone] = offering.zone
    labels[Labels.CapacityType] = offering.capacityType
    labels[Labels.Hostname] = name
    existingNodes.push({
      name,
      labels,
      taints: [],
      allocatable: instanceType.allocatable,
      capacity: instanceType.capacity,
      requested: Resources.requestsForPods(...claim.pods.map((pod) => pod.spec)),
      daemonSetRequested: Resources.empty,
      hostPorts: new HostPorts.HostPortUsage(),
      initialized: true,
      nodePool: nodePool.metadata.name
    })
    for (const pod of claim.pods) boundPods.push({ ...pod, spec: { ...pod.spec, nodeName: name } })
  })
  return { existingNodes, boundPods }
}

/** The benchmark's mix under other names, so a second batch does not collide with the first. */
const renamed = (pods: ReadonlyArray<PodApi.Pod>, prefix: string): Array<PodApi.Pod> =>
  pods.map((pod) => ({
    ...pod,
    metadata: { ...pod.metadata, name: `${prefix}-${pod.metadata.name}`, uid: `${prefix}-${pod.metadata.uid}` }
  }))

describe("Scheduler decisions on the benchmark's mix (golden)", () => {
  for (const name of ["synthetic400", "kwok", "aws"]) {
    it(`${name}: 1,000 pending pods on an empty cluster`, async () => {
      const results = await solve(catalogue(name), { existingNodes: [], pods: diversePods(1000), boundPods: [] })
      assert.deepStrictEqual(digestOf(results), golden[`${name}/empty`])
    })

    it(`${name}: 500 more pods onto the nodes of a first pass of 500`, async () => {
      const catalog = catalogue(name)
      const first = await solve(catalog, { existingNodes: [], pods: diversePods(500), boundPods: [] })
      const { existingNodes, boundPods } = launch(first, catalog.wellKnown)
      const results = await solve(catalog, { existingNodes, pods: renamed(diversePods(500, 7), "late"), boundPods })
      assert.deepStrictEqual(digestOf(results), golden[`${name}/existing`])
    })
  }
})
