/**
 * The `nodepool.readiness` controller: a NodePool's `NodeClassReady` condition follows its NodeClass (upstream
 * `pkg/controllers/nodepool/readiness`). NodeClass changes queue the NodePools that reference them.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as ConditionTypes from "../../../api/Conditions.ts"
import * as KWOKNodeClass from "../../../api/KWOKNodeClass.ts"
import type { NodeClassKind } from "../../../cloudprovider/CloudProvider.ts"
import * as Result from "../../../runtime/Result.ts"
import * as Conditions from "../../StatusConditions.ts"
import * as NodeClasses from "../nodeclass/NodeClasses.ts"

/**
 * What `NodeClassReady` says of a NodeClass that exists and is not being deleted: its Ready condition, True; False with
 * its reason and message; `NodeClassReadinessUnknown` when Unknown or absent.
 *
 * A KWOKNodeClass without conditions counts as Ready: the KWOK provider has nothing to resolve (no images, subnets or
 * roles), so no controller of this project sets its Ready; one that does carry conditions is read like any other.
 */
export const nodeClassReadiness = (kind: NodeClassKind, nodeClass: NodeClasses.NodeClassObject): Conditions.Input => {
  const conditions = nodeClass.status?.conditions
  const alwaysReady =
    kind.group === KWOKNodeClass.group && kind.kind === KWOKNodeClass.kind && (conditions ?? []).length === 0
  const ready = Conditions.get(conditions, Conditions.Ready)
  if (alwaysReady || ready?.status === "True") return { type: ConditionTypes.NodeClassReady, status: "True" }
  if (ready?.status === "False") {
    return {
      type: ConditionTypes.NodeClassReady,
      status: "False",
      reason: ready.reason ?? "",
      message: ready.message ?? ""
    }
  }
  return {
    type: ConditionTypes.NodeClassReady,
    status: "False",
    reason: ConditionTypes.NodeClassReadinessUnknown,
    message: "Node Class Readiness Unknown"
  }
}

/** The `NodeClassReady` a NodePool's NodeClass lookup implies; undefined when the NodePool is not managed. */
export const readinessOf = (lookup: NodeClasses.Lookup): Conditions.Input | undefined => {
  switch (lookup._tag) {
    case "Unmanaged":
      return undefined
    case "Unreadable":
      // A supported kind this project has no descriptor for cannot be read; assume it ready rather than block the
      // NodePool forever (the fake provider's TestNodeClass).
      return { type: ConditionTypes.NodeClassReady, status: "True" }
    case "NotFound":
      return {
        type: ConditionTypes.NodeClassReady,
        status: "False",
        reason: ConditionTypes.NodeClassNotFound,
        message: "NodeClass not found on cluster"
      }
    case "Found":
      return lookup.nodeClass.metadata.deletionTimestamp !== undefined
        ? {
            type: ConditionTypes.NodeClassReady,
            status: "False",
            reason: ConditionTypes.NodeClassTerminating,
            message: "NodeClass is Terminating"
          }
        : nodeClassReadiness(lookup.kind, lookup.nodeClass)
  }
}

/** Starts `nodepool.readiness`: sets `NodeClassReady` on every managed NodePool. */
export const make = Effect.fn("NodePoolReadiness.make")(function* () {
  return yield* NodeClasses.nodePoolController("nodepool.readiness", (nodePool, lookup) =>
    Effect.gen(function* () {
      const input = readinessOf(lookup)
      if (input === undefined) return Result.done
      const conditions = nodePool.status?.conditions
      const next = Conditions.setWithRoot(conditions, input, ConditionTypes.NodePoolReadyDependents, {
        generation: nodePool.metadata.generation,
        now: yield* Clock.currentTimeMillis,
        createdAt: nodePool.metadata.creationTimestamp,
        deleting: nodePool.metadata.deletionTimestamp !== undefined
      })
      if (next === conditions) return Result.done
      return yield* NodeClasses.settleWrite(NodeClasses.patchStatus(nodePool, { conditions: next }))
    })
  )
})
