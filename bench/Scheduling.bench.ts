/**
 * The scheduling benchmark, mirroring upstream's scheduling_benchmark_test.go: one NodePool, a catalogue of instance
 * types (upstream's fake 400 by default), and a pod mix of one fifth each plain, zone-spread, hostname-spread, zonal
 * pod-affinity and hostname anti-affinity pods with seeded random requests.
 */
import { Effect, Schema } from "effect"
import * as FakeInstanceTypes from "../layers/cloudprovider/fake/InstanceTypes.ts"
import * as Labels from "../src/api/Labels.ts"
import * as NodePoolApi from "../src/api/NodePool.ts"
import * as PodApi from "../src/api/Pod.ts"
import * as Catalog from "../src/cloudprovider/Catalog.ts"
import type * as InstanceType from "../src/cloudprovider/InstanceType.ts"
import * as Scheduler from "../src/controllers/provisioning/scheduling/Scheduler.ts"
import { readDataJson } from "./Harness.ts"

/** One run's numbers (the `--json` line). */
export interface Run {
  readonly n: number
  readonly instanceTypes: number
  readonly catalog: string
  readonly podsPerSec: number
  readonly nodeClaims: number
  readonly unscheduled: number
  readonly heapMB: number
}

/** A small deterministic generator (the benchmark must be reproducible). */
export const lcg = (seed: number) => {
  let state = seed >>> 0
  return (bound: number): number => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0
    return state % bound
  }
}

const decodePod = Schema.decodeUnknownSync(PodApi.Pod)

/** The benchmark's pods: N/5 of each kind, the remainder plain. */
export const diversePods = (count: number, seed = 42): Array<PodApi.Pod> => {
  const random = lcg(seed)
  const pick = <A>(values: ReadonlyArray<A>): A => values[random(values.length)]!
  const letters = ["a", "b", "c", "d", "e", "f", "g"]
  const requests = () => ({
    cpu: `${pick([100, 250, 500, 1000, 1500])}m`,
    memory: `${pick([100, 256, 512, 1024, 2048, 4096])}Mi`
  })
  let index = 0
  const make = (labels: Record<string, string>, spec: Record<string, unknown>) =>
    decodePod({
      metadata: { name: `pod-${index}`, namespace: "default", uid: `uid-${String(index++).padStart(6, "0")}`, labels },
      spec: { containers: [{ name: "app", resources: { requests: requests() } }], ...spec }
    })
  const spread = (key: string) => {
    const labels = { "my-label": pick(letters) }
    return make(labels, {
      topologySpreadConstraints: [
        {
          maxSkew: 1,
          topologyKey: key,
          whenUnsatisfiable: "DoNotSchedule",
          labelSelector: { matchLabels: { "my-label": pick(letters) } }
        }
      ]
    })
  }
  const fifth = Math.floor(count / 5)
  const pods: Array<PodApi.Pod> = []
  for (let i = 0; i < fifth; i++) pods.push(make({ "my-label": pick(letters) }, {}))
  for (let i = 0; i < fifth; i++) pods.push(spread(Labels.Zone))
  for (let i = 0; i < fifth; i++) pods.push(spread(Labels.Hostname))
  for (let i = 0; i < fifth; i++) {
    pods.push(
      make(
        { "my-affinity": pick(letters) },
        {
          affinity: {
            podAffinity: {
              requiredDuringSchedulingIgnoredDuringExecution: [
                { topologyKey: Labels.Zone, labelSelector: { matchLabels: { "my-affinity": pick(letters) } } }
              ]
            }
          }
        }
      )
    )
  }
  for (let i = 0; i < fifth; i++) {
    pods.push(
      make(
        { app: "nginx" },
        {
          affinity: {
            podAntiAffinity: {
              requiredDuringSchedulingIgnoredDuringExecution: [
                { topologyKey: Labels.Hostname, labelSelector: { matchLabels: { app: "nginx" } } }
              ]
            }
          }
        }
      )
    )
  }
  while (pods.length < count) pods.push(make({ "my-label": pick(letters) }, {}))
  return pods
}

const nodePool = Schema.decodeUnknownSync(NodePoolApi.NodePool)({
  apiVersion: "karpenter.sh/v1",
  kind: "NodePool",
  metadata: { name: "default" },
  spec: {
    template: {
      spec: { nodeClassRef: { group: "karpenter.test.sh", kind: "TestNodeClass", name: "default" }, requirements: [] }
    }
  }
})

/** The catalogues the benchmark can run on, with the well-known labels of their provider. */
export const catalogue = (
  name: string
): { readonly instanceTypes: ReadonlyArray<InstanceType.InstanceType>; readonly wellKnown: ReadonlySet<string> } => {
  switch (name) {
    case "kwok":
      return { instanceTypes: Catalog.kwok(), wellKnown: Catalog.kwokWellKnownLabels }
    case "aws": {
      const json = readDataJson("aws-instance-types.json")
      return { instanceTypes: Effect.runSync(Catalog.fromAwsJson(json)), wellKnown: Catalog.awsWellKnownLabels }
    }
    default:
      return { instanceTypes: FakeInstanceTypes.sized(400), wellKnown: FakeInstanceTypes.wellKnownLabels }
  }
}

/** One timed solve. */
export const runOnce = async (n: number, catalogName: string): Promise<Run> => {
  const { instanceTypes, wellKnown } = catalogue(catalogName)
  const pods = diversePods(n)
  const gc = (globalThis as { gc?: () => void }).gc
  gc?.()
  const start = performance.now()
  const results = await Effect.runPromise(
    Scheduler.solve({
      nodePools: [{ nodePool, instanceTypes }],
      existingNodes: [],
      pods,
      boundPods: [],
      daemonSetPods: [],
      namespaces: [],
      wellKnownLabels: wellKnown,
      timeout: "10 minutes"
    })
  )
  const seconds = (performance.now() - start) / 1000
  const heapMB = process.memoryUsage().heapUsed / 1024 / 1024
  return {
    n,
    instanceTypes: instanceTypes.length,
    catalog: catalogName,
    podsPerSec: Math.round(n / seconds),
    nodeClaims: results.newNodeClaims.length,
    unscheduled: results.errors.size,
    heapMB: Math.round(heapMB)
  }
}

const median = (values: ReadonlyArray<number>): number =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!

/** `bench:scheduling` with its flags: --n N (repeatable, default 1000,5000,10000,20000), --catalog, --runs, --json. */
export const main = async (args: ReadonlyArray<string>): Promise<void> => {
  const flag = (name: string) => {
    const at = args.indexOf(`--${name}`)
    return at < 0 ? undefined : args[at + 1]
  }
  const ns = (flag("n") ?? "1000,5000,10000,20000").split(",").map(Number)
  const catalogName = flag("catalog") ?? "synthetic400"
  const runs = Number(flag("runs") ?? "5")
  const json = args.includes("--json")
  if (!json)
    console.log(
      "| n | catalog | instance types | pods/s (median) | NodeClaims | unscheduled | heap MB |\n| ---: | --- | ---: | ---: | ---: | ---: | ---: |"
    )
  for (const n of ns) {
    const results: Array<Run> = []
    for (let i = 0; i < runs; i++) {
      const run = await runOnce(n, catalogName)
      results.push(run)
      if (json) console.log(JSON.stringify(run))
    }
    if (!json) {
      const last = results[results.length - 1]!
      console.log(
        `| ${n} | ${catalogName} | ${last.instanceTypes} | ${median(results.map((r) => r.podsPerSec))} | ${last.nodeClaims} | ${last.unscheduled} | ${Math.max(...results.map((r) => r.heapMB))} |`
      )
    }
  }
}
