import { assert, describe, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as TestClock from "effect/testing/TestClock"
import * as MemoryKube from "../../layers/kube/memory/MemoryKubeClient.ts"
import * as Resources from "../../src/kube/Resources.ts"
import * as Controller from "../../src/runtime/Controller.ts"
import * as Informer from "../../src/runtime/Informer.ts"
import * as Manager from "../../src/runtime/Manager.ts"
import * as Result from "../../src/runtime/Result.ts"
import * as Singleton from "../../src/runtime/Singleton.ts"
import { settle, withKube } from "./support.ts"

describe("Manager", () => {
  it.effect("is ready once every shared informer has synced; readyz names those still syncing", () =>
    withKube(
      Effect.gen(function* () {
        const server = yield* MemoryKube.MemoryApiServer
        yield* server.failNext("list", 1)
        const nodes = yield* Informer.make(Resources.Nodes)
        const pods = yield* Informer.make(Resources.Pods, { namespace: "default" })
        const manager = yield* Manager.make({ informers: [nodes, pods] })
        yield* settle
        assert.isFalse(yield* manager.ready)
        const notReady = yield* Effect.flip(manager.readyz)
        assert.deepStrictEqual(notReady.informers, ["nodes"])
        assert.strictEqual(notReady.message, "informers not synced: nodes")
        yield* TestClock.adjust("1 second")
        assert.isTrue(yield* manager.ready)
        yield* manager.readyz
        yield* manager.awaitReady
      })
    )
  )

  it.effect("counts the informers of running controllers", () =>
    withKube(
      Effect.gen(function* () {
        const server = yield* MemoryKube.MemoryApiServer
        yield* server.failNext("list", 1)
        const manager = yield* Manager.make({
          runnables: [
            Controller.make({ name: "nodes", for: Resources.Nodes, reconcile: () => Effect.succeed(Result.done) })
          ]
        })
        yield* settle
        assert.isTrue(yield* manager.isLeader)
        assert.isFalse(yield* manager.ready)
        yield* TestClock.adjust("1 second")
        assert.isTrue(yield* manager.ready)
      })
    )
  )

  it.effect("runs leader-only work only while the leader gate allows it", () =>
    Effect.gen(function* () {
      const elected = [yield* Deferred.make<void>(), yield* Deferred.make<void>()]
      const lost = [yield* Deferred.make<void>(), yield* Deferred.make<void>()]
      let round = 0
      const gate: Manager.LeaderGate = {
        elected: Effect.suspend(() => Deferred.await(elected[round]!)),
        lost: Effect.suspend(() => Deferred.await(lost[round]!)).pipe(
          Effect.tap(() =>
            Effect.sync(() => {
              round++
            })
          )
        )
      }
      const runs: Array<number> = []
      const manager = yield* Manager.make({
        runnables: [
          Singleton.make({
            name: "loop",
            interval: "10 seconds",
            run: Effect.map(Clock.currentTimeMillis, (now) => {
              runs.push(now / 1000)
              return Result.done
            })
          })
        ]
      }).pipe(Effect.provideService(Manager.LeaderGate, gate))
      yield* TestClock.adjust("30 seconds")
      assert.isFalse(yield* manager.isLeader)
      assert.deepStrictEqual(runs, [])

      yield* Deferred.succeed(elected[0]!, undefined)
      yield* settle
      assert.isTrue(yield* manager.isLeader)
      yield* TestClock.adjust("25 seconds")
      assert.deepStrictEqual(runs, [30, 40, 50])

      yield* Deferred.succeed(lost[0]!, undefined)
      yield* settle
      assert.isFalse(yield* manager.isLeader)
      yield* TestClock.adjust("1 minute")
      assert.deepStrictEqual(runs, [30, 40, 50])

      yield* Deferred.succeed(elected[1]!, undefined)
      yield* settle
      assert.isTrue(yield* manager.isLeader)
      assert.deepStrictEqual(runs, [30, 40, 50, 115])
    })
  )

  it.effect("defaults to always leader", () =>
    Effect.gen(function* () {
      const gate = yield* Manager.LeaderGate
      assert.strictEqual(gate, Manager.alwaysLeader)
      const manager = yield* Manager.make({})
      yield* settle
      assert.isTrue(yield* manager.isLeader)
      assert.isTrue(yield* manager.ready)
    })
  )
})
