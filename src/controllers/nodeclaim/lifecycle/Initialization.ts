/**
 * Initialization, the third step of the NodeClaim lifecycle (upstream `lifecycle/initialization.go`, v1.4.0): a
 * registered NodeClaim goes Initialized=True, and its Node is labelled `karpenter.sh/initialized`, once the Node is
 * Ready, its startup and known ephemeral taints are gone and every resource the NodeClaim requested is allocatable.
 */
import * as Effect from "effect/Effect"
import * as ConditionTypes from "../../../api/Conditions.ts"
import * as Labels from "../../../api/Labels.ts"
import type { Node } from "../../../api/Node.ts"
import * as NodeApi from "../../../api/Node.ts"
import type { NodeClaim } from "../../../api/NodeClaim.ts"
import * as Taints from "../../../api/Taints.ts"
import * as Resources from "../../../kube/Resources.ts"
import * as Result from "../../../runtime/Result.ts"
import * as ResourceMath from "../../../scheduling/ResourceLists.ts"
import * as Conditions from "../../StatusConditions.ts"
import * as Step from "./Step.ts"

/** Why the NodeClaim is not initialized yet: the reason and message of its Initialized=Unknown condition. */
export interface Pending {
  readonly reason: string
  readonly message: string
}

/**
 * What keeps the NodeClaim's Node from being initialized, checked in upstream's order: not Ready, a startup taint
 * still on it, a known ephemeral taint, a requested resource not allocatable. Undefined when nothing does.
 */
export const pending = (claim: NodeClaim, node: Node): Pending | undefined => {
  if (!NodeApi.isReady(node)) return { reason: ConditionTypes.NodeNotReady, message: "Node status is NotReady" }
  const taints = node.spec.taints ?? []
  const startup = (claim.spec.startupTaints ?? []).find((startupTaint) =>
    taints.some((taint) => Taints.matches(taint, startupTaint))
  )
  if (startup !== undefined) {
    return { reason: ConditionTypes.StartupTaintsExist, message: `StartupTaint "${startup.key}" still exists` }
  }
  const ephemeral = Taints.KnownEphemeral.find((known) => taints.some((taint) => Taints.matches(taint, known)))
  if (ephemeral !== undefined) {
    return {
      reason: ConditionTypes.KnownEphemeralTaintsExist,
      message: `KnownEphemeralTaint "${ephemeral.key}" still exists`
    }
  }
  const allocatable = ResourceMath.fromResourceList(node.status?.allocatable)
  const missing = Object.entries(ResourceMath.fromResourceList(claim.spec.resources?.requests)).find(
    ([name, quantity]) => quantity > 0 && (allocatable[name] ?? 0) <= 0
  )
  if (missing !== undefined) {
    return {
      reason: ConditionTypes.ResourceNotRegistered,
      message: `Resource "${missing[0]}" was requested but not registered`
    }
  }
  return undefined
}

/**
 * Builds the Initialization step: runs on a registered NodeClaim not yet initialized (continues otherwise), sets
 * Initialized from {@link pending} and stops; the Node's changes (watched) bring it back.
 */
export const make = (deps: Step.Deps) =>
  // Untraced: called thousands of times a simulated day; a span and call frame each cost 1.5 µs.
  Effect.fnUntraced(function* (claim: NodeClaim) {
    const conditions = claim.status?.conditions
    if (
      !Conditions.isTrue(conditions, ConditionTypes.Registered) ||
      Conditions.isTrue(conditions, ConditionTypes.Initialized)
    ) {
      return Step.proceed(claim)
    }
    const wait = (why: Pending) =>
      Effect.map(
        Step.setCondition(deps.kube, claim, { type: ConditionTypes.Initialized, status: "Unknown", ...why }),
        (written) => Step.stop(written, Result.done)
      )
    const [node] = yield* deps.nodesOf(claim)
    if (node === undefined) {
      return yield* wait({ reason: ConditionTypes.NodeNotFound, message: "Node not registered with cluster" })
    }
    const waiting = pending(claim, node)
    if (waiting !== undefined) return yield* wait(waiting)
    if (node.metadata.labels?.[Labels.NodeInitialized] !== "true") {
      yield* deps.kube.patch(Resources.Nodes, node.metadata.name ?? "", {
        type: "merge",
        patch: { metadata: { labels: { [Labels.NodeInitialized]: "true" } } }
      })
    }
    const initialized = yield* Step.setCondition(deps.kube, claim, { type: ConditionTypes.Initialized, status: "True" })
    yield* Effect.logInfo("initialized nodeclaim").pipe(
      Effect.annotateLogs({
        NodeClaim: { name: claim.metadata.name },
        Node: { name: node.metadata.name },
        allocatable: node.status?.allocatable ?? {}
      })
    )
    return Step.stop(initialized, Result.done)
  })
