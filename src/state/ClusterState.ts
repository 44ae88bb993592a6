/**
 * The ClusterState service: the derived, in-memory view of the cluster that provisioning and disruption decide on
 * (`pkg/controllers/state`). One implementation (`Cluster.layer`), fed by informers.
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type * as Stream from "effect/Stream"
import type { Node } from "../api/Node.ts"
import type { NodeClaim } from "../api/NodeClaim.ts"
import type { ClusterView } from "../controllers/provisioning/scheduling/ClusterView.ts"
import type * as Resources from "../scheduling/ResourceLists.ts"

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
  /** Capacity of the Node, or the NodeClaim's while no Node exists. */
  readonly capacity: Resources.Resources
  /** `namespace/name` of the pods bound to the node, sorted. */
  readonly pods: ReadonlyArray<string>
  /** Disruption chose this node; its pods need a new home. */
  readonly markedForDeletion: boolean
  /** The Node or NodeClaim is being deleted. */
  readonly deleting: boolean
  /** Epoch millis until which the provisioner expects pods to land here (the node is not consolidatable). */
  readonly nominatedUntil: number | undefined
  /** Registered and Initialized (unmanaged nodes count as initialized). */
  readonly initialized: boolean
}

/**
 * When Karpenter first acknowledged a pending pod, first decided whether it can schedule, and first found it a place
 * (upstream's podAcks, podsSchedulingAttempted, podsSchedulableTimes), in epoch milliseconds; undefined until then.
 */
export interface PodSchedulingTimes {
  readonly acked: number | undefined
  readonly decided: number | undefined
  readonly schedulable: number | undefined
}

/** The ClusterState contract. */
export class ClusterState extends Context.Service<
  ClusterState,
  {
    /**
     * True once every informer has listed and no NodeClaim is still launching (no providerID yet): provisioning and
     * disruption wait, so they never decide on a half-known cluster.
     */
    readonly synced: Effect.Effect<boolean>
    /**
     * The objects a provisioning pass reads, from the caches (with the nodes marked for deletion and each DaemonSet's
     * newest pod, kept once its pods are gone).
     */
    readonly view: Effect.Effect<ClusterView>
    /** Every node and in-flight NodeClaim, sorted by name. */
    readonly nodes: Effect.Effect<ReadonlyArray<StateNode>>
    /** Marks a node (by name) as the target of in-flight scheduling decisions for the nomination window. */
    nominate(name: string): Effect.Effect<void>
    markForDeletion(names: ReadonlyArray<string>): Effect.Effect<void>
    unmarkForDeletion(names: ReadonlyArray<string>): Effect.Effect<void>
    /**
     * The capacity of a NodePool's nodes and in-flight NodeClaims (marked-for-deletion ones excluded), plus
     * `nodes` = their count: what limits are checked against and what `status.resources` shows.
     */
    nodePoolResources(nodePool: string): Effect.Effect<Resources.Resources>
    /**
     * Changes whenever something happened that may make a consolidation possible (pods, nodes, NodePools changed);
     * the disruption loop skips consolidation while it stays the same.
     */
    readonly consolidationState: Effect.Effect<number>
    /** Forces the next disruption pass to reconsider consolidation. */
    readonly markUnconsolidated: Effect.Effect<void>
    /**
     * The nodes (by name) the last provisioning pass placed CapacityBuffer virtual pods on (upstream
     * `Cluster.HasBufferPods`): emptiness leaves them, as they hold headroom on purpose.
     */
    readonly bufferNodes: Effect.Effect<ReadonlySet<string>>
    /** Replaces {@link bufferNodes} with a pass's placements (upstream `UpdateBufferPodCounts`). */
    setBufferNodes(names: ReadonlySet<string>): Effect.Effect<void>
    /** Records now as when the pods (`namespace/name`) were first seen pending, for those not acknowledged yet. */
    ackPods(pods: ReadonlyArray<string>): Effect.Effect<void>
    /**
     * Records now as the first scheduling decision of the pods, and as their first schedulable time for those not in
     * `failed`; observes `karpenter_pods_scheduling_decision_duration_seconds` for a pod's first decision.
     */
    markPodSchedulingDecisions(pods: ReadonlyArray<string>, failed: ReadonlyMap<string, unknown>): Effect.Effect<void>
    /** A pod's scheduling times. */
    podSchedulingTimes(pod: string): Effect.Effect<PodSchedulingTimes>
    /** Forgets a pod's scheduling times (once it started, or is gone). */
    clearPodSchedulingTimes(pod: string): Effect.Effect<void>
    /** Emits whenever the cluster changed (for batching and triggers). */
    readonly changes: Stream.Stream<void>
  }
>()("karpenter-effect/state/ClusterState") {}
