/**
 * The KubeClient of a real Kubernetes API server, over a kubeconfig or the in-cluster configuration and credentials
 * (Config.ts) and plain HTTP requests built from the resource descriptors. Every request passes a
 * client-side token bucket (QPS/Burst, per client: the leader-election client gets its own), has a timeout (watches:
 * until their headers), and is retried with backoff when that is safe; failures are mapped once to the typed
 * KubeErrors. Patches are merge patches unless the caller asks for a JSON patch.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Random from "effect/Random"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as KubeClient from "../../../src/kube/KubeClient.ts"
import type * as KubeError from "../../../src/kube/KubeError.ts"
import * as Resource from "../../../src/kube/Resource.ts"
import * as Resources from "../../../src/kube/Resources.ts"
import { version } from "../../../src/operator/Version.ts"
import * as Config from "./Config.ts"
import * as Errors from "./Errors.ts"
import * as Http from "./Http.ts"
import * as Interning from "./Interning.ts"
import * as RateLimiter from "./RateLimiter.ts"
import * as Retry from "./Retry.ts"
import * as Json from "./UntypedJson.ts"
import * as Watch from "./Watch.ts"

/** The kubeconfig is missing, unreadable or names a context or cluster it does not have. */
export { ConfigError } from "./Config.ts"

/** How to reach the API server and how hard to push it. */
export interface Options {
  /** A kubeconfig path; default: $KUBECONFIG, then in-cluster (service account), then ~/.kube/config. */
  readonly kubeconfig?: string
  /** The kubeconfig context; default: its current context. */
  readonly context?: string
  /** Talk to this URL directly, without credentials (plain http allowed): the embedded cluster and tests. */
  readonly server?: string
  /** Sustained requests per second; default 200 (upstream KUBE_CLIENT_QPS). 0 or less disables the limiter. */
  readonly qps?: number
  /** Requests allowed at once above the sustained rate; default 300 (upstream KUBE_CLIENT_BURST). */
  readonly burst?: number
  readonly userAgent?: string
  /** The longest a request may take (a watch: until the server accepts it); default 30 s. */
  readonly requestTimeout?: Duration.Input
  /** Retries of a failed request when a retry is safe; default 5. */
  readonly retries?: number
  /** The first retry delay, doubling per retry; default 200 ms. */
  readonly retryDelay?: Duration.Input
  /** The longest retry delay; default 5 s. */
  readonly maxRetryDelay?: Duration.Input
}

const groupPath = (resource: Resource.Resource<Resource.KubeObject>): string =>
  resource.group === "" ? `/api/${resource.version}` : `/apis/${resource.group}/${resource.version}`

/** The collection URL path; a namespaced kind without a namespace means every namespace. */
const collectionPath = (resource: Resource.Resource<Resource.KubeObject>, namespace: string | undefined): string =>
  `${groupPath(resource)}${
    resource.namespaced && namespace !== undefined ? `/namespaces/${encodeURIComponent(namespace)}` : ""
  }/${resource.plural}`

/** The namespace an object of `resource` lives in: none for cluster-scoped kinds, else `default` unless given. */
const namespaceOf = (resource: Resource.Resource<Resource.KubeObject>, namespace: string | undefined) =>
  !resource.namespaced ? undefined : namespace === undefined || namespace === "" ? "default" : namespace

const itemPath = (
  resource: Resource.Resource<Resource.KubeObject>,
  namespace: string | undefined,
  name: string,
  subresource?: string
): string =>
  `${collectionPath(resource, namespace)}/${encodeURIComponent(name)}${subresource === undefined ? "" : `/${subresource}`}`

const targetOf = (
  resource: Resource.Resource<Resource.KubeObject>,
  namespace: string | undefined,
  name: string
): Errors.Target => ({
  resource: Resource.qualifiedName(resource),
  name: namespace === undefined || name === "" ? name : `${namespace}/${name}`
})

const contentTypes = { merge: "application/merge-patch+json", json: "application/json-patch+json" } as const

/** Narrows a failure to the errors an operation declares. */
const narrowing =
  <Tag extends KubeError.KubeError["_tag"]>(...allowed: ReadonlyArray<Tag>) =>
  <A, R>(effect: Effect.Effect<A, Errors.Failure, R>) =>
    Effect.mapError(effect, (failure) => Errors.narrow(failure.error, allowed))

/** A KubeClient with its own connection pool, rate limiter and retry policy, for the life of the Scope. */
export const make = Effect.fn("LiveKubeClient.make")(function* (
  options?: Options
): Effect.fn.Return<KubeClient.KubeClient["Service"], Config.ConfigError, Scope.Scope> {
  const connection = yield* Config.connect(yield* Config.load(options ?? {}))
  const transport: Http.Transport = { connection, userAgent: options?.userAgent ?? `karpenter-effect/${version}` }
  const limiter = RateLimiter.make({ qps: options?.qps ?? 200, burst: options?.burst ?? 300 })
  const timeout = Duration.fromInputUnsafe(options?.requestTimeout ?? Duration.seconds(30))
  const policy: Retry.Policy = {
    retries: options?.retries ?? 5,
    baseMillis: Duration.toMillis(Duration.fromInputUnsafe(options?.retryDelay ?? Duration.millis(200))),
    maxMillis: Duration.toMillis(Duration.fromInputUnsafe(options?.maxRetryDelay ?? Duration.seconds(5)))
  }

  /** One attempt: wait for a token, send, and fail with the mapped error unless the answer is a success. */
  const attempt = (target: Errors.Target, request: Http.Request): Effect.Effect<Http.Response, Errors.Failure> =>
    limiter.take.pipe(
      Effect.andThen(Http.send(transport, target, request, timeout)),
      Effect.flatMap((response) =>
        response.status >= 200 && response.status < 300
          ? Effect.succeed(response)
          : Effect.fail(Errors.fromResponse(target, response.status, response.body, response.headers["retry-after"]))
      )
    )

  const exchange = (target: Errors.Target, request: Http.Request, safety: Retry.Safety) =>
    Retry.run(policy, safety, attempt(target, request))

  const json = (target: Errors.Target, response: Http.Response): Effect.Effect<unknown, Errors.Failure> =>
    Effect.suspend(() => {
      const parsed = Json.parse(response.body)
      return parsed === undefined
        ? Effect.fail(
            Errors.malformed(target, `the API server answered with something other than JSON: ${response.body}`)
          )
        : Effect.succeed(parsed)
    })

  // Objects outlive their requests in the informers' caches: they are compacted once decoded.
  const interning = Interning.make()
  const decoder =
    <A extends Resource.KubeObject, I>(resource: Resource.Resource<A, I>, target: Errors.Target) =>
    (raw: unknown): Effect.Effect<A, Errors.Failure> =>
      resource.decode(raw).pipe(
        Effect.map((decoded) => {
          interning.objects(decoded)
          return decoded
        }),
        Effect.mapError((error) => Errors.malformed(target, error.message))
      )

  /** A request whose answer is an object of `resource`. */
  const object = <A extends Resource.KubeObject, I>(
    resource: Resource.Resource<A, I>,
    target: Errors.Target,
    request: Http.Request,
    safety: Retry.Safety
  ): Effect.Effect<A, Errors.Failure> =>
    exchange(target, request, safety).pipe(
      Effect.flatMap((response) => json(target, response)),
      Effect.flatMap(decoder(resource, target))
    )

  const list = <A extends Resource.KubeObject, I>(
    resource: Resource.Resource<A, I>,
    options: KubeClient.ListOptions | undefined
  ): Effect.Effect<KubeClient.ListResult<A>, Errors.Failure> => {
    const target = targetOf(resource, undefined, "")
    const request: Http.Request = {
      method: "GET",
      path: collectionPath(resource, options?.namespace),
      query: {
        labelSelector: options?.labelSelector,
        fieldSelector: options?.fieldSelector,
        limit: options?.limit === undefined ? undefined : String(options.limit),
        continue: options?.continue
      }
    }
    return exchange(target, request, "idempotent").pipe(
      Effect.flatMap((response) => json(target, response)),
      Effect.flatMap((body) => {
        const metadata = Json.objectAt(body, "metadata")
        const items = Json.objectAt(body).items
        const next = Json.stringAt(metadata, "continue")
        return Effect.map(
          Effect.forEach(Array.isArray(items) ? items : [], decoder(resource, target)),
          (decoded): KubeClient.ListResult<A> => ({
            items: decoded,
            resourceVersion: Json.stringAt(metadata, "resourceVersion") ?? "",
            ...(next === undefined ? {} : { continue: next })
          })
        )
      })
    )
  }

  const watch = <A extends Resource.KubeObject, I>(
    resource: Resource.Resource<A, I>,
    options: KubeClient.WatchOptions | undefined
  ): Stream.Stream<KubeClient.WatchEvent<A>, KubeError.Invalid | KubeError.Expired | KubeError.KubeUnavailable> => {
    const target = targetOf(resource, undefined, "")
    const selection = {
      ...(options?.namespace === undefined ? {} : { namespace: options.namespace }),
      ...(options?.labelSelector === undefined ? {} : { labelSelector: options.labelSelector }),
      ...(options?.fieldSelector === undefined ? {} : { fieldSelector: options.fieldSelector })
    }
    const connect = (resourceVersion: string) =>
      Effect.gen(function* () {
        // Like client-go's reflector: the server ends the watch after 5–10 min, so a silently dead connection is
        // replaced in bounded time.
        const timeoutSeconds = yield* Random.nextIntBetween(300, 600)
        const request: Http.Request = {
          method: "GET",
          path: collectionPath(resource, options?.namespace),
          query: {
            watch: "true",
            resourceVersion,
            labelSelector: options?.labelSelector,
            fieldSelector: options?.fieldSelector,
            allowWatchBookmarks: options?.allowBookmarks === true ? "true" : undefined,
            timeoutSeconds: String(timeoutSeconds)
          }
        }
        yield* limiter.take
        const res = yield* Http.open(transport, target, request).pipe(Http.within(target, request, timeout))
        if (res.statusCode === 200) return Http.lines(target, request, res)
        const body = yield* Http.readAll(target, request, res).pipe(Http.within(target, request, timeout))
        return yield* Effect.fail(Errors.fromResponse(target, res.statusCode ?? 0, body, res.headers["retry-after"]))
      })
    return Watch.stream({
      target,
      ...(options?.resourceVersion === undefined ? {} : { resourceVersion: options.resourceVersion }),
      allowBookmarks: options?.allowBookmarks === true,
      list: list(resource, selection),
      connect,
      decode: decoder(resource, target),
      policy
    }).pipe(Stream.mapError((failure) => Errors.narrow(failure.error, ["Invalid", "Expired"])))
  }

  /** A JSON patch repeats safely only when a `test` op guards it (a repeat then fails the test instead of reapplying). */
  const patchSafety = (patch: KubeClient.Patch): Retry.Safety =>
    patch.type === "merge" || patch.patch.some((operation) => operation.op === "test") ? "idempotent" : "unsent"

  return KubeClient.KubeClient.of({
    get: Effect.fn("LiveKubeClient.get")(function* <A extends Resource.KubeObject, I>(
      resource: Resource.Resource<A, I>,
      name: string,
      options?: { readonly namespace?: string }
    ) {
      const namespace = namespaceOf(resource, options?.namespace)
      const target = targetOf(resource, namespace, name)
      return yield* object(
        resource,
        target,
        { method: "GET", path: itemPath(resource, namespace, name) },
        "idempotent"
      ).pipe(narrowing("NotFound"))
    }),
    list: Effect.fn("LiveKubeClient.list")(function* <A extends Resource.KubeObject, I>(
      resource: Resource.Resource<A, I>,
      options?: KubeClient.ListOptions
    ) {
      return yield* list(resource, options).pipe(narrowing("Invalid", "Expired"))
    }),
    watch,
    create: Effect.fn("LiveKubeClient.create")(function* <A extends Resource.KubeObject, I>(
      resource: Resource.Resource<A, I>,
      body: I,
      options?: { readonly namespace?: string }
    ) {
      const metadata = Json.objectAt(body, "metadata")
      const namespace = namespaceOf(resource, options?.namespace ?? Json.stringAt(metadata, "namespace"))
      const target = targetOf(resource, namespace, Json.stringAt(metadata, "name") ?? "")
      // POST is not idempotent: repeated only when the server surely never saw it, so a retry cannot create twice
      // (with generateName) or answer AlreadyExists about the object this very call created.
      return yield* object(
        resource,
        target,
        { method: "POST", path: collectionPath(resource, namespace), body },
        "unsent"
      ).pipe(narrowing("AlreadyExists", "Invalid", "NotFound"))
    }),
    replace: Effect.fn("LiveKubeClient.replace")(function* <A extends Resource.KubeObject, I>(
      resource: Resource.Resource<A, I>,
      body: I,
      options?: KubeClient.WriteOptions
    ) {
      const metadata = Json.objectAt(body, "metadata")
      const name = Json.stringAt(metadata, "name") ?? ""
      const namespace = namespaceOf(resource, options?.namespace ?? Json.stringAt(metadata, "namespace"))
      const target = targetOf(resource, namespace, name)
      const path = itemPath(resource, namespace, name, options?.subresource)
      return yield* object(resource, target, { method: "PUT", path, body }, "idempotent").pipe(
        narrowing("NotFound", "Conflict", "Invalid")
      )
    }),
    patch: Effect.fn("LiveKubeClient.patch")(function* <A extends Resource.KubeObject, I>(
      resource: Resource.Resource<A, I>,
      name: string,
      patch: KubeClient.Patch,
      options?: KubeClient.WriteOptions
    ) {
      const namespace = namespaceOf(resource, options?.namespace)
      const target = targetOf(resource, namespace, name)
      const request: Http.Request = {
        method: "PATCH",
        path: itemPath(resource, namespace, name, options?.subresource),
        body: patch.patch,
        contentType: contentTypes[patch.type]
      }
      return yield* object(resource, target, request, patchSafety(patch)).pipe(
        narrowing("NotFound", "Conflict", "Invalid")
      )
    }),
    delete: Effect.fn("LiveKubeClient.delete")(function* <A extends Resource.KubeObject, I>(
      resource: Resource.Resource<A, I>,
      name: string,
      options?: KubeClient.DeleteOptions
    ) {
      const namespace = namespaceOf(resource, options?.namespace)
      const target = targetOf(resource, namespace, name)
      const body = {
        apiVersion: "v1",
        kind: "DeleteOptions",
        ...(options?.gracePeriodSeconds === undefined ? {} : { gracePeriodSeconds: options.gracePeriodSeconds }),
        ...(options?.preconditions === undefined ? {} : { preconditions: options.preconditions }),
        ...(options?.propagationPolicy === undefined ? {} : { propagationPolicy: options.propagationPolicy })
      }
      yield* exchange(target, { method: "DELETE", path: itemPath(resource, namespace, name), body }, "idempotent").pipe(
        narrowing("NotFound", "Conflict")
      )
    }),
    evict: Effect.fn("LiveKubeClient.evict")(function* (
      namespace: string,
      name: string,
      options?: { readonly gracePeriodSeconds?: number }
    ) {
      const body = {
        apiVersion: "policy/v1",
        kind: "Eviction",
        metadata: { name, namespace },
        ...(options?.gracePeriodSeconds === undefined
          ? {}
          : { deleteOptions: { gracePeriodSeconds: options.gracePeriodSeconds } })
      }
      // A repeated eviction is harmless (the pod is already terminating, so it is just deleted); a budget's 429 is
      // final and reaches the caller, while throttling 429s are retried.
      const path = itemPath(Resources.Pods, namespace, name, "eviction")
      yield* exchange(targetOf(Resources.Pods, namespace, name), { method: "POST", path, body }, "idempotent").pipe(
        narrowing("NotFound", "TooManyRequests", "Conflict")
      )
    }),
    bind: Effect.fn("LiveKubeClient.bind")(function* (namespace: string, name: string, nodeName: string) {
      const target = targetOf(Resources.Pods, namespace, name)
      const body = {
        apiVersion: "v1",
        kind: "Binding",
        metadata: { name, namespace },
        target: { apiVersion: "v1", kind: "Node", name: nodeName }
      }
      let uncertain = false
      const once = attempt(target, {
        method: "POST",
        path: itemPath(Resources.Pods, namespace, name, "binding"),
        body
      }).pipe(
        Effect.tapError((failure) =>
          Effect.sync(() => {
            if (failure.delivery === "unknown") uncertain = true
          })
        )
      )
      yield* Retry.run(policy, "idempotent", once).pipe(
        // After an attempt that may have been applied, "already assigned" can be this call's own binding.
        Effect.catch((failure) =>
          failure.error._tag === "Conflict" && uncertain
            ? exchange(target, { method: "GET", path: itemPath(Resources.Pods, namespace, name) }, "idempotent").pipe(
                Effect.flatMap((response) => json(target, response)),
                Effect.flatMap((raw) =>
                  Json.objectAt(raw, "spec").nodeName === nodeName ? Effect.void : Effect.fail(failure)
                )
              )
            : Effect.fail(failure)
        ),
        narrowing("NotFound", "Conflict")
      )
    })
  })
})

/** The KubeClient layer of {@link make}. */
export const layer = (options?: Options): Layer.Layer<KubeClient.KubeClient, Config.ConfigError> =>
  Layer.effect(KubeClient.KubeClient, make(options))
