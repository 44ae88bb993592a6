/** Letting the fibers a test started run until they block, without moving the virtual clock. */
import * as Effect from "effect/Effect"

/**
 * How many times {@link settle} yields. Each yield lets every runnable fiber take one turn (up to the scheduler's
 * operation budget), so this bounds the longest chain of fibers waking fibers a test waits for: informer → work queue
 * → reconcile → write → informer …, or the embedded control plane's deployment → replica set → pod → scheduler →
 * kubelet. Every suite passes with 50; once every fiber is blocked a spare yield costs one macrotask, so one generous
 * count serves them all.
 */
const rounds = 300

/** Lets every runnable fiber run until it blocks. */
export const settle: Effect.Effect<void> = Effect.gen(function* () {
  for (let i = 0; i < rounds; i++) yield* Effect.yieldNow
})
