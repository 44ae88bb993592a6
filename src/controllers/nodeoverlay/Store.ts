/**
 * The resolved NodeOverlays (upstream `pkg/controllers/nodeoverlay/store.go` and the controller's validation, v1.7.0):
 * which price change and which extra capacity applies to each instance type of each NodePool, built by walking the
 * overlays heaviest first, and which overlays conflict. Plain data and functions; the controller rebuilds it and the
 * cloud-provider decorator applies it.
 */
import * as Labels from "../../api/Labels.ts"
import * as NodeOverlay from "../../api/NodeOverlay.ts"
import type { NodePool } from "../../api/NodePool.ts"
import * as InstanceType from "../../cloudprovider/InstanceType.ts"
import * as Requirement from "../../scheduling/Requirement.ts"
import * as Requirements from "../../scheduling/Requirements.ts"
import * as ResourceLists from "../../scheduling/ResourceLists.ts"

interface PriceUpdate {
  readonly change: string
  /** The weight of the last overlay that matched the offering: an overlay of that weight conflicts with it. */
  lowestWeight: number
}

interface CapacityUpdate {
  readonly capacity: Record<string, string>
  lowestWeight: number
  lowestWeightResources: ReadonlyArray<string>
}

interface InstanceTypeUpdate {
  /** By the offering's requirements (upstream keys offerings by `Requirements.String()`). */
  readonly prices: Map<string, PriceUpdate>
  capacity: CapacityUpdate | undefined
}

/** The overlays resolved for every NodePool that could be evaluated. */
export interface Store {
  /** NodePool → instance type → update. */
  readonly updates: ReadonlyMap<string, ReadonlyMap<string, InstanceTypeUpdate>>
  /** The NodePools whose instance types were read: the others are not yet known to the store. */
  readonly evaluatedNodePools: ReadonlySet<string>
}

/** No overlay, no NodePool evaluated. */
export const empty: Store = { updates: new Map(), evaluatedNodePools: new Set() }

/** A NodePool and its instance types as the provider returns them (no overlay applied). */
export interface NodePoolInstanceTypes {
  readonly nodePool: NodePool
  readonly instanceTypes: ReadonlyArray<InstanceType.InstanceType>
}

/** Why an overlay is not applied: upstream's condition reason and message. */
export interface Rejection {
  readonly reason: typeof NodeOverlay.RuntimeValidation | typeof NodeOverlay.Conflict
  readonly message: string
}

/** What {@link resolve} returns: the store and the rejected overlays by name. */
export interface Resolution {
  readonly store: Store
  readonly rejected: ReadonlyMap<string, Rejection>
}

/**
 * Upstream `RuntimeValidate`: requirement keys that break the label-domain rules, NotIn without values, and
 * well-known resources in capacity (what the CRD checks, again, for objects that predate it).
 */
export const runtimeValidate = (overlay: NodeOverlay.NodeOverlay): string | undefined => {
  const errors: Array<string> = []
  for (const requirement of overlay.spec.requirements) {
    const violation = Labels.domainViolation(requirement.key, { allowNodePoolKey: true })
    if (violation !== undefined) errors.push(`invalid value: ${violation} in requirements, restricted`)
    if (requirement.operator === "NotIn" && (requirement.values ?? []).length === 0) {
      errors.push(`key ${requirement.key} with operator ${requirement.operator} must have a value defined`)
    }
  }
  for (const name of Object.keys(overlay.spec.capacity ?? {}).sort()) {
    if (NodeOverlay.RestrictedCapacity.includes(name)) errors.push(`invalid capacity: ${name} in resource, restricted`)
  }
  return errors.length === 0 ? undefined : errors.join("; ")
}

const offeringKey = (offering: InstanceType.Offering): string => Requirements.format(offering.requirements)

/**
 * Upstream `getOverlaidOfferings`: the offerings of `instanceType` the overlay selects in `nodePool` — none when the
 * type (with the NodePool's name and template labels) does not match the overlay's requirements.
 */
const overlaidOfferings = (
  nodePool: NodePool,
  instanceType: InstanceType.InstanceType,
  overlayRequirements: Requirements.Requirements,
  wellKnown: ReadonlySet<string>
): ReadonlyArray<InstanceType.Offering> => {
  const typeRequirements = Requirements.addAll(
    Requirements.fromLabels({
      [Labels.NodePool]: nodePool.metadata.name ?? "",
      ...nodePool.spec.template.metadata?.labels
    }),
    instanceType.requirements
  )
  if (!Requirements.isCompatible(typeRequirements, overlayRequirements)) return []
  return instanceType.offerings.filter((offering) =>
    Requirements.isCompatible(overlayRequirements, offering.requirements, { allowUndefined: wellKnown })
  )
}

const conflicts = (
  update: InstanceTypeUpdate | undefined,
  overlay: NodeOverlay.NodeOverlay,
  offerings: ReadonlyArray<InstanceType.Offering>
): boolean => {
  if (update === undefined) return false
  const weight = NodeOverlay.weightOf(overlay)
  // Overlays come heaviest first, so only an earlier one of the same weight can clash with this one.
  const priceClash =
    NodeOverlay.priceChangeOf(overlay) !== undefined &&
    offerings.some((offering) => update.prices.get(offeringKey(offering))?.lowestWeight === weight)
  const capacity = update.capacity
  const capacityClash =
    overlay.spec.capacity !== undefined &&
    capacity !== undefined &&
    capacity.lowestWeight === weight &&
    Object.keys(overlay.spec.capacity).some((name) => capacity.lowestWeightResources.includes(name))
  return priceClash || capacityClash
}

const record = (
  update: InstanceTypeUpdate,
  overlay: NodeOverlay.NodeOverlay,
  offerings: ReadonlyArray<InstanceType.Offering>
): void => {
  const weight = NodeOverlay.weightOf(overlay)
  const change = NodeOverlay.priceChangeOf(overlay)
  if (change !== undefined) {
    for (const offering of offerings) {
      const key = offeringKey(offering)
      const existing = update.prices.get(key)
      // A heavier overlay already set this price; remember the weight that last matched for conflict checks.
      if (existing !== undefined) existing.lowestWeight = weight
      else update.prices.set(key, { change, lowestWeight: weight })
    }
  }
  const capacity = overlay.spec.capacity
  if (capacity === undefined) return
  if (update.capacity === undefined) {
    update.capacity = { capacity: { ...capacity }, lowestWeight: weight, lowestWeightResources: Object.keys(capacity) }
    return
  }
  for (const [name, quantity] of Object.entries(capacity)) {
    if (!(name in update.capacity.capacity)) update.capacity.capacity[name] = quantity
  }
  update.capacity.lowestWeight = weight
  update.capacity.lowestWeightResources = Object.keys(capacity)
}

/**
 * Upstream's `Reconcile` without the writes: the overlays heaviest first (equal weights by name, descending), each
 * checked against every NodePool before any of its updates are recorded, so an overlay applies everywhere or nowhere.
 */
export const resolve = (
  overlays: ReadonlyArray<NodeOverlay.NodeOverlay>,
  nodePools: ReadonlyArray<NodePoolInstanceTypes>,
  wellKnown: ReadonlySet<string> = Labels.WellKnownLabels
): Resolution => {
  const updates = new Map<string, Map<string, InstanceTypeUpdate>>()
  const rejected = new Map<string, Rejection>()
  const updateOf = (pool: string, type: string): InstanceTypeUpdate => {
    const byType = updates.get(pool) ?? new Map<string, InstanceTypeUpdate>()
    updates.set(pool, byType)
    const update = byType.get(type) ?? { prices: new Map(), capacity: undefined }
    byType.set(type, update)
    return update
  }
  for (const overlay of NodeOverlay.orderByWeight(overlays)) {
    const name = overlay.metadata.name ?? ""
    const invalid = runtimeValidate(overlay)
    if (invalid !== undefined) {
      rejected.set(name, { reason: NodeOverlay.RuntimeValidation, message: invalid })
      continue
    }
    const overlayRequirements = Requirements.make(
      ...overlay.spec.requirements.map((r) => Requirement.make(r.key, r.operator, r.values ?? []))
    )
    const matches = nodePools.flatMap(({ nodePool, instanceTypes }) =>
      instanceTypes.flatMap((instanceType) => {
        const offerings = overlaidOfferings(nodePool, instanceType, overlayRequirements, wellKnown)
        return offerings.length === 0 ? [] : [{ pool: nodePool.metadata.name ?? "", instanceType, offerings }]
      })
    )
    if (
      matches.some((match) =>
        conflicts(updates.get(match.pool)?.get(match.instanceType.name), overlay, match.offerings)
      )
    ) {
      rejected.set(name, { reason: NodeOverlay.Conflict, message: "conflict with another overlay" })
      continue
    }
    for (const match of matches) record(updateOf(match.pool, match.instanceType.name), overlay, match.offerings)
  }
  return {
    store: { updates, evaluatedNodePools: new Set(nodePools.map(({ nodePool }) => nodePool.metadata.name ?? "")) },
    rejected
  }
}

/** Whether an overlay changes a price of `instanceTypeName` in the NodePool (upstream `IsPricingOverlayApplied`). */
export const isPriceOverlaid = (store: Store, nodePoolName: string, instanceTypeName: string): boolean =>
  (store.updates.get(nodePoolName)?.get(instanceTypeName)?.prices.size ?? 0) > 0

/** Upstream `apply`: the instance type with its overlaid prices and capacity (itself when no overlay matches it). */
export const applyTo = (
  store: Store,
  nodePoolName: string,
  instanceType: InstanceType.InstanceType
): InstanceType.InstanceType => {
  const update = store.updates.get(nodePoolName)?.get(instanceType.name)
  if (update === undefined) return instanceType
  const offerings =
    update.prices.size === 0
      ? instanceType.offerings
      : instanceType.offerings.map((offering) => {
          const price = update.prices.get(offeringKey(offering))
          return price === undefined
            ? offering
            : { ...offering, price: NodeOverlay.adjustedPrice(offering.price, price.change) }
        })
  const capacity =
    update.capacity === undefined
      ? instanceType.capacity
      : { ...instanceType.capacity, ...ResourceLists.fromResourceList(update.capacity.capacity) }
  if (offerings === instanceType.offerings && capacity === instanceType.capacity) return instanceType
  return InstanceType.make({ ...instanceType, offerings, capacity })
}
