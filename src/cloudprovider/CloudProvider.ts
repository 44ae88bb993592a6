/**
 * The CloudProvider service: Karpenter's interface to whatever launches machines (`pkg/cloudprovider/types.go`).
 * Implementations: `layers/cloudprovider/kwok`, `layers/cloudprovider/aws` and the scriptable `layers/cloudprovider/fake`.
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type { NodeClaim } from "../api/NodeClaim.ts"
import type { NodePool } from "../api/NodePool.ts"
import type { InstanceType } from "./InstanceType.ts"

/** No instance of the requested types can be had now (upstream `InsufficientCapacityError`); the NodeClaim is deleted. */
export class InsufficientCapacity extends Schema.TaggedError<InsufficientCapacity>()("InsufficientCapacity", {
  message: Schema.String
}) {}

/** The instance behind a NodeClaim does not exist (any more); `delete` returns it once termination is complete. */
export class NodeClaimNotFound extends Schema.TaggedError<NodeClaimNotFound>()("NodeClaimNotFound", {
  message: Schema.String
}) {}

/** The NodeClass the NodeClaim references is not ready; the NodeClaim is deleted and retried later. */
export class NodeClassNotReady extends Schema.TaggedError<NodeClassNotReady>()("NodeClassNotReady", {
  message: Schema.String
}) {}

/** Launch failed with a reason to show on the NodeClaim's Launched condition. */
export class CreateError extends Schema.TaggedError<CreateError>()("CreateError", {
  conditionReason: Schema.String,
  conditionMessage: Schema.String
}) {
  override get message(): string {
    return `creating nodeclaim, ${this.conditionMessage}`
  }
}

/** Any other failure of the provider's API (retried with backoff). */
export class CloudProviderError extends Schema.TaggedError<CloudProviderError>()("CloudProviderError", {
  method: Schema.String,
  message: Schema.String
}) {}

/** A node condition that, held for `tolerationMillis`, makes a node eligible for repair. */
export interface RepairPolicy {
  readonly conditionType: string
  readonly conditionStatus: "True" | "False" | "Unknown"
  readonly tolerationMillis: number
}

/** A NodeClass kind the provider supports (the first is the default). */
export interface NodeClassKind {
  readonly group: string
  readonly kind: string
}

/** Why a NodeClaim drifted from the provider's point of view; "" (no drift) is `undefined`. */
export type DriftReason = string

/** The CloudProvider contract. */
export class CloudProvider extends Context.Service<
  CloudProvider,
  {
    readonly name: string
    /**
     * Launches an instance for the NodeClaim; returns the NodeClaim as launched: labels resolved to the chosen
     * instance type, zone and capacity type, and status providerID, capacity, allocatable, imageID.
     */
    create(
      nodeClaim: NodeClaim
    ): Effect.Effect<NodeClaim, InsufficientCapacity | NodeClassNotReady | CreateError | CloudProviderError>
    /** Terminates the instance; `NodeClaimNotFound` once it is gone (Karpenter retries until then). */
    delete(nodeClaim: NodeClaim): Effect.Effect<void, NodeClaimNotFound | CloudProviderError>
    get(providerID: string): Effect.Effect<NodeClaim, NodeClaimNotFound | CloudProviderError>
    /** Every instance the provider launched that still exists. */
    list(): Effect.Effect<ReadonlyArray<NodeClaim>, CloudProviderError>
    /** Every instance type for the NodePool, including those whose offerings are unavailable. */
    getInstanceTypes(nodePool: NodePool): Effect.Effect<ReadonlyArray<InstanceType>, CloudProviderError>
    isDrifted(nodeClaim: NodeClaim): Effect.Effect<DriftReason | undefined, CloudProviderError>
    readonly repairPolicies: ReadonlyArray<RepairPolicy>
    /** Karpenter's well-known labels plus the provider's own (they may be undefined on an instance type). */
    readonly wellKnownLabels: ReadonlySet<string>
    readonly supportedNodeClasses: ReadonlyArray<NodeClassKind>
    /**
     * Whether a controller of the provider's own terminates the instances no NodeClaim accounts for (AWS, at upstream's
     * 30 s grace); when absent, the core's garbage collection does (KWOK, which has no such controller).
     */
    readonly collectsUntrackedInstances?: boolean
  }
>()("karpenter-effect/cloudprovider/CloudProvider") {}
