/** Helpers of the runtime tests. */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as MemoryKube from "../../layers/kube/memory/MemoryKubeClient.ts"
import type * as KubeClient from "../../src/kube/KubeClient.ts"
import * as InformerCache from "../../src/runtime/InformerCache.ts"

export { settle } from "../support/Settle.ts"

/** Runs a test body against a fresh in-memory API server, with an informer cache on it. */
export const withKube = <A, E, R>(
  body: Effect.Effect<A, E, R>
): Effect.Effect<A, E, Exclude<R, KubeClient.KubeClient | MemoryKube.MemoryApiServer | InformerCache.InformerCache>> =>
  Effect.provide(body, InformerCache.layer.pipe(Layer.provideMerge(MemoryKube.layer())))

/** A Node manifest (wire form). */
export const node = (name: string, labels?: Record<string, string>) => ({
  apiVersion: "v1",
  kind: "Node",
  metadata: labels === undefined ? { name } : { name, labels },
  spec: {}
})
