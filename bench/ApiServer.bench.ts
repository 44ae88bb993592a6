/**
 * The in-memory API server at the embedded cluster's target size: 1,000 nodes and 10,000 pods, through the full
 * KubeClient path (validation on write, decoding on read).
 */
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import * as MemoryKube from "../layers/kube/memory/MemoryKubeClient.ts"
import * as KubeClient from "../src/kube/KubeClient.ts"
import * as Resources from "../src/kube/Resources.ts"
import { measure, type Result } from "./Harness.ts"

const nodeCount = 1_000
const podCount = 10_000

const node = (i: number) => ({
  apiVersion: "v1",
  kind: "Node",
  metadata: {
    name: `node-${i}`,
    labels: { "karpenter.sh/nodepool": "default", "topology.kubernetes.io/zone": `zone-${i % 4}` }
  },
  spec: { providerID: `kwok://node-${i}` },
  status: {
    allocatable: { cpu: "16", memory: "64Gi", pods: "110" },
    capacity: { cpu: "16", memory: "64Gi", pods: "110" }
  }
})

const pod = (i: number) => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name: `pod-${i}`, namespace: "default", labels: { app: `app-${i % 50}` } },
  spec: {
    nodeName: `node-${i % nodeCount}`,
    containers: [{ name: "app", image: "app:1", resources: { requests: { cpu: "100m", memory: "128Mi" } } }]
  }
})

const run = <A, E>(program: Effect.Effect<A, E, KubeClient.KubeClient | MemoryKube.MemoryApiServer>) =>
  Effect.runPromise(Effect.scoped(Effect.provide(program, MemoryKube.layer({ historyLimit: 20_000 }))))

const populate = Effect.gen(function* () {
  const kube = yield* KubeClient.KubeClient
  for (let i = 0; i < nodeCount; i++) yield* kube.create(Resources.Nodes, node(i) as never)
  for (let i = 0; i < podCount; i++) yield* kube.create(Resources.Pods, pod(i) as never)
})

/** Create, update, list and watch throughput, and the heap of a populated server. */
export const runApiServer = async (): Promise<Array<Result>> => {
  const suite = "apiserver"
  const results: Array<Result> = []
  results.push(
    await measure(suite, `create ${nodeCount} nodes + ${podCount} pods`, () =>
      run(populate).then(() => nodeCount + podCount)
    )
  )
  // The cases below time only their own operations on a server populated once.
  const gc = (globalThis as { gc?: () => void }).gc
  gc?.()
  const heapBefore = process.memoryUsage().heapUsed
  const populated = await Effect.runPromise(
    Effect.provide(
      Effect.gen(function* () {
        yield* populate
        return { kube: yield* KubeClient.KubeClient, hooks: yield* MemoryKube.MemoryApiServer }
      }),
      MemoryKube.layer({ historyLimit: 20_000 })
    )
  )
  const { kube } = populated
  gc?.()
  results.push({
    suite,
    name: `heap held by a server with ${nodeCount} nodes + ${podCount} pods${gc === undefined ? " (no --expose-gc)" : ""}`,
    medianMs: 0,
    operations: 0,
    heapMiB: (process.memoryUsage().heapUsed - heapBefore) / 1024 / 1024
  })
  let round = 0
  results.push(
    await measure(suite, `merge-patch status of ${podCount} pods`, async () => {
      round += 1
      const message = `round-${round}`
      await Effect.runPromise(
        Effect.forEach(
          Array.from({ length: podCount }, (_, i) => i),
          (i) =>
            kube.patch(
              Resources.Pods,
              `pod-${i}`,
              { type: "merge", patch: { status: { phase: "Running", message } } },
              { namespace: "default", subresource: "status" }
            ),
          { discard: true }
        )
      )
      return podCount
    })
  )
  results.push(
    await measure(suite, `list ${podCount} pods (decoded)`, () =>
      Effect.runPromise(kube.list(Resources.Pods)).then((page) => page.items.length)
    )
  )
  results.push(
    await measure(suite, "list pods of one node (field selector)", () =>
      Effect.runPromise(kube.list(Resources.Pods, { fieldSelector: "spec.nodeName=node-7" })).then(() => 1)
    )
  )
  results.push(
    await measure(suite, `watch: deliver ${podCount} label updates to one watcher`, () =>
      Effect.runPromise(
        Effect.scoped(
          Effect.gen(function* () {
            const from = (yield* kube.list(Resources.Nodes, { limit: 1 })).resourceVersion
            const watcher = yield* Effect.forkChild(
              Stream.runDrain(Stream.take(kube.watch(Resources.Pods, { resourceVersion: from }), podCount))
            )
            for (let i = 0; i < podCount; i++) {
              yield* kube.patch(
                Resources.Pods,
                `pod-${i}`,
                { type: "merge", patch: { metadata: { labels: { round: from } } } },
                { namespace: "default" }
              )
            }
            yield* Fiber.join(watcher)
            return podCount
          })
        )
      )
    )
  )
  return results
}
