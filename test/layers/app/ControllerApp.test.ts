/**
 * Issue #13's acceptance: a `controller` process (every controller, the KWOK provider, the cluster state, on the live
 * client) against the embedded API server over HTTP opens exactly one WATCH per watched resource and selection,
 * however many of its controllers read that resource.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as References from "effect/References"
import * as Stream from "effect/Stream"
import * as ControllerApp from "../../../layers/app/ControllerApp.ts"
import * as LiveKube from "../../../layers/kube/live/LiveKubeClient.ts"
import * as MemoryKube from "../../../layers/kube/memory/MemoryKubeClient.ts"
import * as KWOKNodeClass from "../../../src/api/KWOKNodeClass.ts"
import * as Catalog from "../../../src/cloudprovider/Catalog.ts"
import * as HttpApi from "../../../src/cluster/http/HttpApi.ts"
import { KubeClient } from "../../../src/kube/KubeClient.ts"
import * as Resource from "../../../src/kube/Resource.ts"
import * as Resources from "../../../src/kube/Resources.ts"
import * as Options from "../../../src/operator/Options.ts"
import * as InformerCache from "../../../src/runtime/InformerCache.ts"
import * as Manager from "../../../src/runtime/Manager.ts"
import * as Stub from "../kube/live/Stub.ts"

/** The backend's client, counting the WATCH requests the façade serves with it by resource and selection. */
const countingWatches = (kube: KubeClient["Service"]) => {
  const watches = new Map<string, number>()
  const client = KubeClient.of({
    ...kube,
    watch: (resource, options) =>
      Stream.suspend(() => {
        const key = [
          Resource.qualifiedName(resource),
          options?.namespace ?? "",
          options?.labelSelector ?? "",
          options?.fieldSelector ?? ""
        ].join(" ")
        watches.set(key, (watches.get(key) ?? 0) + 1)
        return kube.watch(resource, options)
      })
  })
  return { client, watches }
}

describe("controller process", () => {
  it.live(
    "opens one WATCH per watched resource and selection, shared by every controller",
    () =>
      Effect.gen(function* () {
        const memory = yield* Layer.build(MemoryKube.layer())
        const backend = Context.get(memory, KubeClient)
        const requests = countingWatches(backend)
        const served = yield* HttpApi.serve().pipe(Effect.provideService(KubeClient, requests.client))
        yield* backend.create(Resources.KWOKNodeClasses, {
          apiVersion: KWOKNodeClass.apiVersion,
          kind: KWOKNodeClass.kind,
          metadata: { name: "default" },
          spec: {}
        } as never)

        const live = LiveKube.layer({ server: served.url, requestTimeout: "5 seconds" }).pipe(Layer.orDie)
        const process = yield* Layer.build(
          ControllerApp.layer(Options.defaults, ControllerApp.kwok({ instanceTypes: Catalog.kwok() }), live)
        )
        const manager = Context.get(process, Manager.Manager)
        // Every controller started; then every informer of the process has listed, and is watching.
        yield* Stub.eventually(manager.isLeader)
        const informers = yield* Context.get(process, InformerCache.InformerCache).informers
        yield* Effect.forEach(informers, (informer) => informer.synced, { discard: true })
        // The cache's informers, and the KWOK provider's own watch on its instance records (the "cloud" side).
        yield* Stub.until(() => [...requests.watches.values()].reduce((sum, n) => sum + n, 0) >= informers.length + 1)

        const watched = [...requests.watches].sort(([a], [b]) => (a < b ? -1 : 1))
        // Nodes, NodeClaims, pods, NodePools, the NodeClass, the other kinds the cluster state reads, the
        // VolumeAttachments termination waits for, and the KWOK instance records.
        assert.strictEqual(watched.length, 14, JSON.stringify(watched))
        assert.deepStrictEqual(
          watched.filter(([, count]) => count !== 1),
          []
        )
      }).pipe(Effect.provideService(References.MinimumLogLevel, "Warn")),
    { timeout: 30_000 }
  )
})
