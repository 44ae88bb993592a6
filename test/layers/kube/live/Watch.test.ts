import type * as NodeHttp from "node:http"
import { assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as LiveKube from "../../../../layers/kube/live/LiveKubeClient.ts"
import type { WatchEvent } from "../../../../src/kube/KubeClient.ts"
import * as Resources from "../../../../src/kube/Resources.ts"
import * as Stub from "./Stub.ts"

const fast = {
  retryDelay: Duration.millis(5),
  maxRetryDelay: Duration.millis(20),
  requestTimeout: Duration.seconds(5)
} as const

const node = (name: string, resourceVersion: string) => ({
  apiVersion: "v1",
  kind: "Node",
  metadata: { name, resourceVersion },
  spec: {}
})

const event = (type: string, object: unknown) => `${JSON.stringify({ type, object })}\n`

/** Starts a watch answer: 200 and the headers at once, as the API server does. */
const begin = (res: NodeHttp.ServerResponse) => {
  res.writeHead(200, { "Content-Type": "application/json", "Transfer-Encoding": "chunked" })
  res.flushHeaders()
}

const describeEvent = (
  event: WatchEvent<{ readonly metadata: { readonly name?: string; readonly resourceVersion?: string } }>
) =>
  event.type === "BOOKMARK"
    ? `BOOKMARK ${event.resourceVersion}`
    : `${event.type} ${event.object.metadata.name}@${event.object.metadata.resourceVersion}`

const versions = (stub: Stub.Stub) =>
  stub.requests
    .filter((request) => request.query.get("watch") === "true")
    .map((request) => request.query.get("resourceVersion"))

describe("LiveKubeClient watch", () => {
  it.live("resumes from the last event's resourceVersion when the server ends the stream", () =>
    Effect.gen(function* () {
      const stub = yield* Stub.serve((_, res, index) => {
        begin(res)
        if (index === 0) {
          res.write(event("ADDED", node("a", "6")))
          res.end(event("MODIFIED", node("a", "7")))
        } else {
          res.write(event("DELETED", node("a", "8")))
        }
      })
      const kube = yield* LiveKube.make({ server: stub.url, ...fast })
      const seen = yield* Stream.runCollect(Stream.take(kube.watch(Resources.Nodes, { resourceVersion: "5" }), 3))
      assert.deepStrictEqual(seen.map(describeEvent), ["ADDED a@6", "MODIFIED a@7", "DELETED a@8"])
      assert.deepStrictEqual(versions(stub), ["5", "7"])
      const timeoutSeconds = Number(stub.requests[0]!.query.get("timeoutSeconds"))
      assert.isTrue(timeoutSeconds >= 300 && timeoutSeconds <= 600)
      assert.isNull(stub.requests[0]!.query.get("allowWatchBookmarks"))
    })
  )

  it.live("resumes after the connection drops mid-stream, without losing or repeating events", () =>
    Effect.gen(function* () {
      const stub = yield* Stub.serve((request, res, index) => {
        begin(res)
        if (index === 0) {
          res.write(event("ADDED", node("a", "6")))
          // Half an event, then the connection dies: the half must not be delivered.
          res.write(event("ADDED", node("b", "7")).slice(0, 20), () => res.socket?.destroy())
        } else if (request.query.get("resourceVersion") === "6") {
          res.write(event("ADDED", node("b", "7")))
          res.write(event("ADDED", node("c", "8")))
        }
      })
      const kube = yield* LiveKube.make({ server: stub.url, ...fast })
      const seen = yield* Stream.runCollect(Stream.take(kube.watch(Resources.Nodes, { resourceVersion: "5" }), 3))
      assert.deepStrictEqual(seen.map(describeEvent), ["ADDED a@6", "ADDED b@7", "ADDED c@8"])
      assert.deepStrictEqual(versions(stub), ["5", "6"])
    })
  )

  it.live("BOOKMARK events move the resume point and reach callers that asked for them", () =>
    Effect.gen(function* () {
      const stub = yield* Stub.serve((_, res, index) => {
        begin(res)
        if (index === 0)
          res.end(event("BOOKMARK", { kind: "Node", apiVersion: "v1", metadata: { resourceVersion: "40" } }))
        else res.write(event("ADDED", node("a", "41")))
      })
      const kube = yield* LiveKube.make({ server: stub.url, ...fast })
      const seen = yield* Stream.runCollect(
        Stream.take(kube.watch(Resources.Nodes, { resourceVersion: "5", allowBookmarks: true }), 2)
      )
      assert.deepStrictEqual(seen.map(describeEvent), ["BOOKMARK 40", "ADDED a@41"])
      assert.deepStrictEqual(versions(stub), ["5", "40"])
      assert.strictEqual(stub.requests[0]!.query.get("allowWatchBookmarks"), "true")
    })
  )

  it.live("an ERROR event with 410 fails the stream with Expired, as does an HTTP 410", () =>
    Effect.gen(function* () {
      const stub = yield* Stub.serve((_, res, index) => {
        if (index === 0) {
          begin(res)
          res.write(event("ADDED", node("a", "6")))
          res.end(event("ERROR", Stub.status(410, "Expired", "too old resource version: 5 (9)")))
        } else {
          Stub.reply(res, 410, Stub.status(410, "Expired", "too old resource version: 5 (9)"))
        }
      })
      const kube = yield* LiveKube.make({ server: stub.url, ...fast })
      const seen: Array<string> = []
      const error = yield* Effect.flip(
        Stream.runForEach(kube.watch(Resources.Nodes, { resourceVersion: "5" }), (e) =>
          Effect.sync(() => seen.push(describeEvent(e)))
        )
      )
      assert.strictEqual(error._tag, "Expired")
      assert.include(error.message, "too old resource version")
      assert.deepStrictEqual(seen, ["ADDED a@6"])
      const again = yield* Effect.flip(Stream.runDrain(kube.watch(Resources.Nodes, { resourceVersion: "5" })))
      assert.strictEqual(again._tag, "Expired")
      assert.strictEqual(stub.requests.length, 2)
    })
  )

  it.live("other ERROR events and failed re-watches are retried from the same point", () =>
    Effect.gen(function* () {
      const stub = yield* Stub.serve((_, res, index) => {
        if (index === 0) {
          begin(res)
          res.write(event("ADDED", node("a", "6")))
          res.end(event("ERROR", Stub.status(500, "InternalError", "etcd leader changed")))
        } else if (index === 1) {
          Stub.reply(res, 503, Stub.status(503, "ServiceUnavailable", "apiserver is shutting down"))
        } else {
          begin(res)
          res.write(event("ADDED", node("b", "7")))
        }
      })
      const kube = yield* LiveKube.make({ server: stub.url, ...fast })
      const seen = yield* Stream.runCollect(Stream.take(kube.watch(Resources.Nodes, { resourceVersion: "5" }), 2))
      assert.deepStrictEqual(seen.map(describeEvent), ["ADDED a@6", "ADDED b@7"])
      assert.deepStrictEqual(versions(stub), ["5", "6", "6"])
    })
  )

  it.live("a watch that never connects fails with KubeUnavailable once the retries are spent", () =>
    Effect.gen(function* () {
      const stub = yield* Stub.serve((_, res) => Stub.reply(res, 503, Stub.status(503, "ServiceUnavailable", "down")))
      const kube = yield* LiveKube.make({ server: stub.url, ...fast, retries: 2 })
      const error = yield* Effect.flip(Stream.runDrain(kube.watch(Resources.Nodes, { resourceVersion: "5" })))
      assert.strictEqual(error._tag, "KubeUnavailable")
      assert.strictEqual(stub.requests.length, 3)
    })
  )

  it.live("a watch the server never answers times out; the retries are bounded", () =>
    Effect.gen(function* () {
      const stub = yield* Stub.serve(() => {})
      const kube = yield* LiveKube.make({ server: stub.url, ...fast, requestTimeout: Duration.millis(100), retries: 1 })
      const error = yield* Effect.flip(Stream.runDrain(kube.watch(Resources.Nodes, { resourceVersion: "5" })))
      assert.strictEqual(error._tag, "KubeUnavailable")
      assert.include(error.message, "no answer within")
      assert.strictEqual(stub.requests.length, 2)
    })
  )

  it.live("a garbled line is a broken stream: the watch resumes from the last whole event", () =>
    Effect.gen(function* () {
      const stub = yield* Stub.serve((_, res, index) => {
        begin(res)
        if (index === 0) res.end(`${event("ADDED", node("a", "6"))}{"type":"ADDED","obj\n`)
        else res.write(event("ADDED", node("b", "7")))
      })
      const kube = yield* LiveKube.make({ server: stub.url, ...fast })
      const seen = yield* Stream.runCollect(Stream.take(kube.watch(Resources.Nodes, { resourceVersion: "5" }), 2))
      assert.deepStrictEqual(seen.map(describeEvent), ["ADDED a@6", "ADDED b@7"])
      assert.deepStrictEqual(versions(stub), ["5", "6"])
    })
  )

  it.live("without a resourceVersion it lists first, then watches from the list's version", () =>
    Effect.gen(function* () {
      const stub = yield* Stub.serve((request, res) => {
        if (request.query.get("watch") !== "true") {
          return Stub.reply(res, 200, { metadata: { resourceVersion: "20" }, items: [node("a", "3"), node("b", "12")] })
        }
        begin(res)
        res.write(event("MODIFIED", node("a", "21")))
      })
      const kube = yield* LiveKube.make({ server: stub.url, ...fast })
      const seen = yield* Stream.runCollect(Stream.take(kube.watch(Resources.Nodes, { labelSelector: "x=y" }), 3))
      assert.deepStrictEqual(seen.map(describeEvent), ["ADDED a@3", "ADDED b@12", "MODIFIED a@21"])
      assert.deepStrictEqual(versions(stub), ["20"])
      assert.strictEqual(stub.requests[0]!.query.get("labelSelector"), "x=y")
      assert.strictEqual(stub.requests[1]!.query.get("labelSelector"), "x=y")
    })
  )

  it.live("closing the stream closes the connection", () =>
    Effect.gen(function* () {
      let closed = 0
      const stub = yield* Stub.serve((_, res) => {
        begin(res)
        res.on("close", () => closed++)
        res.write(event("ADDED", node("a", "6")))
      })
      const kube = yield* LiveKube.make({ server: stub.url, ...fast })
      yield* Stream.runDrain(Stream.take(kube.watch(Resources.Nodes, { resourceVersion: "5" }), 1))
      yield* Stub.until(() => closed === 1)
    })
  )
})
