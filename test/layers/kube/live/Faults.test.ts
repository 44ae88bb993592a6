/**
 * The live client under the façade's injected faults (issue #7): dropped watches, 410s, 409s, 5xx answers and hung
 * requests. Nothing may be lost or duplicated, and the Informer's cache must converge on the stored truth.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Faults from "../../../../src/cluster/http/Faults.ts"
import * as KubeClient from "../../../../src/kube/KubeClient.ts"
import * as Resources from "../../../../src/kube/Resources.ts"
import * as Informer from "../../../../src/runtime/Informer.ts"
import * as Facade from "./Facade.ts"
import * as Stub from "./Stub.ts"

const node = (name: string) => ({ apiVersion: "v1", kind: "Node", metadata: { name }, spec: {} })

const test = (
  title: string,
  body: () => Effect.Effect<void, unknown, Facade.Services | Scope.Scope>,
  options?: { readonly timeout?: number }
) => it.live(title, () => Effect.provide(body(), Facade.layer()), options)

const nameOf = (event: KubeClient.WatchEvent<{ readonly metadata: { readonly name?: string } }>) =>
  event.type === "BOOKMARK" ? "BOOKMARK" : `${event.type} ${event.object.metadata.name}`

describe("LiveKubeClient under injected faults", () => {
  test("a watch dropped mid-stream, again and again, resumes without losing or repeating an event", () =>
    Effect.gen(function* () {
      const kube = yield* KubeClient.KubeClient
      const backend = yield* Facade.Backend
      const faults = yield* Faults.Faults
      const start = yield* kube.list(Resources.Nodes)
      const seen: Array<string> = []
      const fiber = yield* Effect.forkChild(
        Stream.runForEach(kube.watch(Resources.Nodes, { resourceVersion: start.resourceVersion }), (event) =>
          Effect.sync(() => seen.push(nameOf(event)))
        )
      )
      const expected: Array<string> = []
      for (let round = 0; round < 4; round++) {
        yield* backend.create(Resources.Nodes, node(`n${round}`) as never)
        expected.push(`ADDED n${round}`)
        yield* Stub.until(() => seen.length === expected.length)
        yield* faults.dropWatches
        // Written while the client is reconnecting: only resuming from the last resourceVersion delivers it.
        yield* backend.patch(Resources.Nodes, `n${round}`, {
          type: "merge",
          patch: { metadata: { labels: { r: "1" } } }
        })
        expected.push(`MODIFIED n${round}`)
      }
      yield* backend.delete(Resources.Nodes, "n0")
      expected.push("DELETED n0")
      yield* Stub.until(() => seen.length >= expected.length)
      assert.deepStrictEqual(seen, expected)
      assert.isUndefined(fiber.pollUnsafe())
      yield* Fiber.interrupt(fiber)
    }))

  test("a watch whose start meets 500s retries and then sees every event", () =>
    Effect.gen(function* () {
      const kube = yield* KubeClient.KubeClient
      const faults = yield* Faults.Faults
      const start = yield* kube.list(Resources.Nodes)
      yield* faults.inject({ code: 500, watch: true, count: 2 })
      const events = yield* Effect.forkChild(
        Stream.runCollect(Stream.take(kube.watch(Resources.Nodes, { resourceVersion: start.resourceVersion }), 2))
      )
      yield* kube.create(Resources.Nodes, node("a") as never)
      yield* kube.create(Resources.Nodes, node("b") as never)
      assert.deepStrictEqual((yield* Fiber.join(events)).map(nameOf), ["ADDED a", "ADDED b"])
    }))

  test("an expired watch (410) fails with Expired, and an Informer relists until its cache matches the server", () =>
    Effect.gen(function* () {
      const backend = yield* Facade.Backend
      const faults = yield* Faults.Faults
      for (const name of ["a", "b", "c"]) yield* backend.create(Resources.Nodes, node(name) as never)
      const informer = yield* Informer.make(Resources.Nodes, { initialBackoff: "20 millis", maxBackoff: "200 millis" })
      yield* informer.synced
      const changes = yield* informer.subscribe
      const collected: Array<string> = []
      yield* Effect.forkChild(
        Stream.runForEach(changes, (change) =>
          Effect.sync(() => collected.push(`${change.type} ${change.object.metadata.name}`))
        )
      )
      const names = Effect.map(informer.list(), (nodes) => nodes.map((n) => n.metadata.name).join(","))

      // The watch is told its version is gone; writes land while the informer relists.
      yield* faults.expireWatches
      yield* backend.delete(Resources.Nodes, "a")
      yield* backend.create(Resources.Nodes, node("d") as never)
      yield* backend.patch(Resources.Nodes, "b", { type: "merge", patch: { metadata: { labels: { x: "1" } } } })
      const truth = (yield* backend.list(Resources.Nodes)).items.map((n) => n.metadata.name).join(",")
      assert.strictEqual(truth, "b,c,d")
      yield* Stub.eventually(Effect.map(names, (current) => current === truth))
      const b = yield* informer.get("b")
      assert.strictEqual(b?.metadata.labels?.x, "1")
      yield* Stub.until(() => collected.length >= 3)
      assert.sameMembers(collected, ["DELETED a", "ADDED d", "MODIFIED b"])

      // A watch from a version older than the expiry is refused with Expired, not retried.
      const error = yield* Effect.flip(
        Stream.runDrain((yield* KubeClient.KubeClient).watch(Resources.Nodes, { resourceVersion: "1" }))
      )
      assert.strictEqual(error._tag, "Expired")
    }))

  test(
    "500s and a hung request are retried until the call succeeds, and the write is applied once",
    () =>
      Effect.gen(function* () {
        const kube = yield* KubeClient.KubeClient
        const faults = yield* Faults.Faults
        const created = yield* kube.create(Resources.Nodes, node("n") as never)
        yield* faults.inject({ code: 500, method: "GET", count: 3 })
        yield* kube.get(Resources.Nodes, "n")
        yield* faults.inject({ hang: true, method: "PATCH", path: "/nodes/n" })
        yield* faults.inject({ code: 503, method: "PATCH", path: "/nodes/n" })
        const patched = yield* kube.patch(Resources.Nodes, "n", {
          type: "merge",
          patch: { metadata: { labels: { step: "1" } } }
        })
        assert.strictEqual(patched.metadata.labels?.step, "1")
        assert.strictEqual(Number(patched.metadata.resourceVersion), Number(created.metadata.resourceVersion) + 1)
        yield* faults.inject({ code: 500, method: "PUT", count: 2 })
        const replaced = yield* kube.replace(Resources.Nodes, {
          ...node("n"),
          metadata: { name: "n", resourceVersion: patched.metadata.resourceVersion, labels: { step: "2" } }
        } as never)
        assert.strictEqual(replaced.metadata.labels?.step, "2")
        yield* faults.inject({ code: 429, method: "POST" })
        yield* kube.create(Resources.Nodes, node("m") as never)
      }),
    { timeout: 20_000 }
  )

  test("a create met by a 500 is not repeated: it fails, and nothing is created twice", () =>
    Effect.gen(function* () {
      const kube = yield* KubeClient.KubeClient
      const faults = yield* Faults.Faults
      yield* faults.inject({ code: 500, method: "POST" })
      const error = yield* Effect.flip(
        kube.create(Resources.NodeClaims, {
          metadata: { generateName: "default-" },
          spec: {
            nodeClassRef: { group: "karpenter.kwok.sh", kind: "KWOKNodeClass", name: "default" },
            requirements: []
          }
        } as never)
      )
      assert.strictEqual(error._tag, "KubeUnavailable")
      assert.strictEqual((yield* kube.list(Resources.NodeClaims)).items.length, 0)
    }))

  test("a 409 on update is Conflict, whether injected or from a stale resourceVersion", () =>
    Effect.gen(function* () {
      const kube = yield* KubeClient.KubeClient
      const faults = yield* Faults.Faults
      const created = yield* kube.create(Resources.Nodes, node("n") as never)
      const write = { ...node("n"), metadata: { name: "n", resourceVersion: created.metadata.resourceVersion } }
      yield* faults.inject({ code: 409, method: "PUT" })
      assert.strictEqual((yield* Effect.flip(kube.replace(Resources.Nodes, write as never)))._tag, "Conflict")
      yield* kube.replace(Resources.Nodes, { ...write, metadata: { ...write.metadata, labels: { a: "1" } } } as never)
      assert.strictEqual((yield* Effect.flip(kube.replace(Resources.Nodes, write as never)))._tag, "Conflict")
    }))
})
