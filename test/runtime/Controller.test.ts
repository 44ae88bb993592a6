import { assert, describe, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Metric from "effect/Metric"
import * as PubSub from "effect/PubSub"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/testing/TestClock"
import type { Node } from "../../src/api/Node.ts"
import type { Pod } from "../../src/api/Pod.ts"
import { KubeClient } from "../../src/kube/KubeClient.ts"
import * as KubeError from "../../src/kube/KubeError.ts"
import * as Resources from "../../src/kube/Resources.ts"
import * as Controller from "../../src/runtime/Controller.ts"
import * as Indices from "../../src/runtime/Indices.ts"
import * as Informer from "../../src/runtime/Informer.ts"
import * as InformerCache from "../../src/runtime/InformerCache.ts"
import * as Result from "../../src/runtime/Result.ts"
import { node, settle, withKube } from "./support.ts"

class Boom extends Data.TaggedError("Boom")<{ readonly attempt: number }> {}

describe("Controller", () => {
  it.effect("a failing reconcile is retried with growing backoff; a success resets it", () =>
    withKube(
      Effect.gen(function* () {
        const attempts: Array<number> = []
        const controller = yield* Controller.make({
          name: "failing",
          for: Resources.Nodes,
          reconcile: () =>
            Effect.gen(function* () {
              attempts.push(yield* Clock.currentTimeMillis)
              // Fails 5 times, succeeds once, then fails again.
              if (attempts.length !== 6) return yield* new Boom({ attempt: attempts.length })
              return Result.done
            })
        })
        yield* settle
        yield* controller.enqueue("k")
        yield* settle
        assert.deepStrictEqual(attempts, [0])
        yield* TestClock.adjust("4 millis")
        assert.deepStrictEqual(attempts, [0])
        yield* TestClock.adjust("1 milli")
        assert.deepStrictEqual(attempts, [0, 5])
        // 5 ms × 2^n: 5, 10, 20, 40 after the failures at 0, 5, 15, 35.
        yield* TestClock.adjust("70 millis")
        assert.deepStrictEqual(attempts, [0, 5, 15, 35, 75])
        yield* TestClock.adjust("80 millis")
        assert.deepStrictEqual(attempts, [0, 5, 15, 35, 75, 155])
        // The success at 155 forgot the failures: the next failure waits 5 ms again.
        yield* controller.enqueue("k")
        yield* settle
        yield* TestClock.adjust("5 millis")
        assert.deepStrictEqual(attempts, [0, 5, 15, 35, 75, 155, 155, 160])
        const total = (result: string) =>
          Effect.map(
            Metric.value(Metric.withAttributes(Controller.reconcileTotal, { controller: "failing", result })),
            (state) => state.count
          )
        assert.deepStrictEqual([yield* total("error"), yield* total("success")], [7, 1])
        const errors = yield* Metric.value(
          Metric.withAttributes(Controller.reconcileErrorsTotal, { controller: "failing" })
        )
        assert.strictEqual(errors.count, 7)
      })
    )
  )

  it.effect(
    "the error policy: a Conflict runs the key again at once, a NotFound ends it, anything else backs off",
    () =>
      withKube(
        Effect.gen(function* () {
          const attempts: Array<string> = []
          const failures: Record<string, Array<KubeError.KubeError | Boom>> = {
            conflict: [new KubeError.Conflict({ resource: "nodes", name: "conflict", message: "changed" })],
            gone: [new KubeError.NotFound({ resource: "nodes", name: "gone", message: "not found" })],
            broken: [new Boom({ attempt: 1 })]
          }
          const controller = yield* Controller.make({
            name: "policy",
            for: Resources.Nodes,
            reconcile: (key) =>
              Effect.gen(function* () {
                attempts.push(`${key}@${yield* Clock.currentTimeMillis}`)
                const failure = failures[key]?.shift()
                if (failure !== undefined) return yield* Effect.fail(failure)
                return Result.done
              })
          })
          yield* settle
          for (const key of ["conflict", "gone", "broken"]) yield* controller.enqueue(key)
          yield* settle
          assert.deepStrictEqual([...attempts].sort(), ["broken@0", "conflict@0", "conflict@0", "gone@0"])
          yield* TestClock.adjust("1 minute")
          assert.deepStrictEqual(attempts.slice(4), ["broken@5"])
          assert.strictEqual(yield* controller.queue.numRequeues("conflict"), 0)
          const total = (result: string) =>
            Effect.map(
              Metric.value(Metric.withAttributes(Controller.reconcileTotal, { controller: "policy", result })),
              (state) => state.count
            )
          assert.deepStrictEqual(
            [yield* total("success"), yield* total("requeue_after"), yield* total("error")],
            [3, 1, 1]
          )
        })
      )
  )

  it.effect("a watch may map through an index of a cache", () =>
    withKube(
      Effect.gen(function* () {
        const kube = yield* KubeClient
        const seen: Array<string> = []
        const pods = yield* InformerCache.informer(Resources.Pods)
        yield* Controller.make({
          name: "pods-of-nodes",
          for: Resources.Pods,
          watches: [
            {
              source: Resources.Nodes,
              map: (node: Node) => Controller.keysByIndex(pods, Indices.podNodeName, node.metadata.name)
            }
          ],
          reconcile: (key) =>
            Effect.sync(() => {
              seen.push(key)
              return Result.done
            })
        })
        const bound = (name: string, nodeName: string) => ({
          apiVersion: "v1",
          kind: "Pod",
          metadata: { name, namespace: "default" },
          spec: { nodeName, containers: [{ name: "c", image: "i" }] }
        })
        yield* kube.create(Resources.Pods, bound("p1", "n1") as never, { namespace: "default" })
        yield* kube.create(Resources.Pods, bound("p2", "n2") as never, { namespace: "default" })
        yield* settle
        seen.length = 0
        yield* kube.create(Resources.Nodes, node("n2") as never)
        yield* settle
        assert.deepStrictEqual(seen, ["default/p2"])
      })
    )
  )

  it.effect("the backoff is configurable per controller and capped", () =>
    withKube(
      Effect.gen(function* () {
        const attempts: Array<number> = []
        const controller = yield* Controller.make({
          name: "slow-backoff",
          for: Resources.Nodes,
          backoff: { baseDelay: "1 second", maxDelay: "5 seconds" },
          reconcile: () =>
            Effect.flatMap(Clock.currentTimeMillis, (now) => {
              attempts.push(now / 1000)
              return Effect.fail(new Boom({ attempt: attempts.length }))
            })
        })
        yield* settle
        yield* controller.enqueue("k")
        yield* TestClock.adjust("30 seconds")
        assert.deepStrictEqual(attempts, [0, 1, 3, 7, 12, 17, 22, 27])
      })
    )
  )

  it.effect("requeueAfter fires exactly at the requested virtual time", () =>
    withKube(
      Effect.gen(function* () {
        const runs: Array<number> = []
        const controller = yield* Controller.make({
          name: "periodic",
          for: Resources.Nodes,
          reconcile: () =>
            Effect.flatMap(Clock.currentTimeMillis, (now) => {
              runs.push(now)
              return Effect.succeed(Result.requeueAfter("30 seconds"))
            })
        })
        yield* settle
        yield* controller.enqueue("k")
        yield* settle
        assert.deepStrictEqual(runs, [0])
        yield* TestClock.adjust("29999 millis")
        assert.deepStrictEqual(runs, [0])
        yield* TestClock.adjust("1 milli")
        assert.deepStrictEqual(runs, [0, 30_000])
        yield* TestClock.adjust("30 seconds")
        assert.deepStrictEqual(runs, [0, 30_000, 60_000])
      })
    )
  )

  it.effect("a key is never reconciled by two workers at once; re-added meanwhile, it runs again after", () =>
    withKube(
      Effect.gen(function* () {
        const active = new Map<string, number>()
        let mostAtOnce = 0
        let mostOfOneKey = 0
        const runs: Array<string> = []
        const controller = yield* Controller.make({
          name: "exclusive",
          for: Resources.Nodes,
          concurrency: 4,
          reconcile: (key) =>
            Effect.gen(function* () {
              runs.push(`${key}@${yield* Clock.currentTimeMillis}`)
              active.set(key, (active.get(key) ?? 0) + 1)
              mostOfOneKey = Math.max(mostOfOneKey, active.get(key)!)
              mostAtOnce = Math.max(
                mostAtOnce,
                Array.from(active.values()).reduce((a, b) => a + b, 0)
              )
              yield* Effect.sleep("1 second")
              active.set(key, active.get(key)! - 1)
              return Result.done
            })
        })
        yield* settle
        for (const key of ["a", "b", "c", "d"]) yield* controller.enqueue(key)
        yield* settle
        // "a" is being processed: adding it again marks it dirty, it does not go to an idle worker.
        for (let i = 0; i < 5; i++) yield* controller.enqueue("a")
        yield* settle
        assert.strictEqual(yield* controller.queue.length, 0)
        yield* TestClock.adjust("1 second")
        yield* TestClock.adjust("1 second")
        assert.deepStrictEqual(runs, ["a@0", "b@0", "c@0", "d@0", "a@1000"])
        assert.strictEqual(mostOfOneKey, 1)
        assert.strictEqual(mostAtOnce, 4)
      })
    )
  )

  it.effect("a key added many times while waiting is reconciled once", () =>
    withKube(
      Effect.gen(function* () {
        const runs: Array<string> = []
        const release = yield* Deferred.make<void>()
        const controller = yield* Controller.make({
          name: "dedup",
          for: Resources.Nodes,
          reconcile: (key) =>
            Effect.gen(function* () {
              runs.push(key)
              if (key === "blocker") yield* Deferred.await(release)
              return Result.done
            })
        })
        yield* settle
        yield* controller.enqueue("blocker")
        yield* settle
        for (let i = 0; i < 10; i++) yield* controller.enqueue("x")
        assert.strictEqual(yield* controller.queue.length, 1)
        yield* Deferred.succeed(release, undefined)
        yield* settle
        assert.deepStrictEqual(runs, ["blocker", "x"])
      })
    )
  )

  it.effect("closing the scope interrupts every worker", () =>
    withKube(
      Effect.gen(function* () {
        const started: Array<string> = []
        const interrupted: Array<string> = []
        const scope = yield* Scope.make()
        const controller = yield* Controller.make({
          name: "blocked",
          for: Resources.Nodes,
          concurrency: 3,
          reconcile: (key) =>
            Effect.sync(() => started.push(key)).pipe(
              Effect.andThen(Effect.never),
              Effect.onInterrupt(() => Effect.sync(() => interrupted.push(key)))
            )
        }).pipe(Scope.provide(scope))
        yield* settle
        for (const key of ["a", "b", "c", "d"]) yield* controller.enqueue(key)
        yield* settle
        assert.deepStrictEqual(started, ["a", "b", "c"])
        yield* Scope.close(scope, Exit.void)
        assert.deepStrictEqual(interrupted.sort(), ["a", "b", "c"])
        yield* settle
        assert.deepStrictEqual(started, ["a", "b", "c"])
      })
    )
  )

  it.effect("reconciles every existing object at start, then each change, with the cached object", () =>
    withKube(
      Effect.gen(function* () {
        const kube = yield* KubeClient
        yield* kube.create(Resources.Nodes, node("n1") as never)
        yield* kube.create(Resources.Nodes, node("n2") as never)
        const seen: Array<string> = []
        yield* Controller.make({
          name: "nodes",
          for: Resources.Nodes,
          reconcile: (key, object: Node | undefined) =>
            Effect.sync(() => {
              seen.push(`${key}:${object?.metadata.labels?.color ?? (object === undefined ? "gone" : "-")}`)
              return Result.done
            })
        })
        yield* settle
        assert.deepStrictEqual(seen, ["n1:-", "n2:-"])
        yield* kube.patch(Resources.Nodes, "n1", { type: "merge", patch: { metadata: { labels: { color: "red" } } } })
        yield* settle
        yield* kube.delete(Resources.Nodes, "n2")
        yield* settle
        assert.deepStrictEqual(seen, ["n1:-", "n2:-", "n1:red", "n2:gone"])
      })
    )
  )

  it.effect("takes an informer that is already running and synced, and reconciles what it holds", () =>
    withKube(
      Effect.gen(function* () {
        const kube = yield* KubeClient
        yield* kube.create(Resources.Nodes, node("n1") as never)
        const informer = yield* Informer.make(Resources.Nodes)
        yield* informer.synced
        yield* settle
        const seen: Array<string> = []
        const controller = yield* Controller.make({
          name: "shared",
          for: informer,
          reconcile: (key) =>
            Effect.sync(() => {
              seen.push(key)
              return Result.done
            })
        })
        assert.strictEqual(controller.informer, informer)
        yield* settle
        assert.deepStrictEqual(seen, ["n1"])
      })
    )
  )

  /** A controller of Nodes that watches Pods through `map`; what it reconciled, in order. */
  const reconcilingNodesOfPods = (map: (pod: Pod) => ReadonlyArray<string>) =>
    Effect.gen(function* () {
      const seen: Array<string> = []
      yield* Controller.make({
        name: "node-pods",
        for: Resources.Nodes,
        watches: [{ source: Resources.Pods, map }],
        reconcile: (key) =>
          Effect.sync(() => {
            seen.push(key)
            return Result.done
          })
      })
      return seen
    })

  const pod = (name: string, labels?: Record<string, string>) => ({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: "default", ...(labels === undefined ? {} : { labels }) },
    spec: { containers: [{ name: "c", image: "i" }] }
  })

  it.effect("watches map related objects to keys (old and new owner on a move)", () =>
    withKube(
      Effect.gen(function* () {
        const kube = yield* KubeClient
        yield* kube.create(Resources.Nodes, node("n1") as never)
        yield* kube.create(Resources.Nodes, node("n2") as never)
        const seen = yield* reconcilingNodesOfPods((pod) =>
          pod.metadata.labels?.node === undefined ? [] : [pod.metadata.labels.node]
        )
        yield* settle
        assert.deepStrictEqual(seen, ["n1", "n2"])
        yield* kube.create(Resources.Pods, pod("p", { node: "n1" }) as never, { namespace: "default" })
        yield* settle
        assert.deepStrictEqual(seen, ["n1", "n2", "n1"])
        yield* kube.patch(
          Resources.Pods,
          "p",
          { type: "merge", patch: { metadata: { labels: { node: "n2" } } } },
          { namespace: "default" }
        )
        yield* settle
        assert.deepStrictEqual(seen.slice(3).sort(), ["n1", "n2"])
      })
    )
  )

  it.effect(
    "a watch queues a batch's keys in the changes' order, whether its map answers at once or as an Effect",
    () =>
      withKube(
        Effect.gen(function* () {
          const kube = yield* KubeClient
          for (const name of ["n1", "n2", "n3", "n4"]) yield* kube.create(Resources.Nodes, node(name) as never)
          // A pod informer whose changes the test publishes, several at once, as one batch.
          const pods = yield* InformerCache.informer(Resources.Pods)
          const published = yield* PubSub.unbounded<Informer.Change<Pod>>()
          const source: Informer.Informer<Pod> = {
            ...pods,
            subscribeBatches: Effect.map(PubSub.subscribe(published), PubSub.takeAll)
          }
          const seen: Array<string> = []
          yield* Controller.make({
            name: "node-pods",
            for: Resources.Nodes,
            watches: [
              {
                source,
                map: (pod: Pod) => {
                  const target = pod.metadata.labels?.node ?? ""
                  if (pod.metadata.name === "bad") throw new Error("a bug in map")
                  return pod.metadata.name?.startsWith("later") ? Effect.succeed([target]) : [target]
                }
              }
            ],
            reconcile: (key) =>
              Effect.sync(() => {
                seen.push(key)
                return Result.done
              })
          })
          yield* settle
          seen.length = 0
          const changes = [
            ["a", "n3"],
            ["later-b", "n1"],
            ["bad", "n4"],
            ["c", "n4"],
            ["later-d", "n2"]
          ].map(
            ([name, target]): Informer.Change<Pod> => ({
              type: "ADDED",
              object: pod(name!, { node: target! }) as unknown as Pod
            })
          )
          yield* PubSub.publishAll(published, changes)
          yield* settle
          assert.deepStrictEqual(seen, ["n3", "n1", "n4", "n2"])
        })
      )
  )

  it.effect("a watch whose map throws skips that change and keeps mapping the next ones", () =>
    withKube(
      Effect.gen(function* () {
        const kube = yield* KubeClient
        yield* kube.create(Resources.Nodes, node("n1") as never)
        const seen = yield* reconcilingNodesOfPods((pod) => {
          if (pod.metadata.name === "bad") throw new Error("a bug in map")
          return ["n1"]
        })
        yield* settle
        yield* kube.create(Resources.Pods, pod("bad") as never, { namespace: "default" })
        yield* settle
        assert.deepStrictEqual(seen, ["n1"])
        yield* kube.create(Resources.Pods, pod("good") as never, { namespace: "default" })
        yield* settle
        assert.deepStrictEqual(seen, ["n1", "n1"])
      })
    )
  )
})
