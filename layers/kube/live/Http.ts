/**
 * One HTTP exchange with the API server over node:http(s): a request whose whole JSON answer is read, or a streamed
 * response for watches. Every transport failure becomes an {@link Errors.Failure} that says whether the request can
 * have reached the server. Interrupting an exchange (a timeout, a closed watch) destroys its request.
 */
import * as NodeHttp from "node:http"
import * as NodeHttps from "node:https"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as Config from "./Config.ts"
import * as Errors from "./Errors.ts"

/** A request to the API server. */
export interface Request {
  readonly method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE"
  /** The path under the server URL, e.g. `/api/v1/namespaces/default/pods`. */
  readonly path: string
  readonly query?: Readonly<Record<string, string | undefined>>
  /** JSON-encoded as the body. */
  readonly body?: unknown
  /** The body's Content-Type; default `application/json`. */
  readonly contentType?: string
}

/** A response read in full. */
export interface Response {
  readonly status: number
  readonly headers: NodeHttp.IncomingHttpHeaders
  readonly body: string
}

/** What every request carries besides its credentials. */
export interface Transport {
  readonly connection: Config.Connection
  readonly userAgent: string
}

/** Errors of connections that were never established: the server cannot have seen the request. */
const refusedCodes = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH", "EADDRNOTAVAIL"])

const describe = (error: unknown): string => {
  if (!(error instanceof Error)) return String(error)
  const code = (error as { readonly code?: unknown }).code
  return typeof code === "string" && !error.message.includes(code) ? `${error.message} (${code})` : error.message
}

/** The URL of a request: the path joins the server URL (keeping a path prefix it has), then the query. */
const urlOf = (server: URL, request: Request): URL => {
  const url = new URL(request.path.replace(/^\//, ""), server)
  for (const [name, value] of Object.entries(request.query ?? {})) {
    if (value !== undefined) url.searchParams.set(name, value)
  }
  return url
}

const requestLine = (request: Request): string => `${request.method} ${request.path}`

/** Sends the request; succeeds with the response as soon as its headers arrive. The Scope owns the request. */
export const open = (
  transport: Transport,
  target: Errors.Target,
  request: Request
): Effect.Effect<NodeHttp.IncomingMessage, Errors.Failure, Scope.Scope> =>
  Effect.gen(function* () {
    const credentials = yield* Effect.mapError(transport.connection.credentials, (error) =>
      Errors.unavailable(target, error.message, "unsent")
    )
    const url = urlOf(transport.connection.server, request)
    const body = request.body === undefined ? undefined : Buffer.from(JSON.stringify(request.body))
    const headers: NodeHttp.OutgoingHttpHeaders = {
      ...(credentials.headers as NodeHttp.OutgoingHttpHeaders),
      Accept: "application/json",
      "User-Agent": transport.userAgent,
      ...(body === undefined
        ? {}
        : { "Content-Type": request.contentType ?? "application/json", "Content-Length": String(body.length) })
    }
    let req: NodeHttp.ClientRequest | undefined
    yield* Effect.addFinalizer(() => Effect.sync(() => req?.destroy()))
    return yield* Effect.callback<NodeHttp.IncomingMessage, Errors.Failure>((resume) => {
      const send = url.protocol === "https:" ? NodeHttps.request : NodeHttp.request
      // An exec plugin's client certificate rides on the request: the agent keeps a pool per certificate.
      const sent = send(url, { method: request.method, headers, agent: transport.connection.agent, ...credentials.tls })
      req = sent
      let settled = false
      const settle = (effect: Effect.Effect<NodeHttp.IncomingMessage, Errors.Failure>) => {
        if (settled) return
        settled = true
        resume(effect)
      }
      sent.on("response", (res) => {
        // Errors after the headers surface through the body reader; this listener only keeps them from crashing Node.
        res.on("error", () => {})
        settle(Effect.succeed(res))
      })
      sent.on("error", (error) => {
        const code = (error as { readonly code?: unknown }).code
        // A reset on a reused keep-alive socket before any answer: the server closed it idle and never read ours.
        const unsent =
          (typeof code === "string" && refusedCodes.has(code)) ||
          (sent.reusedSocket && (code === "ECONNRESET" || code === "EPIPE"))
        settle(
          Effect.fail(
            Errors.unavailable(target, `${requestLine(request)}: ${describe(error)}`, unsent ? "unsent" : "unknown")
          )
        )
      })
      sent.end(body)
    })
  })

/** Reads a whole response body as text. */
export const readAll = (
  target: Errors.Target,
  request: Request,
  res: NodeHttp.IncomingMessage
): Effect.Effect<string, Errors.Failure> =>
  Effect.callback<string, Errors.Failure>((resume) => {
    const chunks: Array<Buffer> = []
    res.on("data", (chunk: Buffer) => chunks.push(chunk))
    res.on("end", () => resume(Effect.succeed(Buffer.concat(chunks).toString("utf8"))))
    res.on("error", (error) =>
      resume(Effect.fail(Errors.unavailable(target, `${requestLine(request)}: ${describe(error)}`, "unknown")))
    )
  })

/** The lines of a streamed response body (newline-delimited JSON for watches). */
export const lines = (
  target: Errors.Target,
  request: Request,
  res: NodeHttp.IncomingMessage
): Stream.Stream<string, Errors.Failure> =>
  Stream.fromAsyncIterable(res as AsyncIterable<Uint8Array>, (error) =>
    Errors.unavailable(target, `${requestLine(request)}: ${describe(error)}`, "unknown")
  ).pipe(Stream.decodeText(), Stream.splitLines)

/** Fails with a timeout (a KubeUnavailable that may have reached the server) when `effect` takes longer. */
export const within =
  (target: Errors.Target, request: Request, timeout: Duration.Duration) =>
  <A, R>(effect: Effect.Effect<A, Errors.Failure, R>): Effect.Effect<A, Errors.Failure, R> =>
    Effect.timeoutOrElse(effect, {
      duration: timeout,
      orElse: () =>
        Effect.fail(
          Errors.unavailable(target, `${requestLine(request)}: no answer within ${Duration.format(timeout)}`, "unknown")
        )
    })

/** Sends a request and reads its answer; the whole exchange must finish within `timeout`. */
export const send = (
  transport: Transport,
  target: Errors.Target,
  request: Request,
  timeout: Duration.Duration
): Effect.Effect<Response, Errors.Failure> =>
  Effect.scoped(
    Effect.flatMap(open(transport, target, request), (res) =>
      Effect.map(readAll(target, request, res), (body) => ({ status: res.statusCode ?? 0, headers: res.headers, body }))
    )
  ).pipe(within(target, request, timeout))
