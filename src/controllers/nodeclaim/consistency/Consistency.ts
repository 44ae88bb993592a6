/**
 * Consistency checks (upstream `pkg/controllers/nodeclaim/consistency`): an initialized NodeClaim's Node must look
 * like the instance type that was launched. A Node offering much less than its NodeClaim expected (a wrong instance
 * type, a misconfigured kubelet) sets `ConsistentStateFound=False` and raises an event; otherwise it is True.
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as ConditionTypes from "../../../api/Conditions.ts"
import type { Node } from "../../../api/Node.ts"
import type { NodeClaim } from "../../../api/NodeClaim.ts"
import * as Quantity from "../../../api/Quantity.ts"
import { EventRecorder } from "../../../kube/EventRecorder.ts"
import { KubeClient } from "../../../kube/KubeClient.ts"
import * as Resources from "../../../kube/Resources.ts"
import * as Controller from "../../../runtime/Controller.ts"
import * as Indices from "../../../runtime/Indices.ts"
import * as InformerCache from "../../../runtime/InformerCache.ts"
import * as Result from "../../../runtime/Result.ts"
import * as ResourceMath from "../../../scheduling/ResourceLists.ts"
import * as Conditions from "../../StatusConditions.ts"

/** How often a NodeClaim is checked again (upstream: every 10 minutes). */
export const recheck = Duration.minutes(10)
/** The share of an expected resource a Node must offer (upstream's node shape check: 90%). */
export const minimumShare = 0.9

/** Why the Node does not match its NodeClaim, or undefined. */
export const nodeShapeProblem = (claim: NodeClaim, node: Node): string | undefined => {
  const expected = ResourceMath.fromResourceList(claim.status?.capacity)
  const actual = ResourceMath.fromResourceList(node.status?.capacity)
  for (const name of ["cpu", "memory", "pods"]) {
    const want = expected[name]
    if (want === undefined || want <= 0) continue
    const have = actual[name] ?? 0
    if (have < want * minimumShare) {
      const binary = Quantity.isByteResource(name)
      return `expected ${Quantity.format(want, { binary })} of resource ${name}, but found ${Quantity.format(have, { binary })} (${((have / want) * 100).toFixed(1)}% of expected)`
    }
  }
  return undefined
}

/** Starts the consistency controller in the current Scope. */
export const make = Effect.gen(function* () {
  const kube = yield* KubeClient
  const events = yield* EventRecorder
  const nodes = yield* InformerCache.informer(Resources.Nodes)

  // Untraced: called thousands of times a simulated day; a span and call frame each cost 1.5 µs.
  const check = Effect.fnUntraced(function* (claim: NodeClaim) {
    if (claim.metadata.deletionTimestamp !== undefined) return Result.done
    if (!Conditions.isTrue(claim.status?.conditions, ConditionTypes.Initialized)) return Result.requeueAfter(recheck)
    const [node] = yield* nodes.byIndex(Indices.nodeProviderID, claim.status?.providerID)
    if (node === undefined) return Result.requeueAfter(recheck)
    const problem = nodeShapeProblem(claim, node)
    const now = yield* Clock.currentTimeMillis
    const next = Conditions.set(
      claim.status?.conditions,
      problem === undefined
        ? { type: ConditionTypes.ConsistentStateFound, status: "True" }
        : {
            type: ConditionTypes.ConsistentStateFound,
            status: "False",
            reason: ConditionTypes.ConsistencyCheckFailed,
            message: problem
          },
      { generation: claim.metadata.generation, now }
    )
    if (next !== claim.status?.conditions) {
      yield* kube.patch(
        Resources.NodeClaims,
        claim.metadata.name ?? "",
        {
          type: "merge",
          patch: { metadata: { resourceVersion: claim.metadata.resourceVersion }, status: { conditions: next } }
        },
        { subresource: "status" }
      )
      if (problem !== undefined) {
        yield* events.publish({
          involvedObject: { apiVersion: "karpenter.sh/v1", kind: "NodeClaim", name: claim.metadata.name ?? "" },
          type: "Warning",
          reason: "FailedConsistencyCheck",
          message: `Failed to detect consistency: ${problem}`,
          dedupeValues: [claim.metadata.uid ?? claim.metadata.name ?? "", problem]
        })
      }
    }
    return Result.requeueAfter(recheck)
  })

  return yield* Controller.make({
    name: "nodeclaim.consistency",
    for: Resources.NodeClaims,
    reconcile: (_key, claim) => (claim === undefined ? Effect.succeed(Result.done) : check(claim))
  })
})
