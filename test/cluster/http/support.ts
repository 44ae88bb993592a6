/**
 * Test support for the HTTP façade: a server over a fresh in-memory cluster, JSON requests with fetch, and a line
 * reader for watch streams.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as MemoryKube from "../../../layers/kube/memory/MemoryKubeClient.ts"
import * as Faults from "../../../src/cluster/http/Faults.ts"
import * as HttpApi from "../../../src/cluster/http/HttpApi.ts"
import type * as KubeClient from "../../../src/kube/KubeClient.ts"

/** What a test body may use. */
export type Services = KubeClient.KubeClient | MemoryKube.MemoryApiServer | Faults.Faults | Scope.Scope

/** Runs `body` against a server on a fresh in-memory cluster; the server closes when `body` ends. */
export const withServer = <A, E>(
  body: (served: HttpApi.Served) => Effect.Effect<A, E, Services>,
  options?: HttpApi.Options
): Effect.Effect<A, E | HttpApi.HttpApiError> =>
  Effect.gen(function* () {
    const served = yield* HttpApi.serve({ port: 0, ...options })
    return yield* body(served)
  }).pipe(Effect.scoped, Effect.provide(Layer.mergeAll(MemoryKube.layer(), Faults.Faults.layer)))

/** A response: status, headers and the parsed JSON body. */
export interface Response {
  readonly status: number
  readonly headers: Headers
  readonly body: any
}

/** Sends a request; `body` is sent as JSON unless it is a string. */
export const request = (
  served: HttpApi.Served,
  method: string,
  path: string,
  options?: { readonly body?: unknown; readonly contentType?: string; readonly accept?: string }
): Effect.Effect<Response> =>
  Effect.promise(async () => {
    const headers: Record<string, string> = {}
    if (options?.body !== undefined) headers["Content-Type"] = options.contentType ?? "application/json"
    if (options?.accept !== undefined) headers.Accept = options.accept
    const response = await fetch(`${served.url}${path}`, {
      method,
      headers,
      ...(options?.body === undefined
        ? {}
        : { body: typeof options.body === "string" ? options.body : JSON.stringify(options.body) })
    })
    const text = await response.text()
    return { status: response.status, headers: response.headers, body: text === "" ? undefined : JSON.parse(text) }
  })

/** An open watch: `next` reads the next event, or undefined once the server ended the stream. */
export interface WatchReader {
  readonly status: number
  readonly next: Effect.Effect<any>
  /** Reads until the stream ends; fails if it ends abruptly (connection reset). */
  readonly closed: Effect.Effect<"ended" | "reset">
}

/** Opens a watch, aborted when the scope closes. */
export const watch = (served: HttpApi.Served, path: string): Effect.Effect<WatchReader, never, Scope.Scope> =>
  Effect.gen(function* () {
    const abort = new AbortController()
    yield* Effect.addFinalizer(() => Effect.sync(() => abort.abort()))
    const response = yield* Effect.promise(() => fetch(`${served.url}${path}`, { signal: abort.signal }))
    const reader = response.body!.getReader()
    const decoder = new TextDecoder()
    let buffer = ""
    const nextLine = async (): Promise<string | undefined> => {
      while (!buffer.includes("\n")) {
        const chunk = await reader.read()
        if (chunk.done) return undefined
        buffer += decoder.decode(chunk.value, { stream: true })
      }
      const index = buffer.indexOf("\n")
      const line = buffer.slice(0, index)
      buffer = buffer.slice(index + 1)
      return line
    }
    return {
      status: response.status,
      next: Effect.promise(async () => {
        const line = await nextLine()
        return line === undefined ? undefined : JSON.parse(line)
      }),
      closed: Effect.promise(async () => {
        try {
          while ((await nextLine()) !== undefined) {}
          return "ended" as const
        } catch {
          return "reset" as const
        }
      })
    }
  })
