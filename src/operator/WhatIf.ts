/**
 * `explain what-if`: a change tried on the in-memory copy of the cluster (a node deleted, a Deployment scaled, a
 * NodePool changed), then the passes the controllers would run on the result — which pods move to which existing
 * nodes, which NodeClaims would launch (instance type and price), what stays pending and why, and what disruption would
 * do. Nothing is written anywhere: the change only exists in memory.
 */
import { Clock, Effect } from "effect"
import * as Pod from "../api/Pod.ts"
import type * as InstanceType from "../cloudprovider/InstanceType.ts"
import * as ClusterView from "../controllers/provisioning/scheduling/ClusterView.ts"
import * as StatusConditions from "../controllers/StatusConditions.ts"
import * as Reschedulable from "../scheduling/Reschedulable.ts"
import type * as Manifests from "./Manifests.ts"
import { InvalidInput, plan } from "./Schedule.ts"
import * as ScheduleOutput from "./ScheduleOutput.ts"

/** A change to try. */
export type Change = { readonly _tag: "DeleteNode"; readonly node: string }

/** What the change does to a pod right away. */
export interface PodEffect {
  readonly pod: string
  readonly effect: string
}

/** The passes' decisions after the change. */
export interface WhatIf {
  readonly change: string
  readonly pods: ReadonlyArray<PodEffect>
  /** One provisioning pass over the changed cluster, as `schedule -o json` prints it. */
  readonly provisioning: ScheduleOutput.ScheduleJson
}

const deleting = <A extends { readonly metadata: { readonly deletionTimestamp?: string } }>(
  object: A,
  now: number
): A => ({ ...object, metadata: { ...object.metadata, deletionTimestamp: StatusConditions.timestamp(now) } })

/**
 * The node and its NodeClaim as `kubectl delete node` leaves them: deleting (Karpenter's finalizer drains it first).
 * The provisioner then counts the pods that can move now as pending, as it does for any node being deleted.
 */
const deleteNode = (manifests: Manifests.Manifests, name: string, now: number) =>
  Effect.gen(function* () {
    const node = manifests.nodes.find((candidate) => candidate.metadata.name === name)
    const ofNode = (claim: Manifests.Manifests["nodeClaims"][number]) =>
      claim.status?.nodeName === name ||
      (node?.spec?.providerID !== undefined && claim.status?.providerID === node.spec.providerID)
    if (node === undefined && !manifests.nodeClaims.some(ofNode)) {
      return yield* new InvalidInput({ message: `node ${name} not found` })
    }
    const pods = manifests.pods
      .filter((pod) => pod.spec.nodeName === name && !Pod.isTerminal(pod))
      .map((pod) => {
        const staying = Reschedulable.notReschedulable(pod, manifests.podDisruptionBudgets)
        const effect =
          staying === undefined
            ? "evicted: pending until it is scheduled again"
            : staying === "owned by a DaemonSet" || staying === "a mirror pod"
              ? `goes with the node (${staying})`
              : `not moved while the node drains (${staying})`
        return { pod: ClusterView.podKey(pod), effect }
      })
    const changed: Manifests.Manifests = {
      ...manifests,
      nodes: manifests.nodes.map((candidate) => (candidate === node ? deleting(candidate, now) : candidate)),
      nodeClaims: manifests.nodeClaims.map((claim) => (ofNode(claim) ? deleting(claim, now) : claim))
    }
    return { description: `delete node ${name}`, manifests: changed, pods }
  })

// Code-unit order, not locale order: the output must be the same on every machine.
const byPod = (a: PodEffect, b: PodEffect) => (a.pod < b.pod ? -1 : a.pod > b.pod ? 1 : 0)

/** Applies the change to the copy and runs the passes the controllers would run next. */
export const whatIf = Effect.fn("WhatIf.whatIf")(function* (
  manifests: Manifests.Manifests,
  catalogue: ReadonlyArray<InstanceType.InstanceType>,
  change: Change
) {
  const now = yield* Clock.currentTimeMillis
  const applied = yield* deleteNode(manifests, change.node, now)
  const { result, wellKnown } = yield* plan(applied.manifests, catalogue)
  return {
    change: applied.description,
    pods: [...applied.pods].sort(byPod),
    provisioning: ScheduleOutput.toJson(result, wellKnown)
  } satisfies WhatIf
})

const formatLaunch = (nodePool: string, launch: ScheduleOutput.LaunchJson | null) =>
  launch === null
    ? `nothing (nodepool ${nodePool}: no available offering)`
    : `${launch.instanceType} (nodepool ${nodePool}, ${launch.zone}, ${launch.capacityType}, $${launch.price}/hour)`

/** The what-if for people: the change, its pods, the launches, the moves, what stays pending. */
export const text = (whatIf: WhatIf): string => {
  const lines = [`what if: ${whatIf.change}`]
  for (const { pod, effect } of whatIf.pods) lines.push(`  ${pod}: ${effect}`)
  const { nodeClaims, existingNodes, unschedulable } = whatIf.provisioning
  lines.push("provisioning:")
  if (nodeClaims.length === 0 && existingNodes.length === 0 && unschedulable.length === 0) {
    lines.push("  nothing pending")
  }
  for (const claim of nodeClaims) {
    lines.push(`  launch ${formatLaunch(claim.nodePool, claim.launch)} for ${claim.pods.join(", ")}`)
  }
  for (const node of existingNodes) for (const pod of node.pods) lines.push(`  move ${pod} → ${node.name}`)
  for (const { pod, reason } of unschedulable) lines.push(`  pending ${pod}: ${reason.replace(/\s*[\r\n]+\s*/g, " ")}`)
  return lines.join("\n")
}
