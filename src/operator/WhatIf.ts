/**
 * `explain what-if`: a change tried on the in-memory copy of the cluster (a node deleted, a Deployment scaled, a
 * NodePool changed), then the passes the controllers would run on the result — which pods move to which existing
 * nodes, which NodeClaims would launch (instance type and price), what stays pending and why, and what disruption would
 * do. Nothing is written anywhere: the change only exists in memory.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as ConditionTypes from "../api/Conditions.ts"
import * as Labels from "../api/Labels.ts"
import * as Meta from "../api/Meta.ts"
import type { NodeClaim } from "../api/NodeClaim.ts"
import type { NodePool } from "../api/NodePool.ts"
import * as Pod from "../api/Pod.ts"
import * as Workloads from "../api/Workloads.ts"
import * as CloudProvider from "../cloudprovider/CloudProvider.ts"
import type * as InstanceType from "../cloudprovider/InstanceType.ts"
import { deletionOrder } from "../cluster/WorkloadControllers.ts"
import * as Disruption from "../controllers/disruption/Disruption.ts"
import * as Drift from "../controllers/disruption/Drift.ts"
import * as Emptiness from "../controllers/disruption/Emptiness.ts"
import * as MultiNodeConsolidation from "../controllers/disruption/MultiNodeConsolidation.ts"
import * as Planner from "../controllers/disruption/Planner.ts"
import * as SingleNodeConsolidation from "../controllers/disruption/SingleNodeConsolidation.ts"
import * as DisruptionConditions from "../controllers/nodeclaim/disruption/DisruptionConditions.ts"
import * as ClusterView from "../controllers/provisioning/scheduling/ClusterView.ts"
import * as StatusConditions from "../controllers/StatusConditions.ts"
import { type Event, EventRecorder } from "../kube/EventRecorder.ts"
import * as Reschedulable from "../scheduling/Reschedulable.ts"
import { ClusterState } from "../state/ClusterState.ts"
import { catalogueProvider, plannerSnapshot } from "./Explain.ts"
import type * as Manifests from "./Manifests.ts"
import { InvalidInput, plan, wellKnownFor } from "./Schedule.ts"
import * as ScheduleOutput from "./ScheduleOutput.ts"

/** A change to try. */
export type Change =
  | { readonly _tag: "DeleteNode"; readonly node: string }
  | { readonly _tag: "Scale"; readonly namespace: string; readonly name: string; readonly replicas: number }
  | { readonly _tag: "Apply"; readonly nodePools: ReadonlyArray<NodePool> }

/** Reads `deployment/NAMESPACE/NAME=REPLICAS` (the namespace may be left out: default). */
export const parseScale = (text: string): Change | undefined => {
  const match = /^deployments?(?:\.apps)?\/(?:([^/=]+)\/)?([^/=]+)=(\d+)$/.exec(text)
  if (match === null) return undefined
  return { _tag: "Scale", namespace: match[1] ?? "default", name: match[2]!, replicas: Number(match[3]) }
}

/** What the change does to a pod right away. */
export interface PodEffect {
  readonly pod: string
  readonly effect: string
}

/** The command a disruption pass would hand to orchestration. */
export interface CommandJson {
  readonly method: string
  readonly reason: Planner.Reason
  readonly nodes: ReadonlyArray<{ readonly name: string; readonly price: number | undefined }>
  readonly replacements: ReadonlyArray<ScheduleOutput.LaunchJson | null>
}

/** One disruption pass: its command, and why nodes it looked at stay (its Unconsolidatable/DisruptionBlocked events). */
export interface DisruptionPass {
  readonly command: CommandJson | null
  readonly notes: ReadonlyArray<{ readonly node: string; readonly why: string }>
}

/** A NodeClaim the change drifts. */
export interface DriftedJson {
  readonly nodeClaim: string
  readonly node: string | undefined
  readonly reason: string
}

/** The passes' decisions after the change. */
export interface WhatIf {
  readonly change: string
  readonly pods: ReadonlyArray<PodEffect>
  /** The NodeClaims a changed NodePool drifts (`--apply`). */
  readonly drifted: ReadonlyArray<DriftedJson>
  /** One provisioning pass over the changed cluster, as `schedule -o json` prints it. */
  readonly provisioning: ScheduleOutput.ScheduleJson
  /** One disruption pass, after a change that may leave capacity to spare (a scale-down) or drift nodes (a NodePool). */
  readonly disruption?: DisruptionPass
}

// Code-unit order, not locale order: the output must be the same on every machine.
const byPod = (a: PodEffect, b: PodEffect) => (a.pod < b.pod ? -1 : a.pod > b.pod ? 1 : 0)

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
        const staying = Reschedulable.notReschedulable(pod, manifests.podDisruptionBudgets, now)
        const effect =
          staying === undefined
            ? "evicted: pending until it is scheduled again"
            : staying === "owned by a DaemonSet" || staying === "a mirror pod"
              ? `goes with the node (${staying})`
              : `not moved while the node drains (${staying})`
        return { pod: ClusterView.podKey(pod), effect }
      })
      .sort(byPod)
    const changed: Manifests.Manifests = {
      ...manifests,
      nodes: manifests.nodes.map((candidate) => (candidate === node ? deleting(candidate, now) : candidate)),
      nodeClaims: manifests.nodeClaims.map((claim) => (ofNode(claim) ? deleting(claim, now) : claim))
    }
    return { description: `delete node ${name}`, manifests: changed, pods }
  })

const inNamespace = (object: { readonly metadata: Meta.ObjectMeta }, namespace: string) =>
  (object.metadata.namespace ?? "default") === namespace

// By name within the namespace: a cluster's own objects carry uids, but a snapshot read from another cluster or
// manifests written by hand may not match them.
const controlledBy = (object: { readonly metadata: Meta.ObjectMeta }, kind: string, names: ReadonlySet<string>) => {
  const owner = Meta.controllerOf(object)
  return owner !== undefined && owner.kind === kind && names.has(owner.name)
}

const newestFirst = (a: Workloads.ReplicaSet, b: Workloads.ReplicaSet) => {
  const at = (replicaSet: Workloads.ReplicaSet) => replicaSet.metadata.creationTimestamp ?? ""
  return at(a) < at(b) ? 1 : at(a) > at(b) ? -1 : 0
}

/**
 * The Deployment at `replicas`: the pods its ReplicaSets would create (pending, from the newest ReplicaSet's template,
 * else the Deployment's), or those they would delete, in the ReplicaSet controller's order.
 */
const scale = (manifests: Manifests.Manifests, change: Extract<Change, { _tag: "Scale" }>) =>
  Effect.gen(function* () {
    const { namespace, name, replicas } = change
    const deployment = manifests.deployments.find((d) => d.metadata.name === name && inNamespace(d, namespace))
    if (deployment === undefined)
      return yield* new InvalidInput({ message: `deployment ${namespace}/${name} not found` })
    const replicaSets = manifests.replicaSets
      .filter((rs) => inNamespace(rs, namespace) && controlledBy(rs, "Deployment", new Set([name])))
      .sort(newestFirst)
    const setNames = new Set(replicaSets.map((rs) => rs.metadata.name ?? ""))
    const active = manifests.pods.filter(
      (pod) => inNamespace(pod, namespace) && Pod.isActive(pod) && controlledBy(pod, "ReplicaSet", setNames)
    )
    const description = `scale deployment ${namespace}/${name} from ${active.length} to ${replicas} replicas`
    if (replicas <= active.length) {
      const removed = [...active].sort(deletionOrder).slice(0, active.length - replicas)
      const gone = new Set(removed)
      return {
        description,
        manifests: { ...manifests, pods: manifests.pods.filter((pod) => !gone.has(pod)) },
        pods: removed.map((pod) => ({ pod: ClusterView.podKey(pod), effect: "deleted (scale down)" })),
        scaledDown: removed.length > 0
      }
    }
    const owner = replicaSets[0]
    const template = owner?.spec.template ?? deployment.spec.template
    const prefix = owner?.metadata.name ?? name
    const created: Array<Pod.Pod> = []
    for (let index = 1; created.length < replicas - active.length; index++) {
      const podName = `${prefix}-whatif-${index}`
      if (manifests.pods.some((pod) => pod.metadata.name === podName && inNamespace(pod, namespace))) continue
      created.push({
        metadata: {
          name: podName,
          namespace,
          ...(template.metadata?.labels === undefined ? {} : { labels: template.metadata.labels }),
          ...(template.metadata?.annotations === undefined ? {} : { annotations: template.metadata.annotations }),
          ...(owner === undefined
            ? {}
            : {
                ownerReferences: [
                  {
                    apiVersion: Workloads.apiVersion,
                    kind: "ReplicaSet",
                    name: prefix,
                    uid: owner.metadata.uid ?? "",
                    controller: true
                  }
                ]
              })
        },
        spec: template.spec,
        status: { phase: "Pending" }
      })
    }
    return {
      description,
      manifests: { ...manifests, pods: [...manifests.pods, ...created] },
      pods: created.map((pod) => ({ pod: ClusterView.podKey(pod), effect: "created (scale up): pending" })),
      scaledDown: false
    }
  })

/**
 * The NodePools replace the stored ones of the same name (or join them), as `kubectl apply` would: the annotations
 * the controllers keep (the hash) and the status stay. Then each launched NodeClaim of theirs gets the Drifted
 * condition the `nodeclaim.disruption` controller would give it (static fields, requirements, instance type).
 */
const apply = (
  manifests: Manifests.Manifests,
  catalogue: ReadonlyArray<InstanceType.InstanceType>,
  applied: ReadonlyArray<NodePool>,
  now: number
) =>
  Effect.gen(function* () {
    const byName = new Map(applied.map((pool) => [pool.metadata.name ?? "", pool]))
    const stored = new Map(manifests.nodePools.map((pool) => [pool.metadata.name ?? "", pool]))
    const merged = new Map(
      [...byName].map(([name, pool]) => {
        const old = stored.get(name)
        const annotations = { ...old?.metadata.annotations, ...pool.metadata.annotations }
        const withMetadata: NodePool = { ...pool, metadata: { ...pool.metadata, annotations } }
        return [name, old?.status === undefined ? withMetadata : { ...withMetadata, status: old.status }] as const
      })
    )
    const nodePools = [
      ...manifests.nodePools.map((pool) => merged.get(pool.metadata.name ?? "") ?? pool),
      ...[...merged].filter(([name]) => !stored.has(name)).map(([, pool]) => pool)
    ]
    const drifted: Array<DriftedJson> = []
    const nodeClaims: Array<NodeClaim> = []
    for (const claim of manifests.nodeClaims) {
      const pool = merged.get(claim.metadata.labels?.[Labels.NodePool] ?? "")
      if (pool === undefined || !StatusConditions.isTrue(claim.status?.conditions, ConditionTypes.Launched)) {
        nodeClaims.push(claim)
        continue
      }
      const reason = yield* DisruptionConditions.driftReason(pool, claim)
      const conditions =
        reason === undefined
          ? StatusConditions.clear(claim.status?.conditions, ConditionTypes.Drifted)
          : StatusConditions.set(
              claim.status?.conditions,
              { type: ConditionTypes.Drifted, status: "True", reason },
              { now, generation: claim.metadata.generation }
            )
      if (reason !== undefined) {
        drifted.push({ nodeClaim: claim.metadata.name ?? "", node: claim.status?.nodeName, reason })
      }
      nodeClaims.push({ ...claim, status: { ...claim.status, conditions } })
    }
    return {
      description: `apply ${[...byName.keys()].map((name) => `nodepool ${name}`).join(", ")}`,
      manifests: { ...manifests, nodePools, nodeClaims },
      pods: [],
      drifted,
      disrupts: true
    }
  }).pipe(Effect.provideService(CloudProvider.CloudProvider, catalogueProvider(catalogue)))

/**
 * A ClusterState that is the copy, frozen: the disruption methods read only its consolidation state (one state: the
 * copy never changes), and nothing here nominates, marks or records anything.
 */
const frozenCluster = (state: Planner.Snapshot) => {
  const never = Effect.die("a what-if never changes the cluster state")
  return ClusterState.of({
    synced: Effect.succeed(true),
    view: Effect.succeed(state.view),
    nodes: Effect.succeed(state.stateNodes),
    nominate: () => never,
    markForDeletion: () => never,
    unmarkForDeletion: () => never,
    nodePoolResources: () => never,
    consolidationState: Effect.succeed(0),
    markUnconsolidated: never,
    bufferNodes: Effect.succeed(state.bufferNodes),
    setBufferNodes: () => never,
    ackPods: () => never,
    markPodSchedulingDecisions: () => never,
    podSchedulingTimes: () => never,
    clearPodSchedulingTimes: () => never,
    changes: Stream.empty
  })
}

/** The NodeClaim a command would launch, priced as `schedule` prices it. */
const launchOf = (catalogue: ReadonlyArray<InstanceType.InstanceType>) => {
  const wellKnown = wellKnownFor(catalogue)
  return (replacement: Planner.Command["replacements"][number]) =>
    ScheduleOutput.launchOf(replacement.instanceTypes, replacement.requirements, wellKnown)
}

/**
 * One pass of the disruption controller on the copy: its methods in its order (Disruption.make's), the first command
 * found. Commands are not validated again after the TTL: the copy cannot change while they wait, so the check would
 * find the same command.
 */
const disruptionPass = Effect.fn("WhatIf.disruptionPass")(function* (
  manifests: Manifests.Manifests,
  catalogue: ReadonlyArray<InstanceType.InstanceType>,
  now: number
) {
  const state = plannerSnapshot(manifests, catalogue, now)
  const events: Array<Event> = []
  const context = { settings: {}, validate: (command: Planner.Command) => Effect.succeed(command) }
  const command = yield* Effect.gen(function* () {
    const methods = [
      yield* Emptiness.make(context),
      Drift.make(context.settings),
      yield* MultiNodeConsolidation.make(context, 60_000),
      yield* SingleNodeConsolidation.make(context, 180_000)
    ]
    return yield* Disruption.firstCommand(methods, state)
  }).pipe(
    Effect.provideService(ClusterState, frozenCluster(state)),
    Effect.provideService(
      EventRecorder,
      EventRecorder.of({ publish: (event) => Effect.sync(() => events.push(event)) })
    ),
    Effect.provideService(CloudProvider.CloudProvider, catalogueProvider(catalogue))
  )
  const notes = events
    .filter((event) => event.involvedObject.kind === "Node")
    .map((event) => ({ node: event.involvedObject.name, why: `${event.reason}: ${event.message}` }))
  return {
    command:
      command === undefined
        ? null
        : {
            method: command.method,
            reason: command.reason,
            nodes: command.candidates.map((candidate) => ({ name: candidate.name, price: Planner.priceOf(candidate) })),
            replacements: command.replacements.map(launchOf(catalogue))
          },
    notes
  } satisfies DisruptionPass
})

const applyChange = (
  manifests: Manifests.Manifests,
  catalogue: ReadonlyArray<InstanceType.InstanceType>,
  change: Change,
  now: number
) => {
  switch (change._tag) {
    case "DeleteNode":
      return Effect.map(deleteNode(manifests, change.node, now), (applied) => ({
        ...applied,
        drifted: [],
        disrupts: false
      }))
    case "Scale":
      return Effect.map(scale(manifests, change), ({ scaledDown, ...applied }) => ({
        ...applied,
        drifted: [],
        disrupts: scaledDown
      }))
    case "Apply":
      return apply(manifests, catalogue, change.nodePools, now)
  }
}

/** Applies the change to the copy and runs the passes the controllers would run next. */
export const whatIf = Effect.fn("WhatIf.whatIf")(function* (
  manifests: Manifests.Manifests,
  catalogue: ReadonlyArray<InstanceType.InstanceType>,
  change: Change
) {
  const now = yield* Clock.currentTimeMillis
  const applied = yield* applyChange(manifests, catalogue, change, now)
  const { result, wellKnown } = yield* plan(applied.manifests, catalogue)
  const disruption = applied.disrupts ? yield* disruptionPass(applied.manifests, catalogue, now) : undefined
  return {
    change: applied.description,
    pods: applied.pods,
    drifted: applied.drifted,
    provisioning: ScheduleOutput.toJson(result, wellKnown),
    ...(disruption === undefined ? {} : { disruption })
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
  for (const { nodeClaim, node, reason } of whatIf.drifted) {
    lines.push(`  nodeclaim ${nodeClaim}${node === undefined ? "" : ` (node ${node})`} drifted: ${reason}`)
  }
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
  if (whatIf.disruption !== undefined) lines.push(...disruptionText(whatIf.disruption))
  return lines.join("\n")
}

const price = (value: number | undefined) => (value === undefined ? "unknown price" : `$${value}/hour`)

const disruptionText = ({ command, notes }: DisruptionPass): Array<string> => {
  const lines = ["disruption:"]
  if (command === null) lines.push("  nothing to disrupt")
  else {
    const nodes = command.nodes.map((node) => `${node.name} (${price(node.price)})`).join(", ")
    lines.push(`  ${command.method} (${command.reason}): remove ${nodes}`)
    for (const launch of command.replacements) {
      lines.push(
        `    replace by ${launch === null ? "nothing launchable" : `${launch.instanceType} (${launch.zone}, ${launch.capacityType}, ${price(launch.price)})`}`
      )
    }
  }
  for (const { node, why } of notes) lines.push(`  ${node} stays: ${why}`)
  return lines
}
