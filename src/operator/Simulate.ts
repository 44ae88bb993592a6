/**
 * `simulate`: runs a scenario on the embedded cluster in virtual time and prints the timeline (JSON per the CLI
 * contract, or text). The embedded cluster itself (which KubeClient, which cloud provider) is handed in by the
 * composition root.
 */
import { Effect, type Layer } from "effect"
import { TestClock } from "effect/testing"
import * as Duration from "../api/Duration.ts"
import * as Catalog from "../cloudprovider/Catalog.ts"
import type * as InstanceType from "../cloudprovider/InstanceType.ts"
import * as Scenario from "../cluster/Scenario.ts"
import * as Simulation from "../cluster/Simulation.ts"
import * as DisruptionLog from "../controllers/disruption/DisruptionLog.ts"
import type { KubeClient } from "../kube/KubeClient.ts"
import * as Manifests from "./Manifests.ts"
import { InvalidInput, loadCatalogue } from "./Schedule.ts"

/** The embedded cluster a scenario runs on, built for a catalogue. */
export type Environment = (
  instanceTypes: ReadonlyArray<InstanceType.InstanceType>
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

/** Runs the command: read the scenario, simulate, render. */
export const run = Effect.fn("Simulate.run")(function* (
  environment: Environment,
  options: {
    readonly files: ReadonlyArray<string>
    readonly instanceTypes: string | undefined
    readonly output: "json" | "text"
    /** Default {@link defaultMaxDuration}. */
    readonly maxDuration?: MaxDuration
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
  const catalogue = options.instanceTypes === undefined ? Catalog.kwok() : yield* loadCatalogue(options.instanceTypes)
  const start = Date.parse(scenario.spec.start ?? Scenario.defaultStart)
  const log = DisruptionLog.inMemory()
  const report = yield* Effect.gen(function* () {
    // The cluster starts at the scenario's start time, so every timestamp it writes is on the virtual clock.
    yield* TestClock.setTime(start)
    return yield* Simulation.run(
      scenario,
      Manifests.objects(manifests).map(({ resource, object }) => ({ resource, object })),
      catalogue,
      log.entries
    ).pipe(Effect.provide(environment(catalogue)), Effect.provideService(DisruptionLog.DisruptionLog, log.service))
  }).pipe(
    Effect.provide(TestClock.layer({ warningDelay: "1 hour" })),
    Effect.mapError((error) => new InvalidInput({ message: error.message }))
  )
  return options.output === "json" ? JSON.stringify(report, null, 2) : toText(report)
})
