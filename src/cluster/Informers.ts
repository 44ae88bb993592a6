/**
 * Helpers of the embedded control plane's controllers over the informers they take from the process's InformerCache.
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as Resource from "../kube/Resource.ts"
import type * as Informer from "../runtime/Informer.ts"

/**
 * Runs `f` on every change `informer` publishes from now on, in a fiber of the current Scope. For relations a
 * Controller's `watches` cannot map synchronously (node → the pods on it, pod → the PDBs selecting it).
 */
export const onChange = Effect.fn("Informers.onChange")(function* <A extends Resource.KubeObject, R>(
  informer: Informer.Informer<A>,
  f: (change: Informer.Change<A>) => Effect.Effect<void, never, R>
): Effect.fn.Return<void, never, R | Scope.Scope> {
  const changes = yield* informer.subscribe
  yield* Stream.runForEach(changes, f).pipe(Effect.forkScoped)
})
