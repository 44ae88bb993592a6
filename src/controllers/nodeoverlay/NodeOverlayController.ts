/**
 * The `nodeoverlay.controller` (upstream `pkg/controllers/nodeoverlay`, v1.7.0) and the cloud-provider decorator
 * (upstream `pkg/cloudprovider/overlay`): the controller resolves every NodeOverlay against every NodePool's instance
 * types, reports `ValidationSucceeded` on each overlay and swaps in the new {@link Store.Store}; the decorator hands
 * the other controllers instance types with the store applied. Both run only under the `NodeOverlay` feature gate.
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Ref from "effect/Ref"
import * as Labels from "../../api/Labels.ts"
import type { Condition } from "../../api/Meta.ts"
import type { NodeClaim } from "../../api/NodeClaim.ts"
import * as NodeOverlayApi from "../../api/NodeOverlay.ts"
import type { NodePool } from "../../api/NodePool.ts"
import * as CloudProvider from "../../cloudprovider/CloudProvider.ts"
import * as InstanceType from "../../cloudprovider/InstanceType.ts"
import { KubeClient } from "../../kube/KubeClient.ts"
import * as Resources from "../../kube/Resources.ts"
import * as Controller from "../../runtime/Controller.ts"
import * as InformerCache from "../../runtime/InformerCache.ts"
import * as Result from "../../runtime/Result.ts"
import * as Requirements from "../../scheduling/Requirements.ts"
import * as ResourceLists from "../../scheduling/ResourceLists.ts"
import { ClusterState } from "../../state/ClusterState.ts"
import * as Conditions from "../StatusConditions.ts"
import * as Store from "./Store.ts"

/** What the operator's options say of NodeOverlays. */
export interface Options {
  /** The NodeOverlay feature gate (upstream v1.7+, off by default). */
  readonly nodeOverlay?: boolean
}

/** The resolved overlays the controller publishes and the decorator reads (upstream `InstanceTypeStore`). */
export class OverlayStore extends Context.Service<
  OverlayStore,
  {
    readonly get: Effect.Effect<Store.Store>
    set(store: Store.Store): Effect.Effect<void>
  }
>()("karpenter-effect/controllers/nodeoverlay/OverlayStore") {}

/** An empty store: every NodePool awaits its first evaluation. */
export const storeLayer: Layer.Layer<OverlayStore> = Layer.effect(
  OverlayStore,
  Effect.map(Ref.make(Store.empty), (ref) => ({ get: Ref.get(ref), set: (store) => Ref.set(ref, store) }))
)

/** How often every overlay is re-resolved without a change (upstream's 6 h requeue). */
export const resyncInterval = "6 hours"

/** The one key the controller reconciles: every change resolves every overlay against every NodePool. */
const resolveKey = "nodeoverlays"

const conditionsFor = (
  overlay: NodeOverlayApi.NodeOverlay,
  rejection: Store.Rejection | undefined,
  now: number
): ReadonlyArray<Condition> =>
  Conditions.setWithRoot(
    overlay.status?.conditions,
    rejection === undefined
      ? { type: NodeOverlayApi.ValidationSucceeded, status: "True" }
      : {
          type: NodeOverlayApi.ValidationSucceeded,
          status: "False",
          reason: rejection.reason,
          message: rejection.message
        },
    [NodeOverlayApi.ValidationSucceeded],
    {
      generation: overlay.metadata.generation,
      now,
      createdAt: overlay.metadata.creationTimestamp,
      deleting: overlay.metadata.deletionTimestamp !== undefined
    }
  )

/** Starts `nodeoverlay.controller` on the undecorated provider. */
export const make = Effect.fn("NodeOverlayController.make")(function* () {
  const kube = yield* KubeClient
  const cloud = yield* CloudProvider.CloudProvider
  const store = yield* OverlayStore
  const clusterState = yield* ClusterState
  const nodePools = yield* InformerCache.informer(Resources.NodePools)
  const overlays = yield* InformerCache.informer(Resources.NodeOverlays)

  // Merge-patches the conditions with the resourceVersion as precondition (the patch replaces the whole list).
  const patchConditions = (overlay: NodeOverlayApi.NodeOverlay, conditions: ReadonlyArray<Condition>) =>
    kube.patch(
      Resources.NodeOverlays,
      overlay.metadata.name ?? "",
      {
        type: "merge",
        patch: {
          metadata: { resourceVersion: overlay.metadata.resourceVersion },
          status: { conditions }
        }
      },
      { subresource: "status" }
    )

  const resolveAll = Effect.gen(function* () {
    const pools: Array<Store.NodePoolInstanceTypes> = []
    const failures: Array<string> = []
    for (const nodePool of yield* nodePools.list()) {
      // One broken NodePool (a missing NodeClass) must not keep overlays from the others: note it and go on.
      const instanceTypes = yield* cloud.getInstanceTypes(nodePool).pipe(
        Effect.catch((error) =>
          Effect.as(
            Effect.sync(() => failures.push(`nodepool "${nodePool.metadata.name}": ${error.message}`)),
            undefined
          )
        )
      )
      if (instanceTypes !== undefined) pools.push({ nodePool, instanceTypes })
    }
    const resolution = Store.resolve(yield* overlays.list(), pools, cloud.wellKnownLabels)
    const now = yield* Clock.currentTimeMillis
    for (const overlay of yield* overlays.list()) {
      const conditions = conditionsFor(overlay, resolution.rejected.get(overlay.metadata.name ?? ""), now)
      if (conditions === overlay.status?.conditions) continue
      // An overlay changed or went away since it was read: resolve again from the newer state before publishing.
      const written = yield* patchConditions(overlay, conditions).pipe(
        Effect.as(true),
        Effect.catchTag(["Conflict", "NotFound"], () => Effect.succeed(false))
      )
      if (!written) return Result.requeue
    }
    yield* store.set(resolution.store)
    yield* clusterState.markUnconsolidated
    if (failures.length > 0) {
      return yield* new CloudProvider.CloudProviderError({ method: "getInstanceTypes", message: failures.join("; ") })
    }
    return Result.requeueAfter(resyncInterval)
  })

  return yield* Controller.make({
    name: "nodeoverlay.controller",
    for: overlays,
    watches: [{ source: nodePools, map: () => [resolveKey] }],
    reconcile: () => resolveAll
  })
})

/**
 * The NodeClaim a launch under overlays asks for: when an overlay changes the price of one of the types it could
 * launch, its instance-type requirement is narrowed to the types the overlaid prices make cheapest; otherwise it is
 * returned as is and the provider's own choice stands. Upstream (v1.8+) marks such a NodeClaim
 * `karpenter.sh/price-overlay-applied` and the AWS provider then launches in the overlaid price order (`prioritized`
 * fleets); the KWOK provider there still picks by its list prices, so consolidation replaces every such launch with
 * the overlaid-cheaper type at once — churn this narrowing avoids for every provider here. A NodeClaim with
 * `minValues` keeps its flexibility: narrowing could leave fewer values than it requires.
 */
export const narrowToOverlaidCheapest = (
  nodeClaim: NodeClaim,
  instanceTypes: ReadonlyArray<InstanceType.InstanceType>,
  store: Store.Store,
  nodePoolName: string,
  wellKnown: ReadonlySet<string>
): NodeClaim => {
  const requirements = Requirements.fromNodeSelectorRequirements(nodeClaim.spec.requirements)
  if (Requirements.hasMinValues(requirements)) return nodeClaim
  const requests = ResourceLists.fromResourceList(nodeClaim.spec.resources?.requests)
  const candidates = instanceTypes.filter(
    (instanceType) =>
      Requirements.isCompatible(requirements, instanceType.requirements, { allowUndefined: wellKnown }) &&
      InstanceType.compatibleOfferings(instanceType, requirements, wellKnown).length > 0 &&
      ResourceLists.fits(requests, instanceType.allocatable)
  )
  if (!candidates.some((instanceType) => Store.isPriceOverlaid(store, nodePoolName, instanceType.name))) {
    return nodeClaim
  }
  const priceOf = (instanceType: InstanceType.InstanceType) =>
    InstanceType.cheapestOffering(instanceType, requirements, wellKnown)?.price ?? Number.POSITIVE_INFINITY
  const lowest = Math.min(...candidates.map(priceOf))
  const cheapest = candidates
    .filter((instanceType) => priceOf(instanceType) === lowest)
    .map((instanceType) => instanceType.name)
    .sort()
  return {
    ...nodeClaim,
    spec: {
      ...nodeClaim.spec,
      requirements: [
        ...nodeClaim.spec.requirements.filter((requirement) => requirement.key !== Labels.InstanceType),
        { key: Labels.InstanceType, operator: "In", values: cheapest }
      ]
    }
  }
}

/**
 * The provider as the other controllers see it under the gate (upstream `overlay.Decorate`): instance types with the
 * store applied; a NodePool the controller has not evaluated yet fails, as upstream's `UnevaluatedNodePoolError`,
 * so no decision is made on prices the overlays may still change. Its create launches what the overlaid prices say
 * is cheapest ({@link narrowToOverlaidCheapest}).
 */
export const decorate: Layer.Layer<
  CloudProvider.CloudProvider,
  never,
  CloudProvider.CloudProvider | OverlayStore | InformerCache.InformerCache
> = Layer.effect(
  CloudProvider.CloudProvider,
  Effect.gen(function* () {
    const inner = yield* CloudProvider.CloudProvider
    const store = yield* OverlayStore
    const nodePools = yield* InformerCache.informer(Resources.NodePools)
    const getInstanceTypes = (nodePool: NodePool) =>
      Effect.gen(function* () {
        const instanceTypes = yield* inner.getInstanceTypes(nodePool)
        const resolved = yield* store.get
        const name = nodePool.metadata.name ?? ""
        if (!resolved.evaluatedNodePools.has(name)) {
          return yield* new CloudProvider.CloudProviderError({
            method: "getInstanceTypes",
            message: `applying nodeoverlays, nodepool "${name}" is awaiting evaluation`
          })
        }
        return instanceTypes.map((instanceType) => Store.applyTo(resolved, name, instanceType))
      })
    return {
      ...inner,
      getInstanceTypes,
      create: (nodeClaim) =>
        Effect.gen(function* () {
          const name = nodeClaim.metadata.labels?.[Labels.NodePool]
          const nodePool = name === undefined ? undefined : yield* nodePools.get(name)
          if (name === undefined || nodePool === undefined) return yield* inner.create(nodeClaim)
          const instanceTypes = yield* getInstanceTypes(nodePool)
          const resolved = yield* store.get
          return yield* inner.create(
            narrowToOverlaidCheapest(nodeClaim, instanceTypes, resolved, name, inner.wellKnownLabels)
          )
        })
    }
  })
)

/**
 * `controllers` with the gate's effect: when on, they see the decorated provider, and the NodeOverlay controller runs
 * beside them; when off, they are returned unchanged.
 */
export const gated = <E, R>(
  options: Options | undefined,
  controllers: Layer.Layer<never, E, R>
): Layer.Layer<never, E, R | CloudProvider.CloudProvider | KubeClient | InformerCache.InformerCache | ClusterState> =>
  options?.nodeOverlay === true
    ? Layer.merge(Layer.effectDiscard(make()), controllers.pipe(Layer.provide(decorate))).pipe(
        Layer.provide(storeLayer)
      )
    : controllers
