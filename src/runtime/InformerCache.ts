/**
 * The informer cache of a process (controller-runtime's cache, client-go's `SharedInformerFactory`): one informer per
 * resource and selection, started by the first caller and shared with every later one, so the API server sees one
 * LIST and one WATCH per resource however many controllers read it, and each object is decoded and cached once.
 * Its informers live as long as the cache — the process — whoever asked first: controllers that stop (leadership
 * lost) leave them running, so a new leader starts on warm caches, as controller-runtime's Manager does.
 */
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import type { KubeClient, Selection } from "../kube/KubeClient.ts"
import type * as Resource from "../kube/Resource.ts"
import * as Informer from "./Informer.ts"

/** The InformerCache service. */
export class InformerCache extends Context.Service<
  InformerCache,
  {
    /** The informer of `resource` and `selection`: started on the first call, the same one on every later call. */
    informer<A extends Resource.KubeObject, I>(
      resource: Resource.Resource<A, I>,
      selection?: Selection
    ): Effect.Effect<Informer.Informer<A>>
    /** Every informer started so far, in start order. */
    readonly informers: Effect.Effect<ReadonlyArray<Informer.Syncable>>
  }
>()("karpenter-effect/runtime/InformerCache") {}

const keyOf = (resource: Resource.Resource<Resource.KubeObject>, selection: Selection | undefined): string =>
  JSON.stringify([
    resource.apiVersion,
    resource.plural,
    selection?.namespace ?? "",
    selection?.labelSelector ?? "",
    selection?.fieldSelector ?? ""
  ])

/**
 * Builds a cache whose informers run on the KubeClient, in the current Scope and with the current context (logs,
 * Clock), whichever fiber asks for them.
 */
export const make: Effect.Effect<InformerCache["Service"], never, KubeClient | Scope.Scope> = Effect.gen(function* () {
  const scope = yield* Effect.scope
  const context = yield* Effect.context<KubeClient>()
  const entries = new Map<
    string,
    {
      readonly resource: Resource.Resource<Resource.KubeObject>
      readonly informer: Deferred.Deferred<Informer.Informer<Resource.KubeObject>>
    }
  >()
  const started: Array<Informer.Syncable> = []

  const informer = <A extends Resource.KubeObject, I>(
    resource: Resource.Resource<A, I>,
    selection?: Selection
  ): Effect.Effect<Informer.Informer<A>> =>
    Effect.suspend(() => {
      const key = keyOf(resource, selection)
      const entry = entries.get(key)
      if (entry !== undefined) {
        // One key, one decoding: two descriptors of the same resource would hand out objects of the wrong type.
        if (entry.resource !== resource) return Effect.die(`two resource descriptors for ${key}`)
        return Deferred.await(entry.informer) as Effect.Effect<Informer.Informer<A>>
      }
      const deferred = Deferred.makeUnsafe<Informer.Informer<Resource.KubeObject>>()
      entries.set(key, { resource, informer: deferred })
      // Uninterruptible: callers waiting on the Deferred must not be stranded by the first caller's interruption.
      return Informer.make(resource, selection).pipe(
        Effect.tap((made) =>
          Effect.andThen(
            Effect.sync(() => started.push(made)),
            Deferred.succeed(deferred, made as unknown as Informer.Informer<Resource.KubeObject>)
          )
        ),
        Scope.provide(scope),
        Effect.provideContext(context),
        Effect.uninterruptible
      )
    })

  return InformerCache.of({ informer, informers: Effect.sync(() => started.slice()) })
})

/** A cache per build of the Layer: provide it once per process (tests running several processes build it in each). */
export const layer: Layer.Layer<InformerCache, never, KubeClient> = Layer.effect(InformerCache, make)

/** The process's informer of `resource` and `selection` (see {@link InformerCache}). */
export const informer = <A extends Resource.KubeObject, I>(
  resource: Resource.Resource<A, I>,
  selection?: Selection
): Effect.Effect<Informer.Informer<A>, never, InformerCache> =>
  Effect.flatMap(Effect.service(InformerCache), (cache) => cache.informer(resource, selection))
