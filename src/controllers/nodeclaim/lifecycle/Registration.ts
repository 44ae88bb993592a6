/**
 * Registration, the second step of the NodeClaim lifecycle (upstream `lifecycle/registration.go`, v1.4.0): the Node
 * that joins with the NodeClaim's providerID is synced with it (labels, annotations, taints, owner, finalizer), and
 * the NodeClaim goes Registered=True with its `status.nodeName`; the NodePool's NodeRegistrationHealthy goes True.
 */
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as ConditionTypes from "../../../api/Conditions.ts"
import * as Labels from "../../../api/Labels.ts"
import type { Node } from "../../../api/Node.ts"
import type { NodeClaim } from "../../../api/NodeClaim.ts"
import * as Taints from "../../../api/Taints.ts"
import * as Resources from "../../../kube/Resources.ts"
import * as Result from "../../../runtime/Result.ts"
import * as RegistrationHealth from "../../nodepool/registrationhealth/RegistrationHealth.ts"
import * as Conditions from "../../StatusConditions.ts"
import * as Metrics from "./LifecycleMetrics.ts"
import * as Step from "./Step.ts"

/**
 * Upstream `syncNode`, as the merge patch of the Node: it takes the NodeClaim's labels and annotations (the NodeClaim's
 * value wins on a shared key), its taints then startup taints (a key and effect already on the Node keeps the Node's
 * taint), its owner reference and the termination finalizer; the unregistered taint goes.
 */
export const nodePatch = (claim: NodeClaim, node: Node) => {
  const taints = Taints.merge(
    Taints.merge(node.spec.taints ?? [], claim.spec.taints ?? []),
    claim.spec.startupTaints ?? []
  ).filter((taint) => !Taints.matches(taint, Taints.UnregisteredNoExecute))
  const owners = node.metadata.ownerReferences ?? []
  return {
    metadata: {
      resourceVersion: node.metadata.resourceVersion,
      labels: { ...claim.metadata.labels, [Labels.NodeRegistered]: "true" },
      annotations: { ...claim.metadata.annotations },
      finalizers: Step.hasFinalizer(node)
        ? node.metadata.finalizers
        : [...(node.metadata.finalizers ?? []), Labels.TerminationFinalizer],
      // Appended to the Node's own, as upstream; once, should registration run again after a failed status write.
      ownerReferences: owners.some((owner) => owner.uid === claim.metadata.uid)
        ? owners
        : [
            ...owners,
            {
              apiVersion: "karpenter.sh/v1",
              kind: "NodeClaim",
              name: claim.metadata.name ?? "",
              uid: claim.metadata.uid ?? "",
              blockOwnerDeletion: true
            }
          ]
    },
    spec: { taints }
  }
}

/**
 * Builds the Registration step. A registered NodeClaim continues. Without its Node, or with several, the NodeClaim
 * says so on Registered and waits (the Node's arrival, a watched change, brings it back; Liveness requeues at the
 * registration TTL). Registering stops the pass with a
 * requeue, for Initialization to run on the NodeClaim as written.
 */
export const make = (deps: Step.Deps) =>
  // Untraced: called thousands of times a simulated day; a span and call frame each cost 1.5 µs.
  Effect.fnUntraced(function* (claim: NodeClaim) {
    if (Conditions.isTrue(claim.status?.conditions, ConditionTypes.Registered)) return Step.proceed(claim)
    const found = yield* deps.nodesOf(claim)
    const nodePool = claim.metadata.labels?.[Labels.NodePool]
    if (found.length === 0) {
      const waiting = yield* Step.setCondition(deps.kube, claim, {
        type: ConditionTypes.Registered,
        status: "Unknown",
        reason: ConditionTypes.NodeNotFound,
        message: "Node not registered with cluster"
      })
      return Step.stop(waiting, Result.done)
    }
    if (found.length > 1) {
      const conflicting = yield* Step.setCondition(deps.kube, claim, {
        type: ConditionTypes.Registered,
        status: "False",
        reason: ConditionTypes.MultipleNodesFound,
        message: `found ${found.length} nodes with providerID ${claim.status?.providerID}`
      })
      return Step.stop(conflicting, Result.done)
    }
    const node = found[0]!
    yield* deps.kube.patch(Resources.Nodes, node.metadata.name ?? "", { type: "merge", patch: nodePatch(claim, node) })
    const registered = yield* Step.writeStatus(deps.kube, claim, (status, now) => ({
      ...status,
      nodeName: node.metadata.name ?? "",
      conditions: [...Step.withCondition(claim, status, { type: ConditionTypes.Registered, status: "True" }, now)]
    }))
    if (nodePool !== undefined) yield* RegistrationHealth.markHealthy(nodePool)
    yield* Effect.logInfo("registered nodeclaim").pipe(
      Effect.annotateLogs({ NodeClaim: { name: claim.metadata.name }, Node: { name: node.metadata.name } })
    )
    yield* Metric.update(Metric.withAttributes(Metrics.nodesCreatedTotal, { nodepool: nodePool ?? "" }), 1)
    return Step.stop(registered, Result.requeue)
  })
