/**
 * What operators scrape and probe: Prometheus `/metrics` (upstream's metric names, each with exactly one `karpenter_`
 * prefix — the names carry it already, so the formatter adds none), `/healthz` (200 while the process serves) and
 * `/readyz` (the Manager's readiness: 200 once the caches have synced, else 503 naming what is still syncing).
 * Upstream serves metrics on METRICS_PORT and the probes on HEALTH_PROBE_PORT; {@link app} serves either or both.
 * Logs are one JSON object per line, shaped as upstream's zap output ({@link jsonLogger}).
 */
import * as Effect from "effect/Effect"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Logger from "effect/Logger"
import type * as LogLevel from "effect/LogLevel"
import * as Metric from "effect/Metric"
import * as PrometheusMetrics from "effect/observability/PrometheusMetrics"
import type * as Informer from "../runtime/Informer.ts"
import { Manager } from "../runtime/Manager.ts"
import * as ScrapeSeries from "../runtime/ScrapeSeries.ts"
import { ClusterState } from "../state/ClusterState.ts"

/** `karpenter_build_info{version,goversion,goarch,commit}`: always 1; `goversion` carries the Node version. */
export const buildInfo = Metric.gauge("karpenter_build_info", {
  description: "A metric with a constant '1' value labeled by version from which karpenter was built."
})

/** Sets {@link buildInfo} for this process. */
export const recordBuildInfo = (info: {
  readonly version: string
  readonly goversion: string
  readonly goarch: string
  readonly commit: string
}): Effect.Effect<void> => Metric.update(Metric.withAttributes(buildInfo, { ...info }), 1)

/** The Prometheus text exposition of every metric updated so far and of the series rendered at scrape time. */
export const scrape: Effect.Effect<string> = ScrapeSeries.withSeries(PrometheusMetrics.format())

/** Which endpoints a server answers: `metrics` is `/metrics`, `health` is `/healthz` and `/readyz`. */
export type Endpoint = "metrics" | "health"

const notFound = HttpServerResponse.text("404 page not found\n", { status: 404 })

/** The HTTP handler for `endpoints`. */
export const app = (
  endpoints: ReadonlyArray<Endpoint>
): Effect.Effect<HttpServerResponse.HttpServerResponse, never, HttpServerRequest.HttpServerRequest | Manager> =>
  Effect.gen(function* () {
    const request = yield* HttpServerRequest.HttpServerRequest
    if (request.method !== "GET" && request.method !== "HEAD") return notFound
    const path = request.url.split("?")[0]
    if (path === "/metrics" && endpoints.includes("metrics")) {
      return HttpServerResponse.text(yield* scrape, { contentType: "text/plain; version=0.0.4; charset=utf-8" })
    }
    if (path === "/healthz" && endpoints.includes("health")) return HttpServerResponse.text("ok")
    if (path === "/readyz" && endpoints.includes("health")) {
      const manager = yield* Manager
      return yield* manager.readyz.pipe(
        Effect.as(HttpServerResponse.text("ok")),
        Effect.catchTag("NotReady", (error) =>
          Effect.succeed(HttpServerResponse.text(`${error.message}\n`, { status: 503 }))
        )
      )
    }
    return notFound
  })

/**
 * Readiness of the cluster state, for the Manager's shared informers: synced once the cluster state's caches have
 * listed (it then stays so, as an informer does, while NodeClaims come and go). Polled every second until then.
 */
export const clusterStateReadiness: Effect.Effect<Informer.Syncable, never, ClusterState> = Effect.gen(function* () {
  const cluster = yield* ClusterState
  let synced = false
  const hasSynced = Effect.suspend(() =>
    synced
      ? Effect.succeed(true)
      : Effect.map(cluster.synced, (now) => {
          synced = now
          return now
        })
  )
  return {
    name: "cluster-state",
    hasSynced,
    synced: Effect.gen(function* () {
      while (!(yield* hasSynced)) yield* Effect.sleep("1 second")
    })
  }
})

/** The Effect log level for upstream's LOG_LEVEL (debug, info, error). */
export const minimumLogLevel = (level: "debug" | "info" | "error"): LogLevel.LogLevel =>
  level === "debug" ? "Debug" : level === "info" ? "Info" : "Error"

const text = (value: unknown): string =>
  typeof value === "string" ? value : value instanceof Error ? value.message : JSON.stringify(value)

/**
 * One log entry as upstream's zap JSON: `level` (upper case: INFO, ERROR, ...), `time`, `logger`, `message`, then the annotations (the
 * controller name, the objects a message is about) and `error` for extra message parts or a failure's cause.
 */
export const jsonLogger: Logger.Logger<unknown, string> = Logger.map(Logger.formatStructured, (entry) => {
  const [message, ...rest] = Array.isArray(entry.message) ? entry.message : [entry.message]
  const { logger, ...annotations } = entry.annotations
  const errors = [...rest.map(text), ...(entry.cause === undefined ? [] : [entry.cause])]
  return JSON.stringify({
    level: entry.level,
    time: entry.timestamp,
    logger: typeof logger === "string" ? logger : "controller",
    message: text(message),
    ...annotations,
    ...(errors.length === 0 ? {} : { error: errors.join("; ") })
  })
})
