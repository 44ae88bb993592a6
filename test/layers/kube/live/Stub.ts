/**
 * A scripted API server for the live client's tests: a node:http server (node:https when given TLS options) on
 * 127.0.0.1:0 that records every request and answers through a handler the test provides.
 */
import * as NodeHttp from "node:http"
import * as NodeHttps from "node:https"
import type * as Tls from "node:tls"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"

/** A request the stub received. */
export interface Recorded {
  readonly method: string
  readonly path: string
  readonly query: URLSearchParams
  readonly headers: NodeHttp.IncomingHttpHeaders
  /** The raw body text ("" when none). */
  readonly text: string
  /** The body parsed as JSON, when it was. */
  readonly body: unknown
  /** The SHA-256 fingerprint of the client certificate the connection presented (TLS only). */
  readonly clientCertificate?: string
}

/** How the stub answers: `index` counts the requests so far (from 0). */
export type Handler = (request: Recorded, res: NodeHttp.ServerResponse, index: number) => void

/** A running stub. */
export interface Stub {
  readonly url: string
  readonly requests: ReadonlyArray<Recorded>
}

/** Writes a JSON answer. */
export const reply = (
  res: NodeHttp.ServerResponse,
  status: number,
  body: unknown,
  headers?: Record<string, string>
) => {
  res.writeHead(status, { "Content-Type": "application/json", ...headers })
  res.end(JSON.stringify(body))
}

/** A metav1.Status failure body. */
export const status = (code: number, reason: string, message: string, details?: Record<string, unknown>) => ({
  kind: "Status",
  apiVersion: "v1",
  metadata: {},
  status: "Failure",
  message,
  reason,
  ...(details === undefined ? {} : { details }),
  code
})

/** Starts a stub for the Scope; with `tls`, an HTTPS one. */
export const serve = (handler: Handler, tls?: NodeHttps.ServerOptions): Effect.Effect<Stub, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.callback<{ readonly stub: Stub; readonly server: NodeHttp.Server }>((resume) => {
      const requests: Array<Recorded> = []
      const listener: NodeHttp.RequestListener = (req, res) => {
        const chunks: Array<Buffer> = []
        req.on("data", (chunk: Buffer) => chunks.push(chunk))
        req.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8")
          let body: unknown
          try {
            body = text === "" ? undefined : JSON.parse(text)
          } catch {
            body = undefined
          }
          const url = new URL(req.url ?? "/", "http://stub")
          const peer = tls === undefined ? undefined : (req.socket as Tls.TLSSocket).getPeerCertificate()
          const recorded: Recorded = {
            method: req.method ?? "",
            path: url.pathname,
            query: url.searchParams,
            headers: req.headers,
            text,
            body,
            ...(peer?.fingerprint256 === undefined ? {} : { clientCertificate: peer.fingerprint256 })
          }
          requests.push(recorded)
          handler(recorded, res, requests.length - 1)
        })
      }
      const server = tls === undefined ? NodeHttp.createServer(listener) : NodeHttps.createServer(tls, listener)
      server.listen(0, "127.0.0.1", () => {
        const address = server.address()
        const port = typeof address === "object" && address !== null ? address.port : 0
        const scheme = tls === undefined ? "http" : "https"
        resume(Effect.succeed({ stub: { url: `${scheme}://127.0.0.1:${port}`, requests }, server }))
      })
    }),
    ({ server }) =>
      Effect.callback<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  ).pipe(Effect.map(({ stub }) => stub))

/** Polls `check` every 10 ms until it holds (by default for at most ~10 s). */
export const eventually = <E, R>(
  check: Effect.Effect<boolean, E, R>,
  options?: { readonly times?: number }
): Effect.Effect<void, E | string, R> =>
  Effect.flatMap(check, (holds) => (holds ? Effect.void : Effect.fail("condition never held"))).pipe(
    Effect.retry({ schedule: Schedule.spaced("10 millis"), times: options?.times ?? 1000 })
  )

/** {@link eventually} for a synchronous check. */
export const until = (check: () => boolean): Effect.Effect<void, string> => eventually(Effect.sync(check))
