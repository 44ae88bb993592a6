/**
 * What the steps of the NodeClaim lifecycle (Launch, Registration, Initialization, Liveness, Finalization: upstream's
 * sub-reconcilers in `pkg/controllers/nodeclaim/lifecycle`) share: the {@link StepResult} each hands the controller,
 * the cluster reads they depend on, and the NodeClaim writes they have in common.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as ConditionTypes from "../../../api/Conditions.ts"
import * as Labels from "../../../api/Labels.ts"
import type { Condition } from "../../../api/Meta.ts"
import type { Node } from "../../../api/Node.ts"
import type { NodeClaim } from "../../../api/NodeClaim.ts"
import type { CloudProvider } from "../../../cloudprovider/CloudProvider.ts"
import type { EventRecorder } from "../../../kube/EventRecorder.ts"
import type { KubeClient } from "../../../kube/KubeClient.ts"
import * as Resources from "../../../kube/Resources.ts"
import * as Result from "../../../runtime/Result.ts"
import * as Conditions from "../../StatusConditions.ts"

/** The step has nothing (more) to do for this NodeClaim: the next step runs, on `claim`. */
export interface Continue {
  readonly _tag: "Continue"
  /** The NodeClaim as the step left it (as written, when it wrote). */
  readonly claim: NodeClaim
}

/**
 * The step acted, or waits on the cluster: the steps after it wait for the next reconcile, which `result` asks for
 * (a watched change brings it too). Liveness still runs on `claim`.
 */
export interface Stop {
  readonly _tag: "Stop"
  readonly claim: NodeClaim
  readonly result: Result.Result
}

/**
 * The step failed and wrote the failure on `claim`: Liveness still runs, then the reconcile fails with `error`, for a
 * retry with backoff (upstream collects the errors of its sub-reconcilers and runs every one).
 */
export interface Failed<F> {
  readonly _tag: "Failed"
  readonly claim: NodeClaim
  readonly error: F
}

/** The step deleted the NodeClaim (or released its finalizer): nothing more to do for it. */
export interface Deleted {
  readonly _tag: "Deleted"
}

/** What a lifecycle step did; `F` is the error a {@link Failed} step carries. */
export type StepResult<F = never> = Continue | Stop | Failed<F> | Deleted

/** See {@link Continue}. */
export const proceed = (claim: NodeClaim): Continue => ({ _tag: "Continue", claim })

/** See {@link Stop}. */
export const stop = (claim: NodeClaim, result: Result.Result): Stop => ({ _tag: "Stop", claim, result })

/** See {@link Failed}. */
export const failed = <F>(claim: NodeClaim, error: F): Failed<F> => ({ _tag: "Failed", claim, error })

/** See {@link Deleted}. */
export const deleted: Deleted = { _tag: "Deleted" }

/** The reconcile result a step asks for on its own: its `result` if it stopped, else nothing until the next change. */
export const resultOf = (step: Continue | Stop | Deleted): Result.Result =>
  step._tag === "Stop" ? step.result : Result.done

/** What the steps work with (upstream's sub-reconcilers' fields): the API, the provider, events, the Node cache. */
export interface Deps {
  readonly kube: KubeClient["Service"]
  readonly cloud: CloudProvider["Service"]
  readonly events: EventRecorder["Service"]
  /** The Nodes with the NodeClaim's providerID (none before it launched), from the controller's cache. */
  readonly nodesOf: (claim: NodeClaim) => Effect.Effect<ReadonlyArray<Node>>
}

/** Whether the object carries Karpenter's termination finalizer. */
export const hasFinalizer = (object: { readonly metadata: { readonly finalizers?: ReadonlyArray<string> } }) =>
  (object.metadata.finalizers ?? []).includes(Labels.TerminationFinalizer)

/** The NodeClaim as an event's involved object. */
export const reference = (claim: NodeClaim) => ({
  apiVersion: "karpenter.sh/v1",
  kind: "NodeClaim",
  name: claim.metadata.name ?? "",
  ...(claim.metadata.uid === undefined ? {} : { uid: claim.metadata.uid })
})

/** Sets one of the NodeClaim's conditions (with its Ready root) in a status `change`. */
export const withCondition = (
  claim: NodeClaim,
  status: NonNullable<NodeClaim["status"]>,
  input: Conditions.Input,
  now: number
): ReadonlyArray<Condition> =>
  Conditions.setWithRoot(status.conditions, input, ConditionTypes.NodeClaimReadyDependents, {
    generation: claim.metadata.generation,
    now,
    createdAt: claim.metadata.creationTimestamp
  })

/**
 * Writes the NodeClaim's status under its resourceVersion: `change` edits fields and conditions; no write when it
 * returns the status it was given. Returns the NodeClaim as written.
 */
export const writeStatus = Effect.fn("Step.writeStatus")(function* (
  kube: KubeClient["Service"],
  claim: NodeClaim,
  change: (status: NonNullable<NodeClaim["status"]>, now: number) => NonNullable<NodeClaim["status"]>
) {
  const now = yield* Clock.currentTimeMillis
  const before = claim.status ?? {}
  const after = change(before, now)
  if (after === before) return claim
  return yield* kube.patch(
    Resources.NodeClaims,
    claim.metadata.name ?? "",
    { type: "merge", patch: { metadata: { resourceVersion: claim.metadata.resourceVersion }, status: after } },
    { subresource: "status" }
  )
})

/** Sets one condition of the NodeClaim (with its Ready root); no write when that changes nothing. */
export const setCondition = (kube: KubeClient["Service"], claim: NodeClaim, input: Conditions.Input) =>
  writeStatus(kube, claim, (status, now) => {
    const conditions = withCondition(claim, status, input, now)
    return conditions === status.conditions ? status : { ...status, conditions: [...conditions] }
  })
