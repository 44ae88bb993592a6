/**
 * The `nodeclaim.disruption` controller (upstream `pkg/controllers/nodeclaim/disruption`): keeps the two conditions
 * the disruption controller chooses candidates by.
 *
 * - `Consolidatable`: True once the NodeClaim has been Initialized and no pod event (see `nodeclaim.podevents`) has
 *   happened on its node for the NodePool's `consolidateAfter`; removed otherwise.
 * - `Drifted`: True, with the drift reason, when a launched NodeClaim no longer matches its NodePool (static fields,
 *   requirements, instance type and offering) or the cloud provider says so; removed otherwise.
 *
 * Both are plain conditions (not dependents of Ready), written with one optimistic-lock status patch.
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as ConditionTypes from "../../../api/Conditions.ts"
import * as ApiDuration from "../../../api/Duration.ts"
import * as Labels from "../../../api/Labels.ts"
import type { Condition } from "../../../api/Meta.ts"
import type { NodeClaim } from "../../../api/NodeClaim.ts"
import type { NodePool } from "../../../api/NodePool.ts"
import { CloudProvider, type CloudProviderError, type DriftReason } from "../../../cloudprovider/CloudProvider.ts"
import type { InstanceType } from "../../../cloudprovider/InstanceType.ts"
import * as InstanceTypeModel from "../../../cloudprovider/InstanceType.ts"
import { KubeClient } from "../../../kube/KubeClient.ts"
import * as Resources from "../../../kube/Resources.ts"
import * as Controller from "../../../runtime/Controller.ts"
import * as Indices from "../../../runtime/Indices.ts"
import * as InformerCache from "../../../runtime/InformerCache.ts"
import * as Result from "../../../runtime/Result.ts"
import * as Requirement from "../../../scheduling/Requirement.ts"
import * as Requirements from "../../../scheduling/Requirements.ts"
import * as Hash from "../../nodepool/hash/Hash.ts"
import * as NodeClasses from "../../nodepool/nodeclass/NodeClasses.ts"
import * as Conditions from "../../StatusConditions.ts"

/** Drift is looked at again this often even when nothing changes (upstream: 5 minutes, the providers' cache TTL). */
export const driftInterval = Duration.minutes(5)

// -- drift --------------------------------------------------------------------------------------------------------

/**
 * Static drift (upstream `areStaticFieldsDrifted`): both objects carry both hash annotations at the same version and
 * the hashes differ. At the current version the NodePool's hash is computed from its template, since its own
 * annotation is only rewritten by `nodepool.hash` a little later.
 */
export const staticDrift = (nodePool: NodePool, nodeClaim: NodeClaim): DriftReason | undefined => {
  const poolAnnotations = nodePool.metadata.annotations ?? {}
  const claimAnnotations = nodeClaim.metadata.annotations ?? {}
  const poolHash = poolAnnotations[Labels.NodePoolHashAnnotation]
  const poolVersion = poolAnnotations[Labels.NodePoolHashVersionAnnotation]
  const claimHash = claimAnnotations[Labels.NodePoolHashAnnotation]
  const claimVersion = claimAnnotations[Labels.NodePoolHashVersionAnnotation]
  if (poolHash === undefined || poolVersion === undefined || claimHash === undefined || claimVersion === undefined) {
    return undefined
  }
  if (poolVersion !== claimVersion) return undefined
  const current = poolVersion === Labels.NodePoolHashVersion ? Hash.hashOf(nodePool) : poolHash
  return current !== claimHash ? ConditionTypes.NodePoolDrifted : undefined
}

/**
 * Requirements drift (upstream `areRequirementsDrifted`): the NodeClaim's labels, as requirements, are strictly
 * compatible with the NodePool's requirements (every key the NodePool constrains, except by NotIn/DoesNotExist, is a
 * label of the NodeClaim, with an allowed value).
 */
export const requirementsDrift = (nodePool: NodePool, nodeClaim: NodeClaim): DriftReason | undefined => {
  const labels = nodeClaim.metadata.labels ?? noLabels
  const required = nodePool.spec.template.spec.requirements
  const known = requirementsDrifts.get(labels)
  if (known !== undefined && known.required === required) return known.drift
  const drift = Requirements.isCompatible(
    Requirements.fromLabels(labels),
    Requirements.fromNodeSelectorRequirements(required)
  )
    ? undefined
    : ConditionTypes.RequirementsDrifted
  requirementsDrifts.set(labels, { required, drift })
  return drift
}

// Every NodeClaim is checked for drift on each of its reconciles (12,000 in a simulated day), its labels and its
// NodePool's requirements mostly unchanged: the answer is kept per labels object, for the requirements and
// instance types it was given.
const noLabels: Readonly<Record<string, string>> = {}
const requirementsDrifts = new WeakMap<
  Readonly<Record<string, string>>,
  { readonly required: NodePool["spec"]["template"]["spec"]["requirements"]; readonly drift: DriftReason | undefined }
>()
const instanceTypeDrifts = new WeakMap<
  Readonly<Record<string, string>>,
  {
    readonly instanceTypes: ReadonlyArray<InstanceType>
    readonly wellKnown: ReadonlySet<string>
    readonly drift: DriftReason | undefined
  }
>()

/**
 * Instance-type drift (upstream `instanceTypeNotFound`): the NodeClaim's instance type is not among the NodePool's,
 * or none of its offerings (available or not) is compatible with the NodeClaim's labels. A reserved NodeClaim also
 * accepts on-demand offerings and ignores its reservation id (it may have been demoted).
 */
export const instanceTypeDrift = (
  instanceTypes: ReadonlyArray<InstanceType>,
  nodeClaim: NodeClaim,
  wellKnown: ReadonlySet<string> = Labels.WellKnownLabels
): DriftReason | undefined => {
  const labels = nodeClaim.metadata.labels ?? noLabels
  const known = instanceTypeDrifts.get(labels)
  if (known !== undefined && known.instanceTypes === instanceTypes && known.wellKnown === wellKnown) return known.drift
  const drift = offeringDrift(instanceTypes, labels, wellKnown)
  instanceTypeDrifts.set(labels, { instanceTypes, wellKnown, drift })
  return drift
}

const offeringDrift = (
  instanceTypes: ReadonlyArray<InstanceType>,
  labels: Readonly<Record<string, string>>,
  wellKnown: ReadonlySet<string>
): DriftReason | undefined => {
  const instanceType = instanceTypes.find((candidate) => candidate.name === (labels[Labels.InstanceType] ?? ""))
  if (instanceType === undefined) return ConditionTypes.InstanceTypeNotFound
  let requirements = Requirements.fromLabels(labels)
  if (labels[Labels.CapacityType] === Labels.CapacityTypeReserved) {
    const widened = new Map(requirements)
    widened.set(
      Labels.CapacityType,
      Requirement.make(Labels.CapacityType, "In", [Labels.CapacityTypeReserved, Labels.CapacityTypeOnDemand])
    )
    const reservationID = InstanceTypeModel.reservationIDLabelOf(wellKnown)
    if (reservationID !== undefined) widened.delete(reservationID)
    requirements = widened
  }
  const compatible = instanceType.offerings.some((offering) =>
    Requirements.isCompatible(requirements, offering.requirements, { allowUndefined: wellKnown })
  )
  return compatible ? undefined : ConditionTypes.InstanceTypeNotFound
}

// Untraced: called thousands of times a simulated day; a span and call frame each cost 1.5 µs.
/**
 * Why a NodeClaim drifted, in upstream's order: static fields, requirements, instance type and offerings, then the
 * cloud provider's `isDrifted`; undefined when it has not.
 */
export const driftReason = Effect.fnUntraced(function* (
  nodePool: NodePool,
  nodeClaim: NodeClaim
): Effect.fn.Return<DriftReason | undefined, CloudProviderError, CloudProvider> {
  const fromSpec = staticDrift(nodePool, nodeClaim) ?? requirementsDrift(nodePool, nodeClaim)
  if (fromSpec !== undefined) return fromSpec
  const cloud = yield* CloudProvider
  const instanceTypes = yield* cloud.getInstanceTypes(nodePool)
  const notFound = instanceTypeDrift(instanceTypes, nodeClaim, cloud.wellKnownLabels)
  if (notFound !== undefined) return notFound
  const reason = yield* cloud.isDrifted(nodeClaim)
  return reason === undefined || reason === "" ? undefined : reason
})

// -- consolidatable -----------------------------------------------------------------------------------------------

/** What `Consolidatable` should be now: True, absent, or absent until `afterMillis` from now. */
export type Consolidatable =
  | { readonly _tag: "Set" }
  | { readonly _tag: "Clear" }
  | { readonly _tag: "Wait"; readonly afterMillis: number }

/**
 * Upstream's `Consolidation.Reconcile`: absent when consolidateAfter is Never or the NodeClaim is not Initialized;
 * True once `now − (lastPodEventTime ?? Initialized.lastTransitionTime) ≥ consolidateAfter`; before that absent,
 * with the time left.
 */
export const consolidatable = (nodePool: NodePool, nodeClaim: NodeClaim, now: number): Consolidatable => {
  const consolidateAfter = ApiDuration.toMillis(nodePool.spec.disruption.consolidateAfter)
  if (consolidateAfter === undefined || consolidateAfter === null) return { _tag: "Clear" }
  const initialized = Conditions.get(nodeClaim.status?.conditions, ConditionTypes.Initialized)
  if (initialized?.status !== "True") return { _tag: "Clear" }
  const lastPodEvent = nodeClaim.status?.lastPodEventTime
  const since = Date.parse(lastPodEvent ?? initialized.lastTransitionTime)
  // An unreadable time is Go's zero time: long ago.
  const elapsed = Number.isNaN(since) ? Number.POSITIVE_INFINITY : now - since
  if (elapsed < consolidateAfter) return { _tag: "Wait", afterMillis: consolidateAfter - elapsed }
  return { _tag: "Set" }
}

// -- the controller -----------------------------------------------------------------------------------------------

interface Step {
  readonly conditions: ReadonlyArray<Condition>
  readonly result: Result.Result
}

const delayMillis = (result: Result.Result): number =>
  result._tag === "RequeueAfter" ? Duration.toMillis(result.delay) : 0

/** upstream `result.Min`: the shortest non-zero requeue of the steps, else done. */
const earliest = (results: ReadonlyArray<Result.Result>): Result.Result => {
  let best: Result.Result = Result.done
  for (const result of results) {
    const delay = delayMillis(result)
    if (delay > 0 && (best._tag === "Done" || delay < delayMillis(best))) best = result
  }
  return best
}

/**
 * Starts `nodeclaim.disruption` in the current Scope: reconciles every NodeClaim the provider manages when it, its
 * NodePool or its NodeClass changes, and every {@link driftInterval} once launched.
 */
export const make = Effect.gen(function* () {
  const kube = yield* KubeClient
  const cloud = yield* CloudProvider
  const nodeClaims = yield* InformerCache.informer(Resources.NodeClaims)
  const nodePools = yield* InformerCache.informer(Resources.NodePools)
  const nodeClasses = yield* NodeClasses.makeInformers(cloud)

  const drift = Effect.fnUntraced(function* (
    nodePool: NodePool,
    claim: NodeClaim,
    conditions: ReadonlyArray<Condition>,
    options: Conditions.Options
  ) {
    const had = Conditions.get(conditions, ConditionTypes.Drifted) !== undefined
    if (!Conditions.isTrue(conditions, ConditionTypes.Launched)) {
      if (had) yield* Effect.logDebug("removing drift status condition, isn't launched")
      return { conditions: Conditions.clear(conditions, ConditionTypes.Drifted), result: Result.done }
    }
    const reason = yield* driftReason(nodePool, claim).pipe(Effect.provideService(CloudProvider, cloud))
    if (reason === undefined) {
      if (had) yield* Effect.logDebug("removing drifted status condition, not drifted")
      return {
        conditions: Conditions.clear(conditions, ConditionTypes.Drifted),
        result: Result.requeueAfter(driftInterval)
      }
    }
    if (!had) yield* Effect.logDebug("marking drifted").pipe(Effect.annotateLogs({ reason }))
    return {
      conditions: Conditions.set(
        conditions,
        { type: ConditionTypes.Drifted, status: "True", reason, message: reason },
        options
      ),
      result: Result.requeueAfter(driftInterval)
    }
  })

  const consolidation = Effect.fnUntraced(function* (
    nodePool: NodePool,
    claim: NodeClaim,
    conditions: ReadonlyArray<Condition>,
    options: Conditions.Options
  ) {
    const had = Conditions.get(conditions, ConditionTypes.Consolidatable) !== undefined
    const next = consolidatable(nodePool, claim, options.now)
    if (next._tag === "Set") {
      if (!had) yield* Effect.logDebug("marking consolidatable")
      return {
        conditions: Conditions.set(conditions, { type: ConditionTypes.Consolidatable, status: "True" }, options),
        result: Result.done
      }
    }
    if (had) yield* Effect.logDebug("removing consolidatable status condition")
    return {
      conditions: Conditions.clear(conditions, ConditionTypes.Consolidatable),
      result: next._tag === "Wait" ? Result.requeueAfter(Duration.millis(next.afterMillis)) : Result.done
    }
  })

  // Untraced: called thousands of times a simulated day; a span and call frame each cost 1.5 µs.
  const reconcile = Effect.fnUntraced(function* (claim: NodeClaim) {
    if (!NodeClasses.supports(cloud, claim.spec.nodeClassRef)) return Result.done
    if (claim.metadata.deletionTimestamp !== undefined) return Result.done
    const nodePoolName = claim.metadata.labels?.[Labels.NodePool]
    if (nodePoolName === undefined) return Result.done
    const nodePool = yield* nodePools.get(nodePoolName)
    if (nodePool === undefined) return Result.done
    const options: Conditions.Options = {
      generation: claim.metadata.generation,
      now: yield* Clock.currentTimeMillis
    }
    const before = claim.status?.conditions ?? []
    // Drift failing (the provider) must not keep consolidation from being written: upstream runs both, writes, fails.
    const drifted = yield* drift(nodePool, claim, before, options).pipe(
      Effect.map((step): Step | CloudProviderError => step),
      Effect.catchTag("CloudProviderError", (error) => Effect.succeed(error))
    )
    const afterDrift = "conditions" in drifted ? drifted.conditions : before
    const consolidated = yield* consolidation(nodePool, claim, afterDrift, options)
    if (!Conditions.equals(before, consolidated.conditions)) {
      // The list is replaced whole by a merge patch: the resourceVersion keeps a concurrent writer's condition safe.
      yield* kube.patch(
        Resources.NodeClaims,
        claim.metadata.name ?? "",
        {
          type: "merge",
          patch: {
            metadata: { resourceVersion: claim.metadata.resourceVersion },
            status: { conditions: [...consolidated.conditions] }
          }
        },
        { subresource: "status" }
      )
    }
    if (!("conditions" in drifted)) return yield* drifted
    return earliest([drifted.result, consolidated.result])
  })

  const nodePoolWatch: Controller.Watch<NodePool> = {
    source: nodePools,
    map: (nodePool) => Controller.keysByIndex(nodeClaims, Indices.nodePool, nodePool.metadata.name)
  }
  const nodeClassWatches = nodeClasses.map(
    ({ kind, informer }): Controller.Watch<NodeClasses.NodeClassObject> => ({
      source: informer,
      map: (nodeClass) =>
        Controller.keysByIndex(nodeClaims, Indices.nodeClaimNodeClass, NodeClasses.refKey(kind, nodeClass))
    })
  )
  return yield* Controller.make({
    name: "nodeclaim.disruption",
    for: nodeClaims,
    concurrency: 10,
    watches: [nodePoolWatch, ...nodeClassWatches],
    reconcile: (_key, claim) =>
      claim === undefined
        ? Effect.succeed(Result.done)
        : reconcile(claim).pipe(
            Effect.annotateLogs({ NodeClaim: claim.metadata.name ?? "", Node: claim.status?.nodeName ?? "" })
          )
  })
})
