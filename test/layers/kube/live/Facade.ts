/**
 * The live client against the embedded cluster's HTTP façade: an in-memory API server served over real HTTP by
 * `HttpApi.serve`, with the façade's fault switch, and a live KubeClient talking to it.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as LiveKube from "../../../../layers/kube/live/LiveKubeClient.ts"
import * as MemoryKube from "../../../../layers/kube/memory/MemoryKubeClient.ts"
import * as Faults from "../../../../src/cluster/http/Faults.ts"
import * as HttpApi from "../../../../src/cluster/http/HttpApi.ts"
import * as KubeClient from "../../../../src/kube/KubeClient.ts"

/** What the façade layer provides besides the live client. */
export type Services = KubeClient.KubeClient | MemoryKube.MemoryApiServer | Faults.Faults | Backend

/** The in-memory server's own client (no HTTP), to see the stored truth. */
export class Backend extends Context.Service<Backend, KubeClient.KubeClient["Service"]>()(
  "test/layers/kube/live/Facade/Backend"
) {}

/** A fresh in-memory cluster behind the façade and a live client on it (default: short timeouts and retry delays). */
export const layer = (options?: {
  readonly live?: LiveKube.Options
  readonly memory?: MemoryKube.Options
}): Layer.Layer<Services> =>
  Layer.effectContext(
    Effect.gen(function* () {
      const memory = yield* Layer.build(Layer.merge(MemoryKube.layer(options?.memory), Faults.Faults.layer))
      const served = yield* Effect.provide(HttpApi.serve(), memory)
      const kube = yield* LiveKube.make({
        server: served.url,
        requestTimeout: "5 seconds",
        retryDelay: "10 millis",
        maxRetryDelay: "100 millis",
        ...options?.live
      })
      return Context.make(KubeClient.KubeClient, kube).pipe(
        Context.add(MemoryKube.MemoryApiServer, Context.get(memory, MemoryKube.MemoryApiServer)),
        Context.add(Faults.Faults, Context.get(memory, Faults.Faults)),
        Context.add(Backend, Context.get(memory, KubeClient.KubeClient))
      )
    }).pipe(Effect.orDie)
  )
