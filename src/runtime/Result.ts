/**
 * What a reconcile (or a singleton run) asks for next: nothing until the next change, or another run after a delay
 * (controller-runtime's `reconcile.Result`, kube-rs's `Action`). Failing with a typed error asks for a retry with backoff.
 */
import * as Duration from "effect/Duration"

/** Nothing more to do until the object (or something it watches) changes. */
export interface Done {
  readonly _tag: "Done"
}

/** Run again after `delay`, even if nothing changes. */
export interface RequeueAfter {
  readonly _tag: "RequeueAfter"
  readonly delay: Duration.Duration
}

/** The outcome of a successful reconcile. */
export type Result = Done | RequeueAfter

/** Nothing more to do until the next change. */
export const done: Result = { _tag: "Done" }

/** Run again after `delay` (0 means right away). */
export const requeueAfter = (delay: Duration.Input): Result => ({
  _tag: "RequeueAfter",
  delay: Duration.fromInputUnsafe(delay)
})

/** Run again right away (after any other queued work). */
export const requeue: Result = { _tag: "RequeueAfter", delay: Duration.zero }

/**
 * The result that runs again soonest (upstream `pkg/utils/result.Min`, how a reconciler of several steps merges
 * theirs): the shortest `RequeueAfter`, a requeue now included; `done` only if every result is.
 */
export const min = (...results: ReadonlyArray<Result>): Result =>
  results.reduce<Result>(
    (soonest, result) =>
      result._tag === "Done" ||
      (soonest._tag === "RequeueAfter" && Duration.isLessThanOrEqualTo(soonest.delay, result.delay))
        ? soonest
        : result,
    done
  )
