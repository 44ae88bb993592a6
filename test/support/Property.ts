/**
 * Property tests on fast-check: every check runs with a fixed seed, so CI runs are reproducible, and a failure is
 * shrunk to a small counterexample. fast-check's report gives the seed and the `path` of the shrunk case; passing both
 * in the parameters replays exactly that case.
 */
import * as Effect from "effect/Effect"
import * as fc from "fast-check"

/** fast-check's run parameters, the seed and the number of cases required (`path` replays one reported case). */
export type Parameters = Pick<fc.Parameters, "path" | "endOnFailure"> & {
  readonly seed: number
  readonly numRuns: number
  /**
   * How many candidates shrinking may run after the first failure, for properties whose every case is expensive (a
   * whole cluster): past it, the smallest counterexample found so far is reported. Unbounded when left out.
   */
  readonly shrinkRuns?: number
}

/**
 * Checks an Effect-valued property with fast-check, each case run with the calling test's services (its TestClock,
 * its Scope). A case fails when its Effect fails or dies, e.g. on an assertion; the test then fails with fast-check's
 * report of the shrunk counterexample.
 */
export const check = <A, E, R>(
  arbitrary: fc.Arbitrary<A>,
  property: (value: A) => Effect.Effect<void, E, R>,
  { shrinkRuns = Number.POSITIVE_INFINITY, ...parameters }: Parameters
): Effect.Effect<void, never, R> =>
  Effect.flatMap(Effect.context<R>(), (context) => {
    const run = Effect.runPromiseWith(context)
    let failed = false
    let shrinks = 0
    return Effect.promise(() =>
      fc.assert(
        fc.asyncProperty(arbitrary, async (value) => {
          // Once the budget is spent every further candidate passes unrun, so shrinking ends where it stands.
          if (failed && ++shrinks > shrinkRuns) return
          await run(property(value)).catch((error: unknown) => {
            failed = true
            throw error
          })
        }),
        parameters
      )
    )
  })

/**
 * One of `choices`, each drawn with probability proportional to its weight (integers); shrinking moves towards the
 * first choice, so list the simplest one first.
 */
export const weighted = <A>(
  ...choices: ReadonlyArray<readonly [weight: number, arbitrary: fc.Arbitrary<A>]>
): fc.Arbitrary<A> =>
  fc.oneof({ withCrossShrink: true }, ...choices.map(([weight, arbitrary]) => ({ weight, arbitrary })))

/** A value of `arbitrary` with `probability` (to a hundredth), otherwise undefined, which it shrinks to. */
export const sometimes = <A>(probability: number, arbitrary: fc.Arbitrary<A>): fc.Arbitrary<A | undefined> =>
  weighted<A | undefined>(
    [Math.round((1 - probability) * 100), fc.constant(undefined)],
    [Math.round(probability * 100), arbitrary]
  )

/** `true` with `probability` (to a hundredth); shrinks to `false`. */
export const chance = (probability: number): fc.Arbitrary<boolean> =>
  sometimes(probability, fc.constant(true)).map((value) => value === true)
