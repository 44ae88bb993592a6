/**
 * Static drift (upstream v1.11 `disruption/staticdrift.go`): a drifted node of a static NodePool is replaced one for
 * one by a NodeClaim of the NodePool's template (whatever its pods: no simulation), the replacement launched first and
 * the drifted node deleted once it is initialized. Within the NodePool's Drifted budget and the room `limits.nodes`
 * leaves for the replacement, and not while a scale down is under way.
 *
 * Upstream starts one command per node in a pass; here the pass's nodes go in one command (one replacement each), so
 * a replacement that does not initialize rolls back the others too. Upstream also reserves the room under
 * `limits.nodes` against the static provisioning controller; here a NodePool short of its replicas waits for static
 * provisioning to fill it first, so the two never launch into the same room.
 */
import * as Effect from "effect/Effect"
import * as ConditionTypes from "../../api/Conditions.ts"
import * as NodePoolApi from "../../api/NodePool.ts"
import * as StaticCapacity from "../static/StaticCapacity.ts"
import * as Budgets from "./Budgets.ts"
import * as Candidates from "./Candidates.ts"
import * as Drift from "./Drift.ts"
import type * as Method from "./Method.ts"
import type * as Planner from "./Planner.ts"

/** Upstream `ShouldDisrupt`: the candidate is a static NodePool's and its NodeClaim is Drifted. */
export const shouldDisrupt = (candidate: Candidates.Candidate): boolean =>
  NodePoolApi.isStatic(candidate.nodePool) && Candidates.hasCondition(candidate, ConditionTypes.Drifted)

/**
 * How many replacements the NodePool has room for now: none unless it has exactly its replicas running or being
 * replaced (no scale down, static launch or earlier replacement under way), else what `limits.nodes` leaves above
 * every NodeClaim it has (upstream ReserveNodeCount).
 */
export const room = (state: Planner.Snapshot, nodePool: NodePoolApi.NodePool): number => {
  const counts = StaticCapacity.countsOf(state.stateNodes, nodePool.metadata.name ?? "")
  const current = counts.running.length + counts.pendingDisruption
  if (current !== (nodePool.spec.replicas ?? 0)) return 0
  return Math.max(0, StaticCapacity.nodeLimitOf(nodePool) - (current + counts.deleting))
}

/** The StaticDrift method. */
export const make = () => {
  // Untraced: called thousands of times a simulated day; a span and call frame each cost 1.5 µs.
  const computeCommand = Effect.fnUntraced(function* (
    state: Planner.Snapshot,
    candidates: ReadonlyArray<Candidates.Candidate>,
    budgets: Budgets.Mapping
  ) {
    // Each NodePool replaces as many as both its Drifted budget and its room allow.
    const allowed = new Map<string, number>()
    for (const { nodePool } of candidates) {
      const name = nodePool.metadata.name ?? ""
      if (!allowed.has(name)) allowed.set(name, Math.min(budgets.get(name) ?? 0, room(state, nodePool)))
    }
    // Upstream takes a NodePool's candidates in ClusterState's order; oldest drift first is as good and deterministic.
    const taken = Budgets.take(Drift.order(candidates), allowed).taken
    if (taken.length === 0) return undefined
    return {
      reason: "Drifted",
      method: "static-drift",
      candidates: taken,
      replacements: taken.map((candidate) => StaticCapacity.templateClaim(candidate.nodePool))
    } satisfies Planner.Command
  })
  return {
    name: "static-drift",
    reason: "Drifted",
    disruptionClass: "eventual",
    shouldDisrupt,
    computeCommand
  } satisfies Method.Any
}
