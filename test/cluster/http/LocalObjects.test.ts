/**
 * Watches of the kinds the façade stores itself (Secrets, Services, RBAC, ...) resume from a
 * resourceVersion as kube-apiserver's do (kube-api.md §H): what was committed after it is replayed, a version older than
 * the retained history gets an ERROR 410 Expired event.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as Discovery from "../../../src/cluster/http/Discovery.ts"
import * as Faults from "../../../src/cluster/http/Faults.ts"
import type * as Handlers from "../../../src/cluster/http/Handlers.ts"
import * as LocalObjects from "../../../src/cluster/http/LocalObjects.ts"
import { request, watch, withServer } from "./support.ts"

const secrets = "/api/v1/namespaces/default/secrets"

const secret = (name: string, data: Record<string, string>, labels?: Record<string, string>) => ({
  apiVersion: "v1",
  kind: "Secret",
  metadata: { name, ...(labels === undefined ? {} : { labels }) },
  data
})

describe("HttpApi watches of façade-stored kinds", () => {
  it.live("from a list's resourceVersion: exactly the changes committed after it, then the live ones", () =>
    withServer((served) =>
      Effect.gen(function* () {
        yield* request(served, "POST", secrets, { body: secret("before", { a: "1" }) })
        const list = yield* request(served, "GET", secrets)
        const from = list.body.metadata.resourceVersion as string
        // Committed between the list and the watch: an informer must not lose them.
        yield* request(served, "POST", secrets, { body: secret("between", { a: "1" }, { app: "web" }) })
        yield* request(served, "PATCH", `${secrets}/before`, {
          body: { data: { a: "2" } },
          contentType: "application/merge-patch+json"
        })
        yield* request(served, "DELETE", `${secrets}/between`)
        yield* request(served, "POST", "/api/v1/namespaces/default/serviceaccounts", {
          body: { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "other-kind" } }
        })
        const stream = yield* watch(served, `${secrets}?watch=true&resourceVersion=${from}`)
        assert.strictEqual(stream.status, 200)
        const replayed = [yield* stream.next, yield* stream.next, yield* stream.next]
        assert.deepStrictEqual(
          replayed.map((event) => [event.type, event.object.metadata.name]),
          [
            ["ADDED", "between"],
            ["MODIFIED", "before"],
            ["DELETED", "between"]
          ]
        )
        assert.strictEqual(replayed[1].object.data.a, "2")
        const versions = replayed.map((event) => Number(event.object.metadata.resourceVersion))
        assert.isAbove(versions[0]!, Number(from))
        assert.deepStrictEqual(
          [...versions].sort((a, b) => a - b),
          versions
        )
        yield* request(served, "POST", secrets, { body: secret("after", { a: "1" }) })
        const live = yield* stream.next
        assert.deepStrictEqual([live.type, live.object.metadata.name], ["ADDED", "after"])

        // Selectors apply to the replayed events too; a namespace's watch sees only that namespace.
        const selected = yield* watch(served, `${secrets}?watch=true&resourceVersion=${from}&labelSelector=app%3Dweb`)
        assert.deepStrictEqual((yield* selected.next).object.metadata.name, "between")
        assert.strictEqual((yield* selected.next).type, "DELETED")
        const elsewhere = yield* watch(
          served,
          `/api/v1/namespaces/other/secrets?watch=true&resourceVersion=${from}&timeoutSeconds=1`
        )
        assert.strictEqual(yield* elsewhere.next, undefined)
      })
    )
  )

  it.live("a resourceVersion older than the retained history gets ERROR 410 Expired, and the stream ends", () =>
    withServer((served) =>
      Effect.gen(function* () {
        const created = yield* request(served, "POST", secrets, { body: secret("a", { a: "1" }) })
        const old = created.body.metadata.resourceVersion as string
        yield* request(served, "POST", secrets, { body: secret("b", { a: "1" }) })
        const faults = yield* Faults.Faults
        yield* faults.expireWatches
        const expired = yield* watch(served, `${secrets}?watch=true&resourceVersion=${old}`)
        assert.strictEqual(expired.status, 200)
        const error = yield* expired.next
        assert.strictEqual(error.type, "ERROR")
        assert.deepInclude(error.object, { kind: "Status", code: 410, reason: "Expired" })
        assert.match(error.object.message, /too old resource version/)
        assert.strictEqual(yield* expired.closed, "ended")

        // A fresh list's version is served again, and the watch sees what follows it.
        const list = yield* request(served, "GET", secrets)
        const fresh = yield* watch(
          served,
          `${secrets}?watch=true&resourceVersion=${list.body.metadata.resourceVersion}`
        )
        yield* request(served, "POST", secrets, { body: secret("c", { a: "1" }) })
        const added = yield* fresh.next
        assert.deepStrictEqual([added.type, added.object.metadata.name], ["ADDED", "c"])

        const invalid = yield* request(served, "GET", `${secrets}?watch=true&resourceVersion=abc`)
        assert.strictEqual(invalid.status, 400)
      })
    )
  )

  it.effect("the history is bounded: past its limit, the oldest versions expire", () =>
    Effect.gen(function* () {
      const store = LocalObjects.make({ historyLimit: 2 })
      const kind = Discovery.find("", "v1", "secrets")!
      const target = { kind, namespace: "default", name: undefined, subresource: undefined }
      const call = (method: string, query: string, body?: unknown) => {
        const text = body === undefined ? "" : JSON.stringify(body)
        const incoming: Handlers.Request = {
          method,
          path: secrets,
          query: new URLSearchParams(query),
          contentType: "application/json",
          accept: undefined,
          body: text,
          bytes: Buffer.from(text)
        }
        return LocalObjects.handle(store, target, incoming)
      }
      const versions: Array<string> = []
      for (const name of ["a", "b", "c", "d"]) {
        const reply = yield* call("POST", "", secret(name, {}))
        assert(reply._tag === "Json")
        versions.push((reply.body as any).metadata.resourceVersion)
      }
      const firstEvent = (from: string) =>
        Effect.gen(function* () {
          const reply = yield* call("GET", `watch=true&resourceVersion=${from}`)
          assert(reply._tag === "Watch")
          return yield* Stream.runHead(reply.events)
        })
      // The last two events are kept: a watch from the version before them replays both.
      const kept = yield* firstEvent(versions[1]!)
      assert.deepStrictEqual(kept._tag === "Some" ? (kept.value.object as any).metadata.name : undefined, "c")
      const expired = yield* firstEvent(versions[0]!)
      assert.deepStrictEqual(expired._tag === "Some" ? [expired.value.type, (expired.value.object as any).code] : [], [
        "ERROR",
        410
      ])
    })
  )
})
