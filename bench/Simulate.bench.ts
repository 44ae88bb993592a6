/**
 * The simulate benchmark: a whole `simulate` run (read the scenario, run every controller on the virtual clock, render
 * the JSON) of `examples/bench-24h.yaml` by default — 24 virtual hours, 2,000 pods at the peak, pods coming and going
 * all day. It measures wall time for the virtual time and the peak heap while it runs.
 */
import { isAbsolute, join } from "node:path"
import { NodeServices } from "@effect/platform-node"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as References from "effect/References"
import * as Simulation from "../layers/app/SimulationApp.ts"
import * as Simulate from "../src/operator/Simulate.ts"
import { machine } from "./Harness.ts"

/** One run's numbers (the `--json` line). */
export interface Run {
  /** The scenario's duration (the last snapshot's time). */
  readonly virtualSeconds: number
  /** The most pods (bound or pending) any snapshot saw. */
  readonly pods: number
  readonly wallSeconds: number
  /** Peak heap in use during the run, sampled every 100 ms. */
  readonly heapMB: number
}

/** What the table shows besides the `--json` numbers (taken from the report). */
interface Details {
  /** CPU time of the process (user + system) during the run: steadier than wall time on a busy machine. */
  readonly cpuSeconds: number
  readonly nodesLaunched: number
  readonly peakNodes: number
  readonly disruptions: number
  readonly costUSD: number
}

interface Report {
  readonly snapshots: ReadonlyArray<{
    readonly time: number
    readonly nodes: ReadonlyArray<{ readonly pods: ReadonlyArray<string> }>
    readonly pendingPods: ReadonlyArray<string>
  }>
  readonly disruptions: ReadonlyArray<unknown>
  readonly summary: { readonly nodesLaunched: number; readonly peakNodes: number; readonly costUSD: number }
}

/** The default scenario. */
export const defaultFile = "examples/bench-24h.yaml"

/** One timed `simulate -o json` run of `file`, in this process, with the CLI's log settings. */
export const runOnce = async (file: string): Promise<{ readonly run: Run; readonly details: Details }> => {
  const gc = (globalThis as { gc?: () => void }).gc
  gc?.()
  let peakHeap = process.memoryUsage().heapUsed
  const sampler = setInterval(() => {
    peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed)
  }, 100)
  const start = performance.now()
  const cpu = process.cpuUsage()
  try {
    const json = await Effect.runPromise(
      Simulate.run(Simulation.environment, { files: [file], instanceTypes: undefined, output: "json" }).pipe(
        Effect.provideService(Logger.LogToStderr, true),
        Effect.provideService(References.MinimumLogLevel, "Warn"),
        Effect.provide(NodeServices.layer)
      )
    )
    const wallSeconds = (performance.now() - start) / 1000
    const used = process.cpuUsage(cpu)
    peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed)
    const report = JSON.parse(json) as Report
    const last = report.snapshots[report.snapshots.length - 1]
    const pods = Math.max(
      0,
      ...report.snapshots.map(
        (snapshot) => snapshot.pendingPods.length + snapshot.nodes.reduce((sum, node) => sum + node.pods.length, 0)
      )
    )
    return {
      run: {
        virtualSeconds: last?.time ?? 0,
        pods,
        wallSeconds: Math.round(wallSeconds * 100) / 100,
        heapMB: Math.round(peakHeap / 1024 / 1024)
      },
      details: {
        cpuSeconds: Math.round((used.user + used.system) / 10_000) / 100,
        nodesLaunched: report.summary.nodesLaunched,
        peakNodes: report.summary.peakNodes,
        disruptions: report.disruptions.length,
        costUSD: report.summary.costUSD
      }
    }
  } finally {
    clearInterval(sampler)
  }
}

const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

/** `bench:simulate` with its flags: --file FILE (default examples/bench-24h.yaml), --runs N (default 3), --json. */
export const main = async (args: ReadonlyArray<string>): Promise<void> => {
  const flag = (name: string) => {
    const at = args.indexOf(`--${name}`)
    return at < 0 ? undefined : args[at + 1]
  }
  const given = flag("file") ?? defaultFile
  const file = isAbsolute(given) ? given : join(process.cwd(), given)
  const runs = Number(flag("runs") ?? "3")
  const json = args.includes("--json")
  const results: Array<{ readonly run: Run; readonly details: Details }> = []
  for (let i = 0; i < runs; i++) {
    const result = await runOnce(file)
    results.push(result)
    if (json) console.log(JSON.stringify(result.run))
  }
  if (json || results.length === 0) return
  const wall = median(results.map((r) => r.run.wallSeconds))
  const cpuSeconds = median(results.map((r) => r.details.cpuSeconds))
  const { run, details } = results[results.length - 1]!
  console.log(`Machine: ${machine()}\n`)
  console.log(
    "| scenario | virtual s | pods (peak) | wall s (median) | cpu s (median) | virtual/wall | nodes launched | peak nodes | disruptions | cost USD | heap MB (peak) |"
  )
  console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
  console.log(
    `| ${given} | ${run.virtualSeconds} | ${run.pods} | ${wall.toFixed(1)} | ${cpuSeconds.toFixed(1)} | ${Math.round(run.virtualSeconds / wall)}× | ${details.nodesLaunched} | ${details.peakNodes} | ${details.disruptions} | ${details.costUSD.toFixed(2)} | ${Math.max(...results.map((r) => r.run.heapMB))} |`
  )
}
