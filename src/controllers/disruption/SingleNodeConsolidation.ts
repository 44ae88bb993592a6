/**
 * Single-node consolidation (upstream `disruption/singlenodeconsolidation.go`): the first candidate with pods,
 * cheapest to disrupt first and within its NodePool's budget, that can go alone — deleted, its pods moving to the
 * other nodes, or replaced by one strictly cheaper NodeClaim. A candidate Headroom rules out is not simulated; each one
 * that cannot go says why (Unconsolidatable). In a Balanced NodePool the move must also score high enough (Balanced.ts). The search has a deadline (3 minutes by default) checked between
 * candidates; cut short, it finds nothing this pass. The command is validated before it is carried out.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import { ClusterState } from "../../state/ClusterState.ts"
import * as Balanced from "./Balanced.ts"
import * as Budgets from "./Budgets.ts"
import * as Candidates from "./Candidates.ts"
import * as Metrics from "./DisruptionMetrics.ts"
import * as Headroom from "./Headroom.ts"
import * as Method from "./Method.ts"
import * as Planner from "./Planner.ts"
import * as SimulationInputs from "./SimulationInputs.ts"

/** Upstream `ShouldDisrupt` of consolidation. */
export const shouldDisrupt = Planner.isConsolidationCandidate

/** Whether the search tries the candidate: it has pods to move (empty ones are Emptiness's) and budget left. */
export const tries = (candidate: Candidates.Candidate, budgets: Budgets.Mapping): boolean =>
  candidate.reschedulablePods.length > 0 && Budgets.allows(budgets, candidate)

/** The single-node consolidation method; its search is cut after `timeoutMillis`. */
export const make = Effect.fn("SingleNodeConsolidation.make")(function* <E, R>(
  context: Method.Context<E, R>,
  timeoutMillis: number
) {
  const cluster = yield* ClusterState
  const mark = Method.consolidatedMark()
  // Why each candidate could not go when last simulated, and on what: the same inputs give the same answer.
  let refusals = new Map<string, { readonly inputs: SimulationInputs.Inputs; readonly why: string }>()
  // Untraced: called thousands of times a simulated day; a span and call frame each cost 1.5 µs.
  const computeCommand = Effect.fnUntraced(function* (
    state: Planner.Snapshot,
    candidates: ReadonlyArray<Candidates.Candidate>,
    budgets: Budgets.Mapping
  ) {
    const consolidationState = yield* cluster.consolidationState
    if (mark.isConsolidated(consolidationState)) return undefined
    const ordered = [...candidates].sort(Candidates.byDisruptionCost)
    yield* Metrics.reportEligible("Underutilized", ordered.length)
    const inputs = SimulationInputs.of(state)
    const previous = refusals
    refusals = new Map()
    const search = Effect.gen(function* () {
      for (const candidate of ordered) {
        if (!tries(candidate, budgets)) continue
        const price = Planner.candidatesPrice([candidate])
        // Upstream CanPassThreshold: if even deleting it would score too low in its Balanced pool, nothing will do.
        if (!Balanced.canPass(state, candidate, price)) continue
        const ruledOut = Headroom.ruledOut(state, candidate, price, context.settings)
        const refused = previous.get(candidate.name)
        const { command, why } =
          ruledOut !== undefined
            ? { command: undefined, why: ruledOut }
            : refused !== undefined && SimulationInputs.same(refused.inputs, inputs)
              ? { command: undefined, why: refused.why }
              : yield* Planner.computeConsolidation(state, [candidate], "single", context.settings)
        if (ruledOut === undefined && command === undefined) refusals.set(candidate.name, { inputs, why })
        if (command !== undefined) {
          const evaluation = Balanced.evaluate(state, command, Planner.candidatesPrice)
          yield* Balanced.record(command, evaluation)
          // A move its Balanced pool rejects is passed over without an event, as upstream does.
          if (evaluation.approved) return command
          continue
        }
        yield* Method.explain(candidate, "Unconsolidatable", why)
        yield* Effect.yieldNow
      }
      return undefined
    })
    const found = yield* Effect.timeoutOption(search, Duration.millis(timeoutMillis))
    if (Option.isNone(found)) {
      yield* Metric.update(
        Metric.withAttributes(Metrics.consolidationTimeoutsTotal, { consolidation_type: "single" }),
        1
      )
      yield* Effect.logInfo(
        `single-node consolidation timed out after ${Duration.format(Duration.millis(timeoutMillis))}`
      )
      return undefined
    }
    if (found.value === undefined) {
      mark.markConsolidated(consolidationState)
      return undefined
    }
    return yield* context.validate(found.value)
  })
  return {
    name: "single",
    reason: "Underutilized",
    disruptionClass: "graceful",
    shouldDisrupt,
    computeCommand
  } satisfies Method.Any
})
