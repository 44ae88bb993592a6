/**
 * The consolidation benchmark (issue #6, after kubernetes-sigs/karpenter PR 2096): a cluster of initialized,
 * consolidatable nodes from the AWS catalogue, 30 pods each, held in the in-memory API server and cluster state as
 * the controller sees them; single-node consolidation is evaluated for every candidate — a full scheduling
 * simulation of the cluster without that node — within the controller's 3-minute budget.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Fake from "../layers/cloudprovider/fake/FakeCloudProvider.ts"
import * as MemoryKube from "../layers/kube/memory/MemoryKubeClient.ts"
import * as ConditionTypes from "../src/api/Conditions.ts"
import * as Labels from "../src/api/Labels.ts"
import * as NodePoolApi from "../src/api/NodePool.ts"
import * as Catalog from "../src/cloudprovider/Catalog.ts"
import type * as InstanceType from "../src/cloudprovider/InstanceType.ts"
import type * as Candidates from "../src/controllers/disruption/Candidates.ts"
import * as MultiNodeConsolidation from "../src/controllers/disruption/MultiNodeConsolidation.ts"
import * as Planner from "../src/controllers/disruption/Planner.ts"
import { KubeClient } from "../src/kube/KubeClient.ts"
import * as Resources from "../src/kube/Resources.ts"
import * as InformerCache from "../src/runtime/InformerCache.ts"
import * as ResourceMath from "../src/scheduling/ResourceLists.ts"
import * as ClusterStateLayer from "../src/state/Cluster.ts"
import { ClusterState } from "../src/state/ClusterState.ts"
import { catalogue, lcg } from "./SchedulingInputs.ts"

/** One run's numbers (the `--json` line). */
export interface Run {
  readonly nodes: number
  readonly candidates: number
  readonly evaluated: number
  readonly seconds: number
  /** User + system CPU of the evaluation: steadier than `seconds` on a machine shared with other work. */
  readonly cpuSeconds: number
  readonly candidatesPerSecond: number
  /** Commands found: the node can be deleted, or replaced by a cheaper one. */
  readonly deletes: number
  readonly replaces: number
  readonly setupSeconds: number
  readonly heapMB: number
}

/** A `--hard` run also times multi-node consolidation's search over its candidate window. */
export interface HardRun extends Run {
  readonly hard: true
  readonly multiNodeSeconds: number
  readonly multiNodeCpuSeconds: number
  /** Candidates of the command the multi-node search found (0: none), and whether it replaces them. */
  readonly multiNodeCandidates: number
  readonly multiNodeReplaces: boolean
}

/** The single-node consolidation timeout the controller gives the whole search. */
const budgetSeconds = 180

/** The multi-node consolidation timeout (upstream's one minute). */
const multiNodeBudgetSeconds = 60

/** Node shapes of the easy cluster: general, compute and memory optimised, in two sizes each. */
const nodeTypes = ["m5.xlarge", "m5.2xlarge", "c5.2xlarge", "c5.4xlarge", "r5.xlarge", "r5.2xlarge"]

/** Fraction of a node's allocatable CPU and memory the easy cluster's pods request: busy, but not full. */
const utilisation = 0.7

/** One node of a cluster layout: its instance type and what each of its pods requests (milli-units). */
export interface NodeLayout {
  readonly instanceType: string
  readonly pods: ReadonlyArray<ResourceMath.Resources>
}

/** The easy cluster: the six node types in turn, each running `podsPerNode` equal pods at 70% of it. */
export const easyLayout = (
  nodes: number,
  podsPerNode: number,
  instanceTypes: ReadonlyArray<InstanceType.InstanceType>
): Array<NodeLayout> => {
  const byName = new Map(instanceTypes.map((it) => [it.name, it]))
  return Array.from({ length: nodes }, (_, index) => {
    const name = nodeTypes[index % nodeTypes.length]!
    const allocatable = byName.get(name)?.allocatable ?? {}
    const cpu = Math.floor(((allocatable.cpu ?? 0) * utilisation) / podsPerNode)
    const memory = Math.floor(((allocatable.memory ?? 0) * utilisation) / podsPerNode)
    return { instanceType: name, pods: Array.from({ length: podsPerNode }, () => ({ cpu, memory })) }
  })
}

/** The hard cluster's node types: general, compute and memory optimised, Intel and AMD, two generations, 4–16 cores. */
const hardFamilies = ["m5", "m5a", "m6i", "m6a", "c5", "c5a", "c6i", "c6a", "r5", "r5a", "r6i", "r6a"]
const hardSizes = ["xlarge", "2xlarge", "4xlarge"]

/**
 * Millicores of a "big" pod of the hard cluster: more than any node has free at 85% (15% of 16 cores is 2.4), so a
 * node running one cannot be deleted and its big pods need a new node.
 */
const bigPodMillicores = 2500

/** Memory requests are whole MiB (in milli-bytes, as resource lists hold them). */
const mebibyte = 1024 * 1024 * 1000

/**
 * The hard cluster (issue #18), seeded: nodes of the 36 types above at random, each packed to 85–95% of its CPU. Most
 * run one to four big pods (see {@link bigPodMillicores}) besides small ones (100–500m), so they cannot be deleted
 * and need the replacement search; one in ten runs small pods only. A node's pods ask for memory in its own type's
 * ratio, or half or a quarter of it: on those nodes a type with less memory (a cheaper family) would do, which makes
 * some replacements possible.
 */
export const hardLayout = (nodes: number, seed = 18): Array<NodeLayout> => {
  const random = lcg(seed)
  const { instanceTypes } = catalogue("aws")
  const byName = new Map(instanceTypes.map((it) => [it.name, it]))
  return Array.from({ length: nodes }, () => {
    const name = `${hardFamilies[random(hardFamilies.length)]!}.${hardSizes[random(hardSizes.length)]!}`
    const allocatable = byName.get(name)?.allocatable ?? {}
    const millicores = allocatable.cpu ?? 0
    const memoryPerMillicore = ((allocatable.memory ?? 0) / millicores) * [0.95, 0.5, 0.25][random(3)]!
    let left = Math.floor((millicores * (850 + random(101))) / 1000)
    const pods: Array<ResourceMath.Resources> = []
    const pod = (cpu: number) => {
      pods.push({ cpu, memory: Math.floor((cpu * memoryPerMillicore) / mebibyte) * mebibyte })
      left -= cpu
    }
    const big = random(10) === 0 ? 0 : 1 + random(Math.max(1, Math.floor(millicores / 4000)))
    for (let b = 0; b < big && left >= bigPodMillicores; b++) pod(bigPodMillicores)
    while (left >= 100) pod(Math.min(left, 100 + random(401)))
    return { instanceType: name, pods }
  })
}

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
/** More of a pod's spec (topology spread, affinity), by its index on its node and its requests. */
export type PodSpecOf = (pod: number, requests: ResourceMath.Resources) => Record<string, unknown>

const noPodSpec: PodSpecOf = () => ({})

/**
 * Creates the NodePool (`requirements` in its template), and per node of the layout its NodeClaim (launched,
 * registered, initialized, consolidatable), Node and pods.
 */
export const populate = (
  layout: ReadonlyArray<NodeLayout>,
  instanceTypes: ReadonlyArray<InstanceType.InstanceType>,
  requirements: NodePoolApi.TemplateSpec["requirements"] = [],
  podSpec: PodSpecOf = noPodSpec
) =>
  Effect.gen(function* () {
    const kube = yield* KubeClient
    const nodePool = Schema.decodeUnknownSync(NodePoolApi.NodePool)({
      apiVersion: "karpenter.sh/v1",
      kind: "NodePool",
      metadata: { name: "default" },
      spec: {
        disruption: { consolidationPolicy: "WhenEmptyOrUnderutilized", consolidateAfter: "0s" },
        template: { spec: { nodeClassRef, requirements } }
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
    for (const [index, node] of layout.entries()) {
      const instanceType = byName.get(node.instanceType)
      if (instanceType === undefined) return yield* Effect.die(`no ${node.instanceType} in catalogue`)
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
      for (const [p, requests] of node.pods.entries()) {
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
                resources: { requests: ResourceMath.toResourceList(requests) }
              }
            ],
            ...podSpec(p, requests)
          }
        } as never)
      }
    }
  })

/**
 * The hard cluster's NodePool, as Karpenter's documentation starts one: on-demand amd64 types of the c, m and r
 * categories after generation 2 (with spot, burstable or arm64 types allowed, nearly every node would be replaced by
 * its own type as spot, a t3a or a Graviton type).
 */
export const hardRequirements: NodePoolApi.TemplateSpec["requirements"] = [
  { key: Labels.CapacityType, operator: "In", values: [Labels.CapacityTypeOnDemand] },
  { key: Labels.Arch, operator: "In", values: [Labels.ArchAmd64] },
  { key: Catalog.AwsLabels.category, operator: "In", values: ["c", "m", "r"] },
  { key: Catalog.AwsLabels.generation, operator: "Gt", values: ["2"] }
]

/** The services of a cluster as the controller sees it: the in-memory API server, the cluster state, the fake provider. */
export const services = ClusterStateLayer.layer.pipe(
  Layer.provideMerge(InformerCache.layer),
  Layer.provideMerge(Layer.mergeAll(MemoryKube.layer(), Fake.layer))
)

/** Populates the cluster and waits until the cluster state has every node initialized; then a pass's snapshot. */
export const load = (
  layout: ReadonlyArray<NodeLayout>,
  instanceTypes: ReadonlyArray<InstanceType.InstanceType>,
  requirements: NodePoolApi.TemplateSpec["requirements"] = [],
  podSpec: PodSpecOf = noPodSpec
) =>
  Effect.gen(function* () {
    const fake = yield* Fake.FakeCloudProvider
    yield* fake.setInstanceTypes(instanceTypes)
    yield* populate(layout, instanceTypes, requirements, podSpec)
    const cluster = yield* ClusterState
    const pods = layout.reduce((sum, node) => sum + node.pods.length, 0)
    // Yielding (not sleeping) lets the informers catch up, on the real clock and on a test's alike.
    while (
      !(yield* cluster.synced) ||
      (yield* cluster.nodes).filter((node) => node.initialized).length < layout.length ||
      (yield* cluster.view).pods.length < pods
    ) {
      yield* Effect.yieldNow
    }
    return yield* Planner.snapshot(new Set())
  })

/**
 * Multi-node consolidation's search as the controller runs it: prefixes of its batch (the cheapest-to-disrupt
 * candidates with pods that the NodePool's budget allows, at most 100).
 */
export const multiNodeSearch = (state: Planner.Snapshot, candidates: ReadonlyArray<Candidates.Candidate>) => {
  const chosen = MultiNodeConsolidation.batch(candidates, Planner.budgetMapping(state, "Underutilized"))
  return Planner.longestPrefix(
    chosen.length,
    (size) => Effect.map(Planner.computeConsolidation(state, chosen.slice(0, size), "multi"), ({ command }) => command),
    `${multiNodeBudgetSeconds} seconds`
  )
}

const cpuSecondsSince = (start: NodeJS.CpuUsage): number => {
  const { user, system } = process.cpuUsage(start)
  return (user + system) / 1e6
}

/**
 * One run: populate, wait for the cluster state to see every node, then (hard) the multi-node search and evaluate
 * every candidate for single-node consolidation.
 */
export const runOnce = async (
  layout: ReadonlyArray<NodeLayout>,
  options: {
    readonly hard: boolean
    readonly limit: number
  }
): Promise<Run | HardRun> => {
  const { instanceTypes } = catalogue("aws")
  const gc = (globalThis as { gc?: () => void }).gc
  gc?.()
  const program = Effect.gen(function* () {
    const setupStart = performance.now()
    const state = yield* load(layout, instanceTypes, options.hard ? hardRequirements : [])
    const setupSeconds = (performance.now() - setupStart) / 1000
    const candidates = Planner.consolidationCandidates(state)
    // Multi-node first, as the controller runs its methods: the first simulations of a snapshot build its memos.
    const multiStart = performance.now()
    const multiStartCpu = process.cpuUsage()
    const multi = options.hard ? yield* multiNodeSearch(state, candidates) : undefined
    const multiNodeSeconds = (performance.now() - multiStart) / 1000
    const multiNodeCpuSeconds = cpuSecondsSince(multiStartCpu)
    const start = performance.now()
    const startCpu = process.cpuUsage()
    let evaluated = 0
    let deletes = 0
    let replaces = 0
    for (const candidate of candidates) {
      if ((performance.now() - start) / 1000 > budgetSeconds || evaluated >= options.limit) break
      const { command } = yield* Planner.computeConsolidation(state, [candidate], "single")
      evaluated++
      if (command !== undefined) {
        if (command.replacements.length === 0) deletes++
        else replaces++
      }
    }
    const seconds = (performance.now() - start) / 1000
    const cpuSeconds = cpuSecondsSince(startCpu)
    const run: Run = {
      nodes: layout.length,
      candidates: candidates.length,
      evaluated,
      seconds: Math.round(seconds * 100) / 100,
      cpuSeconds: Math.round(cpuSeconds * 100) / 100,
      candidatesPerSecond: Math.round(evaluated / seconds),
      deletes,
      replaces,
      setupSeconds: Math.round(setupSeconds * 100) / 100,
      heapMB: Math.round(process.memoryUsage().heapUsed / 1024 / 1024)
    }
    if (multi === undefined) return run
    return {
      ...run,
      hard: true,
      multiNodeSeconds: Math.round(multiNodeSeconds * 100) / 100,
      multiNodeCpuSeconds: Math.round(multiNodeCpuSeconds * 100) / 100,
      multiNodeCandidates: multi.best?.candidates.length ?? 0,
      multiNodeReplaces: (multi.best?.replacements.length ?? 0) > 0
    } satisfies HardRun
  })
  return Effect.runPromise(Effect.scoped(program.pipe(Effect.provide(services))))
}

const median = (values: ReadonlyArray<number>): number =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!

/**
 * `bench:consolidation` with its flags: --nodes N (default 1000), --pods-per-node (30), --runs (3), --json, --hard
 * (the hard cluster, {@link hardLayout}, and the multi-node search), and --limit (stop after that many candidates, for
 * profiling).
 */
export const main = async (args: ReadonlyArray<string>): Promise<void> => {
  const flag = (name: string) => {
    const at = args.indexOf(`--${name}`)
    return at < 0 ? undefined : args[at + 1]
  }
  const nodes = Number(flag("nodes") ?? "1000")
  const podsPerNode = Number(flag("pods-per-node") ?? "30")
  const hard = args.includes("--hard")
  const json = args.includes("--json")
  const runs = Number(flag("runs") ?? (json ? "1" : "3"))
  const layout = hard ? hardLayout(nodes) : easyLayout(nodes, podsPerNode, catalogue("aws").instanceTypes)
  const pods = layout.reduce((sum, node) => sum + node.pods.length, 0)
  const results: Array<Run | HardRun> = []
  for (let i = 0; i < runs; i++) {
    const run = await runOnce(layout, { hard, limit: Number(flag("limit") ?? Number.POSITIVE_INFINITY) })
    results.push(run)
    if (json) console.log(JSON.stringify(run))
  }
  if (!json) {
    const last = results[results.length - 1]!
    const multi = results.flatMap((run) => ("hard" in run ? [run.multiNodeSeconds] : []))
    console.log(
      `| nodes | pods | candidates | evaluated | seconds (median) | candidates/s | deletes | replaces | heap MB |${hard ? " multi-node s (median) | multi-node command |" : ""}\n| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |${hard ? " ---: | --- |" : ""}`
    )
    const multiCommand =
      "hard" in last
        ? ` ${median(multi)} | ${last.multiNodeCandidates === 0 ? "none" : `${last.multiNodeReplaces ? "replace" : "delete"} ${last.multiNodeCandidates}`} |`
        : ""
    console.log(
      `| ${nodes} | ${pods} | ${last.candidates} | ${last.evaluated} | ${median(results.map((r) => r.seconds))} | ${median(results.map((r) => r.candidatesPerSecond))} | ${last.deletes} | ${last.replaces} | ${Math.max(...results.map((r) => r.heapMB))} |${multiCommand}`
    )
  }
}
