/**
 * What the façade refuses before it serves: bodies over kube-apiserver's 3 MiB limit, bodies nested too deep to
 * process, requests without the bearer token (when it has one), foreign Host names (DNS rebinding) and browser
 * requests (Origin, Sec-Fetch-Site); and what it never answers with: a stack trace or a file path.
 */
import * as Http from "node:http"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as MemoryKube from "../../../layers/kube/memory/MemoryKubeClient.ts"
import * as HttpApi from "../../../src/cluster/http/HttpApi.ts"
import * as KubeClient from "../../../src/kube/KubeClient.ts"
import { withServer } from "./support.ts"

/** An answer as received: status, headers, and the body as text and parsed (when it is JSON). */
interface Answer {
  readonly status: number
  readonly headers: Http.IncomingHttpHeaders
  readonly text: string
  readonly body: any
}

/**
 * Sends a request with node:http, which (unlike fetch) lets a test set any header, `Host` included, and stream a body
 * in chunks without a Content-Length.
 */
const send = (
  served: HttpApi.Served,
  method: string,
  path: string,
  options?: {
    readonly headers?: Readonly<Record<string, string>>
    readonly body?: string
    /** Sent as this many chunks without a Content-Length. */
    readonly chunks?: number
  }
): Effect.Effect<Answer> =>
  Effect.callback<Answer>((resume) => {
    const body = options?.body
    const headers: Record<string, string | number> = {
      ...(body === undefined ? {} : { "Content-Type": "application/json" }),
      ...(body === undefined || options?.chunks !== undefined ? {} : { "Content-Length": Buffer.byteLength(body) }),
      ...options?.headers
    }
    const outgoing = Http.request({ host: "127.0.0.1", port: served.port, method, path, headers }, (incoming) => {
      const parts: Array<Buffer> = []
      incoming.on("data", (chunk: Buffer) => parts.push(chunk))
      incoming.on("end", () => {
        const text = Buffer.concat(parts).toString("utf8")
        let parsed: unknown
        try {
          parsed = JSON.parse(text)
        } catch {
          parsed = undefined
        }
        resume(Effect.succeed({ status: incoming.statusCode ?? 0, headers: incoming.headers, text, body: parsed }))
      })
    })
    // The server may answer (413) and stop reading before the whole body is written.
    outgoing.on("error", (error) => resume(Effect.die(error)))
    if (body !== undefined && options?.chunks !== undefined) {
      const size = Math.ceil(body.length / options.chunks)
      for (let start = 0; start < body.length; start += size) outgoing.write(body.slice(start, start + size))
    } else if (body !== undefined) outgoing.write(body)
    outgoing.end()
  })

const configMaps = "/api/v1/namespaces/default/configmaps"

/** A ConfigMap as JSON text, its `data` given as JSON text (which may nest as deep as a test wants). */
const configMap = (name: string, data: string) =>
  `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"${name}"},"data":${data}}`

const nested = (depth: number) => `${"[".repeat(depth)}${"]".repeat(depth)}`

/** A response that shows the server's insides: a stack frame, a source file, a path of this machine. */
const leaks = (text: string) => /\n\s*at\s|\.[cm]?[jt]s:\d|\/work\/|node:internal/.test(text)

describe("HttpApi request bodies", () => {
  it.live("a body over 3 MiB gets 413 RequestEntityTooLarge, with or without a Content-Length", () =>
    withServer((served) =>
      Effect.gen(function* () {
        const limit = 3 * 1024 * 1024
        const tooLarge = configMap("big", `{"x":"${"a".repeat(limit)}"}`)
        for (const chunks of [undefined, 64]) {
          const answer = yield* send(served, "POST", configMaps, {
            body: tooLarge,
            ...(chunks === undefined ? {} : { chunks })
          })
          assert.strictEqual(answer.status, 413, answer.text.slice(0, 300))
          assert.deepInclude(answer.body, {
            kind: "Status",
            status: "Failure",
            reason: "RequestEntityTooLarge",
            message: "Request entity too large: limit is 3145728",
            code: 413
          })
        }
        // Just under the limit is served, and the server still answers on its connections.
        const fits = configMap("fits", `{"x":"${"a".repeat(limit - 200)}"}`)
        assert.isAtMost(Buffer.byteLength(fits), limit)
        assert.strictEqual((yield* send(served, "POST", configMaps, { body: fits, chunks: 16 })).status, 201)
        assert.strictEqual((yield* send(served, "GET", `${configMaps}/big`)).status, 404)
      })
    )
  )

  it.live("a deeply nested body gets 400 BadRequest, in JSON or YAML, for any verb", () =>
    withServer((served) =>
      Effect.gen(function* () {
        const hostile: ReadonlyArray<readonly [string, string, string, string]> = [
          ["POST", configMaps, "application/json", configMap("deep", `{"x":${nested(100_000)}}`)],
          ["POST", "/api/v1/namespaces/default/pods", "application/json", nested(1_000_000)],
          [
            "PATCH",
            `${configMaps}/kept`,
            "application/merge-patch+json",
            `{"data":${'{"a":'.repeat(5000)}1${"}".repeat(5000)}}`
          ],
          [
            "PATCH",
            `${configMaps}/kept?fieldManager=t`,
            "application/apply-patch+yaml",
            `data:\n  x: ${nested(5000)}\n`
          ],
          [
            "PATCH",
            `${configMaps}/kept?fieldManager=t`,
            "application/apply-patch+yaml",
            `data:\n  x:\n  ${"- ".repeat(5000)}x\n`
          ],
          [
            "PATCH",
            `${configMaps}/kept?fieldManager=t`,
            "application/apply-patch+yaml",
            configMap("kept", nested(20_000))
          ],
          // An alias inside its own anchor: a circular value.
          ["PATCH", `${configMaps}/kept?fieldManager=t`, "application/apply-patch+yaml", "data: &x {a: [*x]}\n"]
        ]
        assert.strictEqual((yield* send(served, "POST", configMaps, { body: configMap("kept", "{}") })).status, 201)
        for (const [method, path, contentType, body] of hostile) {
          const answer = yield* send(served, method, path, { body, headers: { "Content-Type": contentType } })
          assert.strictEqual(answer.status, 400, `${method} ${contentType}: ${answer.text.slice(0, 300)}`)
          assert.strictEqual(answer.body.reason, "BadRequest")
          assert.match(answer.body.message, /nest/)
          assert.isFalse(leaks(answer.text), answer.text.slice(0, 300))
        }
        // Objects nest a few levels; a generous depth is still served (the façade stores Secrets as given).
        const fine = yield* send(served, "POST", "/api/v1/namespaces/default/secrets", {
          body: `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"fine"},"data":{"x":${nested(100)}}}`
        })
        assert.strictEqual(fine.status, 201, fine.text.slice(0, 300))
      })
    )
  )

  it.live("no answer to hostile input shows a stack trace or a file path; a defect is a generic 500", () =>
    Effect.gen(function* () {
      yield* withServer((served) =>
        Effect.gen(function* () {
          const hostile: ReadonlyArray<readonly [string, string, string | undefined, string | undefined]> = [
            ["GET", "/api/v1/namespaces/%E0%A4%A/pods", undefined, undefined],
            ["POST", configMaps, "application/json", configMap("deep", nested(50_000))],
            ["POST", configMaps, "application/json", '{"metadata":'],
            ["POST", configMaps, "application/yaml", "a: [\n  - b: {"],
            [
              "POST",
              "/api/v1/namespaces/default/pods",
              "application/vnd.kubernetes.protobuf",
              "k8s\u0000\u00ff\u00ff\u00ff"
            ],
            ["PATCH", `${configMaps}/x`, "application/json-patch+json", '[{"op":"move","from":"/a","path":"/a/b"}]'],
            ["PUT", "/api/v1/namespaces/default/pods/p", "application/json", "[1,2,3]"]
          ]
          for (const [method, path, contentType, body] of hostile) {
            const answer = yield* send(served, method, path, {
              ...(body === undefined ? {} : { body }),
              ...(contentType === undefined ? {} : { headers: { "Content-Type": contentType } })
            })
            assert.isAtLeast(answer.status, 400, `${method} ${path}`)
            assert.strictEqual(answer.body?.kind, "Status", `${method} ${path}: ${answer.text.slice(0, 300)}`)
            assert.isFalse(leaks(answer.text), `${method} ${path}: ${answer.text.slice(0, 500)}`)
          }
        })
      )
      // A KubeClient that dies with a message naming a file: the client learns only that the server failed.
      const dying = Layer.effect(
        KubeClient.KubeClient,
        Effect.gen(function* () {
          const kube = yield* KubeClient.KubeClient
          return { ...kube, list: () => Effect.die(new Error("cannot read /work/secret/state.json")) }
        })
      ).pipe(Layer.provide(MemoryKube.layer()))
      const answer = yield* Effect.gen(function* () {
        const served = yield* HttpApi.serve({ port: 0 })
        return yield* send(served, "GET", "/api/v1/nodes")
      }).pipe(Effect.scoped, Effect.provide(dying))
      assert.strictEqual(answer.status, 500)
      assert.deepInclude(answer.body, { reason: "InternalError", message: "Internal error occurred", code: 500 })
      assert.isFalse(leaks(answer.text), answer.text)
      assert.notInclude(answer.text, "secret")
    })
  )
})

describe("HttpApi access", () => {
  const token = "a-token-for-tests"

  it.live("with a token: 401 without it or with another, the API with it; health and version stay public", () =>
    withServer(
      (served) =>
        Effect.gen(function* () {
          for (const headers of [{}, { Authorization: "Bearer wrong" }, { Authorization: `Basic ${token}` }]) {
            const refused = yield* send(served, "GET", "/api/v1/namespaces", { headers })
            assert.strictEqual(refused.status, 401, JSON.stringify(headers))
            assert.deepInclude(refused.body, {
              kind: "Status",
              status: "Failure",
              message: "Unauthorized",
              reason: "Unauthorized",
              code: 401
            })
          }
          const deleted = yield* send(served, "DELETE", "/api/v1/namespaces/kube-system")
          assert.strictEqual(deleted.status, 401)
          const created = yield* send(served, "POST", configMaps, { body: configMap("anonymous", "{}") })
          assert.strictEqual(created.status, 401)
          const watched = yield* send(served, "GET", "/api/v1/pods?watch=true")
          assert.strictEqual(watched.status, 401)

          const authorized = { Authorization: `Bearer ${token}` }
          const listed = yield* send(served, "GET", "/api/v1/namespaces/kube-system", { headers: authorized })
          assert.strictEqual(listed.status, 200)
          // kube-apiserver's scheme is case-insensitive.
          const lower = yield* send(served, "GET", configMaps, { headers: { Authorization: `bearer ${token}` } })
          assert.strictEqual(lower.status, 200)
          assert.deepStrictEqual(lower.body.items, [])
          // system:public-info-viewer: /version, /healthz, /livez and /readyz need no credentials.
          assert.strictEqual((yield* send(served, "GET", "/version")).status, 200)
          for (const path of ["/healthz", "/livez", "/readyz"]) {
            assert.notStrictEqual((yield* send(served, "GET", path)).status, 401, path)
          }
        }),
      { token }
    )
  )

  it.live("only loopback Host names are answered: any other gets 403 (DNS rebinding)", () =>
    withServer(
      (served) =>
        Effect.gen(function* () {
          const authorized = { Authorization: `Bearer ${token}` }
          for (const host of [
            "localhost",
            `localhost:${served.port}`,
            "LocalHost:1",
            "127.0.0.1",
            "127.1.2.3:80",
            "[::1]",
            `[::1]:${served.port}`
          ]) {
            const answer = yield* send(served, "GET", "/api/v1/nodes", { headers: { ...authorized, Host: host } })
            assert.strictEqual(answer.status, 200, host)
          }
          for (const host of [
            "evil.example",
            `evil.example:${served.port}`,
            "127.0.0.1.evil.example",
            "localhost.evil.example",
            "10.0.0.1",
            "[::2]:80",
            "0.0.0.0"
          ]) {
            const answer = yield* send(served, "GET", "/api/v1/nodes", { headers: { ...authorized, Host: host } })
            assert.strictEqual(answer.status, 403, host)
            assert.strictEqual(answer.body.reason, "Forbidden")
          }
          // Public paths too: the check is about who is on the other end, not about credentials.
          assert.strictEqual(
            (yield* send(served, "GET", "/version", { headers: { Host: "evil.example" } })).status,
            403
          )
        }),
      { token }
    )
  )

  it.live("requests from a browser (Origin, Sec-Fetch-Site) get 403 and change nothing, even without a token", () =>
    withServer((served) =>
      Effect.gen(function* () {
        const forged = [
          { Origin: "https://evil.example", "Content-Type": "text/plain" },
          { Origin: "null", "Content-Type": "text/plain" },
          { Origin: `http://127.0.0.1:${served.port}` },
          { "Sec-Fetch-Site": "cross-site", "Content-Type": "text/plain" }
        ]
        for (const headers of forged) {
          const answer = yield* send(served, "POST", configMaps, { body: configMap("forged", "{}"), headers })
          assert.strictEqual(answer.status, 403, JSON.stringify(headers))
          assert.strictEqual(answer.body.reason, "Forbidden")
        }
        const preflight = yield* send(served, "OPTIONS", configMaps, {
          headers: { Origin: "https://evil.example", "Access-Control-Request-Method": "DELETE" }
        })
        assert.strictEqual(preflight.status, 403)
        assert.isUndefined(preflight.headers["access-control-allow-origin"])
        assert.strictEqual((yield* send(served, "GET", `${configMaps}/forged`)).status, 404)
        // A page the user opened by hand (Sec-Fetch-Site: none) is not a cross-site request.
        const typed = yield* send(served, "GET", "/api/v1/nodes", { headers: { "Sec-Fetch-Site": "none" } })
        assert.strictEqual(typed.status, 200)
      })
    )
  )
})
