/**
 * The NodeClaim lifecycle controller (upstream `pkg/controllers/nodeclaim/lifecycle/controller.go`): adds the
 * termination finalizer, then runs the steps — {@link Launch}, {@link Registration}, {@link Initialization} and
 * {@link Liveness} — or, once the NodeClaim is deleted, {@link Finalization}.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Labels from "../../../api/Labels.ts"
import type { Node } from "../../../api/Node.ts"
import type { NodeClaim } from "../../../api/NodeClaim.ts"
import * as CloudProvider from "../../../cloudprovider/CloudProvider.ts"
import { EventRecorder } from "../../../kube/EventRecorder.ts"
import { KubeClient } from "../../../kube/KubeClient.ts"
import * as Resources from "../../../kube/Resources.ts"
import * as Controller from "../../../runtime/Controller.ts"
import * as Indices from "../../../runtime/Indices.ts"
import * as InformerCache from "../../../runtime/InformerCache.ts"
import * as Result from "../../../runtime/Result.ts"
import * as Finalization from "./Finalization.ts"
import * as Initialization from "./Initialization.ts"
import * as Launch from "./Launch.ts"
import * as Liveness from "./Liveness.ts"
import * as Registration from "./Registration.ts"
import * as Step from "./Step.ts"

/** Starts the lifecycle controller in the current Scope. */
export const make = Effect.gen(function* () {
  const kube = yield* KubeClient
  const cloud = yield* CloudProvider.CloudProvider
  const events = yield* EventRecorder
  const nodes = yield* InformerCache.informer(Resources.Nodes)
  const nodeClaims = yield* InformerCache.informer(Resources.NodeClaims)

  const nodesOf = (claim: NodeClaim) => nodes.byIndex(Indices.nodeProviderID, claim.status?.providerID)

  const deps: Step.Deps = { kube, cloud, events, nodesOf }
  const progress = [Launch.make(deps), Registration.make(deps), Initialization.make(deps)] as const
  const liveness = Liveness.make(deps)
  const finalization = Finalization.make(deps)

  // Upstream runs Launch, Registration, Initialization and Liveness on one in-memory NodeClaim and writes it once.
  // Each step here writes as it goes, so the pass ends at the first step that acted or waits (its requeue brings the
  // next step, on the NodeClaim as written); Liveness runs every pass, as upstream, and the soonest requeue wins.
  // Untraced: called thousands of times a simulated day; a span and call frame each cost 1.5 µs.
  const reconcile = Effect.fnUntraced(function* (claim: NodeClaim) {
    if (claim.metadata.deletionTimestamp !== undefined) return Step.resultOf(yield* finalization(claim))
    if (!Step.hasFinalizer(claim)) {
      yield* kube.patch(Resources.NodeClaims, claim.metadata.name ?? "", {
        type: "merge",
        patch: {
          metadata: {
            resourceVersion: claim.metadata.resourceVersion,
            finalizers: [...(claim.metadata.finalizers ?? []), Labels.TerminationFinalizer]
          }
        }
      })
      return Result.requeue
    }
    let last: Step.Continue | Step.Stop | Step.Failed<Launch.LaunchError> = Step.proceed(claim)
    for (const step of progress) {
      const next: Step.StepResult<Launch.LaunchError> = yield* step(last.claim)
      if (next._tag === "Deleted") return Result.done
      last = next
      if (last._tag !== "Continue") break
    }
    const live = yield* liveness(last.claim)
    if (live._tag === "Deleted") return Result.done
    // A failed launch is retried with the controller's backoff (1 s doubling up to 1 min, as upstream's), which also
    // brings Liveness back by the registration TTL.
    if (last._tag === "Failed") return yield* Effect.fail(last.error)
    return Result.min(Step.resultOf(last), Step.resultOf(live))
  })

  return yield* Controller.make({
    name: "nodeclaim.lifecycle",
    for: nodeClaims,
    concurrency: 10,
    // Upstream's lifecycle rate limiter: per-key exponential failure backoff from 1 s up to 1 min.
    backoff: { baseDelay: Duration.seconds(1), maxDelay: Duration.minutes(1) },
    // Nodes name no NodeClaim; the providerID joins them (upstream's `NodeEventHandler`).
    watches: [
      {
        source: nodes,
        map: (node: Node) => Controller.keysByIndex(nodeClaims, Indices.nodeClaimProviderID, node.spec.providerID)
      }
    ],
    reconcile: (_key, claim) => (claim === undefined ? Effect.succeed(Result.done) : reconcile(claim))
  })
})
