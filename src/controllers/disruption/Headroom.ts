/**
 * Headroom: a necessary condition for single-node consolidation, checked on resources and prices before the
 * scheduling simulation. A candidate's pods must fit in the free capacity of the other nodes (delete), or what does
 * not fit must fit on one instance type with an offering cheaper than the candidate (replace). When neither can hold,
 * no simulation can find a command, so none is run: on a well-packed cluster that is almost every candidate, and the
 * simulations were most of the work of a simulated day. The bounds are loose in the safe direction (the free
 * capacity of every other node is summed, pending pods and daemon overhead are ignored), so a candidate it rules out
 * is one the simulation would reject too; a test checks that against the simulation.
 */
import * as Labels from "../../api/Labels.ts"
import { isActive, type Pod } from "../../api/Pod.ts"
import * as Resources from "../../scheduling/ResourceLists.ts"
import type * as Candidates from "./Candidates.ts"
import type { ConsolidationSettings, Snapshot } from "./Planner.ts"

// A node's pods are one array while none of them changes (PodsByNode), and so are a candidate's
// reschedulable pods: their requests are summed once, not in every pass.
const requestsOfActive = new WeakMap<ReadonlyArray<Pod>, Resources.Resources>()
const requestsOfAll = new WeakMap<ReadonlyArray<Pod>, Resources.Resources>()

const summed = (
  cache: WeakMap<ReadonlyArray<Pod>, Resources.Resources>,
  pods: ReadonlyArray<Pod>,
  include: (pod: Pod) => boolean
): Resources.Resources => {
  let requests = cache.get(pods)
  if (requests === undefined) {
    requests = Resources.requestsForPods(...pods.filter(include).map((pod) => pod.spec))
    cache.set(pods, requests)
  }
  return requests
}

const noPods: ReadonlyArray<Pod> = []
const everyPod = () => true

/** Free capacity (allocatable − requests of its active pods, never negative) per state node name. */
const freeByNode = (state: Snapshot): ReadonlyMap<string, Resources.Resources> => {
  const free = new Map<string, Resources.Resources>()
  for (const stateNode of state.stateNodes) {
    const allocatable = Resources.fromResourceList(
      stateNode.node?.status?.allocatable ?? stateNode.nodeClaim?.status?.allocatable
    )
    const requested = summed(requestsOfActive, state.context.podsByNode.get(stateNode.name) ?? noPods, isActive)
    const left: Record<string, number> = {}
    for (const [name, quantity] of Object.entries(allocatable))
      left[name] = Math.max(0, quantity - (requested[name] ?? 0))
    free.set(stateNode.name, left)
  }
  return free
}

// One snapshot serves a whole pass of candidates: total the free capacity once.
const totals = new WeakMap<
  Snapshot,
  { readonly free: ReadonlyMap<string, Resources.Resources>; readonly total: Resources.Resources }
>()

const headroomOf = (state: Snapshot) => {
  let cached = totals.get(state)
  if (cached === undefined) {
    const free = freeByNode(state)
    cached = { free, total: Resources.merge(...free.values()) }
    totals.set(state, cached)
  }
  return cached
}

/**
 * Why consolidating the candidate alone cannot yield a command, when resources and prices already show it;
 * undefined when only the simulation can tell.
 */
export const ruledOut = (
  state: Snapshot,
  candidate: Candidates.Candidate,
  candidatePrice: number,
  settings: ConsolidationSettings | undefined
): string | undefined => {
  const { free, total } = headroomOf(state)
  const needed = summed(requestsOfAll, candidate.reschedulablePods, everyPod)
  const own = free.get(candidate.name) ?? Resources.empty
  // What the other nodes cannot take even pooled together must go to the one replacement.
  const remainder: Record<string, number> = {}
  let fitsElsewhere = true
  for (const [name, quantity] of Object.entries(needed)) {
    const elsewhere = (total[name] ?? 0) - (own[name] ?? 0)
    if (quantity > elsewhere) {
      fitsElsewhere = false
      remainder[name] = quantity - elsewhere
    }
  }
  if (fitsElsewhere) return undefined
  // With the gate off a spot node is only replaced by on-demand (a replacement that may be spot is refused).
  const spotAllowed = !(candidate.capacityType === Labels.CapacityTypeSpot && !(settings?.spotToSpot ?? false))
  const instanceTypes = state.context.nodePools.get(candidate.nodePool.metadata.name ?? "")?.instanceTypes ?? []
  for (const instanceType of instanceTypes) {
    if (!Resources.fits(remainder, instanceType.allocatable)) continue
    const cheaper = instanceType.offerings.some(
      (offering) =>
        offering.price < candidatePrice && (spotAllowed || offering.capacityType !== Labels.CapacityTypeSpot)
    )
    if (cheaper) return undefined
  }
  return "can't replace with a cheaper node"
}
