import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as TestClock from "effect/testing/TestClock"
import * as Counter from "../../../../src/controllers/nodepool/counter/Counter.ts"
import { type ClusterView, createNodePool, getNodePool, nodePool, run, settle } from "../support.ts"

const resourcesOf = (name: string) => Effect.map(getNodePool(name), (stored) => stored.status?.resources)
const versionOf = (name: string) => Effect.map(getNodePool(name), (stored) => stored.metadata.resourceVersion)

describe("nodepool.counter", () => {
  it.effect("writes ClusterState's count over zeroed base resources, then follows it every 5 s", () => {
    const view: ClusterView = {
      synced: true,
      resources: { np: { cpu: 4000, memory: 8 * 1024 ** 3 * 1000, pods: 110_000, nodes: 2000 } }
    }
    return run(
      Effect.gen(function* () {
        yield* createNodePool(nodePool("np"))
        yield* createNodePool(nodePool("empty"))
        yield* Counter.make()
        yield* settle
        assert.deepStrictEqual(yield* resourcesOf("np"), {
          cpu: "4",
          memory: "8Gi",
          pods: "110",
          "ephemeral-storage": "0",
          nodes: "2"
        })
        assert.deepStrictEqual(yield* resourcesOf("empty"), {
          cpu: "0",
          memory: "0",
          pods: "0",
          "ephemeral-storage": "0",
          nodes: "0"
        })

        // Nothing changed: no write.
        const before = yield* versionOf("np")
        yield* TestClock.adjust("5 seconds")
        yield* settle
        assert.strictEqual(yield* versionOf("np"), before)

        // The count changes (and a GPU appears); it shows within the next 5 s, not before.
        view.resources.np = {
          cpu: 6000,
          memory: 8 * 1024 ** 3 * 1000,
          pods: 110_000,
          nodes: 3000,
          "nvidia.com/gpu": 1000
        }
        yield* TestClock.adjust("4 seconds")
        yield* settle
        assert.strictEqual((yield* resourcesOf("np"))?.cpu, "4")
        yield* TestClock.adjust("1 second")
        yield* settle
        assert.deepStrictEqual(yield* resourcesOf("np"), {
          cpu: "6",
          memory: "8Gi",
          pods: "110",
          "ephemeral-storage": "0",
          nodes: "3",
          "nvidia.com/gpu": "1"
        })

        // A resource no longer counted disappears from the status.
        view.resources.np = { cpu: 6000, nodes: 3000 }
        yield* TestClock.adjust("5 seconds")
        yield* settle
        assert.deepStrictEqual(yield* resourcesOf("np"), {
          cpu: "6",
          memory: "0",
          pods: "0",
          "ephemeral-storage": "0",
          nodes: "3"
        })
      }),
      { cluster: view }
    )
  })

  it.effect("waits for ClusterState to sync, retrying every second", () => {
    const view: ClusterView = { synced: false, resources: { np: { cpu: 1000, nodes: 1000 } } }
    return run(
      Effect.gen(function* () {
        yield* createNodePool(nodePool("np"))
        yield* Counter.make()
        yield* settle
        assert.isUndefined(yield* resourcesOf("np"))
        view.synced = true
        yield* TestClock.adjust("1 second")
        yield* settle
        assert.strictEqual((yield* resourcesOf("np"))?.nodes, "1")
      }),
      { cluster: view }
    )
  })
})
