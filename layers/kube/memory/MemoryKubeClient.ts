/**
 * The KubeClient backed by the in-memory API server: the same code path as production for every controller test,
 * the embedded cluster and `simulate`. Timestamps come from the Clock, so TestClock and the virtual clock apply.
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"
import * as KubeClient from "../../../src/kube/KubeClient.ts"
import * as KubeError from "../../../src/kube/KubeError.ts"
import type { KubeObject, Resource } from "../../../src/kube/Resource.ts"
import { ApiServer, type Operation, type Options } from "./ApiServer.ts"

export { ApiServer, type Operation, type Options } from "./ApiServer.ts"

/** Test and emulation hooks on the in-memory server. */
export class MemoryApiServer extends Context.Service<
  MemoryApiServer,
  {
    /** The engine itself, for the embedded cluster's emulated control plane. */
    readonly server: ApiServer
    /** Forget the event history: watches from older resourceVersions fail with Expired. */
    readonly compact: Effect.Effect<void>
    /** Every open watch fails with KubeUnavailable. */
    readonly dropWatches: Effect.Effect<void>
    /** The next `count` calls of `operation` fail (default: KubeUnavailable 503). */
    failNext(operation: Operation, count: number, error?: KubeError.KubeError): Effect.Effect<void>
    readonly resourceVersion: Effect.Effect<string>
  }
>()("karpenter-effect/layers/kube/memory/MemoryApiServer") {}

const isKubeError = (error: unknown): error is KubeError.KubeError =>
  error instanceof KubeError.NotFound ||
  error instanceof KubeError.Conflict ||
  error instanceof KubeError.AlreadyExists ||
  error instanceof KubeError.Invalid ||
  error instanceof KubeError.TooManyRequests ||
  error instanceof KubeError.Expired ||
  error instanceof KubeError.KubeUnavailable

/**
 * Runs an engine call at the Clock's time, in one step (every request of a simulated day passes here); its thrown
 * KubeErrors become typed failures, anything else (a stored object that does not decode included) is a defect.
 */
const call = <A>(body: (now: number) => A): Effect.Effect<A, KubeError.KubeError> =>
  Effect.clockWith((clock) => {
    try {
      return Effect.succeed(body(clock.currentTimeMillisUnsafe()))
    } catch (error) {
      if (isKubeError(error)) return Effect.fail(error)
      throw error
    }
  })

// Stored objects are immutable and handed out by reference, so each stored version is decoded once — when the server
// validated it — however many informers, gets and lists read it: decoding per reader was the largest cost of a
// simulated day. A failure here is a bug (the object passed validation on write): it throws, a defect.
const decode = <A extends KubeObject, I>(resource: Resource<A, I>, raw: unknown): A =>
  resource.decodeStoredUnsafe(raw as object)

// The contract narrows each method's error channel; the engine throws only the errors each operation can raise.
const narrow = <A, E>(effect: Effect.Effect<A, KubeError.KubeError>) => effect as Effect.Effect<A, E>

const watch = <A extends KubeObject, I>(
  server: ApiServer,
  resource: Resource<A, I>,
  options: KubeClient.WatchOptions | undefined
): Stream.Stream<KubeClient.WatchEvent<A>, KubeError.Invalid | KubeError.Expired | KubeError.KubeUnavailable> =>
  Stream.callback<KubeClient.WatchEvent<unknown>, KubeError.KubeError>((queue) =>
    Effect.acquireRelease(
      call(() =>
        server.watch(
          resource,
          options ?? {},
          (event) => {
            Queue.offerUnsafe(queue, event)
          },
          (error) => {
            Queue.failCauseUnsafe(queue, Cause.fail(error))
          }
        )
      ),
      (stop) => Effect.sync(stop)
    )
  ).pipe(
    Stream.map(
      (event): KubeClient.WatchEvent<A> =>
        event.type === "BOOKMARK" ? event : { type: event.type, object: decode(resource, event.object) }
    ),
    (stream) =>
      stream as Stream.Stream<
        KubeClient.WatchEvent<A>,
        KubeError.Invalid | KubeError.Expired | KubeError.KubeUnavailable
      >
  )

/** A KubeClient over `server`. */
export const makeClient = (server: ApiServer): KubeClient.KubeClient["Service"] => ({
  get: (resource, name, options) =>
    narrow(call(() => decode(resource, server.get(resource, name, options?.namespace)))),
  list: (resource, options) =>
    narrow(
      call(() => {
        const page = server.list(resource, options)
        return {
          items: page.items.map((raw) => decode(resource, raw)),
          resourceVersion: page.resourceVersion,
          ...(page.continue === undefined ? {} : { continue: page.continue })
        }
      })
    ),
  watch: (resource, options) => watch(server, resource, options),
  create: (resource, object, options) =>
    narrow(call((now) => decode(resource, server.create(resource, object, { namespace: options?.namespace, now })))),
  replace: (resource, object, options) =>
    narrow(
      call((now) =>
        decode(
          resource,
          server.replace(resource, object, { namespace: options?.namespace, subresource: options?.subresource, now })
        )
      )
    ),
  patch: (resource, name, patch, options) =>
    narrow(
      call((now) =>
        decode(
          resource,
          server.patch(resource, name, patch, { namespace: options?.namespace, subresource: options?.subresource, now })
        )
      )
    ),
  delete: (resource, name, options) =>
    narrow(
      Effect.asVoid(
        call((now) =>
          server.delete(resource, name, {
            namespace: options?.namespace,
            gracePeriodSeconds: options?.gracePeriodSeconds,
            preconditions: options?.preconditions,
            propagationPolicy: options?.propagationPolicy,
            now
          })
        )
      )
    ),
  evict: (namespace, name, options) =>
    narrow(call((now) => server.evict(namespace, name, { gracePeriodSeconds: options?.gracePeriodSeconds, now }))),
  bind: (namespace, name, nodeName) => narrow(call((now) => server.bind(namespace, name, nodeName, now)))
})

/** A KubeClient on a fresh in-memory API server started at the Clock's time, with its test hooks. */
export const layer = (options?: Options): Layer.Layer<KubeClient.KubeClient | MemoryApiServer> =>
  Layer.effectContext(
    Effect.map(Clock.currentTimeMillis, (now) => {
      const server = new ApiServer(options, now)
      const hooks = MemoryApiServer.of({
        server,
        compact: Effect.sync(() => server.compact()),
        dropWatches: Effect.sync(() => server.dropWatches()),
        failNext: (operation, count, error) => Effect.sync(() => server.failNext(operation, count, error)),
        resourceVersion: Effect.sync(() => server.resourceVersion)
      })
      return Context.make(KubeClient.KubeClient, KubeClient.KubeClient.of(makeClient(server))).pipe(
        Context.add(MemoryApiServer, hooks)
      )
    })
  )
