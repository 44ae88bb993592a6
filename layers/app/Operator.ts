/**
 * What the `controller` and `dev` processes share: the services a Karpenter process runs on, the JSON logger, and the
 * HTTP servers for /metrics, /healthz and /readyz.
 */
import { createServer } from "node:http"
// The module, not the package index: that one loads every module of the package (Effect Cluster, a Redis client: ~8 MB).
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as References from "effect/References"
import type * as Scope from "effect/Scope"
import { EventRecorder } from "../../src/kube/EventRecorder.ts"
import * as Operations from "../../src/operator/Operations.ts"
import { InvalidInput } from "../../src/operator/Schedule.ts"
import { version } from "../../src/operator/Version.ts"
import * as InformerCache from "../../src/runtime/InformerCache.ts"
import type { Manager } from "../../src/runtime/Manager.ts"
import * as ClusterState from "../../src/state/Cluster.ts"
import * as KwokCloudProvider from "../cloudprovider/kwok/KwokCloudProvider.ts"

/**
 * The services of one Karpenter process over a KubeClient: its informer cache (shared by the cluster state, the
 * controllers and, in `dev`, the embedded control plane), events, the cloud provider (with whatever else its layer
 * provides) and the cluster state.
 */
export const servicesWith = <ROut, E, RIn>(provider: Layer.Layer<ROut, E, RIn>) =>
  Layer.mergeAll(EventRecorder.layer, provider, ClusterState.layer).pipe(Layer.provideMerge(InformerCache.layer))

/** {@link servicesWith} the KWOK provider. */
export const services = (kwok: KwokCloudProvider.Options) => servicesWith(KwokCloudProvider.layer(kwok))

/** JSON logs, one object per line, on stdout (`controller`, as upstream) or stderr (`dev`, whose stdout is for people). */
export const logging = (level: "debug" | "info" | "error", to: "stdout" | "stderr") =>
  Layer.mergeAll(
    Logger.layer([
      to === "stdout" ? Logger.withConsoleLog(Operations.jsonLogger) : Logger.withConsoleError(Operations.jsonLogger)
    ]),
    Layer.succeed(References.MinimumLogLevel, Operations.minimumLogLevel(level))
  )

/** One listener for operations endpoints. */
export interface Listener {
  readonly host: string
  readonly port: number
  readonly endpoints: ReadonlyArray<Operations.Endpoint>
}

/** A started listener: its endpoints and its URL (with the port it got, when asked for port 0). */
export interface Served {
  readonly endpoints: ReadonlyArray<Operations.Endpoint>
  readonly url: string
}

/**
 * Starts the listeners (one when metrics and probes share a port) and records `karpenter_build_info`. A port that
 * cannot be bound is the user's to fix: InvalidInput.
 */
export const serveOperations = Effect.fn("Operator.serveOperations")(function* (
  listeners: ReadonlyArray<Listener>
): Effect.fn.Return<ReadonlyArray<Served>, InvalidInput, Manager | Scope.Scope> {
  yield* Operations.recordBuildInfo({ version, goversion: process.version, goarch: process.arch, commit: "" })
  const merged: Array<Listener> = []
  for (const listener of listeners) {
    const same = merged.findIndex(
      (other) => other.port !== 0 && other.port === listener.port && other.host === listener.host
    )
    if (same === -1) merged.push(listener)
    else merged[same] = { ...merged[same]!, endpoints: [...merged[same]!.endpoints, ...listener.endpoints] }
  }
  const served: Array<Served> = []
  for (const listener of merged) {
    const server = yield* NodeHttpServer.make(() => createServer(), { host: listener.host, port: listener.port }).pipe(
      Effect.mapError(
        (error) =>
          new InvalidInput({
            message: `cannot serve ${listener.endpoints.join(" and ")} on ${listener.host}:${listener.port}: ${error.cause instanceof Error ? error.cause.message : String(error.cause)}`
          })
      )
    )
    yield* server.serve(Operations.app(listener.endpoints))
    const port = server.address._tag === "UnixPathAddress" ? listener.port : server.address.port
    const host = listener.host === "0.0.0.0" ? "127.0.0.1" : listener.host
    served.push({ endpoints: listener.endpoints, url: `http://${host}:${port}` })
  }
  return served
})
