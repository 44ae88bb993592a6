/**
 * Drift (upstream `disruption/drift.go`): replaces nodes whose NodeClaim is Drifted, oldest drift first. Every empty
 * drifted node the budgets allow goes at once, without a simulation; otherwise the first drifted node whose pods would
 * all reschedule (on other nodes or on replacements) goes alone, and those whose pods would not say why. Drift is
 * eventual: it may take nodes whose pods a TerminationGracePeriod lets it wait out, and it is not validated again.
 */
import * as Effect from "effect/Effect"
import * as ConditionTypes from "../../api/Conditions.ts"
import * as NodePoolApi from "../../api/NodePool.ts"
import * as Budgets from "./Budgets.ts"
import * as Candidates from "./Candidates.ts"
import * as Metrics from "./DisruptionMetrics.ts"
import * as Method from "./Method.ts"
import * as Planner from "./Planner.ts"

/** Upstream `ShouldDisrupt`: the candidate's NodeClaim is Drifted and not a static NodePool's (StaticDrift's). */
export const shouldDisrupt = (candidate: Candidates.Candidate): boolean =>
  !NodePoolApi.isStatic(candidate.nodePool) && Candidates.hasCondition(candidate, ConditionTypes.Drifted)

/** Oldest drift first (upstream sorts by the Drifted condition's transition), then cheapest to disrupt. */
export const order = (candidates: ReadonlyArray<Candidates.Candidate>): Array<Candidates.Candidate> =>
  [...candidates].sort((a, b) => Candidates.driftedAt(a) - Candidates.driftedAt(b) || Candidates.byDisruptionCost(a, b))

/** The empty drifted candidates (in drift order) that go together at once: as many as the budgets allow. */
export const empties = (
  ordered: ReadonlyArray<Candidates.Candidate>,
  budgets: Budgets.Mapping
): ReadonlyArray<Candidates.Candidate> =>
  Budgets.take(
    ordered.filter((c) => c.reschedulablePods.length === 0),
    budgets
  ).taken

/** The Drift method, its simulations run with `settings`. */
export const make = (settings: Planner.ConsolidationSettings) => {
  // Untraced: called thousands of times a simulated day; a span and call frame each cost 1.5 µs.
  const computeCommand = Effect.fnUntraced(function* (
    state: Planner.Snapshot,
    candidates: ReadonlyArray<Candidates.Candidate>,
    budgets: Budgets.Mapping
  ) {
    const drifted = order(candidates)
    yield* Metrics.reportEligible("Drifted", drifted.length)
    const empty = empties(drifted, budgets)
    if (empty.length > 0) {
      return { reason: "Drifted", method: "drift", candidates: empty, replacements: [] } satisfies Planner.Command
    }
    // No empty node took a disruption, so the budgets are whole; a node with pods to move goes alone.
    for (const candidate of drifted) {
      if (!Budgets.allows(budgets, candidate)) continue
      const results = yield* Planner.simulate(state, [candidate], settings)
      if ("podErrors" in results) {
        yield* Method.explain(candidate, "DisruptionBlocked", Planner.podSchedulingErrors(results.podErrors))
        continue
      }
      return {
        reason: "Drifted",
        method: "drift",
        candidates: [candidate],
        replacements: results.newNodeClaims
      } satisfies Planner.Command
    }
    return undefined
  })
  return {
    name: "drift",
    reason: "Drifted",
    disruptionClass: "eventual",
    shouldDisrupt,
    computeCommand
  } satisfies Method.Any
}
