import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Stream } from "effect"
import * as MemoryKube from "../../../../layers/kube/memory/MemoryKubeClient.ts"
import * as KubeClient from "../../../../src/kube/KubeClient.ts"
import * as Resources from "../../../../src/kube/Resources.ts"
import { kubeClientContract } from "../../../kube/KubeClientContract.ts"

const compact = Effect.gen(function* () {
  const hooks = yield* MemoryKube.MemoryApiServer
  yield* hooks.compact
})

kubeClientContract("memory", MemoryKube.layer(), { compact })

const node = (name: string) => ({ apiVersion: "v1", kind: "Node", metadata: { name }, spec: {} })

describe("MemoryKubeClient", () => {
  const test = (
    title: string,
    body: () => Effect.Effect<void, unknown, KubeClient.KubeClient | MemoryKube.MemoryApiServer>
  ) => it.effect(title, () => Effect.provide(body(), MemoryKube.layer({ historyLimit: 3 })))

  test("injected faults fail the next calls of an operation, then calls succeed", () =>
    Effect.gen(function* () {
      const kube = yield* KubeClient.KubeClient
      const hooks = yield* MemoryKube.MemoryApiServer
      yield* hooks.failNext("list", 2)
      assert.strictEqual((yield* Effect.flip(kube.list(Resources.Nodes)))._tag, "KubeUnavailable")
      assert.strictEqual((yield* Effect.flip(kube.list(Resources.Nodes)))._tag, "KubeUnavailable")
      yield* kube.list(Resources.Nodes)
    }))

  test("dropping watches fails open watch streams", () =>
    Effect.gen(function* () {
      const kube = yield* KubeClient.KubeClient
      const hooks = yield* MemoryKube.MemoryApiServer
      const fiber = yield* Effect.forkChild(Stream.runDrain(kube.watch(Resources.Nodes)))
      yield* Effect.yieldNow
      yield* hooks.dropWatches
      const error = yield* Effect.flip(Fiber.join(fiber))
      assert.strictEqual(error._tag, "KubeUnavailable")
    }))

  test("the history is bounded: resuming beyond it is Expired", () =>
    Effect.gen(function* () {
      const kube = yield* KubeClient.KubeClient
      const first = yield* kube.create(Resources.Nodes, node("a") as never)
      for (const name of ["b", "c", "d", "e"]) yield* kube.create(Resources.Nodes, node(name) as never)
      const error = yield* Effect.flip(
        Stream.runDrain(
          Stream.take(kube.watch(Resources.Nodes, { resourceVersion: first.metadata.resourceVersion ?? "" }), 1)
        )
      )
      assert.strictEqual(error._tag, "Expired")
    }))

  test("timestamps come from the Clock", () =>
    Effect.gen(function* () {
      const kube = yield* KubeClient.KubeClient
      const created = yield* kube.create(Resources.Nodes, node("a") as never)
      assert.strictEqual(created.metadata.creationTimestamp, "1970-01-01T00:00:00Z")
    }))

  it.effect("two servers built from the same seed name objects identically", () =>
    Effect.gen(function* () {
      const makeOne = Effect.gen(function* () {
        const kube = yield* KubeClient.KubeClient
        return yield* kube.create(Resources.Nodes, { ...node(""), metadata: { generateName: "n-" } } as never)
      })
      const a = yield* Effect.provide(makeOne, MemoryKube.layer())
      const b = yield* Effect.provide(makeOne, MemoryKube.layer())
      assert.strictEqual(a.metadata.name, b.metadata.name)
      assert.strictEqual(a.metadata.uid, b.metadata.uid)
    })
  )
})
