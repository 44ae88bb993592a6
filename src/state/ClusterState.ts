/**
 * The ClusterState service: the derived, in-memory view of the cluster that provisioning and disruption decide on
 * (`pkg/controllers/state`). One implementation, fed by informers.
 */
import { Context, type Effect, type Stream } from "effect"
import type { Node } from "../api/Node.ts"
import type { NodeClaim } from "../api/NodeClaim.ts"
import type { Pod } from "../api/Pod.ts"
import type { DaemonSet } from "../api/Workloads.ts"
import type * as Resources from "../scheduling/Resources.ts"

/**
 * A node as Karpenter sees it: a Node and its NodeClaim joined by providerID. Either may be missing (a NodeClaim not
 * yet registered, a Node Karpenter does not manage).
 */
export interface StateNode {
  /** The Node's name, or the NodeClaim's while no Node exists. */
  readonly name: string
  readonly providerID: string | undefined
  readonly node: Node | undefined
  readonly nodeClaim: NodeClaim | undefined
  /** `karpenter.sh/nodepool` of the NodeClaim or Node, if managed. */
  readonly nodePool: string | undefined
  /** Allocatable of the Node, or the NodeClaim's expected allocatable before registration. */
  readonly allocatable: Resources.Resources
  /** Requests of every pod bound to the node, and of its DaemonSet pods alone. */
  readonly podRequests: Resources.Resources
  readonly daemonSetRequests: Resources.Resources
  /** `namespace/name` of the pods bound to the node, sorted. */
  readonly pods: ReadonlyArray<string>
  /** Disruption or termination chose this node; scheduling treats its pods as needing a new home. */
  readonly markedForDeletion: boolean
  /** Epoch millis until which the provisioner expects pods to land here (the node is not consolidatable). */
  readonly nominatedUntil: number | undefined
  /** Both objects exist and the NodeClaim is Initialized. */
  readonly initialized: boolean
}

/** The ClusterState contract. */
export class ClusterState extends Context.Service<
  ClusterState,
  {
    /** True once every informer feeding the view has listed, and every NodeClaim has a known state. */
    readonly synced: Effect.Effect<boolean>
    /** Every node, sorted by name. */
    readonly nodes: Effect.Effect<ReadonlyArray<StateNode>>
    nodeByProviderID(providerID: string): Effect.Effect<StateNode | undefined>
    podsOnNode(nodeName: string): Effect.Effect<ReadonlyArray<Pod>>
    /** DaemonSets whose pods the scheduler must reserve room for on new nodes. */
    readonly daemonSets: Effect.Effect<ReadonlyArray<DaemonSet>>
    /** Marks a node as the target of in-flight scheduling decisions for a while. */
    nominate(providerID: string): Effect.Effect<void>
    markForDeletion(providerIDs: ReadonlyArray<string>): Effect.Effect<void>
    unmarkForDeletion(providerIDs: ReadonlyArray<string>): Effect.Effect<void>
    /**
     * Changes whenever something happened that may make a consolidation possible (pods, nodes, NodePools changed);
     * the disruption loop skips consolidation while it stays the same.
     */
    readonly consolidationState: Effect.Effect<number>
    /**
     * The capacity of a NodePool's nodes and in-flight NodeClaims (marked-for-deletion ones excluded), plus
     * `nodes` = their count: what limits are checked against and what `status.resources` shows.
     */
    nodePoolResources(nodePool: string): Effect.Effect<Resources.Resources>
    /** Forces the next disruption pass to reconsider consolidation. */
    readonly markUnconsolidated: Effect.Effect<void>
    /** Emits whenever the view changed (for batching and triggers). */
    readonly changes: Stream.Stream<void>
  }
>()("karpenter-effect/state/ClusterState") {}
