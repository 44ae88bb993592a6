import { assert, describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as MemoryKube from "../../layers/kube/memory/MemoryKubeClient.ts"
import { KubeClient } from "../../src/kube/KubeClient.ts"
import * as Resource from "../../src/kube/Resource.ts"
import * as Resources from "../../src/kube/Resources.ts"
import * as InformerCache from "../../src/runtime/InformerCache.ts"
import { node, settle } from "./support.ts"

/** A fresh API server whose client counts LISTs and WATCHes by resource, and an informer cache on that client. */
const counted = Effect.gen(function* () {
  const calls: Array<string> = []
  const memory = yield* Layer.build(MemoryKube.layer())
  const inner = Context.get(memory, KubeClient)
  const kube = KubeClient.of({
    ...inner,
    list: (resource, options) =>
      Effect.andThen(
        Effect.sync(() => calls.push(`LIST ${Resource.qualifiedName(resource)} ${options?.labelSelector ?? ""}`)),
        inner.list(resource, options)
      ),
    watch: (resource, options) =>
      Stream.suspend(() => {
        calls.push(`WATCH ${Resource.qualifiedName(resource)} ${options?.labelSelector ?? ""}`)
        return inner.watch(resource, options)
      })
  })
  const cache = yield* InformerCache.make.pipe(Effect.provideService(KubeClient, kube))
  return { calls, cache, kube: inner }
})

describe("InformerCache", () => {
  it.effect("hands out one informer per resource and selection: the first caller starts it, later ones share it", () =>
    Effect.gen(function* () {
      const { calls, cache } = yield* counted
      const first = yield* cache.informer(Resources.Nodes)
      const second = yield* cache.informer(Resources.Nodes)
      const selected = yield* cache.informer(Resources.Nodes, { labelSelector: "team=x" })
      const again = yield* cache.informer(Resources.Nodes, { labelSelector: "team=x" })
      const pods = yield* cache.informer(Resources.Pods)
      yield* settle
      assert.strictEqual(second, first)
      assert.strictEqual(again, selected)
      assert.notStrictEqual(selected, first)
      assert.deepStrictEqual(calls.sort(), [
        "LIST nodes ",
        "LIST nodes team=x",
        "LIST pods ",
        "WATCH nodes ",
        "WATCH nodes team=x",
        "WATCH pods "
      ])
      assert.deepStrictEqual(
        (yield* cache.informers).map((informer) => informer.name),
        ["nodes", "nodes(labelSelector=team=x)", "pods"]
      )
      assert.isTrue(yield* pods.hasSynced)
    })
  )

  it.effect("callers asking at once get the same informer", () =>
    Effect.gen(function* () {
      const { calls, cache } = yield* counted
      const informers = yield* Effect.all(
        Array.from({ length: 5 }, () => cache.informer(Resources.NodeClaims)),
        { concurrency: "unbounded" }
      )
      yield* settle
      assert.strictEqual(new Set(informers).size, 1)
      assert.deepStrictEqual(calls.sort(), ["LIST nodeclaims.karpenter.sh ", "WATCH nodeclaims.karpenter.sh "])
    })
  )

  it.effect("an informer outlives the scope of the caller that started it, until the cache's scope closes", () =>
    Effect.gen(function* () {
      const cacheScope = yield* Scope.make()
      const { cache, kube } = yield* counted.pipe(Scope.provide(cacheScope))
      const callerScope = yield* Scope.make()
      const informer = yield* cache.informer(Resources.Nodes).pipe(Scope.provide(callerScope))
      yield* Scope.close(callerScope, Exit.void)
      yield* kube.create(Resources.Nodes, node("n1") as never)
      yield* settle
      assert.deepStrictEqual(
        (yield* informer.list()).map((item) => item.metadata.name),
        ["n1"]
      )
      assert.strictEqual(yield* cache.informer(Resources.Nodes), informer)
      yield* Scope.close(cacheScope, Exit.void)
      yield* kube.create(Resources.Nodes, node("n2") as never)
      yield* settle
      assert.deepStrictEqual(
        (yield* informer.list()).map((item) => item.metadata.name),
        ["n1"]
      )
    })
  )

  it.effect("two descriptors of one resource are a bug: the second would be handed objects of the first's schema", () =>
    Effect.gen(function* () {
      const { cache } = yield* counted
      yield* cache.informer(Resources.Nodes)
      const lookalike = { ...Resources.Nodes }
      assert.isTrue(Exit.hasDies(yield* Effect.exit(cache.informer(lookalike))))
    })
  )
})
