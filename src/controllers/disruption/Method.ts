/**
 * A disruption method (upstream `disruption.Method` in `types.go`): Emptiness, Drift, multi- and single-node
 * consolidation each say which candidates are theirs and what to do with them in a pass; the controller's loop
 * (Disruption.ts) finds the candidates, runs the methods in order and hands the first command to orchestration.
 */
import * as Effect from "effect/Effect"
import { EventRecorder } from "../../kube/EventRecorder.ts"
import type * as Budgets from "./Budgets.ts"
import type * as Candidates from "./Candidates.ts"
import type * as Planner from "./Planner.ts"

/** The methods, by the name commands, logs and metrics know them by (upstream's ConsolidationType where it has one). */
export type Name = "empty" | "static-drift" | "drift" | "multi" | "single"

/** One disruption method; `E` and `R` are what computing its command may fail with and needs. */
export interface Method<E = never, R = never> {
  readonly name: Name
  /** Upstream `Reason`: why its nodes go, and whose budgets they draw on. */
  readonly reason: Planner.Reason
  /** Upstream `Class`: graceful methods respect every protection; eventual ones may wait out a TerminationGracePeriod. */
  readonly disruptionClass: Candidates.DisruptionClass
  /** Upstream `ShouldDisrupt`: whether a candidate of its class is one for this method. */
  readonly shouldDisrupt: (candidate: Candidates.Candidate) => boolean
  /**
   * Upstream `ComputeCommand`: what to disrupt this pass, from the candidates it should disrupt (in the snapshot's
   * order) and the disruptions each NodePool allows for its reason; undefined when nothing.
   */
  readonly computeCommand: (
    state: Planner.Snapshot,
    candidates: ReadonlyArray<Candidates.Candidate>,
    budgets: Budgets.Mapping
  ) => Effect.Effect<Planner.Command | undefined, E, R>
}

/** Any method: what a method's definition is checked against, its own `E` and `R` staying inferred. */
export type Any = Method<unknown, unknown>

/** What the consolidation methods share: the operator's settings and the validation of a command. */
export interface Context<E, R> {
  readonly settings: Planner.ConsolidationSettings
  /** Waits the validation TTL, then checks the command still holds (Validation.ts); undefined when it does not. */
  readonly validate: (command: Planner.Command) => Effect.Effect<Planner.Command | undefined, E, R>
}

/**
 * Upstream's `IsConsolidated`/`markConsolidated`: a consolidation method that found nothing to do at some consolidation
 * state of the cluster (ClusterState's counter of changes) skips its passes until that state moves on.
 */
export interface ConsolidatedMark {
  isConsolidated(state: number): boolean
  markConsolidated(state: number): void
}

/** A mark that no state has set yet. */
export const consolidatedMark = (): ConsolidatedMark => {
  let markedAt: number | undefined
  return {
    isConsolidated: (state) => markedAt === state,
    markConsolidated: (state) => {
      markedAt = state
    }
  }
}

/**
 * Tells why a candidate stays (Unconsolidatable, DisruptionBlocked) on its Node and its NodeClaim, as upstream's
 * disruption events do, and in the debug log.
 */
export const explain = (
  candidate: Candidates.Candidate,
  reason: "Unconsolidatable" | "DisruptionBlocked",
  why: string
): Effect.Effect<void, never, EventRecorder> =>
  Effect.gen(function* () {
    const events = yield* EventRecorder
    const claim = candidate.nodeClaim.metadata
    for (const [involvedObject, identity] of [
      [{ apiVersion: "v1", kind: "Node", name: candidate.name }, candidate.name],
      [
        {
          apiVersion: "karpenter.sh/v1",
          kind: "NodeClaim",
          name: claim.name ?? "",
          ...(claim.uid === undefined ? {} : { uid: claim.uid })
        },
        claim.uid ?? claim.name ?? ""
      ]
    ] as const) {
      // Upstream's disruption events: repeats dropped by the object (its UID there; a node's name here), for 15
      // minutes when unconsolidatable.
      yield* events.publish({
        involvedObject,
        type: "Normal",
        reason,
        message: why,
        dedupeValues: [identity],
        ...(reason === "Unconsolidatable" ? { dedupeTimeoutMillis: 15 * 60_000 } : {})
      })
    }
    yield* Effect.logDebug(reason.toLowerCase()).pipe(
      Effect.annotateLogs({ Node: { name: candidate.name }, NodeClaim: { name: claim.name }, why })
    )
  })
