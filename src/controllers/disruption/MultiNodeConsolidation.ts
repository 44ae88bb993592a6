/**
 * Multi-node consolidation (upstream `disruption/multinodeconsolidation.go`): the longest prefix (two nodes at least)
 * of the cheapest-to-disrupt candidates with pods that can all go at once — deleted, their pods moving to the other
 * nodes, or replaced by one strictly cheaper NodeClaim. The binary search over prefixes has a deadline (1 minute by
 * default) checked between simulations: what it found by then is used. In Balanced NodePools a prefix's move must also
 * score high enough (Balanced.ts). The command is validated before it is carried out.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import { ClusterState } from "../../state/ClusterState.ts"
import * as Balanced from "./Balanced.ts"
import * as Budgets from "./Budgets.ts"
import * as Candidates from "./Candidates.ts"
import * as Metrics from "./DisruptionMetrics.ts"
import * as Method from "./Method.ts"
import * as Planner from "./Planner.ts"

/** The most candidates one search considers (upstream `ComputeCommand`'s `maxParallel`). */
export const maxCandidates = 100

/** Upstream `ShouldDisrupt` of consolidation. */
export const shouldDisrupt = Planner.isConsolidationCandidate

/**
 * The candidates the search takes prefixes of: those with pods to move (empty ones are Emptiness's), cheapest to
 * disrupt first, as many as each NodePool's budget allows, {@link maxCandidates} at most.
 */
export const batch = (
  candidates: ReadonlyArray<Candidates.Candidate>,
  budgets: Budgets.Mapping
): ReadonlyArray<Candidates.Candidate> =>
  Budgets.take(
    [...candidates].sort(Candidates.byDisruptionCost).filter((c) => c.reschedulablePods.length > 0),
    budgets,
    maxCandidates
  ).taken

/** The multi-node consolidation method; its search is cut after `timeoutMillis`. */
export const make = Effect.fn("MultiNodeConsolidation.make")(function* <E, R>(
  context: Method.Context<E, R>,
  timeoutMillis: number
) {
  const cluster = yield* ClusterState
  const mark = Method.consolidatedMark()
  // Untraced: called thousands of times a simulated day; a span and call frame each cost 1.5 µs.
  const computeCommand = Effect.fnUntraced(function* (
    state: Planner.Snapshot,
    candidates: ReadonlyArray<Candidates.Candidate>,
    budgets: Budgets.Mapping
  ) {
    const consolidationState = yield* cluster.consolidationState
    if (mark.isConsolidated(consolidationState)) return undefined
    const chosen = batch(candidates, budgets)
    if (chosen.length < 2) {
      mark.markConsolidated(consolidationState)
      return undefined
    }
    // The last move a Balanced pool rejected: counted once after the search when nothing was found (upstream).
    let rejected: { readonly command: Planner.Command; readonly evaluation: Balanced.Evaluation } | undefined
    const { best, timedOut } = yield* Planner.longestPrefix(
      chosen.length,
      (size) =>
        Effect.map(
          Planner.computeConsolidation(state, chosen.slice(0, size), "multi", context.settings),
          ({ command }) => {
            if (command === undefined) return undefined
            const evaluation = Balanced.evaluate(state, command, Planner.candidatesPrice)
            if (evaluation.approved) return { command, evaluation }
            rejected = { command, evaluation }
            return undefined
          }
        ),
      Duration.millis(timeoutMillis)
    )
    const scored = best ?? rejected
    if (scored !== undefined) yield* Balanced.record(scored.command, scored.evaluation)
    if (timedOut) {
      yield* Metric.update(
        Metric.withAttributes(Metrics.consolidationTimeoutsTotal, { consolidation_type: "multi" }),
        1
      )
      yield* Effect.logInfo(
        `multi-node consolidation timed out after ${Duration.format(Duration.millis(timeoutMillis))}; ${best === undefined ? "nothing found" : "using the best command found"}`
      )
    }
    if (best === undefined) {
      // A search cut short may find a command next time, the cluster unchanged.
      if (!timedOut) mark.markConsolidated(consolidationState)
      return undefined
    }
    return yield* context.validate(best.command)
  })
  return {
    name: "multi",
    reason: "Underutilized",
    disruptionClass: "graceful",
    shouldDisrupt,
    computeCommand
  } satisfies Method.Any
})
