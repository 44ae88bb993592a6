/**
 * Balanced consolidation (upstream v1.14.0 `disruption/balanced.go`, designs/balanced-consolidation.md): a move's
 * score is the share of its NodePool's cost it saves over the share of its NodePool's disruption cost it causes; a
 * NodePool with `consolidationPolicy: Balanced` approves a move scoring at least 1/k (k = 2). Other policies approve
 * every move, as before. Each move is counted in `karpenter_consolidation_moves_total`, and a Balanced pool's score
 * in `karpenter_consolidation_score`.
 */
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Labels from "../../api/Labels.ts"
import * as InstanceType from "../../cloudprovider/InstanceType.ts"
import { EventRecorder } from "../../kube/EventRecorder.ts"
import * as Reschedulable from "../../scheduling/Reschedulable.ts"
import * as Candidates from "./Candidates.ts"
import type * as Planner from "./Planner.ts"

/** Upstream `BalancedK`: a Balanced move is approved when its score is at least 1/k. */
export const k = 2

/** Upstream `PerNodeBaseDisruptionCost`: draining any node costs this much, pods or not. */
export const perNodeDisruptionCost = 1

/** A NodePool's cost per hour and the disruption cost of all its nodes (upstream `NodePoolTotals`). */
export interface Totals {
  readonly cost: number
  readonly disruptionCost: number
}

/** What a move is worth to one NodePool (upstream `ScoreResult`). */
export interface Score {
  readonly savingsFraction: number
  readonly disruptionFraction: number
  /** Savings over disruption; 0 when nothing is saved. */
  readonly score: number
  readonly approved: boolean
}

/** Upstream `computeRescheduleDisruptionCost`: the node's own cost plus each pod's eviction cost, negatives as 0. */
export const disruptionCostOf = (pods: ReadonlyArray<Parameters<typeof Candidates.evictionCost>[0]>): number =>
  pods.reduce((sum, pod) => sum + Math.max(0, Candidates.evictionCost(pod)), perNodeDisruptionCost)

/** Upstream `ScoreMove`: the fractions of the pool's totals the move saves and disrupts. */
export const scoreMove = (savings: number, disruptionCost: number, totals: Totals): Score => {
  if (totals.cost <= 0 || totals.disruptionCost <= 0) {
    return { savingsFraction: 0, disruptionFraction: 0, score: 0, approved: false }
  }
  const savingsFraction = savings / totals.cost
  const disruptionFraction = disruptionCost / totals.disruptionCost
  const score =
    savingsFraction <= 0
      ? 0
      : disruptionFraction === 0
        ? Number.POSITIVE_INFINITY
        : savingsFraction / disruptionFraction
  return { savingsFraction, disruptionFraction, score, approved: score >= 1 / k }
}

const isBalanced = (candidate: Candidates.Candidate) =>
  candidate.nodePool.spec.disruption.consolidationPolicy === "Balanced"

const poolOf = (candidate: Candidates.Candidate) => candidate.nodePool.metadata.name ?? ""

// A pass scores many moves against one snapshot: its totals are summed once.
const totalsBySnapshot = new WeakMap<Planner.Snapshot, ReadonlyMap<string, Totals>>()

/**
 * Upstream `computeNodePoolTotals`: per NodePool, the price of every node it has and the disruption cost of every one
 * of them, candidates or not (a node still within consolidateAfter counts too).
 */
export const totalsOf = (state: Planner.Snapshot): ReadonlyMap<string, Totals> => {
  const cached = totalsBySnapshot.get(state)
  if (cached !== undefined) return cached
  const totals = new Map<string, { cost: number; disruptionCost: number }>()
  for (const stateNode of state.stateNodes) {
    const name = stateNode.nodePool
    const pool = name === undefined ? undefined : state.context.nodePools.get(name)
    if (name === undefined || pool === undefined || stateNode.nodeClaim === undefined) continue
    const labels = stateNode.node?.metadata.labels ?? stateNode.nodeClaim.metadata.labels ?? {}
    const type = InstanceType.named(pool.instanceTypes, labels[Labels.InstanceType])
    const price = type === undefined ? 0 : (InstanceType.nodePrice(type, labels) ?? 0)
    const pods = (state.context.podsByNode.get(stateNode.name) ?? []).filter(
      (pod) => Reschedulable.neverReschedulable(pod) === undefined
    )
    const sum = totals.get(name) ?? { cost: 0, disruptionCost: 0 }
    sum.cost += price
    sum.disruptionCost += disruptionCostOf(pods)
    totals.set(name, sum)
  }
  totalsBySnapshot.set(state, totals)
  return totals
}

/** Upstream `EstimatedSavings`: the candidates' price less the replacement's cheapest offering it may launch on. */
export const savingsOf = (command: Planner.Command, candidatesPrice: number): number => {
  let replacementPrice = 0
  for (const replacement of command.replacements) {
    const cheapest = replacement.instanceTypes[0]
    replacementPrice +=
      cheapest === undefined ? 0 : (InstanceType.cheapestOffering(cheapest, replacement.requirements)?.price ?? 0)
  }
  return candidatesPrice - replacementPrice
}

/** A move's scores by Balanced NodePool, and whether every one of them approves it. */
export interface Evaluation {
  readonly approved: boolean
  readonly scores: ReadonlyMap<string, Score>
}

/**
 * Upstream `EvaluateBalancedMove`: each Balanced NodePool of the candidates scores its part (the net savings shared
 * by its share of the candidates' price); the move goes when all approve. Pools of other policies do not score.
 */
export const evaluate = (
  state: Planner.Snapshot,
  command: Planner.Command,
  priceOf: (candidates: ReadonlyArray<Candidates.Candidate>) => number
): Evaluation => {
  const byPool = new Map<string, Array<Candidates.Candidate>>()
  for (const candidate of command.candidates) {
    const group = byPool.get(poolOf(candidate))
    if (group === undefined) byPool.set(poolOf(candidate), [candidate])
    else group.push(candidate)
  }
  const sourceCost = priceOf(command.candidates)
  const savings = savingsOf(command, sourceCost)
  const scores = new Map<string, Score>()
  let approved = true
  for (const [pool, candidates] of [...byPool].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (!isBalanced(candidates[0]!)) continue
    const poolSavings = byPool.size > 1 && sourceCost > 0 ? savings * (priceOf(candidates) / sourceCost) : savings
    const disruption = candidates.reduce((sum, c) => sum + disruptionCostOf(c.reschedulablePods), 0)
    const score = scoreMove(poolSavings, disruption, totalsOf(state).get(pool) ?? { cost: 0, disruptionCost: 0 })
    scores.set(pool, score)
    approved &&= score.approved
  }
  return { approved, scores }
}

/**
 * Upstream `CanPassThreshold`: whether deleting the candidate outright (the best any move of it can do) would pass
 * its Balanced NodePool; always for other policies.
 */
export const canPass = (state: Planner.Snapshot, candidate: Candidates.Candidate, price: number): boolean => {
  if (!isBalanced(candidate)) return true
  const totals = totalsOf(state).get(poolOf(candidate))
  if (totals === undefined || totals.cost <= 0) return true
  return scoreMove(price, disruptionCostOf(candidate.reschedulablePods), totals).approved
}

/** `karpenter_consolidation_score{decision,nodepool,policy}`: the scores of Balanced moves. */
export const consolidationScore = Metric.histogram("karpenter_consolidation_score", {
  description: "Score of balanced consolidation moves. Labeled by decision, NodePool, and policy.",
  boundaries: [0.1, 0.25, 0.33, 0.5, 1, 2, 5, 10]
})

/** `karpenter_consolidation_moves_total{decision,nodepool,policy}`: consolidation moves approved or rejected. */
export const consolidationMovesTotal = Metric.counter("karpenter_consolidation_moves_total", {
  description: "Number of balanced consolidation moves. Labeled by decision, NodePool, and policy.",
  incremental: true
})

const decisionOf = (approved: boolean) => (approved ? "approved" : "rejected")

/** The upstream event message of a scored move. */
export const message = (score: Score): string =>
  `score ${score.score.toFixed(2)} ${score.approved ? ">=" : "<"} threshold ${(1 / k).toFixed(2)} (k: ${k}, savings ${(score.savingsFraction * 100).toFixed(1)}%, disruption ${(score.disruptionFraction * 100).toFixed(1)}%)`

/**
 * Records a decided move as upstream's evaluator does: the move counted per NodePool of its candidates (`approved`
 * is the move's decision), each Balanced pool's score observed, and a ConsolidationApproved event for an approved
 * one — on the Node and NodeClaim of a single-node move, on the NodePool of a multi-node one. Rejections emit no
 * event (they would bury the approvals).
 */
export const record = Effect.fn("Balanced.record")(function* (command: Planner.Command, evaluation: Evaluation) {
  const events = yield* EventRecorder
  const pools = new Map<string, Candidates.Candidate>()
  for (const candidate of command.candidates) if (!pools.has(poolOf(candidate))) pools.set(poolOf(candidate), candidate)
  for (const [pool, candidate] of pools) {
    const policy = candidate.nodePool.spec.disruption.consolidationPolicy
    const score = evaluation.scores.get(pool)
    const single = command.candidates.length === 1
    // Single-node moves count by the pool's own verdict, multi-node ones by the move's (upstream).
    const decision = decisionOf(single && score !== undefined ? score.approved : evaluation.approved)
    const attributes = { decision, nodepool: pool, policy }
    yield* Metric.update(Metric.withAttributes(consolidationMovesTotal, attributes), 1)
    if (score === undefined) continue
    yield* Metric.update(
      Metric.withAttributes(consolidationScore, { ...attributes, decision: decisionOf(score.approved) }),
      score.score
    )
    yield* Effect.logDebug(`consolidation score: ${message(score)}`).pipe(
      Effect.annotateLogs({ NodePool: { name: pool }, candidates: command.candidates.map((c) => c.name) })
    )
    if (!score.approved) continue
    const claim = candidate.nodeClaim.metadata
    const involved = single
      ? [
          { apiVersion: "v1", kind: "Node", name: candidate.name },
          {
            apiVersion: "karpenter.sh/v1",
            kind: "NodeClaim",
            name: claim.name ?? "",
            ...(claim.uid === undefined ? {} : { uid: claim.uid })
          }
        ]
      : [{ apiVersion: "karpenter.sh/v1", kind: "NodePool", name: pool }]
    for (const involvedObject of involved) {
      yield* events.publish({
        involvedObject,
        type: "Normal",
        reason: "ConsolidationApproved",
        message: message(score)
      })
    }
  }
})
