/**
 * The HTTP API façade: serves any KubeClient over the Kubernetes REST and watch protocol, so that kubectl and
 * @kubernetes/client-node talk to the embedded cluster as to a real one (../shared/reference/kube-api.md).
 *
 * Built on `node:http`: each request runs as a fiber of the server's Scope (interrupted when its client goes away),
 * watches stream newline-delimited JSON over a chunked response, and closing the Scope closes the listener and
 * every open connection, watches included. Faults come from the {@link Faults.Faults} service when the context has
 * one, else from a private switch (reachable over HTTP with `faultInjection: true`).
 *
 * Served over HTTPS when given a key and certificate. Before a request is read, {@link Access} decides whether it may
 * be served (loopback Host names only, no browser requests, the bearer token when the server has one); its body may
 * not exceed kube-apiserver's 3 MiB, and is never buffered past that. A failure the handlers did not expect is logged
 * here and answered with a bare 500 Status: a response never carries a stack trace or a path of this machine.
 *
 * Not served: protobuf bodies of kinds outside Protobuf.ts (415), aggregated discovery (kubectl uses the legacy
 * documents) and server-side apply's field ownership (applied fields are merged in; `force` and conflicts are
 * ignored).
 */
import * as Http from "node:http"
import * as Https from "node:https"
import type { AddressInfo } from "node:net"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberSet from "effect/FiberSet"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as KubeClient from "../../kube/KubeClient.ts"
import * as Resources from "../../kube/Resources.ts"
import * as Access from "./Access.ts"
import * as AccessReviews from "./AccessReviews.ts"
import * as CustomResourceDefinitions from "./CustomResourceDefinitions.ts"
import * as Discovery from "./Discovery.ts"
import * as Faults from "./Faults.ts"
import * as Handlers from "./Handlers.ts"
import * as LocalObjects from "./LocalObjects.ts"
import * as Routes from "./Routes.ts"
import * as Status from "./Status.ts"
import * as Table from "./Table.ts"

/** Where and how to serve. */
export interface Options {
  /** Default "127.0.0.1". Whatever the address, only requests addressed to a loopback name are answered. */
  readonly host?: string
  /** Default 0: any free port. */
  readonly port?: number
  /** Serve the fault switch at `/karpenter-effect/faults` (default false). */
  readonly faultInjection?: boolean
  /**
   * The bearer token every request must carry, but for /healthz, /livez, /readyz and /version (401 without it).
   * Default: none, no authentication (in-process tests); `dev` always sets one unless `--insecure`.
   */
  readonly token?: string | undefined
  /** Serve HTTPS with this key and certificate (PEM); default: plain HTTP. */
  readonly tls?: { readonly key: string; readonly cert: string } | undefined
}

/** A running server. */
export interface Served {
  readonly url: string
  readonly host: string
  readonly port: number
}

/** The server could not start (the port is in use, the host cannot be bound, ...). */
export class HttpApiError extends Schema.TaggedError<HttpApiError>()("HttpApiError", {
  message: Schema.String
}) {}

/**
 * A kubeconfig (YAML) pointing at `url`, with the server's bearer token and the certificate to trust when it has them
 * (kubectl sends a token only over TLS); else `insecure-skip-tls-verify`, which lets client-node use http.
 */
export const kubeconfigYaml = (
  url: string,
  options?: {
    readonly name?: string
    readonly namespace?: string
    readonly token?: string | undefined
    /** The PEM certificate of the server, or of its authority. */
    readonly certificateAuthority?: string | undefined
  }
): string => {
  const name = options?.name ?? "karpenter-effect"
  return [
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    `- name: ${name}`,
    "  cluster:",
    `    server: ${JSON.stringify(url)}`,
    options?.certificateAuthority === undefined
      ? "    insecure-skip-tls-verify: true"
      : `    certificate-authority-data: ${Buffer.from(options.certificateAuthority).toString("base64")}`,
    "users:",
    `- name: ${name}`,
    options?.token === undefined ? "  user: {}" : `  user:\n    token: ${JSON.stringify(options.token)}`,
    "contexts:",
    `- name: ${name}`,
    "  context:",
    `    cluster: ${name}`,
    `    user: ${name}`,
    `    namespace: ${options?.namespace ?? "default"}`,
    `current-context: ${name}`,
    ""
  ].join("\n")
}

/** An open watch connection, for the fault switch. */
interface OpenWatch {
  readonly response: Http.ServerResponse
  readonly expired: Deferred.Deferred<void>
}

const writeJson = (response: Http.ServerResponse, code: number, body: unknown, headers?: Http.OutgoingHttpHeaders) => {
  const text = JSON.stringify(body)
  response.writeHead(code, {
    "Content-Type": "application/json",
    "Content-Length": Buffer.byteLength(text),
    ...headers
  })
  response.end(text)
}

const writeFailure = (response: Http.ServerResponse, failure: Status.Failure) => {
  if (response.headersSent) {
    response.destroy()
    return
  }
  writeJson(
    response,
    failure.code,
    failure.status,
    failure.retryAfterSeconds === undefined ? undefined : { "Retry-After": String(failure.retryAfterSeconds) }
  )
}

/** Writes a line, waiting for the socket to drain when its buffer is full. */
const writeLine = (response: Http.ServerResponse, value: unknown): Effect.Effect<void> =>
  Effect.callback<void>((resume) => {
    if (response.write(`${JSON.stringify(value)}\n`)) resume(Effect.void)
    else response.once("drain", () => resume(Effect.void))
  })

/** kube-apiserver's limit on a request body (its `--max-request-body-bytes` default). */
export const maxBodyBytes = 3 * 1024 * 1024

const tooLarge = Status.failure(413, `Request entity too large: limit is ${maxBodyBytes}`)

/** The URL of a request target, or undefined when it is not one or its path has a malformed %-escape. */
const requestTarget = (target: string | undefined) => {
  try {
    const url = new URL(target ?? "/", "http://localhost")
    decodeURIComponent(url.pathname)
    return url
  } catch {
    return undefined
  }
}

// kube-apiserver wraps the error in its message; here the details stay in the server's log.
const internalError = Status.failure(500, "Internal error occurred")

const expiredEvent = (resourceVersion: string) =>
  Handlers.errorEvent(Status.failure(410, `too old resource version: ${resourceVersion}`, { reason: "Expired" }))

/** Serves the KubeClient in the context over the Kubernetes API until the Scope closes. */
export const serve = Effect.fn("HttpApi.serve")(function* (
  options?: Options
): Effect.fn.Return<Served, HttpApiError, KubeClient.KubeClient | Scope.Scope> {
  const kube = yield* KubeClient.KubeClient
  const provided = yield* Effect.serviceOption(Faults.Faults)
  const faults = provided._tag === "Some" ? provided.value : yield* Faults.make
  const faultInjection = options?.faultInjection ?? false
  const crds = CustomResourceDefinitions.make(yield* Clock.currentTimeMillis)
  const locals = LocalObjects.make()
  const access = Access.make({ token: options?.token })
  const watches = new Set<OpenWatch>()
  // Set by expireWatches: resourceVersions of the KubeClient below it are "compacted" and get 410.
  let expiredBefore: number | undefined

  yield* faults.register({
    drop: Effect.sync(() => {
      for (const watch of watches) watch.response.destroy()
    }),
    expire: Effect.gen(function* () {
      const page = yield* Effect.option(kube.list(Resources.Namespaces, { limit: 1 }))
      if (page._tag === "Some") expiredBefore = Number(page.value.resourceVersion)
      LocalObjects.compact(locals)
      yield* Effect.forEach([...watches], (watch) => Deferred.succeed(watch.expired, undefined), { discard: true })
    })
  })

  const streamWatch = (
    response: Http.ServerResponse,
    reply: Extract<Handlers.Reply, { _tag: "Watch" }>,
    kind: Discovery.Kind | undefined,
    from: string | null
  ) =>
    Effect.gen(function* () {
      // Registered before the headers go out, so a fault injected once the client sees them reaches this watch.
      const watch: OpenWatch = { response, expired: yield* Deferred.make<void>() }
      watches.add(watch)
      yield* Effect.addFinalizer(() => Effect.sync(() => watches.delete(watch)))
      response.writeHead(200, { "Content-Type": "application/json", "Cache-Control": "no-cache" })
      response.flushHeaders()
      // "0" and no version at all mean "any state", which is never too old. The kinds the façade stores itself count
      // versions of their own, and expire them themselves.
      const requested = from === null || from === "" || from === "0" ? Number.NaN : Number(from)
      if (kind?.resource !== undefined && expiredBefore !== undefined && requested < expiredBefore) {
        yield* writeLine(response, expiredEvent(from ?? ""))
        response.end()
        return
      }
      const asTable = reply.table && kind !== undefined
      const events = reply.events.pipe(
        Stream.mapEffect((event) =>
          asTable && (event.type === "ADDED" || event.type === "MODIFIED" || event.type === "DELETED")
            ? Effect.map(Clock.currentTimeMillis, (now) => ({
                type: event.type,
                object: Table.make(kind, [event.object], now)
              }))
            : Effect.succeed(event)
        )
      )
      yield* Effect.raceAll([
        Stream.runForEach(events, (event) => writeLine(response, event)),
        Effect.flatMap(Deferred.await(watch.expired), () => writeLine(response, expiredEvent(from ?? ""))),
        reply.timeoutSeconds === undefined || reply.timeoutSeconds <= 0
          ? Effect.never
          : Effect.sleep(Duration.seconds(reply.timeoutSeconds))
      ])
      response.end()
    }).pipe(Effect.scoped)

  const answer = (request: Handlers.Request, response: Http.ServerResponse, serverAddress: string) =>
    Effect.gen(function* () {
      const route = Routes.route(request.path, faultInjection)
      const watching = request.query.get("watch") === "true" || request.query.get("watch") === "1"
      if (route._tag !== "Faults") {
        const fault = yield* faults.take({ method: request.method, path: request.path, watch: watching })
        if (fault?.hang === true) return yield* Effect.never
        if (fault !== undefined) {
          const code = fault.code ?? 500
          return yield* Status.failure(
            code,
            fault.message ?? "injected fault",
            code === 429 ? { retryAfterSeconds: 1 } : {}
          )
        }
      }
      const reply: Handlers.Reply = yield* dispatch(route, request, serverAddress)
      if (reply._tag === "Json") {
        writeJson(response, reply.code, reply.body, {
          ...(reply.contentType === undefined ? {} : { "Content-Type": reply.contentType }),
          // RFC 7234 warnings as kube-apiserver sends them: code 299, no agent, the text quoted.
          ...(reply.warnings === undefined
            ? {}
            : { Warning: reply.warnings.map((text) => `299 - ${JSON.stringify(text)}`) })
        })
      } else {
        const kind = route._tag === "Resource" ? route.target.kind : undefined
        yield* streamWatch(response, reply, kind, request.query.get("resourceVersion"))
      }
    }).pipe(
      Effect.catch((failure) => Effect.sync(() => writeFailure(response, failure))),
      Effect.catchCause((cause) =>
        Cause.hasInterruptsOnly(cause)
          ? Effect.void
          : Effect.logError(`HttpApi: ${request.method} ${request.path} failed unexpectedly`, cause).pipe(
              Effect.andThen(Effect.sync(() => writeFailure(response, internalError)))
            )
      )
    )

  const dispatch = (
    route: Routes.Route,
    request: Handlers.Request,
    serverAddress: string
  ): Effect.Effect<Handlers.Reply, Status.Failure> => {
    switch (route._tag) {
      case "NotFound":
        return Effect.fail(Status.failure(404, "the server could not find the requested resource", { details: {} }))
      case "Document":
        return request.method === "GET"
          ? Effect.succeed(Handlers.json(200, route.body))
          : Effect.fail(Handlers.methodNotAllowed(request))
      case "ApiVersions":
        return Effect.succeed(Handlers.json(200, Discovery.apiVersions(serverAddress)))
      case "Bindings":
        return request.method === "POST"
          ? Handlers.bind(kube)(route.namespace, undefined, request)
          : Effect.fail(Handlers.methodNotAllowed(request))
      case "Faults":
        return faultSwitch(route.action, request)
      case "Resource": {
        const resource = route.target.kind.resource
        if (resource !== undefined) return Handlers.handle(kube, resource, route.target, request)
        if (AccessReviews.isReview(route.target.kind)) return AccessReviews.handle(route.target, request)
        return route.target.kind === Discovery.customResourceDefinitions
          ? CustomResourceDefinitions.handle(crds, route.target, request)
          : LocalObjects.handle(locals, route.target, request)
      }
    }
  }

  const faultSwitch = (action: "faults" | "drop-watches" | "expire-watches", request: Handlers.Request) =>
    Effect.gen(function* () {
      if (action === "faults" && request.method === "DELETE") yield* faults.clear
      else if (request.method !== "POST") return yield* Handlers.methodNotAllowed(request)
      else if (action === "drop-watches") yield* faults.dropWatches
      else if (action === "expire-watches") yield* faults.expireWatches
      else {
        const body = yield* Handlers.parseBody(request)
        const fault = yield* Schema.decodeUnknownEffect(Faults.Fault)(body).pipe(
          Effect.mapError((error) => Status.failure(400, `invalid fault: ${error.message}`))
        )
        yield* faults.inject(fault)
      }
      return Handlers.json(200, Status.success(200))
    })

  const runFork = yield* FiberSet.makeRuntime<never>()
  const server = options?.tls === undefined ? Http.createServer() : Https.createServer(options.tls)
  const host = options?.host ?? "127.0.0.1"
  const port = yield* Effect.acquireRelease(
    Effect.callback<number, HttpApiError>((resume) => {
      const onError = (error: Error) =>
        resume(
          Effect.fail(new HttpApiError({ message: `cannot listen on ${host}:${options?.port ?? 0}: ${error.message}` }))
        )
      server.once("error", onError)
      server.listen(options?.port ?? 0, host, () => {
        server.off("error", onError)
        resume(Effect.succeed((server.address() as AddressInfo).port))
      })
    }),
    () =>
      Effect.callback<void>((resume) => {
        server.close(() => resume(Effect.void))
        server.closeAllConnections()
      })
  )
  const serverAddress = `${host}:${port}`
  server.on("request", (incoming: Http.IncomingMessage, response: Http.ServerResponse) => {
    // Answered before the body is read: node discards what the client still sends.
    const url = requestTarget(incoming.url)
    if (url === undefined) return writeFailure(response, Status.failure(400, "the request URL is malformed"))
    const refused = access(url.pathname, incoming.headers)
    if (refused !== undefined) return writeFailure(response, refused)
    if (Number(incoming.headers["content-length"] ?? 0) > maxBodyBytes) return writeFailure(response, tooLarge)
    // Counted as it streams in (a chunked body declares no length): past the limit it is answered and discarded.
    const chunks: Array<Buffer> = []
    let size = 0
    incoming.on("data", (chunk: Buffer) => {
      if (size > maxBodyBytes) return
      size += chunk.length
      if (size <= maxBodyBytes) chunks.push(chunk)
      else {
        chunks.length = 0
        writeFailure(response, tooLarge)
      }
    })
    // A client that goes away mid-body: nothing to answer.
    incoming.on("error", () => response.destroy())
    incoming.on("end", () => {
      if (size > maxBodyBytes) return
      const body = Buffer.concat(chunks)
      const request: Handlers.Request = {
        method: incoming.method ?? "GET",
        path: url.pathname,
        query: url.searchParams,
        contentType: incoming.headers["content-type"] ?? "application/json",
        accept: incoming.headers.accept,
        body: body.toString("utf8"),
        bytes: body
      }
      const fiber = runFork(answer(request, response, serverAddress))
      // The response's close (not the request's) marks a client gone, or the answer done.
      response.on("close", () => fiber.interruptUnsafe())
    })
  })
  const url = `${options?.tls === undefined ? "http" : "https"}://${host.includes(":") ? `[${host}]` : host}:${port}`
  return { url, host, port }
})
