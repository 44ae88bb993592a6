import { createServer } from "node:http"
import { NodeHttpServer } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Metric from "effect/Metric"
import * as KwokCloudProvider from "../../layers/cloudprovider/kwok/KwokCloudProvider.ts"
import * as MemoryKube from "../../layers/kube/memory/MemoryKubeClient.ts"
import * as ControlPlane from "../../src/cluster/ControlPlane.ts"
import { EventRecorder } from "../../src/kube/EventRecorder.ts"
import { KubeClient } from "../../src/kube/KubeClient.ts"
import * as Resources from "../../src/kube/Resources.ts"
import * as Controllers from "../../src/operator/Controllers.ts"
import * as Operations from "../../src/operator/Operations.ts"
import * as InformerCache from "../../src/runtime/InformerCache.ts"
import * as Manager from "../../src/runtime/Manager.ts"
import * as ClusterStateLayer from "../../src/state/Cluster.ts"
import * as S from "../controllers/support.ts"

/** The embedded cluster with the KWOK provider and every controller of a running operator. */
const operator = Layer.mergeAll(ControlPlane.layer, Controllers.operatorLayer()).pipe(
  Layer.provideMerge(Layer.mergeAll(EventRecorder.layer, ClusterStateLayer.layer)),
  Layer.provideMerge(InformerCache.layer),
  Layer.provideMerge(KwokCloudProvider.layer().pipe(Layer.provideMerge(MemoryKube.layer())))
)

/** A Manager whose readiness the test sets. */
const stubManager = (pending: { informers: ReadonlyArray<string> }) =>
  Manager.Manager.of({
    ready: Effect.sync(() => pending.informers.length === 0),
    awaitReady: Effect.void,
    readyz: Effect.suspend(() =>
      pending.informers.length === 0 ? Effect.void : Effect.fail(new Manager.NotReady({ informers: pending.informers }))
    ),
    isLeader: Effect.succeed(true)
  })

describe("Operations", S.controllerSuite, () => {
  it.effect("/metrics shows upstream's metric names after a provisioning run, each with one karpenter_ prefix", () =>
    Effect.gen(function* () {
      yield* Operations.recordBuildInfo({ version: "0.1.0", goversion: "v20", goarch: "x64", commit: "" })
      yield* S.createKwokNodeClass(S.kwokNodeClass("default"))
      yield* S.createNodePool(S.nodePool("default", { nodeClassRef: S.kwokNodeClassRef, limits: { cpu: "100" } }))
      yield* S.createPendingPod(S.pod("a"))
      yield* S.advance(60_000, 1_000)
      assert.isAbove((yield* S.listNodes).length, 0)

      const text = yield* Operations.scrape
      for (const name of [
        "karpenter_nodeclaims_created_total",
        "karpenter_nodes_created_total",
        "karpenter_pods_state",
        "karpenter_pods_startup_duration_seconds",
        "karpenter_scheduler_scheduling_duration_seconds_bucket",
        "karpenter_scheduler_unschedulable_pods_count",
        "karpenter_nodepools_usage",
        "karpenter_nodepools_limit",
        "karpenter_nodes_allocatable",
        "karpenter_nodes_total_pod_requests",
        "karpenter_cluster_state_node_count",
        "karpenter_cluster_state_synced",
        "karpenter_build_info"
      ]) {
        assert.match(text, new RegExp(`^${name}\\{?`, "m"), name)
      }
      assert.notInclude(text, "karpenter_karpenter_")
      assert.match(text, /^karpenter_nodeclaims_created_total\{[^}]*reason="provisioning"[^}]*\} 1$/m)
      assert.match(text, /^karpenter_nodes_created_total\{nodepool="default"\} 1$/m)
      assert.match(text, /^karpenter_cluster_state_synced 1$/m)
      assert.match(text, /^karpenter_pods_state\{[^}]*name="a"[^}]*phase="Running"[^}]*\} 1$/m)
      assert.match(text, /^karpenter_nodepools_limit\{nodepool="default",resource_type="cpu"\} 100$/m)
      assert.match(text, /^karpenter_pods_startup_duration_seconds_count 1$/m)
    }).pipe(Effect.provide(operator), Effect.provideService(Metric.MetricRegistry, new Map()))
  )

  it.effect("gauges of objects that went away are removed", () =>
    Effect.gen(function* () {
      const kube = yield* KubeClient
      yield* S.createKwokNodeClass(S.kwokNodeClass("default"))
      yield* S.createNodePool(S.nodePool("default", { nodeClassRef: S.kwokNodeClassRef }))
      yield* S.createPendingPod(S.pod("a"))
      yield* S.advance(60_000, 1_000)
      assert.match(yield* Operations.scrape, /^karpenter_pods_state\{[^}]*name="a"/m)
      yield* kube.delete(Resources.Pods, "a", { namespace: "default", gracePeriodSeconds: 0 })
      yield* S.advance(20_000, 1_000)
      assert.notMatch(yield* Operations.scrape, /^karpenter_pods_state\{[^}]*name="a"/m)
    }).pipe(Effect.provide(operator), Effect.provideService(Metric.MetricRegistry, new Map()))
  )

  it.effect("the operator's Manager turns ready once the cluster state has synced, and runs the controllers", () =>
    Effect.gen(function* () {
      const manager = yield* Manager.Manager
      yield* S.settle
      yield* manager.readyz
      assert.isTrue(yield* manager.isLeader)
      yield* S.createKwokNodeClass(S.kwokNodeClass("default"))
      yield* S.createNodePool(S.nodePool("default", { nodeClassRef: S.kwokNodeClassRef }))
      yield* S.createPendingPod(S.pod("a"))
      yield* S.advance(30_000, 1_000)
      assert.strictEqual((yield* S.listNodeClaims).length, 1)
    }).pipe(
      Effect.provide(
        Controllers.manager().pipe(
          Layer.provideMerge(Layer.mergeAll(EventRecorder.layer, ClusterStateLayer.layer)),
          Layer.provideMerge(InformerCache.layer),
          Layer.provideMerge(KwokCloudProvider.layer().pipe(Layer.provideMerge(MemoryKube.layer())))
        )
      )
    )
  )

  it.live("serves /metrics, /healthz and /readyz over HTTP", () =>
    Effect.gen(function* () {
      const pending = { informers: ["nodes", "pods"] as ReadonlyArray<string> }
      const server = yield* NodeHttpServer.make(() => createServer(), { host: "127.0.0.1", port: 0 })
      yield* server
        .serve(Operations.app(["metrics", "health"]))
        .pipe(Effect.provideService(Manager.Manager, stubManager(pending)))
      const port = server.address._tag === "UnixPathAddress" ? 0 : server.address.port
      const get = (path: string) =>
        Effect.promise(async () => {
          const response = await fetch(`http://127.0.0.1:${port}${path}`)
          return {
            status: response.status,
            type: response.headers.get("content-type") ?? "",
            body: await response.text()
          }
        })

      yield* Operations.recordBuildInfo({ version: "0.1.0", goversion: "v20", goarch: "x64", commit: "" })
      const metrics = yield* get("/metrics")
      assert.strictEqual(metrics.status, 200)
      assert.include(metrics.type, "text/plain")
      assert.match(metrics.body, /^karpenter_build_info\{[^}]*version="0\.1\.0"[^}]*\} 1$/m)

      assert.strictEqual((yield* get("/healthz")).status, 200)
      const notReady = yield* get("/readyz")
      assert.strictEqual(notReady.status, 503)
      assert.include(notReady.body, "nodes, pods")
      pending.informers = []
      assert.strictEqual((yield* get("/readyz")).status, 200)
      assert.strictEqual((yield* get("/nothing")).status, 404)
    }).pipe(Effect.provideService(Metric.MetricRegistry, new Map()))
  )

  it.live("a server for one kind of endpoint does not answer the other", () =>
    Effect.gen(function* () {
      const server = yield* NodeHttpServer.make(() => createServer(), { host: "127.0.0.1", port: 0 })
      yield* server
        .serve(Operations.app(["health"]))
        .pipe(Effect.provideService(Manager.Manager, stubManager({ informers: [] })))
      const port = server.address._tag === "UnixPathAddress" ? 0 : server.address.port
      const status = (path: string) =>
        Effect.promise(() => fetch(`http://127.0.0.1:${port}${path}`).then((response) => response.status))
      assert.strictEqual(yield* status("/healthz"), 200)
      assert.strictEqual(yield* status("/metrics"), 404)
    })
  )
})

describe("Operations logs", () => {
  it.effect("are one JSON object per line, shaped as upstream's: level, time, logger, message, then the fields", () =>
    Effect.gen(function* () {
      const lines: Array<string> = []
      const collect = Logger.map(Operations.jsonLogger, (line) => {
        lines.push(line)
      })
      yield* Effect.logInfo("created nodeclaim").pipe(
        Effect.annotateLogs({ controller: "provisioner", NodeClaim: { name: "default-abc" } }),
        Effect.provide(Logger.layer([collect]))
      )
      yield* Effect.logError("provisioning failed", "boom").pipe(
        Effect.annotateLogs({ logger: "leader-election" }),
        Effect.provide(Logger.layer([collect]))
      )
      assert.strictEqual(lines.length, 2)
      const [created, failed] = lines.map((line) => JSON.parse(line) as Record<string, unknown>)
      assert.deepStrictEqual(Object.keys(created!).slice(0, 4), ["level", "time", "logger", "message"])
      assert.strictEqual(created!.level, "INFO")
      assert.strictEqual(created!.logger, "controller")
      assert.strictEqual(created!.message, "created nodeclaim")
      assert.strictEqual(created!.controller, "provisioner")
      assert.deepStrictEqual(created!.NodeClaim, { name: "default-abc" })
      assert.strictEqual(failed!.level, "ERROR")
      assert.strictEqual(failed!.logger, "leader-election")
      assert.strictEqual(failed!.error, "boom")
      assert.notInclude(lines.join(""), "\n")
    })
  )

  it("maps upstream's log levels", () => {
    assert.strictEqual(Operations.minimumLogLevel("debug"), "Debug")
    assert.strictEqual(Operations.minimumLogLevel("info"), "Info")
    assert.strictEqual(Operations.minimumLogLevel("error"), "Error")
  })
})
