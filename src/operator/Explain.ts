/**
 * `explain`: why a pod is pending (or where it would go) and why a node is or is not a disruption candidate, answered
 * by the same Scheduler and disruption Planner the controllers run, on an in-memory copy of the cluster (a snapshot
 * file, or a live cluster read with LIST requests). Nothing is written anywhere: the cloud provider here only answers
 * with the catalogue's instance types and prices.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as ConditionTypes from "../api/Conditions.ts"
import * as DoNotDisrupt from "../api/DoNotDisrupt.ts"
import * as Labels from "../api/Labels.ts"
import * as Meta from "../api/Meta.ts"
import type { Pod } from "../api/Pod.ts"
import * as CloudProvider from "../cloudprovider/CloudProvider.ts"
import type * as InstanceType from "../cloudprovider/InstanceType.ts"
import * as Budgets from "../controllers/disruption/Budgets.ts"
import * as Candidates from "../controllers/disruption/Candidates.ts"
import * as Emptiness from "../controllers/disruption/Emptiness.ts"
import * as Planner from "../controllers/disruption/Planner.ts"
import * as TerminationPods from "../controllers/node/termination/Pods.ts"
import * as DisruptionConditions from "../controllers/nodeclaim/disruption/DisruptionConditions.ts"
import * as ClusterView from "../controllers/provisioning/scheduling/ClusterView.ts"
import * as PodsByNode from "../scheduling/PodsByNode.ts"
import * as Reschedulable from "../scheduling/Reschedulable.ts"
import * as Cluster from "../state/Cluster.ts"
import type * as Manifests from "./Manifests.ts"
import { InvalidInput, plan, usableNodePools, wellKnownFor } from "./Schedule.ts"
import * as ScheduleOutput from "./ScheduleOutput.ts"

// -- pods ----------------------------------------------------------------------------------------------------------

/** Where a pod is or would go, or why it cannot. */
export type PodExplanation =
  | { readonly pod: string; readonly verdict: "bound"; readonly node: string }
  | { readonly pod: string; readonly verdict: "existing-node"; readonly node: string }
  | {
      readonly pod: string
      readonly verdict: "new-nodeclaim"
      readonly nodePool: string
      readonly launch: ScheduleOutput.LaunchJson | null
      readonly instanceTypes: number
      readonly sharedWith: ReadonlyArray<string>
    }
  | { readonly pod: string; readonly verdict: "unschedulable"; readonly reasons: ReadonlyArray<string> }

const findPod = (manifests: Manifests.Manifests, key: string): Effect.Effect<Pod, InvalidInput> => {
  const pod = manifests.pods.find((candidate) => ClusterView.podKey(candidate) === key)
  return pod === undefined ? Effect.fail(new InvalidInput({ message: `pod ${key} not found` })) : Effect.succeed(pod)
}

// The scheduler joins its per-NodePool verdicts with "; ": one line each reads better.
const reasonsOf = (reason: string): ReadonlyArray<string> => reason.split("; ").filter((part) => part !== "")

/** Why the pod `namespace/name` is pending, or where it is or would be placed. */
export const explainPod = Effect.fn("Explain.explainPod")(function* (
  manifests: Manifests.Manifests,
  catalogue: ReadonlyArray<InstanceType.InstanceType>,
  key: string
) {
  const pod = yield* findPod(manifests, key)
  const nodeName = pod.spec.nodeName
  if (nodeName !== undefined && nodeName !== "") {
    return { pod: key, verdict: "bound", node: nodeName } satisfies PodExplanation
  }
  const { result, wellKnown } = yield* plan(manifests, catalogue)
  const json = ScheduleOutput.toJson(result, wellKnown)
  const claim = json.nodeClaims.find((candidate) => candidate.pods.includes(key))
  if (claim !== undefined) {
    return {
      pod: key,
      verdict: "new-nodeclaim",
      nodePool: claim.nodePool,
      launch: claim.launch,
      instanceTypes: claim.instanceTypes.length,
      sharedWith: claim.pods.filter((other) => other !== key)
    } satisfies PodExplanation
  }
  const existing = json.existingNodes.find((node) => node.pods.includes(key))
  if (existing !== undefined)
    return { pod: key, verdict: "existing-node", node: existing.name } satisfies PodExplanation
  const reason = json.unschedulable.find((entry) => entry.pod === key)?.reason ?? "not considered by the scheduler"
  return { pod: key, verdict: "unschedulable", reasons: reasonsOf(reason) } satisfies PodExplanation
})

/** The pod explanation for people. */
export const podText = (explanation: PodExplanation): string => {
  switch (explanation.verdict) {
    case "bound":
      return `pod ${explanation.pod} is bound to node ${explanation.node}`
    case "existing-node":
      return `pod ${explanation.pod} is pending; it fits on existing node ${explanation.node}`
    case "new-nodeclaim":
      return [
        `pod ${explanation.pod} is pending; Karpenter would launch a NodeClaim of nodepool ${explanation.nodePool}`,
        `  launch:  ${explanation.launch === null ? "none (no available offering)" : `${explanation.launch.instanceType} in ${explanation.launch.zone}, ${explanation.launch.capacityType}, $${explanation.launch.price}/hour`}`,
        `  options: ${explanation.instanceTypes} instance types`,
        ...(explanation.sharedWith.length === 0 ? [] : [`  with:    ${explanation.sharedWith.join(", ")}`])
      ].join("\n")
    case "unschedulable":
      return [
        `pod ${explanation.pod} cannot be scheduled:`,
        ...explanation.reasons.map((reason) => `  - ${reason}`)
      ].join("\n")
  }
}

// -- nodes ---------------------------------------------------------------------------------------------------------

/**
 * The provider `explain` runs the Planner with: the catalogue's instance types and labels, and nothing that launches
 * or terminates (a simulation never reaches those).
 */
export const catalogueProvider = (catalogue: ReadonlyArray<InstanceType.InstanceType>) => {
  const readOnly = Effect.die("explain never changes the cluster or its instances")
  return CloudProvider.CloudProvider.of({
    name: "catalogue",
    create: () => readOnly,
    delete: () => readOnly,
    get: () => readOnly,
    list: () => Effect.succeed([]),
    getInstanceTypes: () => Effect.succeed(catalogue),
    isDrifted: () => Effect.succeed(undefined),
    repairPolicies: [],
    wellKnownLabels: wellKnownFor(catalogue),
    supportedNodeClasses: []
  })
}

/** What the disruption Planner decides on, built from the objects instead of the informers. */
export const plannerSnapshot = (
  manifests: Manifests.Manifests,
  catalogue: ReadonlyArray<InstanceType.InstanceType>,
  now: number
): Planner.Snapshot => {
  const view: ClusterView.ClusterView = manifests
  const { nodePools } = usableNodePools(manifests, catalogue)
  return {
    now,
    view,
    stateNodes: Cluster.stateNodes(view, new Set(), new Map()),
    nodePools,
    context: {
      now,
      nodePools: new Map(nodePools.map((pool) => [pool.nodePool.metadata.name ?? "", pool])),
      podsByNode: PodsByNode.bound(view.pods),
      budgets: view.podDisruptionBudgets,
      queued: new Set()
    },
    bufferNodes: new Set()
  }
}

/** Why a pod of the node does or does not hold it, and whether it would move. */
export interface PodNote {
  readonly pod: string
  readonly note: string
}

/** A node's disruption standing now. */
export interface NodeExplanation {
  readonly node: string
  readonly nodePool: string | undefined
  /** Whether emptiness or consolidation may take it now (graceful methods). */
  readonly candidate: boolean
  /** What protects it, and when that would change. */
  readonly blocked: ReadonlyArray<string>
  /** consolidateAfter and the Consolidatable condition. */
  readonly consolidatable: string
  /** Per disruption reason, what the NodePool's budgets allow now and until when. */
  readonly budgets: ReadonlyArray<{ readonly reason: Planner.Reason; readonly allowed: number; readonly why: string }>
  readonly pods: ReadonlyArray<PodNote>
  /** The consolidation decision for this node alone, with the prices compared. */
  readonly consolidation: {
    readonly decision: "delete" | "replace" | "none"
    readonly price: number | undefined
    readonly replacement?: ScheduleOutput.LaunchJson | null
    readonly why: string
  }
}

const formatWhen = (millis: number): string => new Date(millis).toISOString().replace(".000Z", "Z")

const podNote = (
  pod: Pod,
  budgets: ReadonlyArray<Manifests.Manifests["podDisruptionBudgets"][number]>,
  now: number
): string => {
  const protection = DoNotDisrupt.protection(pod)
  if (protection._tag === "Invalid") {
    return `${Labels.DoNotDisruptAnnotation} ignored: ${protection.message}`
  }
  if (protection._tag === "Until" && protection.until > now) {
    return protection.until === Number.POSITIVE_INFINITY
      ? `has ${Labels.DoNotDisruptAnnotation}: blocks disruption until it finishes or the annotation is removed`
      : `has ${Labels.DoNotDisruptAnnotation} "${protection.duration}": protected until ${formatWhen(protection.until)}`
  }
  const budget = Candidates.blockingBudget(pod, budgets)
  if (budget !== undefined && TerminationPods.isEvictable(pod, now)) {
    return `pdb ${budget.metadata.namespace}/${budget.metadata.name} allows no eviction now (disruptionsAllowed 0): blocks until it allows one`
  }
  const staying = Reschedulable.notReschedulable(pod, [], now)
  return staying === undefined ? "would be rescheduled" : `does not move (${staying})`
}

/** Why the node `name` is or is not a disruption candidate now, and what consolidating it alone would do. */
export const explainNode = Effect.fn("Explain.explainNode")(function* (
  manifests: Manifests.Manifests,
  catalogue: ReadonlyArray<InstanceType.InstanceType>,
  name: string
) {
  const now = yield* Clock.currentTimeMillis
  const state = plannerSnapshot(manifests, catalogue, now)
  const index = state.stateNodes.findIndex((node) => node.name === name)
  const stateNode = state.stateNodes[index]
  if (stateNode === undefined) return yield* new InvalidInput({ message: `node ${name} not found` })
  const outcome = Planner.outcomes(state, "graceful")[index]!
  const pool = stateNode.nodePool === undefined ? undefined : state.context.nodePools.get(stateNode.nodePool)
  const blocked: Array<string> = []
  if (stateNode.nodeClaim === undefined) blocked.push("not managed by Karpenter (no NodeClaim)")
  else if (pool === undefined) blocked.push(`nodepool ${stateNode.nodePool ?? "?"} is missing or not ready`)
  else if (!stateNode.initialized) blocked.push("not initialized yet")
  if ("blocked" in outcome && outcome.blocked !== undefined) blocked.push(outcome.blocked)
  const pods = (state.context.podsByNode.get(name) ?? []).map((pod) => ({
    pod: ClusterView.podKey(pod),
    note: podNote(pod, state.context.budgets, now)
  }))
  let consolidatable = "not applicable"
  if (pool !== undefined && stateNode.nodeClaim !== undefined) {
    const after = pool.nodePool.spec.disruption.consolidateAfter
    const has = Meta.findCondition(stateNode.nodeClaim.status?.conditions, ConditionTypes.Consolidatable)
    const expected = DisruptionConditions.consolidatable(pool.nodePool, stateNode.nodeClaim, now)
    consolidatable =
      has?.status === "True" || expected._tag === "Set"
        ? `consolidatable (consolidateAfter ${after} has passed since the last pod event)`
        : expected._tag === "Wait"
          ? `not consolidatable until ${formatWhen(now + expected.afterMillis)} (consolidateAfter ${after} after the last pod event)`
          : `not consolidatable (consolidateAfter ${after}${after === "Never" ? "" : "; the NodeClaim is not initialized"})`
  }
  const budgets = pool === undefined ? [] : budgetLines(state, pool.nodePool.metadata.name ?? "")
  const consolidation = yield* consolidationOf(state, catalogue, "candidate" in outcome ? outcome.candidate : undefined)
  // A decision the NodePool's budget does not allow now waits for the budget (its line says until when).
  const reason: Planner.Reason = consolidation.why.startsWith("empty") ? "Empty" : "Underutilized"
  const budget = budgets.find((line) => line.reason === reason)
  if (consolidation.decision !== "none" && budget !== undefined && budget.allowed === 0) {
    blocked.push(`${reason} disruptions blocked by budget: ${budget.why}`)
  }
  return {
    node: name,
    nodePool: stateNode.nodePool,
    candidate: "candidate" in outcome,
    blocked,
    consolidatable,
    budgets,
    pods,
    consolidation
  } satisfies NodeExplanation
})

const reasons: ReadonlyArray<Planner.Reason> = ["Empty", "Drifted", "Underutilized"]

const budgetLines = (state: Planner.Snapshot, nodePool: string) =>
  reasons.flatMap((reason) =>
    Planner.budgetStates(state, reason)
      .filter((budget) => budget.nodePool.metadata.name === nodePool)
      .map((budget) => ({
        reason,
        allowed: budget.left,
        why: Budgets.describe(budget.nodePool, budget.numNodes, reason, state.now)
      }))
  )

/** Upstream's single-node consolidation of this one candidate: delete, replace by a cheaper NodeClaim, or why not. */
const consolidationOf = (
  state: Planner.Snapshot,
  catalogue: ReadonlyArray<InstanceType.InstanceType>,
  candidate: Candidates.Candidate | undefined
) =>
  Effect.gen(function* () {
    if (candidate === undefined) return { decision: "none", price: undefined, why: "not a candidate" } as const
    const price = Planner.priceOf(candidate)
    if (Emptiness.shouldDisrupt(candidate)) {
      return { decision: "delete", price, why: "empty: emptiness would delete it" } as const
    }
    if (!Planner.isConsolidationCandidate(candidate)) {
      const why =
        candidate.nodePool.spec.disruption.consolidationPolicy === "WhenEmpty"
          ? "consolidationPolicy WhenEmpty and the node has pods to move"
          : "not consolidatable now (see consolidateAfter)"
      return { decision: "none", price, why } as const
    }
    const { command, why } = yield* Planner.computeConsolidation(state, [candidate], "single")
    if (command === undefined) return { decision: "none", price, why } as const
    const [replacement] = command.replacements
    if (replacement === undefined) {
      return { decision: "delete", price, why: "its pods fit on the other nodes: it would be deleted" } as const
    }
    return {
      decision: "replace",
      price,
      replacement: ScheduleOutput.launchOf(
        replacement.instanceTypes,
        replacement.requirements,
        wellKnownFor(catalogue)
      ),
      why: `replace by a cheaper NodeClaim (${replacement.instanceTypes.length} cheaper instance types)`
    } as const
  }).pipe(Effect.provideService(CloudProvider.CloudProvider, catalogueProvider(catalogue)))

const price = (value: number | undefined) => (value === undefined ? "unknown" : `$${value}/hour`)

/** The node explanation for people. */
export const nodeText = (explanation: NodeExplanation): string => {
  const lines = [
    `node ${explanation.node} (nodepool ${explanation.nodePool ?? "none"}): ${explanation.candidate ? "a disruption candidate" : "not a disruption candidate"}`
  ]
  for (const reason of explanation.blocked) lines.push(`  blocked: ${reason}`)
  lines.push(`  ${explanation.consolidatable}`)
  if (explanation.budgets.length > 0) {
    lines.push("  budgets:")
    for (const budget of explanation.budgets)
      lines.push(`    ${budget.reason}: ${budget.allowed} allowed (${budget.why})`)
  }
  if (explanation.pods.length > 0) {
    lines.push("  pods:")
    for (const { pod, note } of explanation.pods) lines.push(`    ${pod}: ${note}`)
  }
  const { consolidation } = explanation
  lines.push(`  consolidation: ${consolidation.decision} — ${consolidation.why}`)
  if (consolidation.price !== undefined) lines.push(`    node costs ${price(consolidation.price)}`)
  if (consolidation.replacement !== undefined && consolidation.replacement !== null) {
    const launch = consolidation.replacement
    lines.push(
      `    replacement ${launch.instanceType} (${launch.capacityType}, ${launch.zone}) costs ${price(launch.price)}`
    )
  }
  return lines.join("\n")
}
