/**
 * Validation of a consolidation command (upstream `disruption/validation.go`): the command waits the validation TTL
 * (upstream consolidationTTL), then must still hold on a fresh snapshot — every candidate still a consolidatable
 * candidate (an empty one still empty), all of them within budget together, and a consolidation still finding a
 * command of the same kind (delete or replace) for them. Pod churn during the wait abandons it.
 */

import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Budgets from "./Budgets.ts"
import type * as Candidates from "./Candidates.ts"
import * as Planner from "./Planner.ts"

/**
 * The command's candidates as they are now (`current`: the graceful candidates of a fresh snapshot, by name), when
 * every one is still a consolidatable candidate (an Empty command's still without pods to move) and the budgets of the
 * command's reason allow them all at once; undefined otherwise.
 */
export const revalidate = (
  command: Planner.Command,
  current: ReadonlyMap<string, Candidates.Candidate>,
  budgets: Budgets.Mapping
): ReadonlyArray<Candidates.Candidate> | undefined => {
  const still: Array<Candidates.Candidate> = []
  for (const candidate of command.candidates) {
    const now = current.get(candidate.name)
    if (now === undefined || !Planner.consolidatable(now)) return undefined
    if (command.reason === "Empty" && now.reschedulablePods.length > 0) return undefined
    still.push(now)
  }
  return Budgets.take(still, budgets).constrained ? undefined : still
}

/** How a command is validated: the wait, the fresh snapshot, and the settings of the simulations. */
export interface Options<E, R> {
  readonly ttl: Duration.Input
  readonly snapshot: Effect.Effect<Planner.Snapshot, E, R>
  readonly settings: Planner.ConsolidationSettings
}

/** Waits the TTL, then returns the command as it holds now, or undefined when it no longer does. */
export const make = <E, R>(options: Options<E, R>) =>
  Effect.fn("Validation.validate")(function* (command: Planner.Command) {
    yield* Effect.sleep(options.ttl)
    const state = yield* options.snapshot
    const still = revalidate(
      command,
      new Map(Planner.candidatesFor(state, "graceful").map((c) => [c.name, c])),
      Planner.budgetMapping(state, command.reason)
    )
    if (still === undefined) return undefined
    if (command.reason === "Empty") return { ...command, candidates: still }
    const again = yield* Planner.computeConsolidation(state, still, command.method, options.settings)
    if (again.command === undefined) {
      // Upstream's "command is no longer valid" (pod churn), with the reason.
      yield* Effect.logDebug(`abandoning ${command.method} consolidation, command is no longer valid: ${again.why}`)
      return undefined
    }
    if ((again.command.replacements.length === 0) !== (command.replacements.length === 0)) return undefined
    return again.command
  })
