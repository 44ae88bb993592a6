/**
 * The consolidation benchmark (issue #6, after kubernetes-sigs/karpenter PR 2096): a cluster of initialized,
 * consolidatable nodes from the AWS catalogue, 30 pods each, held in the in-memory API server and cluster state as
 * the controller sees them; single-node consolidation is evaluated for every candidate — a full scheduling
 * simulation of the cluster without that node — within the controller's 3-minute budget.
 */
import { Effect, Layer, Schema } from "effect"
import * as Fake from "../layers/cloudprovider/fake/FakeCloudProvider.ts"
import * as MemoryKube from "../layers/kube/memory/MemoryKubeClient.ts"
import * as ConditionTypes from "../src/api/Conditions.ts"
import * as Labels from "../src/api/Labels.ts"
import * as NodePoolApi from "../src/api/NodePool.ts"
import type * as InstanceType from "../src/cloudprovider/InstanceType.ts"
import * as Planner from "../src/controllers/disruption/Planner.ts"
import { KubeClient } from "../src/kube/KubeClient.ts"
import * as Resources from "../src/kube/Resources.ts"
import * as InformerCache from "../src/runtime/InformerCache.ts"
import * as ResourceMath from "../src/scheduling/ResourceLists.ts"
import * as ClusterStateLayer from "../src/state/Cluster.ts"
import { ClusterState } from "../src/state/ClusterState.ts"
import { catalogue } from "./Scheduling.bench.ts"

/** One run's numbers (the `--json` line). */
export interface Run {
  readonly nodes: number
  readonly candidates: number
  readonly evaluated: number
  readonly seconds: number
  readonly candidatesPerSecond: number
  /** Commands found: the node can be deleted, or replaced by a cheaper one. */
  readonly deletes: number
  readonly replaces: number
  readonly setupSeconds: number
  readonly heapMB: number
}

/** The single-node consolidation timeout the controller gives the whole search. */
const budgetSeconds = 180

/** Node shapes of the cluster: general, compute and memory optimised, in two sizes each. */
const nodeTypes = ["m5.xlarge", "m5.2xlarge", "c5.2xlarge", "c5.4xlarge", "r5.xlarge", "r5.2xlarge"]

/** Fraction of a node's allocatable CPU and memory its pods request: busy, but not full. */
const utilisation = 0.7

const nodeClassRef = { group: "karpenter.test.sh", kind: "TestNodeClass", name: "default" } as const

const now = new Date(0).toISOString()

/** A True condition of `type`, as the controllers leave it on a node that has settled (benchmark fixtures). */
export const condition = (type: string) => ({
  type,
  status: "True",
  reason: type,
  message: "",
  lastTransitionTime: now,
  observedGeneration: 1
})

/** Creates the NodePool, and per node its NodeClaim (launched, registered, initialized, consolidatable), Node and pods. */
const populate = (nodes: number, podsPerNode: number, instanceTypes: ReadonlyArray<InstanceType.InstanceType>) =>
  Effect.gen(function* () {
    const kube = yield* KubeClient
    const nodePool = Schema.decodeUnknownSync(NodePoolApi.NodePool)({
      apiVersion: "karpenter.sh/v1",
      kind: "NodePool",
      metadata: { name: "default" },
      spec: {
        disruption: { consolidationPolicy: "WhenEmptyOrUnderutilized", consolidateAfter: "0s" },
        template: { spec: { nodeClassRef, requirements: [] } }
      }
    })
    yield* kube.create(Resources.NodePools, nodePool)
    yield* kube.patch(
      Resources.NodePools,
      "default",
      { type: "merge", patch: { status: { conditions: [condition(ConditionTypes.Ready)] } } },
      { subresource: "status" }
    )
    const byName = new Map(instanceTypes.map((it) => [it.name, it]))
    for (let index = 0; index < nodes; index++) {
      const instanceType = byName.get(nodeTypes[index % nodeTypes.length]!)
      if (instanceType === undefined) return yield* Effect.die(`no ${nodeTypes[index % nodeTypes.length]} in catalogue`)
      const offering = instanceType.offerings.find((o) => o.capacityType === Labels.CapacityTypeOnDemand && o.available)
      if (offering === undefined) return yield* Effect.die(`no on-demand offering of ${instanceType.name}`)
      const name = `node-${String(index).padStart(4, "0")}`
      const providerID = `fake://${name}`
      const labels = {
        [Labels.NodePool]: "default",
        [Labels.InstanceType]: instanceType.name,
        [Labels.Zone]: offering.zone,
        [Labels.CapacityType]: offering.capacityType,
        [Labels.Hostname]: name,
        [Labels.NodeRegistered]: "true",
        [Labels.NodeInitialized]: "true",
        "karpenter.test.sh/testnodeclass": "default"
      }
      const capacity = ResourceMath.toResourceList(instanceType.capacity)
      const allocatable = ResourceMath.toResourceList(instanceType.allocatable)
      yield* kube.create(Resources.NodeClaims, {
        apiVersion: "karpenter.sh/v1",
        kind: "NodeClaim",
        metadata: { name, labels, creationTimestamp: now },
        spec: { nodeClassRef, requirements: [{ key: Labels.NodePool, operator: "In", values: ["default"] }] }
      } as never)
      yield* kube.patch(
        Resources.NodeClaims,
        name,
        {
          type: "merge",
          patch: {
            status: {
              providerID,
              nodeName: name,
              capacity,
              allocatable,
              conditions: [
                ConditionTypes.Launched,
                ConditionTypes.Registered,
                ConditionTypes.Initialized,
                ConditionTypes.Consolidatable
              ].map(condition)
            }
          }
        },
        { subresource: "status" }
      )
      yield* kube.create(Resources.Nodes, {
        apiVersion: "v1",
        kind: "Node",
        metadata: { name, labels },
        spec: { providerID },
        status: { capacity, allocatable, conditions: [{ type: "Ready", status: "True" }] }
      } as never)
      const cpu = Math.floor(((instanceType.allocatable.cpu ?? 0) * utilisation) / podsPerNode)
      const memory = Math.floor(((instanceType.allocatable.memory ?? 0) * utilisation) / podsPerNode)
      for (let p = 0; p < podsPerNode; p++) {
        yield* kube.create(Resources.Pods, {
          apiVersion: "v1",
          kind: "Pod",
          metadata: {
            name: `${name}-pod-${p}`,
            namespace: "default",
            labels: { app: `app-${p % 10}` },
            ownerReferences: [
              {
                apiVersion: "apps/v1",
                kind: "ReplicaSet",
                name: `app-${p % 10}`,
                uid: `rs-${p % 10}`,
                controller: true
              }
            ]
          },
          spec: {
            nodeName: name,
            containers: [
              {
                name: "app",
                image: "app",
                resources: { requests: ResourceMath.toResourceList({ cpu, memory }) }
              }
            ]
          }
        } as never)
      }
    }
  })

/** One run: populate, wait for the cluster state to see every node, then evaluate every candidate. */
export const runOnce = async (nodes: number, podsPerNode: number, limit = Number.POSITIVE_INFINITY): Promise<Run> => {
  const { instanceTypes } = catalogue("aws")
  const gc = (globalThis as { gc?: () => void }).gc
  gc?.()
  const program = Effect.gen(function* () {
    const setupStart = performance.now()
    const fake = yield* Fake.FakeCloudProvider
    yield* fake.setInstanceTypes(instanceTypes)
    yield* populate(nodes, podsPerNode, instanceTypes)
    const cluster = yield* ClusterState
    while (!(yield* cluster.synced) || (yield* cluster.nodes).filter((node) => node.initialized).length < nodes) {
      yield* Effect.sleep("10 millis")
    }
    const setupSeconds = (performance.now() - setupStart) / 1000
    const start = performance.now()
    const state = yield* Planner.snapshot(new Set())
    const candidates = Planner.consolidationCandidates(state)
    let evaluated = 0
    let deletes = 0
    let replaces = 0
    for (const candidate of candidates) {
      if ((performance.now() - start) / 1000 > budgetSeconds || evaluated >= limit) break
      const { command } = yield* Planner.computeConsolidation(state, [candidate], "single")
      evaluated++
      if (command !== undefined) {
        if (command.replacements.length === 0) deletes++
        else replaces++
      }
    }
    const seconds = (performance.now() - start) / 1000
    return {
      nodes,
      candidates: candidates.length,
      evaluated,
      seconds: Math.round(seconds * 100) / 100,
      candidatesPerSecond: Math.round(evaluated / seconds),
      deletes,
      replaces,
      setupSeconds: Math.round(setupSeconds * 100) / 100,
      heapMB: Math.round(process.memoryUsage().heapUsed / 1024 / 1024)
    }
  })
  const services = ClusterStateLayer.layer.pipe(
    Layer.provideMerge(InformerCache.layer),
    Layer.provideMerge(Layer.mergeAll(MemoryKube.layer(), Fake.layer))
  )
  return Effect.runPromise(Effect.scoped(program.pipe(Effect.provide(services))))
}

const median = (values: ReadonlyArray<number>): number =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!

/**
 * `bench:consolidation` with its flags: --nodes N (default 1000), --pods-per-node (30), --runs (3), --json, and
 * --limit (stop after that many candidates, for profiling).
 */
export const main = async (args: ReadonlyArray<string>): Promise<void> => {
  const flag = (name: string) => {
    const at = args.indexOf(`--${name}`)
    return at < 0 ? undefined : args[at + 1]
  }
  const nodes = Number(flag("nodes") ?? "1000")
  const podsPerNode = Number(flag("pods-per-node") ?? "30")
  const json = args.includes("--json")
  const runs = Number(flag("runs") ?? (json ? "1" : "3"))
  const results: Array<Run> = []
  for (let i = 0; i < runs; i++) {
    const run = await runOnce(nodes, podsPerNode, Number(flag("limit") ?? Number.POSITIVE_INFINITY))
    results.push(run)
    if (json) console.log(JSON.stringify(run))
  }
  if (!json) {
    const last = results[results.length - 1]!
    console.log(
      "| nodes | pods | candidates | evaluated | seconds (median) | candidates/s | deletes | replaces | heap MB |\n| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    )
    console.log(
      `| ${nodes} | ${nodes * podsPerNode} | ${last.candidates} | ${last.evaluated} | ${median(results.map((r) => r.seconds))} | ${median(results.map((r) => r.candidatesPerSecond))} | ${last.deletes} | ${last.replaces} | ${Math.max(...results.map((r) => r.heapMB))} |`
    )
  }
}
