import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/testing/TestClock"
import * as fc from "fast-check"
import * as MemoryKube from "../../layers/kube/memory/MemoryKubeClient.ts"
import type { Node } from "../../src/api/Node.ts"
import { KubeClient } from "../../src/kube/KubeClient.ts"
import * as Resource from "../../src/kube/Resource.ts"
import * as Resources from "../../src/kube/Resources.ts"
import * as Indices from "../../src/runtime/Indices.ts"
import * as Informer from "../../src/runtime/Informer.ts"
import * as Property from "../support/Property.ts"
import { node, settle, withKube } from "./support.ts"

const label = (name: string, labels: Record<string, string>) =>
  Effect.flatMap(Effect.service(KubeClient), (kube) =>
    kube.patch(Resources.Nodes, name, { type: "merge", patch: { metadata: { labels } } })
  )

const create = (name: string, labels?: Record<string, string>) =>
  Effect.flatMap(Effect.service(KubeClient), (kube) => kube.create(Resources.Nodes, node(name, labels) as never))

const remove = (name: string) =>
  Effect.flatMap(Effect.service(KubeClient), (kube) => kube.delete(Resources.Nodes, name))

/** Records every change as `TYPE key` from now on. */
const record = (informer: Informer.Informer<Node>): Effect.Effect<Array<string>, never, Scope.Scope> =>
  Effect.gen(function* () {
    const seen: Array<string> = []
    const changes = yield* informer.subscribe
    yield* Effect.forkScoped(
      Stream.runForEach(changes, (change) =>
        Effect.sync(() => {
          seen.push(`${change.type} ${Resource.keyOf(change.object)}`)
        })
      )
    )
    return seen
  })

/** The server's objects, as `name@resourceVersion`, sorted. */
const serverState = Effect.flatMap(Effect.service(KubeClient), (kube) =>
  Effect.map(kube.list(Resources.Nodes), (page) =>
    page.items.map((item) => `${item.metadata.name}@${item.metadata.resourceVersion}`).sort()
  )
)

const cacheState = (informer: Informer.Informer<Node>) =>
  Effect.map(informer.list(), (items) => items.map((item) => `${item.metadata.name}@${item.metadata.resourceVersion}`))

const hooks = Effect.service(MemoryKube.MemoryApiServer)

/** A client recording each list request (`limit=N`, `continued`, or `unpaged`); `afterFirst` runs after the first. */
const recordingLists = (kube: KubeClient["Service"], afterFirst: Effect.Effect<void> = Effect.void) => {
  const lists: Array<string> = []
  const client = KubeClient.of({
    ...kube,
    list: (resource, options) => {
      lists.push(
        options?.limit === undefined
          ? "unpaged"
          : `limit=${options.limit}${options.continue === undefined ? "" : " continued"}`
      )
      const page = kube.list(resource, options)
      return lists.length === 1 ? Effect.tap(page, () => afterFirst) : page
    }
  })
  return { client, lists }
}

describe("Informer", () => {
  it.effect("the controller index follows owner references as objects gain, change and lose their controller", () =>
    withKube(
      Effect.gen(function* () {
        const kube = yield* KubeClient
        const informer = yield* Informer.make(Resources.Nodes)
        yield* informer.synced
        const owner = (uid: string, controller = true) => [
          { apiVersion: "v1", kind: "Node", name: uid, uid, controller }
        ]
        const setOwners = (name: string, ownerReferences: ReadonlyArray<unknown> | null) =>
          kube.patch(Resources.Nodes, name, { type: "merge", patch: { metadata: { ownerReferences } } })
        const names = (uid: string) =>
          Effect.map(informer.byIndex(Indices.controller, uid), (items) => items.map((item) => item.metadata.name))
        for (const name of ["c", "a", "b"]) yield* create(name)
        yield* setOwners("c", owner("u1"))
        yield* setOwners("a", owner("u1"))
        yield* setOwners("b", owner("u2", false))
        yield* settle
        assert.deepStrictEqual(yield* names("u1"), ["a", "c"])
        assert.deepStrictEqual(yield* names("u2"), [], "an owner that is not the controller")
        yield* setOwners("c", owner("u2"))
        yield* remove("a")
        yield* settle
        assert.deepStrictEqual(yield* names("u1"), [])
        assert.deepStrictEqual(yield* names("u2"), ["c"])
        yield* setOwners("c", null)
        yield* settle
        assert.deepStrictEqual(yield* names("u2"), [])
      })
    )
  )

  it.effect("the unbound index holds the pods without a node, until they are bound", () =>
    withKube(
      Effect.gen(function* () {
        const kube = yield* KubeClient
        const informer = yield* Informer.make(Resources.Pods)
        yield* informer.synced
        const pod = (name: string, nodeName?: string) =>
          kube.create(
            Resources.Pods,
            {
              metadata: { name, namespace: "default" },
              spec: { containers: [{ name: "c", image: "i" }], ...(nodeName === undefined ? {} : { nodeName }) }
            } as never,
            { namespace: "default" }
          )
        const unbound = Effect.map(informer.byIndex(Indices.podUnbound, Indices.unbound), (pods) =>
          pods.map((p) => p.metadata.name)
        )
        yield* pod("b")
        yield* pod("a")
        yield* pod("bound", "node-1")
        yield* settle
        assert.deepStrictEqual(yield* unbound, ["a", "b"])
        yield* kube.bind("default", "a", "node-1")
        yield* settle
        assert.deepStrictEqual(yield* unbound, ["b"])
      })
    )
  )

  it.effect("an index declared after the cache filled files every object under each of its values", () =>
    withKube(
      Effect.gen(function* () {
        yield* create("b", { team: "x", zone: "a" })
        yield* create("a", { team: "x" })
        yield* create("c", { zone: "a" })
        const informer = yield* Informer.make(Resources.Nodes)
        yield* informer.synced
        // Multi-valued: a node is filed under its team and its zone.
        const byLabel = Informer.index<Node>("labels", (node) => Object.values(node.metadata.labels ?? {}))
        const names = (value: string) =>
          Effect.map(informer.byIndex(byLabel, value), (items) => items.map((item) => item.metadata.name))
        assert.deepStrictEqual(yield* names("x"), ["a", "b"])
        assert.deepStrictEqual(yield* names("a"), ["b", "c"])
        yield* label("b", { team: null as never, zone: "b" })
        yield* remove("c")
        yield* create("d", { team: "x" })
        yield* settle
        assert.deepStrictEqual(yield* names("x"), ["a", "d"])
        assert.deepStrictEqual(yield* names("a"), [])
        assert.deepStrictEqual(yield* names("b"), ["b"])
        // One name, two key functions: a bug, not a second index.
        const clash = Informer.index<Node>("labels", () => [])
        assert.isTrue(Exit.hasDies(yield* Effect.exit(informer.byIndex(clash, "x"))))
      })
    )
  )

  it.effect("the list stays sorted and current through adds, updates and deletes in any order", () =>
    Property.check(
      // Walks of up to 300 steps over 40 names: a step creates its name when absent, otherwise deletes it (a third of
      // the time) or relabels it: every kind of event at every position of the list. The seed's two walks take 192
      // and 144 steps.
      fc.array(fc.record({ name: fc.nat({ max: 39 }), remove: Property.chance(0.33) }), {
        maxLength: 300,
        size: "max"
      }),
      (walk) =>
        withKube(
          Effect.scoped(
            Effect.gen(function* () {
              const informer = yield* Informer.make(Resources.Nodes)
              yield* informer.synced
              const present = new Set<string>()
              for (const [step, { name: index, remove: removes }] of walk.entries()) {
                const name = `n${String(index).padStart(2, "0")}`
                if (!present.has(name)) {
                  yield* create(name)
                  present.add(name)
                } else if (removes) {
                  yield* remove(name)
                  present.delete(name)
                } else {
                  yield* label(name, { step: String(step) })
                }
                if (step % 7 === 0) {
                  yield* settle
                  assert.deepStrictEqual(yield* cacheState(informer), yield* serverState, `after step ${step}`)
                }
              }
              yield* settle
              assert.deepStrictEqual(yield* cacheState(informer), yield* serverState)
            })
          )
        ),
      { seed: 7, numRuns: 2 }
    )
  )

  it.effect("a counter follows its index as objects come, change value and go, from whenever it is declared", () =>
    Property.check(
      // Walks of up to 200 steps over 20 names: a step creates its name when absent, otherwise deletes it (a quarter
      // of the time) or relabels it with a team (x, y or none) and a tier; the counter counts the gold ones.
      fc.record({
        walk: fc.array(
          fc.record({
            name: fc.nat({ max: 19 }),
            remove: Property.chance(0.25),
            team: fc.constantFrom("x", "y", undefined),
            gold: fc.boolean()
          }),
          { maxLength: 200, size: "max" }
        ),
        declaredAt: fc.nat({ max: 100 })
      }),
      ({ walk, declaredAt }) =>
        withKube(
          Effect.scoped(
            Effect.gen(function* () {
              const informer = yield* Informer.make(Resources.Nodes)
              yield* informer.synced
              const byTeam = Informer.index<Node>("team", (node) => {
                const team = node.metadata.labels?.team
                return team === undefined ? [] : [team]
              })
              const gold = Informer.counter<Node>("gold", (node) => node.metadata.labels?.tier === "gold")
              const expect = (step: number) =>
                Effect.gen(function* () {
                  for (const team of ["x", "y", "z"]) {
                    const recounted = (yield* informer.byIndex(byTeam, team)).filter(gold.counts).length
                    assert.strictEqual(yield* informer.countByIndex(byTeam, team, gold), recounted, `${team} @${step}`)
                  }
                })
              const present = new Set<string>()
              for (const [step, { name: index, remove: removes, team, gold: isGold }] of walk.entries()) {
                const name = `n${String(index).padStart(2, "0")}`
                const labels = { team: (team ?? null) as string, tier: isGold ? "gold" : "lead" }
                if (!present.has(name)) {
                  yield* create(name, team === undefined ? { tier: labels.tier } : labels)
                  present.add(name)
                } else if (removes) {
                  yield* remove(name)
                  present.delete(name)
                } else {
                  yield* label(name, labels)
                }
                yield* settle
                if (step >= declaredAt) yield* expect(step)
              }
              yield* expect(walk.length)
              // One name, two predicates: a bug, not a second counter.
              const clash = Informer.counter<Node>("gold", () => true)
              assert.isTrue(Exit.hasDies(yield* Effect.exit(informer.countByIndex(byTeam, "x", clash))))
            })
          )
        ),
      { seed: 11, numRuns: 3 }
    )
  )

  it.effect("the first list fills the cache, sorted by key, and completes synced", () =>
    withKube(
      Effect.gen(function* () {
        yield* create("b")
        yield* create("c")
        yield* create("a", { team: "x" })
        const informer = yield* Informer.make(Resources.Nodes)
        assert.isFalse(yield* informer.hasSynced)
        yield* informer.synced
        assert.isTrue(yield* informer.hasSynced)
        assert.deepStrictEqual(
          (yield* informer.list()).map((item) => item.metadata.name),
          ["a", "b", "c"]
        )
        // Read synchronously, the same list (the same array while nothing changes).
        assert.strictEqual(informer.listUnsafe(), yield* informer.list())
        assert.deepStrictEqual((yield* informer.get("a"))?.metadata.labels, { team: "x" })
        assert.isUndefined(yield* informer.get("z"))
        assert.strictEqual(yield* informer.lastResourceVersion, yield* (yield* hooks).resourceVersion)
        assert.strictEqual(informer.name, "nodes")
      })
    )
  )

  it.effect("the first list reads the collection in pages of 500 (client-go's reflector), not in one answer", () =>
    withKube(
      Effect.gen(function* () {
        for (let index = 0; index < 1001; index++) yield* create(`node-${String(index).padStart(4, "0")}`)
        const { client, lists } = recordingLists(yield* KubeClient)
        const informer = yield* Informer.make(Resources.Nodes).pipe(Effect.provideService(KubeClient, client))
        yield* informer.synced
        assert.deepStrictEqual(lists, ["limit=500", "limit=500 continued", "limit=500 continued"])
        assert.deepStrictEqual(yield* cacheState(informer), yield* serverState)
        assert.strictEqual(yield* informer.lastResourceVersion, yield* (yield* hooks).resourceVersion)
      })
    )
  )

  it.effect("a page whose continue token expired falls back to one unpaged list at once (client-go's pager)", () =>
    withKube(
      Effect.gen(function* () {
        const server = yield* hooks
        for (let index = 0; index < 501; index++) yield* create(`node-${String(index).padStart(4, "0")}`)
        // A write and a compaction after the first page: its continue token is too old for the second.
        const kube = yield* KubeClient
        const writeAndCompact = Effect.andThen(kube.create(Resources.Nodes, node("late") as never), server.compact)
        const { client, lists } = recordingLists(kube, Effect.orDie(writeAndCompact))
        const informer = yield* Informer.make(Resources.Nodes).pipe(Effect.provideService(KubeClient, client))
        yield* settle
        assert.isTrue(yield* informer.hasSynced, "synced without a retry's backoff")
        assert.deepStrictEqual(lists, ["limit=500", "limit=500 continued", "unpaged"])
        assert.deepStrictEqual(yield* cacheState(informer), yield* serverState)
      })
    )
  )

  it.effect("a create, an update and a delete are each published once, with the previous state", () =>
    withKube(
      Effect.gen(function* () {
        yield* create("a")
        const informer = yield* Informer.make(Resources.Nodes)
        yield* informer.synced
        const changes: Array<Informer.Change<Node>> = []
        yield* Effect.forkScoped(
          Stream.runForEach(yield* informer.subscribe, (change) => Effect.sync(() => changes.push(change)))
        )
        yield* create("b")
        yield* label("b", { color: "red" })
        yield* label("b", { color: "red" }) // a no-op write: no new version, no event
        yield* remove("b")
        yield* settle
        assert.deepStrictEqual(
          changes.map((change) => `${change.type} ${change.object.metadata.name}`),
          ["ADDED b", "MODIFIED b", "DELETED b"]
        )
        assert.strictEqual(changes[1]!.object.metadata.labels?.color, "red")
        assert.isUndefined(changes[1]!.previous?.metadata.labels)
        assert.deepStrictEqual(yield* cacheState(informer), yield* serverState)
        assert.strictEqual(yield* informer.lastResourceVersion, yield* (yield* hooks).resourceVersion)
      })
    )
  )

  it.effect("`changes` streams to several subscribers", () =>
    withKube(
      Effect.gen(function* () {
        const informer = yield* Informer.make(Resources.Nodes)
        yield* informer.synced
        const first = yield* Effect.forkChild(Stream.runCollect(Stream.take(informer.changes, 2)))
        const second = yield* Effect.forkChild(Stream.runCollect(Stream.take(informer.changes, 2)))
        yield* settle
        yield* create("a")
        yield* remove("a")
        for (const fiber of [first, second]) {
          assert.deepStrictEqual(
            (yield* Fiber.join(fiber)).map((change) => change.type),
            ["ADDED", "DELETED"]
          )
        }
      })
    )
  )

  it.effect("a failing first list is retried with backoff until it succeeds", () =>
    withKube(
      Effect.gen(function* () {
        yield* create("a")
        yield* (yield* hooks).failNext("list", 2)
        const informer = yield* Informer.make(Resources.Nodes)
        yield* settle
        assert.isFalse(yield* informer.hasSynced)
        // Retries after 1 s, then 2 s.
        yield* TestClock.adjust("2999 millis")
        assert.isFalse(yield* informer.hasSynced)
        yield* TestClock.adjust("1 milli")
        assert.isTrue(yield* informer.hasSynced)
        assert.deepStrictEqual(yield* cacheState(informer), yield* serverState)
      })
    )
  )

  it.effect("survives a dropped watch: re-watches from the last version with capped exponential backoff", () =>
    withKube(
      Effect.gen(function* () {
        const server = yield* hooks
        yield* create("a")
        const informer = yield* Informer.make(Resources.Nodes, { maxBackoff: "3 seconds" })
        yield* informer.synced
        const seen = yield* record(informer)
        yield* settle
        yield* server.dropWatches
        yield* create("b")
        yield* settle
        assert.deepStrictEqual(seen, [])
        yield* TestClock.adjust("999 millis")
        assert.deepStrictEqual(seen, [])
        yield* TestClock.adjust("1 milli")
        assert.deepStrictEqual(seen, ["ADDED b"])
        // Three more failures in a row: waits of 1 s, 2 s, 3 s (capped), then the watch resumes.
        yield* server.failNext("watch", 2)
        yield* server.dropWatches
        yield* remove("a")
        yield* TestClock.adjust("5999 millis")
        assert.deepStrictEqual(seen, ["ADDED b"])
        yield* TestClock.adjust("1 milli")
        assert.deepStrictEqual(seen, ["ADDED b", "DELETED a"])
        assert.deepStrictEqual(yield* cacheState(informer), yield* serverState)
      })
    )
  )

  it.effect("survives a 410: relists and publishes the difference, every change exactly once", () =>
    withKube(
      Effect.gen(function* () {
        const server = yield* hooks
        for (const name of ["a", "b", "c"]) yield* create(name)
        const informer = yield* Informer.make(Resources.Nodes)
        yield* informer.synced
        const changes: Array<Informer.Change<Node>> = []
        yield* Effect.forkScoped(
          Stream.runForEach(yield* informer.subscribe, (change) => Effect.sync(() => changes.push(change)))
        )
        const cachedA = yield* informer.get("a")
        const cachedB = yield* informer.get("b")
        yield* settle
        yield* server.dropWatches
        // While disconnected: an add, an update, a delete; then the history is compacted away.
        yield* create("d")
        yield* label("a", { color: "blue" })
        yield* remove("b")
        yield* server.compact
        yield* TestClock.adjust("10 seconds")
        assert.deepStrictEqual(
          changes.map((change) => `${change.type} ${change.object.metadata.name}`),
          ["MODIFIED a", "ADDED d", "DELETED b"]
        )
        // The DELETED is synthetic (the relist found b gone): it carries the last state the cache knew.
        assert.strictEqual(changes[2]!.object.metadata.resourceVersion, cachedB?.metadata.resourceVersion)
        assert.strictEqual(changes[0]!.previous?.metadata.resourceVersion, cachedA?.metadata.resourceVersion)
        assert.deepStrictEqual(yield* cacheState(informer), yield* serverState)
        // Watching resumed after the relist.
        yield* create("e")
        yield* settle
        assert.strictEqual(changes.length, 4)
        assert.deepStrictEqual(yield* cacheState(informer), yield* serverState)
      })
    )
  )

  it.effect("a 410 with no change while disconnected publishes nothing", () =>
    withKube(
      Effect.gen(function* () {
        const server = yield* hooks
        for (const name of ["a", "b"]) yield* create(name)
        const informer = yield* Informer.make(Resources.Nodes)
        yield* informer.synced
        const seen = yield* record(informer)
        yield* settle
        yield* server.dropWatches
        // Other kinds move the version on, so the compacted history no longer covers the informer's version.
        const kube = yield* KubeClient
        yield* kube.create(Resources.Namespaces, {
          apiVersion: "v1",
          kind: "Namespace",
          metadata: { name: "x" }
        } as never)
        yield* server.compact
        yield* TestClock.adjust("10 seconds")
        assert.deepStrictEqual(seen, [])
        assert.strictEqual(yield* informer.lastResourceVersion, yield* server.resourceVersion)
        yield* remove("a")
        yield* settle
        assert.deepStrictEqual(seen, ["DELETED a"])
      })
    )
  )

  it.effect("a label-selector informer sees an object leave the selection as DELETED and enter it as ADDED", () =>
    withKube(
      Effect.gen(function* () {
        yield* create("a", { team: "red" })
        yield* create("b", { team: "blue" })
        const informer = yield* Informer.make(Resources.Nodes, { labelSelector: "team=red" })
        assert.strictEqual(informer.name, "nodes(labelSelector=team=red)")
        yield* informer.synced
        assert.deepStrictEqual(
          (yield* informer.list()).map((item) => item.metadata.name),
          ["a"]
        )
        const seen = yield* record(informer)
        yield* label("a", { team: "blue" })
        yield* label("b", { team: "red" })
        yield* label("b", { team: "red", tier: "1" })
        yield* settle
        assert.deepStrictEqual(seen, ["DELETED a", "ADDED b", "MODIFIED b"])
        assert.deepStrictEqual(
          (yield* informer.list()).map((item) => item.metadata.name),
          ["b"]
        )
      })
    )
  )

  it.effect("closing the scope stops the informer", () =>
    withKube(
      Effect.gen(function* () {
        const informer = yield* Effect.scoped(
          Effect.gen(function* () {
            const informer = yield* Informer.make(Resources.Nodes)
            yield* informer.synced
            return informer
          })
        )
        yield* create("a")
        yield* settle
        assert.deepStrictEqual(yield* informer.list(), [])
      })
    )
  )
})
