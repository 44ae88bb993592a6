/**
 * Finalization of a deleted NodeClaim (upstream `lifecycle/controller.go` `finalize`, v1.4.0): annotate the time its
 * Node must be gone by; if Registered, delete the Node(s) with its providerID and wait for them to be gone (node
 * termination drains them; their removal, a watched change, brings the NodeClaim back here); terminate the instance
 * until the provider reports it gone (every 5 s); then release the termination finalizer.
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as ConditionTypes from "../../../api/Conditions.ts"
import * as ApiDuration from "../../../api/Duration.ts"
import * as Labels from "../../../api/Labels.ts"
import type { NodeClaim } from "../../../api/NodeClaim.ts"
import * as Resources from "../../../kube/Resources.ts"
import * as Result from "../../../runtime/Result.ts"
import * as TerminationEvents from "../../node/termination/Events.ts"
import * as InstanceTermination from "../../node/termination/InstanceTermination.ts"
import * as TerminationMetrics from "../../node/termination/TerminationMetrics.ts"
import * as Conditions from "../../StatusConditions.ts"
import * as Step from "./Step.ts"

/** How often the instance's termination is checked until the provider reports it gone. */
export const terminationPollInterval = Duration.seconds(5)

/**
 * With a `spec.terminationGracePeriod`, the time by which the Node must be gone (deletionTimestamp + TGP, RFC 3339):
 * node termination forces pods off by then (upstream `ensureTerminationGracePeriodTerminationTimeAnnotation`).
 * Undefined without one, or when the NodeClaim already carries it.
 */
export const terminationTime = (claim: NodeClaim): string | undefined => {
  if (claim.metadata.annotations?.[Labels.NodeClaimTerminationTimestampAnnotation] !== undefined) return undefined
  const grace =
    claim.spec.terminationGracePeriod === undefined
      ? undefined
      : ApiDuration.toMillis(claim.spec.terminationGracePeriod)
  const deletedAt = Date.parse(claim.metadata.deletionTimestamp ?? "")
  if (grace === undefined || grace === null || Number.isNaN(deletedAt)) return undefined
  return Conditions.timestamp(deletedAt + grace)
}

/**
 * Puts the {@link terminationTime} on the NodeClaim once, as `karpenter.sh/nodeclaim-termination-timestamp`. Returns
 * the NodeClaim as written.
 */
const annotateTerminationTime = Effect.fn("Finalization.annotateTerminationTime")(function* (
  { kube, events }: Step.Deps,
  claim: NodeClaim
) {
  const time = terminationTime(claim)
  if (time === undefined) return claim
  // Optimistic lock: node repair may write the annotation meanwhile, and its value must win.
  const annotated = yield* kube.patch(Resources.NodeClaims, claim.metadata.name ?? "", {
    type: "merge",
    patch: {
      metadata: {
        resourceVersion: claim.metadata.resourceVersion,
        annotations: { [Labels.NodeClaimTerminationTimestampAnnotation]: time }
      }
    }
  })
  yield* Effect.logInfo("annotated nodeclaim").pipe(
    Effect.annotateLogs({ [Labels.NodeClaimTerminationTimestampAnnotation]: time })
  )
  yield* events.publish(
    TerminationEvents.nodeClaimTerminationGracePeriodExpiring(
      { name: claim.metadata.name ?? "", uid: claim.metadata.uid },
      time
    )
  )
  return annotated
})

/**
 * Builds the Finalization step, for a NodeClaim being deleted: {@link Step.Deleted} once its finalizer is released
 * (or was never there); else stops, waiting for its Nodes to go (done) or its instance to (a requeue every
 * {@link terminationPollInterval}). A Conflict or NotFound fails the step (the controller maps them).
 */
export const make = (deps: Step.Deps) =>
  Effect.fn("Finalization.reconcile")(function* (found: NodeClaim) {
    if (!Step.hasFinalizer(found)) return Step.deleted
    const { kube } = deps
    let claim = yield* annotateTerminationTime(deps, found)
    if (Conditions.isTrue(claim.status?.conditions, ConditionTypes.Registered)) {
      const registered = yield* deps.nodesOf(claim)
      for (const node of registered) {
        if (node.metadata.deletionTimestamp !== undefined) continue
        yield* kube
          .delete(Resources.Nodes, node.metadata.name ?? "")
          .pipe(Effect.catchTag("NotFound", () => Effect.void))
      }
      if (registered.length > 0) return Step.stop(claim, Result.done)
    }
    const nodePool = claim.metadata.labels?.[Labels.NodePool] ?? ""
    // No providerID: the launch failed, there is no instance to terminate.
    if (claim.status?.providerID !== undefined && claim.status.providerID !== "") {
      const termination = yield* InstanceTermination.ensureTerminated(claim)
      if (!termination.terminated) return Step.stop(termination.nodeClaim, Result.requeueAfter(terminationPollInterval))
      claim = termination.nodeClaim
      const since = Date.parse(
        Conditions.get(claim.status?.conditions, ConditionTypes.InstanceTerminating)?.lastTransitionTime ?? ""
      )
      if (!Number.isNaN(since)) {
        yield* Metric.update(
          Metric.withAttributes(TerminationMetrics.nodeClaimsInstanceTerminationDurationSeconds, {
            nodepool: nodePool
          }),
          ((yield* Clock.currentTimeMillis) - since) / 1000
        )
      }
    }
    yield* kube.patch(Resources.NodeClaims, claim.metadata.name ?? "", {
      type: "merge",
      patch: {
        metadata: {
          resourceVersion: claim.metadata.resourceVersion,
          finalizers: (claim.metadata.finalizers ?? []).filter((finalizer) => finalizer !== Labels.TerminationFinalizer)
        }
      }
    })
    yield* Effect.logInfo("deleted nodeclaim")
    const deletedAt = Date.parse(found.metadata.deletionTimestamp ?? "")
    if (!Number.isNaN(deletedAt)) {
      yield* Metric.update(
        Metric.withAttributes(TerminationMetrics.nodeClaimsTerminationDurationSeconds, { nodepool: nodePool }),
        ((yield* Clock.currentTimeMillis) - deletedAt) / 1000
      )
    }
    yield* Metric.update(
      Metric.withAttributes(TerminationMetrics.nodeClaimsTerminatedTotal, {
        nodepool: nodePool,
        capacity_type: claim.metadata.labels?.[Labels.CapacityType] ?? ""
      }),
      1
    )
    return Step.deleted
  })
