/**
 * The decisions of the disruption controller, apart from its loops and its queue: a snapshot of the cluster, the
 * candidates of each disruption class, the budgets left, and upstream's `computeConsolidation` (simulate the cluster
 * without some nodes; delete them, or replace them by one strictly cheaper NodeClaim). The controller and the
 * consolidation benchmark both drive it.
 */
import * as Clock from "effect/Clock"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as ConditionTypes from "../../api/Conditions.ts"
import * as Labels from "../../api/Labels.ts"
import * as NodeApi from "../../api/Node.ts"
import * as NodePoolApi from "../../api/NodePool.ts"
import * as InstanceType from "../../cloudprovider/InstanceType.ts"
import * as PodsByNode from "../../scheduling/PodsByNode.ts"
import * as Requirement from "../../scheduling/Requirement.ts"
import * as Requirements from "../../scheduling/Requirements.ts"
import { ClusterState } from "../../state/ClusterState.ts"
import * as CapacityBufferController from "../capacitybuffer/CapacityBufferController.ts"
import * as DisruptionConditions from "../nodeclaim/disruption/DisruptionConditions.ts"
import * as Provisioner from "../provisioning/Provisioner.ts"
import type * as ClusterView from "../provisioning/scheduling/ClusterView.ts"
import * as InstanceTypeFilter from "../provisioning/scheduling/InstanceTypeFilter.ts"
import * as Scheduler from "../provisioning/scheduling/Scheduler.ts"
import * as Conditions from "../StatusConditions.ts"
import * as StaticCapacity from "../static/StaticCapacity.ts"
import * as Budgets from "./Budgets.ts"
import * as Candidates from "./Candidates.ts"

/** The budgeted disruption reasons. */
export type Reason = "Empty" | "Drifted" | "Underutilized"

/** What a method decided: candidates to remove and the NodeClaims to launch first. */
export interface Command {
  readonly reason: Reason
  readonly method: string
  readonly candidates: ReadonlyArray<Candidates.Candidate>
  readonly replacements: ReadonlyArray<Scheduler.NewNodeClaim>
}

const consolidateAfterNever = (candidate: Candidates.Candidate) =>
  candidate.nodePool.spec.disruption.consolidateAfter === "Never"

/**
 * What the candidate costs per hour: the price of its own offering (its type's, compatible with its Node's labels), so
 * an on-demand node costs the on-demand price even where the type also sells as spot. Undefined when the catalogue no
 * longer has that offering.
 */
export const priceOf = (candidate: Candidates.Candidate): number | undefined =>
  candidate.instanceType === undefined
    ? undefined
    : InstanceType.nodePrice(candidate.instanceType, candidate.stateNode.node?.metadata.labels ?? {})

/**
 * What the candidates cost together (upstream `getCandidatePrices`). A candidate whose offering is gone makes it 0,
 * so no replacement is cheaper and the set can only be deleted: upstream v1.4.0 failed the whole disruption pass there
 * (the error ended multi-node consolidation, and single-node never ran); v1.9.0 (#2812) models it as free, as v1.4.0
 * already did for a reserved node, which we take as the fix.
 */
export const candidatesPrice = (candidates: ReadonlyArray<Candidates.Candidate>): number => {
  let total = 0
  for (const candidate of candidates) {
    const price = priceOf(candidate)
    if (price === undefined) return 0
    total += price
  }
  return total
}

/**
 * The ceiling of upstream's `filterOutSameType` (multi-node): when a replacement option is the type of some
 * candidates, the replacement must launch for less than the cheapest of those candidates costs (its own offering),
 * or deleting the others alone would do; +∞ when no option is a candidate's type.
 */
export const sameTypeCeiling = (
  candidates: ReadonlyArray<Candidates.Candidate>,
  options: ReadonlyArray<InstanceType.InstanceType>
): number => {
  const optionNames = new Set(options.map((it) => it.name))
  let ceiling = Number.POSITIVE_INFINITY
  for (const candidate of candidates) {
    if (candidate.instanceType === undefined || !optionNames.has(candidate.instanceType.name)) continue
    const price = priceOf(candidate)
    if (price !== undefined && price < ceiling) ceiling = price
  }
  return ceiling
}

// The copies of a node's moving pods, kept from pass to pass while the node's pod array (replaced when one of its pods
// changes) lives: a pass simulates most candidates of the pass before.
const movingPods: ClusterView.MovingPods = new WeakMap()

/**
 * Reads everything a pass decides on, once; `queued` are the nodes of commands under way; `reservedCapacity` is the
 * ReservedCapacity gate; with `capacityBuffer` (the CapacityBuffer gate) every simulation must place the buffers'
 * virtual pods too, as upstream's SimulateScheduling does, so consolidation keeps their headroom.
 */
export const snapshot = (
  queued: ReadonlySet<string>,
  options?: { readonly reservedCapacity?: boolean; readonly capacityBuffer?: boolean }
) =>
  Effect.gen(function* () {
    const cluster = yield* ClusterState
    const now = yield* Clock.currentTimeMillis
    const buffered = options?.capacityBuffer === true
    const view: ClusterView.ClusterView = {
      ...(yield* cluster.view),
      movingPods,
      ...(buffered ? { virtualPods: yield* CapacityBufferController.virtualPods } : {})
    }
    const bufferNodes: ReadonlySet<string> = buffered ? yield* cluster.bufferNodes : new Set()
    const stateNodes = yield* cluster.nodes
    const nodePools = yield* Provisioner.readyNodePools(options)
    // Static NodePools never take pods in a simulation, but their nodes are candidates (static drift replaces them).
    const candidatePools = [...nodePools, ...(yield* StaticCapacity.readyNodePools())]
    const context: Candidates.Context = {
      now,
      nodePools: new Map(candidatePools.map((pool) => [pool.nodePool.metadata.name ?? "", pool])),
      podsByNode: PodsByNode.bound(view.pods),
      budgets: view.podDisruptionBudgets,
      queued
    }
    return { now, view, stateNodes, nodePools, context, bufferNodes }
  })
/** Everything a pass decides on. */
export type Snapshot = Effect.Success<ReturnType<typeof snapshot>>

/** A NodePool's budget for a reason now: its nodes, what its budgets allow, and what is left after those under way. */
export interface BudgetState {
  readonly nodePool: NodePoolApi.NodePool
  readonly numNodes: number
  readonly allowed: number
  readonly left: number
}

/** `compute` kept per snapshot and key: a pass's report and its methods read the same snapshot many times. */
const perSnapshot = <K, V>(compute: (state: Snapshot, key: K) => V): ((state: Snapshot, key: K) => V) => {
  const cache = new WeakMap<Snapshot, Map<K, V>>()
  return (state, key) => {
    let byKey = cache.get(state)
    if (byKey === undefined) {
      byKey = new Map()
      cache.set(state, byKey)
    }
    if (byKey.has(key)) return byKey.get(key) as V
    const value = compute(state, key)
    byKey.set(key, value)
    return value
  }
}

/** Every ready NodePool's budget for a reason (upstream `BuildDisruptionBudgetMapping`). */
export const budgetStates = perSnapshot(
  (state, reason: Reason): ReadonlyArray<BudgetState> =>
    [...state.context.nodePools.entries()].map(([name, { nodePool }]) => {
      const nodes = state.stateNodes.filter(
        (node) =>
          node.nodePool === name &&
          node.nodeClaim !== undefined &&
          node.initialized &&
          !Conditions.isTrue(node.nodeClaim.status?.conditions, ConditionTypes.InstanceTerminating)
      )
      const disrupting = nodes.filter(
        (node) => node.markedForDeletion || node.deleting || node.node === undefined || !NodeApi.isReady(node.node)
      ).length
      const allowed = Budgets.allowedDisruptions(nodePool, nodes.length, reason, state.now)
      return { nodePool, numNodes: nodes.length, allowed, left: Math.max(0, allowed - disrupting) }
    })
)

/** Disruptions each NodePool allows now for a reason, minus those already under way (upstream's mapping). */
export const budgetMapping = (state: Snapshot, reason: Reason): Map<string, number> =>
  new Map(budgetStates(state, reason).map((budget) => [budget.nodePool.metadata.name ?? "", budget.left]))

/** Every state node's outcome for a disruption class, in the snapshot's node order. */
export const outcomes = perSnapshot(
  (state, disruptionClass: Candidates.DisruptionClass): ReadonlyArray<Candidates.Outcome> =>
    state.stateNodes.map((node) => Candidates.evaluate(node, state.context, disruptionClass))
)

/** The nodes a method of this class may disrupt now. */
export const candidatesFor = perSnapshot(
  (state, disruptionClass: Candidates.DisruptionClass): ReadonlyArray<Candidates.Candidate> =>
    outcomes(state, disruptionClass).flatMap((outcome) => ("candidate" in outcome ? [outcome.candidate] : []))
)

// Every consolidation simulation of a pass protects the same nodes.
const settling = new WeakMap<Snapshot, ReadonlySet<string>>()

/**
 * The nodes still within their NodePool's consolidateAfter (upstream v1.14 IsUnderConsolidateAfter: Initialized, and
 * their last pod event, else their initialization, less than consolidateAfter ago): changed too recently to take the
 * pods a consolidation moves.
 */
export const withinConsolidateAfter = (state: Snapshot): ReadonlySet<string> => {
  let nodes = settling.get(state)
  if (nodes === undefined) {
    nodes = new Set(
      state.stateNodes
        .filter((node) => {
          const pool = node.nodePool === undefined ? undefined : state.context.nodePools.get(node.nodePool)
          return (
            pool !== undefined &&
            node.nodeClaim !== undefined &&
            DisruptionConditions.consolidatable(pool.nodePool, node.nodeClaim, state.now)._tag === "Wait"
          )
        })
        .map((node) => node.name)
    )
    settling.set(state, nodes)
  }
  return nodes
}

/** The candidates' pods that would not reschedule, each with why, by `namespace/name`. */
export interface Unschedulable {
  readonly podErrors: ReadonlyMap<string, string>
}

// Untraced: called thousands of times a simulated day; a span and call frame each cost 1.5 µs.
/**
 * Schedules the cluster as if the candidates were gone; when a pod of theirs would not reschedule, which and why. A
 * `consolidation` simulation (upstream v1.14 IsConsolidationSimulation; drift's is not) moves no pods of the candidates
 * onto nodes {@link withinConsolidateAfter}.
 */
export const simulate = Effect.fnUntraced(function* (
  state: Snapshot,
  candidates: ReadonlyArray<Candidates.Candidate>,
  settings?: ConsolidationSettings,
  options?: { readonly consolidation?: boolean }
) {
  const marked = new Set([...(state.view.markedForDeletion ?? []), ...candidates.map((c) => c.name)])
  const { all: moving, running } = movingKeysOf(candidates)
  const { results, existingNodes } = yield* Provisioner.simulate(
    { ...state.view, markedForDeletion: marked },
    state.nodePools,
    {
      ...(settings?.preferencePolicy === undefined ? {} : { preferencePolicy: settings.preferencePolicy }),
      ...(settings?.minValuesPolicy === undefined ? {} : { minValuesPolicy: settings.minValuesPolicy }),
      ...(options?.consolidation === true
        ? { protectedDestinations: { nodes: withinConsolidateAfter(state), movingPods: running } }
        : {})
    }
  )
  const podErrors = new Map<string, string>()
  for (const [key, error] of results.errors) if (moving.has(key)) podErrors.set(key, error)
  // The candidates' pods may not count on capacity that is not ready yet (pending pods may: they were going there).
  const uninitialized = new Set(existingNodes.filter((node) => !node.initialized).map((node) => node.name))
  for (const placement of results.existingNodes) {
    if (!uninitialized.has(placement.name)) continue
    for (const pod of placement.pods) {
      const key = Scheduler.podKey(pod)
      if (moving.has(key)) podErrors.set(key, uninitializedNodeError(state, placement.name))
    }
  }
  return podErrors.size === 0 ? results : ({ podErrors } satisfies Unschedulable)
})

/** The keys of the candidates' reschedulable pods: all of them, and those that have started. */
interface MovingKeys {
  readonly all: ReadonlySet<string>
  /** Upstream exempts from protected destinations the pods whose phase is still Pending. */
  readonly running: ReadonlySet<string>
}

/** Both sets of keys in one walk: each simulation needs them, and writing every key twice showed in its profile. */
const movingKeysOf = (candidates: ReadonlyArray<Candidates.Candidate>): MovingKeys => {
  const all = new Set<string>()
  const running = new Set<string>()
  for (const candidate of candidates) {
    for (const pod of candidate.reschedulablePods) {
      const key = Scheduler.podKey(pod)
      all.add(key)
      if (pod.status?.phase !== "Pending") running.add(key)
    }
  }
  return { all, running }
}

/** Upstream's UninitializedNodeError: the NodeClaim and Node a pod would count on before they are ready. */
const uninitializedNodeError = (state: Snapshot, name: string): string => {
  const stateNode = state.stateNodes.find((node) => node.name === name)
  const objects = [
    ...(stateNode?.nodeClaim === undefined ? [] : [`nodeclaim/${stateNode.nodeClaim.metadata.name}`]),
    ...(stateNode?.node === undefined ? [] : [`node/${stateNode.node.metadata.name}`])
  ]
  return `would schedule against uninitialized ${objects.join(", ")}`
}

/** Pods a not-all-pods-would-schedule message names; the rest are counted. */
const maxPodErrors = 5

/**
 * Upstream's `pretty.Sentence(results.NonPendingPodSchedulingErrors())`, format and all: `namespace/name => why ` for
 * up to five pods, then ` and N other(s)` once five are named (even when N is 0). Upstream names them in Go's random
 * map order; here they go by `namespace/name`, so the message is the same every run.
 */
export const podSchedulingErrors = (podErrors: ReadonlyMap<string, string>): string => {
  const keys = [...podErrors.keys()].sort()
  let message = "Not all pods would schedule, "
  for (const key of keys.slice(0, maxPodErrors)) message += `${key} => ${podErrors.get(key)} `
  if (keys.length >= maxPodErrors) message += ` and ${keys.length - maxPodErrors} other(s)`
  return message
}

/** What the operator's options change in disruption decisions. */
export interface ConsolidationSettings {
  /** The SpotToSpotConsolidation feature gate (off by default, as upstream v1.4.0). */
  readonly spotToSpot?: boolean
  /** PREFERENCE_POLICY, which the simulations follow as provisioning does (default Respect). */
  readonly preferencePolicy?: "Respect" | "Ignore"
  /** MIN_VALUES_POLICY, which the simulations follow as provisioning does (upstream v1.6; default Strict). */
  readonly minValuesPolicy?: Scheduler.MinValuesPolicy
}

/** Replacement options, or why there are none. */
type Options = { readonly options: ReadonlyArray<InstanceType.InstanceType> } | { readonly why: string }

/**
 * Upstream `RemoveInstanceTypeOptionsByPriceAndMinValues`: the types whose worst launch price is below `price`, as long
 * as they still satisfy minValues.
 */
const cheaperOptions = (
  instanceTypes: ReadonlyArray<InstanceType.InstanceType>,
  requirements: Requirements.Requirements,
  price: number
): Options => {
  const options = instanceTypes.filter((it) => InstanceType.worstLaunchPrice(it.offerings, requirements) < price)
  if (options.length === 0) return { why: "can't replace with a cheaper node" }
  const violation = InstanceTypeFilter.minValuesViolation(options, requirements)
  // Upstream's Unconsolidatable event names the requirement: `Filtering by price: <SatisfiesMinValues' error>`.
  if (violation !== undefined) return { why: `Filtering by price: ${violation}` }
  return { options }
}

/** Cheaper spot types a single-node spot-to-spot replacement needs (upstream MinInstanceTypesForSpotToSpotConsolidation). */
export const minSpotToSpotOptions = 15

/**
 * Upstream's spot-to-spot option rule: spot types strictly cheaper than the candidates, cheapest first; a multi-node
 * replacement keeps them all, a single node needs at least 15 and keeps the 15 cheapest (more if minValues asks), so
 * the replacement does not chase the single cheapest and soon-interrupted pool.
 */
export const spotToSpotOptions = (
  instanceTypes: ReadonlyArray<InstanceType.InstanceType>,
  spotRequirements: Requirements.Requirements,
  candidatePrice: number,
  method: string
): Options => {
  const priceOf = (it: InstanceType.InstanceType) =>
    InstanceType.cheapestOffering(it, spotRequirements)?.price ?? Number.POSITIVE_INFINITY
  const filtered = cheaperOptions(instanceTypes, spotRequirements, candidatePrice)
  if ("why" in filtered) return filtered
  const cheaper = [...filtered.options].sort(
    (a, b) => priceOf(a) - priceOf(b) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
  )
  if (method !== "single") return { options: cheaper }
  if (cheaper.length < minSpotToSpotOptions) {
    return {
      why: `spot-to-spot consolidation needs at least ${minSpotToSpotOptions} cheaper instance types, found ${cheaper.length}`
    }
  }
  const keep = Math.max(minSpotToSpotOptions, spotRequirements.get(Labels.InstanceType)?.minValues ?? 0)
  return { options: cheaper.slice(0, keep) }
}

// Untraced: called thousands of times a simulated day; a span and call frame each cost 1.5 µs.
/** Upstream `computeConsolidation`: delete, replace with one cheaper NodeClaim, or nothing (with why). */
export const computeConsolidation = Effect.fnUntraced(function* (
  state: Snapshot,
  candidates: ReadonlyArray<Candidates.Candidate>,
  method: string,
  settings?: ConsolidationSettings
) {
  const results = yield* simulate(state, candidates, settings, { consolidation: true })
  if ("podErrors" in results) return { command: undefined, why: podSchedulingErrors(results.podErrors) }
  yield* Effect.logDebug(
    `consolidating ${candidates.map((c) => c.name).join(", ")}: pods would go to ${results.existingNodes
      .map((node) => `${node.name} (${node.pods.map((pod) => pod.metadata.name).join(" ")})`)
      .join(", ")}${results.newNodeClaims.length === 0 ? "" : ` and ${results.newNodeClaims.length} new`}`
  )
  if (results.newNodeClaims.length === 0) {
    return { command: { reason: "Underutilized", method, candidates, replacements: [] } satisfies Command, why: "" }
  }
  if (results.newNodeClaims.length > 1) return { command: undefined, why: "would need more than one replacement" }
  const candidatePrice = candidatesPrice(candidates)
  const replacement = results.newNodeClaims[0]!
  const capacityTypes = Requirements.get(replacement.requirements, Labels.CapacityType)
  const allSpot = candidates.every((c) => c.capacityType === Labels.CapacityTypeSpot)
  const spotToSpot = allSpot && Requirement.has(capacityTypes, Labels.CapacityTypeSpot)
  // Spot-to-spot consolidation is behind the SpotToSpotConsolidation gate, off by default in v1.4.0.
  if (spotToSpot && !(settings?.spotToSpot ?? false)) {
    return { command: undefined, why: "spot-to-spot consolidation is disabled" }
  }
  let requirements = replacement.requirements
  // A spot node is replaced by spot; an on-demand one may be too: when both are allowed, the replacement is spot.
  if (
    Requirement.has(capacityTypes, Labels.CapacityTypeSpot) &&
    (spotToSpot || Requirement.has(capacityTypes, Labels.CapacityTypeOnDemand))
  ) {
    requirements = Requirements.add(
      requirements,
      Requirement.make(Labels.CapacityType, "In", [Labels.CapacityTypeSpot])
    )
  }
  let chosen = spotToSpot
    ? spotToSpotOptions(replacement.instanceTypes, requirements, candidatePrice, method)
    : cheaperOptions(replacement.instanceTypes, requirements, candidatePrice)
  // Upstream filterOutSameType (spot-to-spot too): never replace a set of nodes by one of their own types at no saving.
  if (method === "multi" && "options" in chosen) {
    chosen = cheaperOptions(chosen.options, requirements, sameTypeCeiling(candidates, chosen.options))
  }
  if ("why" in chosen) return { command: undefined, why: chosen.why }
  const options = chosen.options
  requirements = Requirements.add(
    requirements,
    Requirement.make(
      Labels.InstanceType,
      "In",
      options.map((it) => it.name),
      requirements.get(Labels.InstanceType)?.minValues
    )
  )
  const command: Command = {
    reason: "Underutilized",
    method,
    candidates,
    replacements: [{ ...replacement, requirements, instanceTypes: options }]
  }
  return { command, why: "" }
})

/** Whether consolidation may take the candidate (Consolidatable, and its NodePool consolidates at all). */
export const consolidatable = (candidate: Candidates.Candidate) =>
  // A static NodePool's nodes are never consolidated, empty or not (upstream v1.8 emptiness and consolidation).
  !NodePoolApi.isStatic(candidate.nodePool) &&
  !consolidateAfterNever(candidate) &&
  Candidates.hasCondition(candidate, ConditionTypes.Consolidatable)

/**
 * Whether consolidation of underused nodes (multi- and single-node) may take the candidate: consolidatable, its
 * NodePool consolidates WhenEmptyOrUnderutilized or Balanced (whose moves are scored, Balanced.ts), and its instance
 * type, zone and capacity type are known.
 */
export const isConsolidationCandidate = (c: Candidates.Candidate): boolean =>
  consolidatable(c) &&
  c.nodePool.spec.disruption.consolidationPolicy !== "WhenEmpty" &&
  c.instanceType !== undefined &&
  c.zone !== undefined &&
  c.capacityType !== undefined

/** Consolidation candidates, cheapest to disrupt first. */
export const consolidationCandidates = (state: Snapshot) =>
  candidatesFor(state, "graceful").filter(isConsolidationCandidate).sort(Candidates.byDisruptionCost)

/** What a timed search found: its best answer (if any) and whether the deadline cut it short. */
export interface SearchResult<A> {
  readonly best: A | undefined
  readonly timedOut: boolean
}

/**
 * Upstream's multi-node search: a binary search for the longest prefix (at least two) of `count` candidates that
 * `evaluate(size)` turns into a command. It yields between evaluations and is cut by `Effect.timeout`, so the best
 * command found before the deadline survives the interruption (the v1.4.0 fix: the timeout holds in every case).
 */
export const longestPrefix = <A, E, R>(
  count: number,
  evaluate: (size: number) => Effect.Effect<A | undefined, E, R>,
  timeout: Duration.Input
): Effect.Effect<SearchResult<A>, E, R> =>
  Effect.gen(function* () {
    const best = yield* Ref.make<A | undefined>(undefined)
    const search = Effect.gen(function* () {
      let low = 1
      let high = count - 1
      while (low <= high) {
        const middle = Math.floor((low + high) / 2)
        const found = yield* evaluate(middle + 1)
        if (found !== undefined) {
          yield* Ref.set(best, found)
          low = middle + 1
        } else {
          high = middle - 1
        }
        yield* Effect.yieldNow
      }
    })
    const finished = yield* Effect.timeoutOption(search, timeout)
    return { best: yield* Ref.get(best), timedOut: Option.isNone(finished) }
  })
