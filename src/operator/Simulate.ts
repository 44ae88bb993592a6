/**
 * `simulate`: runs a scenario on the embedded cluster in virtual time and prints the timeline (JSON per the CLI
 * contract, text, or the HTML report), and writes the HTML report to a file when asked. The embedded cluster itself
 * (which KubeClient, which cloud provider) is handed in by the composition root, its controllers run with the
 * scenario's feature gates.
 */

import * as Effect from "effect/Effect"
import * as FileSystem from "effect/FileSystem"
import type * as Layer from "effect/Layer"
import * as Path from "effect/Path"
import * as References from "effect/References"
import * as Result from "effect/Result"
import * as Scheduler from "effect/Scheduler"
import * as Duration from "../api/Duration.ts"
import * as Catalog from "../cloudprovider/Catalog.ts"
import type * as InstanceType from "../cloudprovider/InstanceType.ts"
import * as Scenario from "../cluster/Scenario.ts"
import * as Simulation from "../cluster/Simulation.ts"
import { VirtualClock } from "../cluster/VirtualClock.ts"
import * as DisruptionLog from "../controllers/disruption/DisruptionLog.ts"
import type { KubeClient } from "../kube/KubeClient.ts"
import type * as AwsWorld from "./AwsWorld.ts"
import type * as Controllers from "./Controllers.ts"
import * as Manifests from "./Manifests.ts"
import * as Options from "./Options.ts"
import { InvalidInput, loadCatalogue, providerFor } from "./Schedule.ts"
import * as SimulationReport from "./SimulationReport.ts"

/** The embedded cluster a scenario runs on, built for a catalogue, its controllers run with `options`. */
export type Environment = (
  instanceTypes: ReadonlyArray<InstanceType.InstanceType>,
  options: Controllers.ControllerOptions
) => Layer.Layer<KubeClient, never, never>

const formatDuration = (seconds: number): string => {
  const h = Math.floor(seconds / 3600)
  const m = Math.floor((seconds % 3600) / 60)
  const s = seconds % 60
  return `${h > 0 ? `${h}h` : ""}${m > 0 || h > 0 ? `${String(m).padStart(h > 0 ? 2 : 1, "0")}m` : ""}${String(s).padStart(h > 0 || m > 0 ? 2 : 1, "0")}s`
}

/** A limit on a scenario's `spec.duration`: as the user wrote it (for messages) and in milliseconds. */
export interface MaxDuration {
  readonly text: string
  readonly millis: number
}

const day = 86_400_000

/** A duration limit in Go's units, with days too ("31d", "1d12h", "720h"); `undefined` when malformed. */
export const parseMaxDuration = (text: string): MaxDuration | undefined => {
  const [, days, rest = ""] = /^(?:(\d+)d)?(.*)$/.exec(text) ?? []
  const remainder = rest === "" ? (days === undefined ? null : 0) : Duration.toMillis(rest)
  return typeof remainder === "number" ? { text, millis: Number(days ?? 0) * day + remainder } : undefined
}

/** A month: longer scenarios are refused unless `--max-duration` allows them (their runs take hours). */
export const defaultMaxDuration: MaxDuration = { text: "31d", millis: 31 * day }

/**
 * Where `simulate` shows its progress: stderr (only when it is a terminal) and a monotonic wall clock in milliseconds.
 * The composition root hands them in, as src/ never reads the wall clock.
 */
export interface Terminal {
  readonly isTTY: boolean
  readonly write: (text: string) => void
  readonly now: () => number
}

/** The least wall-clock time between two progress updates; a run shorter than this shows none. */
const progressInterval = 500

const progressLine = (progress: Simulation.Progress): string =>
  `simulate: t=${formatDuration(progress.time)} of ${formatDuration(progress.duration)} (${progress.duration === 0 ? 100 : Math.floor((100 * progress.time) / progress.duration)}%), nodes ${progress.nodes}, pods ${progress.boundPods} bound, ${progress.pendingPods} pending`

/** Rewrites the line under the cursor (carriage return, erase to the end of the line). */
const rewriteLine = (text: string) => `\r\x1b[K${text}`

/** Shows a run's progress on a terminal, updated in place and at a modest rate, and clears it when the run ends. */
const showingProgress =
  (terminal: Terminal | undefined) =>
  <A, E, R>(run: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> => {
    if (terminal === undefined || !terminal.isTTY) return run
    return Effect.suspend(() => {
      let shownAt = terminal.now()
      let shown = false
      const sink = (progress: Simulation.Progress) =>
        Effect.sync(() => {
          const now = terminal.now()
          if (now - shownAt < progressInterval) return
          shownAt = now
          shown = true
          terminal.write(rewriteLine(progressLine(progress)))
        })
      return run.pipe(
        Effect.provideService(Simulation.ProgressSink, sink),
        Effect.ensuring(
          Effect.sync(() => {
            if (shown) terminal.write(rewriteLine(""))
          })
        )
      )
    })
  }

/** The report as a readable timeline. */
export const toText = (report: Simulation.Report): string => {
  const lines: Array<string> = []
  for (const snapshot of report.snapshots) {
    const ready = snapshot.nodeClaims.filter((claim) => claim.conditions.Ready === "True").length
    const pods = snapshot.nodes.reduce((sum, node) => sum + node.pods.length, 0)
    const types = new Map<string, number>()
    for (const node of snapshot.nodes) types.set(node.instanceType, (types.get(node.instanceType) ?? 0) + 1)
    const mix = [...types].map(([type, count]) => `${count}×${type || "?"}`).join(", ")
    lines.push(
      `t=${formatDuration(snapshot.time).padEnd(9)} nodes ${String(snapshot.nodes.length).padStart(3)} (${ready} ready)  pods ${String(pods).padStart(4)} bound, ${snapshot.pendingPods.length} pending${mix === "" ? "" : `  [${mix}]`}`
    )
  }
  if (report.disruptions.length > 0) {
    lines.push("", "Disruptions")
    for (const disruption of report.disruptions) {
      lines.push(
        `  t=${formatDuration(disruption.time)} ${disruption.reason}: ${disruption.candidates.join(", ")}${disruption.replacements.length === 0 ? "" : ` → ${disruption.replacements.join(", ")}`}`
      )
    }
  }
  const { summary } = report
  lines.push(
    "",
    `Summary: ${summary.nodesLaunched} nodes launched, ${summary.nodesTerminated} terminated, peak ${summary.peakNodes} nodes, cost $${summary.costUSD.toFixed(4)}`
  )
  return lines.join("\n")
}

/**
 * Runs `effect` with `Error.stackTraceLimit` at 0, as `node --stack-trace-limit=0` would: Effect.fn records the call
 * site of each of a simulated day's ~210,000 calls (an Error with a two-frame stack, for defect reports that show none
 * to the user), 2.5% of the day. Errors keep their messages; the limit is restored afterwards.
 */
const withoutCallSites = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.acquireUseRelease(
    Effect.sync(() => {
      const limit = Error.stackTraceLimit
      Error.stackTraceLimit = 0
      return limit
    }),
    () => effect,
    (limit) =>
      Effect.sync(() => {
        Error.stackTraceLimit = limit
      })
  )

/** Runs the command: read the scenario, simulate, render. */
export const run = Effect.fn("Simulate.run")(function* (
  environment: Environment,
  options: {
    readonly files: ReadonlyArray<string>
    readonly instanceTypes: string | undefined
    readonly output: "json" | "text" | "html"
    /** Where to write the HTML report too, whatever the output. */
    readonly report?: string | undefined
    /** Default {@link defaultMaxDuration}. */
    readonly maxDuration?: MaxDuration
    /** Where to show the progress; none without. */
    readonly terminal?: Terminal
    /** The fake AWS world, for scenarios on EC2NodeClasses. */
    readonly aws?: Effect.Effect<AwsWorld.AwsWorld>
    /** `--feature-gates`, over the Scenario's `spec.featureGates`. */
    readonly featureGates?: string | undefined
    /** `--min-values-policy` of the simulation's provisioner and disruption controller; default Strict. */
    readonly minValuesPolicy?: Options.MinValuesPolicy
  }
) {
  const manifests = yield* Manifests.load(options.files).pipe(
    Effect.mapError((error) => new InvalidInput({ message: error.message }))
  )
  const [document, ...extra] = manifests.scenarios
  if (document === undefined)
    return yield* new InvalidInput({
      message: "no Scenario document (karpenter-effect.dev/v1alpha1, kind Scenario) in the input"
    })
  if (extra.length > 0) {
    return yield* new InvalidInput({
      message: `${extra[0]!.source.file}: document ${extra[0]!.source.document}: more than one Scenario`
    })
  }
  const where = `${document.source.file}: document ${document.source.document}`
  const scenario = yield* Scenario.decode(document.raw).pipe(
    Effect.mapError((error) => new InvalidInput({ message: `${where}: ${error.message}` }))
  )
  // Virtual time is fast, not free: a scenario of years would run until killed. Refuse it before it starts.
  const maxDuration = options.maxDuration ?? defaultMaxDuration
  if (Scenario.millis(scenario.spec.duration) > maxDuration.millis) {
    return yield* new InvalidInput({
      message: `${where}: spec.duration ${scenario.spec.duration} is longer than the limit of ${maxDuration.text} (raise it with --max-duration)`
    })
  }
  const flagGates = Options.offlineFeatureGates(options.featureGates)
  if (Result.isFailure(flagGates)) return yield* new InvalidInput({ message: `--feature-gates: ${flagGates.failure}` })
  const gates = Options.offlineFeatureGates(options.featureGates, scenario.spec.featureGates)
  if (Result.isFailure(gates)) {
    return yield* new InvalidInput({ message: `${where}: spec.featureGates: ${gates.failure}` })
  }
  const controllerOptions = {
    ...Options.gatedOptions(gates.success),
    ...(options.minValuesPolicy === undefined ? {} : { minValuesPolicy: options.minValuesPolicy })
  }
  // The report is written after the run: a mistyped directory is refused now, not once the run is over.
  if (options.report !== undefined) {
    const directory = (yield* Path.Path).dirname(options.report)
    if (!(yield* (yield* FileSystem.FileSystem).exists(directory).pipe(Effect.orElseSucceed(() => false)))) {
      return yield* new InvalidInput({ message: `--report ${options.report}: no directory ${directory}` })
    }
  }
  const provider = yield* providerFor(manifests, { instanceTypes: options.instanceTypes, aws: options.aws })
  // On EC2NodeClasses the cluster runs the AWS provider on the fake world, whose catalogue prices the nodes.
  const world = provider === "aws" && options.aws !== undefined ? yield* options.aws : undefined
  const catalogue =
    world !== undefined
      ? world.catalogue()
      : options.instanceTypes === undefined
        ? Catalog.kwok()
        : yield* loadCatalogue(options.instanceTypes)
  const cluster = world !== undefined ? world.simulation(controllerOptions) : environment(catalogue, controllerOptions)
  const start = Date.parse(scenario.spec.start ?? Scenario.defaultStart)
  const log = DisruptionLog.inMemory()
  const html = options.output === "html" || options.report !== undefined
  const run = yield* Effect.gen(function* () {
    // The cluster starts at the scenario's start time, so every timestamp it writes is on the virtual clock.
    yield* (yield* VirtualClock).setTime(start)
    return yield* Simulation.run(
      scenario,
      Manifests.objects(manifests).map(({ resource, object }) => ({ resource, object })),
      catalogue,
      log.entries,
      { timeline: html }
    ).pipe(Effect.provide(cluster), Effect.provideService(DisruptionLog.DisruptionLog, log.service))
  }).pipe(
    showingProgress(options.terminal),
    Effect.provide(VirtualClock.layer),
    // Nothing reads the spans of a simulation: one per Effect.fn call, timed on the virtual clock (0.4% of a simulated
    // day). Switching them off changes no decision: spans take no part in the fibers' interleaving.
    Effect.provideService(References.TracerEnabled, false),
    // A fiber runs until it waits, not until it has run MaxOpsBeforeYield operations: with that budget, where a long
    // run was cut off, and so which fibers ran first at one virtual instant, depended on how many operations the code
    // took, and a change that only saved work (decoding an object once) launched three more nodes in a simulated day.
    // The clock cannot move while a fiber is runnable, so no wait is cut short either way.
    Effect.provideService(Scheduler.PreventSchedulerYield, true),
    withoutCallSites,
    Effect.mapError((error) => new InvalidInput({ message: error.message }))
  )
  const { timeline: _timeline, ...report } = run
  const page = html ? yield* SimulationReport.make(run, scenario.metadata?.name ?? "scenario") : ""
  if (options.report !== undefined) {
    const fs = yield* FileSystem.FileSystem
    yield* fs
      .writeFileString(options.report, page)
      .pipe(
        Effect.mapError(
          (error) => new InvalidInput({ message: `cannot write the report to ${options.report}: ${error.message}` })
        )
      )
  }
  switch (options.output) {
    case "json":
      return JSON.stringify(report, null, 2)
    case "text":
      return toText(report)
    case "html":
      return page.trimEnd()
  }
})
