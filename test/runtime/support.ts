/** Helpers of the runtime tests. */
import { Effect } from "effect"
import * as MemoryKube from "../../layers/kube/memory/MemoryKubeClient.ts"
import type * as KubeClient from "../../src/kube/KubeClient.ts"

export { settle } from "../support/Settle.ts"

/** Runs a test body against a fresh in-memory API server. */
export const withKube = <A, E, R>(
  body: Effect.Effect<A, E, R>
): Effect.Effect<A, E, Exclude<R, KubeClient.KubeClient | MemoryKube.MemoryApiServer>> =>
  Effect.provide(body, MemoryKube.layer())

/** A Node manifest (wire form). */
export const node = (name: string, labels?: Record<string, string>) => ({
  apiVersion: "v1",
  kind: "Node",
  metadata: labels === undefined ? { name } : { name, labels },
  spec: {}
})
