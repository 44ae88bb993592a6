/**
 * The scheduling benchmark, mirroring upstream's scheduling_benchmark_test.go: one NodePool, a catalogue of instance
 * types (upstream's fake 400 by default), and a pod mix of one fifth each plain, zone-spread, hostname-spread, zonal
 * pod-affinity and hostname anti-affinity pods with seeded random requests.
 */
import * as Effect from "effect/Effect"
import * as Scheduler from "../src/controllers/provisioning/scheduling/Scheduler.ts"
import { catalogue, diversePods, nodePool } from "./SchedulingInputs.ts"

/** One run's numbers (the `--json` line). */
export interface Run {
  readonly n: number
  readonly instanceTypes: number
  readonly catalog: string
  readonly podsPerSec: number
  /** Wall seconds of the solve. */
  readonly seconds: number
  /** The process's user + system CPU seconds during the solve: steadier than wall time on a busy machine. */
  readonly cpuSeconds: number
  readonly nodeClaims: number
  readonly unscheduled: number
  readonly heapMB: number
}

/** One timed solve. */
export const runOnce = async (n: number, catalogName: string): Promise<Run> => {
  const { instanceTypes, wellKnown } = catalogue(catalogName)
  const pods = diversePods(n)
  const gc = (globalThis as { gc?: () => void }).gc
  gc?.()
  const cpu = process.cpuUsage()
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
  const used = process.cpuUsage(cpu)
  const heapMB = process.memoryUsage().heapUsed / 1024 / 1024
  return {
    n,
    instanceTypes: instanceTypes.length,
    catalog: catalogName,
    podsPerSec: Math.round(n / seconds),
    seconds: Math.round(seconds * 1000) / 1000,
    cpuSeconds: Math.round((used.user + used.system) / 1000) / 1000,
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
