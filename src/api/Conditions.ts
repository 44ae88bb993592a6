/**
 * Status condition types and reasons Karpenter v1 writes on NodePools and NodeClaims.
 */

/** Root condition of every Karpenter object. */
export const Ready = "Ready"

// -- NodeClaim --------------------------------------------------------------------------------------------------

/** `CloudProvider.create` succeeded. */
export const Launched = "Launched"
/** A Node with the NodeClaim's providerID joined the cluster. */
export const Registered = "Registered"
/** The Node is Ready, its startup and ephemeral taints are gone and requested resources are registered. */
export const Initialized = "Initialized"
/** The node has had no pod churn for `consolidateAfter`. */
export const Consolidatable = "Consolidatable"
/** The NodeClaim no longer matches its NodePool or cloud provider configuration. */
export const Drifted = "Drifted"
/** `CloudProvider.delete` accepted the termination. */
export const InstanceTerminating = "InstanceTerminating"
/** The consistency checks found nothing wrong. */
export const ConsistentStateFound = "ConsistentStateFound"
/** The disruption controller chose this NodeClaim; the reason is the disruption method. */
export const DisruptionReason = "DisruptionReason"

/** The dependents of a NodeClaim's Ready condition. */
export const NodeClaimReadyDependents: ReadonlyArray<string> = [Launched, Registered, Initialized]

// -- NodePool ---------------------------------------------------------------------------------------------------

/** Runtime validation of the NodePool passed. */
export const ValidationSucceeded = "ValidationSucceeded"
/** The referenced NodeClass exists and is Ready. */
export const NodeClassReady = "NodeClassReady"
/** NodeClaims of this NodePool register; not a dependent of Ready. */
export const NodeRegistrationHealthy = "NodeRegistrationHealthy"

/** The dependents of a NodePool's Ready condition. */
export const NodePoolReadyDependents: ReadonlyArray<string> = [ValidationSucceeded, NodeClassReady]

// -- Reasons ----------------------------------------------------------------------------------------------------

export const NodePoolValidationFailed = "NodePoolValidationFailed"
export const NodeClassNotFound = "NodeClassNotFound"
export const NodeClassTerminating = "NodeClassTerminating"
export const NodeClassReadinessUnknown = "NodeClassReadinessUnknown"
export const RegistrationFailed = "RegistrationFailed"
export const LaunchFailed = "LaunchFailed"
export const NodeNotFound = "NodeNotFound"
export const MultipleNodesFound = "MultipleNodesFound"
export const NodeNotReady = "NodeNotReady"
export const StartupTaintsExist = "StartupTaintsExist"
export const KnownEphemeralTaintsExist = "KnownEphemeralTaintsExist"
export const ResourceNotRegistered = "ResourceNotRegistered"
export const ConsistencyCheckFailed = "ConsistencyCheckFailed"

/** Drift reasons computed by Karpenter itself (providers add their own). */
export const NodePoolDrifted = "NodePoolDrifted"
export const RequirementsDrifted = "RequirementsDrifted"
export const InstanceTypeNotFound = "InstanceTypeNotFound"

/** Disruption reasons (the budget `reasons` enum plus Expired, which is not budgeted). */
export const DisruptionReasons = ["Underutilized", "Empty", "Drifted"] as const
export type DisruptionReason = (typeof DisruptionReasons)[number]
export const Expired = "Expired"

/** Condition status values. */
export type Status = "True" | "False" | "Unknown"
