/**
 * The `controller` process of `bench:controller` (forked by Controller.bench.ts with the API server's URL): what the
 * `controller` command runs — `layers/app/ControllerApp.ts`'s Layer, every controller and the KWOK provider on the live
 * client with the default options, the command's heap growth and the image's environment (set by the fork) — without
 * leader election and the operations endpoints. It tells its parent over IPC when its cluster state has synced, and
 * answers questions about its memory and its disruption passes.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as References from "effect/References"
import * as ControllerApp from "../layers/app/ControllerApp.ts"
import * as LiveKube from "../layers/kube/live/LiveKubeClient.ts"
import * as Catalog from "../src/cloudprovider/Catalog.ts"
import * as DisruptionMetrics from "../src/controllers/disruption/DisruptionMetrics.ts"
import * as Options from "../src/operator/Options.ts"
import * as Manager from "../src/runtime/Manager.ts"
import { ClusterState } from "../src/state/ClusterState.ts"

/** What the parent asks. */
export type Request = { readonly type: "memory" } | { readonly type: "disruptionPasses" }

/** What this process tells the parent. */
export type Message =
  | { readonly type: "synced" }
  | {
      readonly type: "memory"
      readonly rssMB: number
      readonly heapMB: number
      /** The V8 heap's committed size, and memory outside it (Buffers, strings' external backing stores). */
      readonly heapTotalMB: number
      readonly externalMB: number
      readonly arrayBuffersMB: number
      /** CPU time (user + system) the process has used so far: less sensitive to a busy machine than wall time. */
      readonly cpuSeconds: number
    }
  | { readonly type: "disruptionPasses"; readonly passes: number }

const send = (message: Message) => process.send?.(message)

const megabytes = (bytes: number): number => Math.round(bytes / 1024 / 1024)

/** Full passes so far: those that evaluated every method (single-node consolidation last) or acted on a command. */
const disruptionPasses = Effect.gen(function* () {
  const single = yield* Metric.value(
    Metric.withAttributes(
      DisruptionMetrics.evaluationDurationSeconds,
      DisruptionMetrics.methodAttributes("Underutilized", "single")
    )
  )
  return single.count
})

const answer = (request: Request): Effect.Effect<Message> => {
  if (request.type === "disruptionPasses") {
    return Effect.map(disruptionPasses, (passes) => ({ type: "disruptionPasses", passes }))
  }
  return Effect.sync(() => {
    ;(globalThis as { gc?: () => void }).gc?.()
    const usage = process.memoryUsage()
    const cpu = process.cpuUsage()
    return {
      type: "memory",
      rssMB: megabytes(usage.rss),
      heapMB: megabytes(usage.heapUsed),
      heapTotalMB: megabytes(usage.heapTotal),
      externalMB: megabytes(usage.external),
      arrayBuffersMB: megabytes(usage.arrayBuffers),
      cpuSeconds: Math.round((cpu.user + cpu.system) / 10_000) / 100
    }
  })
}

const program = Effect.gen(function* () {
  const server = process.argv[2] ?? ""
  yield* ControllerApp.limitHeapGrowth
  const kube = LiveKube.layer({
    server,
    qps: Options.defaults.kubeClientQPS,
    burst: Options.defaults.kubeClientBurst
  }).pipe(Layer.orDie)
  const built = yield* Layer.build(
    ControllerApp.layer(Options.defaults, ControllerApp.kwok({ instanceTypes: Catalog.kwok() }), kube)
  )
  const manager = Context.get(built, Manager.Manager)
  const cluster = Context.get(built, ClusterState)
  // Synced: every controller started, and every cache the Manager and the cluster state know has listed.
  while (!((yield* manager.isLeader) && (yield* manager.ready) && (yield* cluster.synced))) {
    yield* Effect.sleep("50 millis")
  }
  send({ type: "synced" })
  const context = yield* Effect.context<never>()
  process.on("message", (request: Request) => {
    Effect.runFork(Effect.map(answer(request), send).pipe(Effect.provideContext(context)))
  })
  return yield* Effect.never
})

Effect.runFork(program.pipe(Effect.scoped, Effect.provideService(References.MinimumLogLevel, "Error")))
