/**
 * Emptiness (upstream `disruption/emptiness.go`): deletes consolidatable nodes that have no pods to move, as many at
 * once as the NodePools' budgets allow, cheapest to disrupt first. The command waits the validation TTL and is checked
 * again: a node that got a pod meanwhile stays.
 */
import * as Effect from "effect/Effect"
import { ClusterState } from "../../state/ClusterState.ts"
import * as Budgets from "./Budgets.ts"
import * as Candidates from "./Candidates.ts"
import * as Metrics from "./DisruptionMetrics.ts"
import * as Method from "./Method.ts"
import * as Planner from "./Planner.ts"

/** Upstream `ShouldDisrupt`: a consolidatable candidate with no pods to move. */
export const shouldDisrupt = (candidate: Candidates.Candidate): boolean =>
  Planner.consolidatable(candidate) && candidate.reschedulablePods.length === 0

/**
 * The empty candidates to delete: cheapest to disrupt first, as many as each NodePool's budget allows; `constrained`
 * when a budget turned one away.
 */
export const select = (
  candidates: ReadonlyArray<Candidates.Candidate>,
  budgets: Budgets.Mapping
): Budgets.Taken<Candidates.Candidate> => Budgets.take([...candidates].sort(Candidates.byDisruptionCost), budgets)

/** The Emptiness method. */
export const make = Effect.fn("Emptiness.make")(function* <E, R>(context: Method.Context<E, R>) {
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
    // Upstream v1.14: a node holding CapacityBuffer virtual pods is not empty — deleting it would only relaunch it.
    const empty: Array<Candidates.Candidate> = []
    for (const candidate of candidates) {
      if (!state.bufferNodes.has(candidate.name)) empty.push(candidate)
      else yield* Method.explain(candidate, "Unconsolidatable", `Node "${candidate.name}" has buffer pods`)
    }
    yield* Metrics.reportEligible("Empty", empty.length)
    const { taken, constrained } = select(empty, budgets)
    if (taken.length === 0) {
      // A budget that blocks every empty node now may allow one later without any change to the cluster.
      if (!constrained) mark.markConsolidated(consolidationState)
      return undefined
    }
    return yield* context.validate({ reason: "Empty", method: "empty", candidates: taken, replacements: [] })
  })
  return {
    name: "empty",
    reason: "Empty",
    disruptionClass: "graceful",
    shouldDisrupt,
    computeCommand
  } satisfies Method.Any
})
