/**
 * Instance types and offerings, as Karpenter's cloud provider model (`pkg/cloudprovider/types.go`): what a node of
 * a type offers to pods, and where and at what price it can be launched.
 */
import * as Labels from "../api/Labels.ts"
import * as Requirement from "../scheduling/Requirement.ts"
import * as Requirements from "../scheduling/Requirements.ts"
import * as Resources from "../scheduling/ResourceLists.ts"

/** One way to buy an instance type: a zone and capacity type (and reservation), a price, availability. */
export interface Offering {
  /** At least the zone and capacity-type requirements (and the reservation id for reserved offerings). */
  readonly requirements: Requirements.Requirements
  readonly zone: string
  readonly capacityType: string
  /** Dollars per hour. */
  readonly price: number
  readonly available: boolean
  /** Instances left in a capacity reservation (reserved offerings only). */
  readonly reservationCapacity?: number
}

/** What the node keeps for itself: subtracted from capacity to give allocatable. */
export interface Overhead {
  readonly kubeReserved: Resources.Resources
  readonly systemReserved: Resources.Resources
  readonly evictionThreshold: Resources.Resources
}

/** An instance type. Requirements define every well-known label the type has. */
export interface InstanceType {
  readonly name: string
  readonly requirements: Requirements.Requirements
  readonly offerings: ReadonlyArray<Offering>
  readonly capacity: Resources.Resources
  readonly overhead: Overhead
  /** capacity − overhead, computed once. */
  readonly allocatable: Resources.Resources
}

/** No overhead. */
export const noOverhead: Overhead = { kubeReserved: {}, systemReserved: {}, evictionThreshold: {} }

/** An instance type with its allocatable resources computed. */
export const make = (options: {
  readonly name: string
  readonly requirements: Requirements.Requirements
  readonly offerings: ReadonlyArray<Offering>
  readonly capacity: Resources.Resources
  readonly overhead?: Overhead
}): InstanceType => {
  const overhead = options.overhead ?? noOverhead
  return {
    ...options,
    overhead,
    allocatable: Resources.subtract(
      options.capacity,
      Resources.merge(overhead.kubeReserved, overhead.systemReserved, overhead.evictionThreshold)
    )
  }
}

// A catalogue's offerings repeat a few zone × capacity-type pairs: sharing their (immutable) requirements lets
// orderByPrice check each pair once per call instead of once per offering.
const zoneAndCapacityType = new Map<string, Requirements.Requirements>()

const offeringRequirements = (
  zone: string,
  capacityType: string,
  extra: ReadonlyArray<Requirement.Requirement> | undefined
): Requirements.Requirements => {
  const make = () =>
    Requirements.make(
      Requirement.make(Labels.Zone, "In", [zone]),
      Requirement.make(Labels.CapacityType, "In", [capacityType]),
      ...(extra ?? [])
    )
  if (extra !== undefined && extra.length > 0) return make()
  const key = `${zone}\n${capacityType}`
  let requirements = zoneAndCapacityType.get(key)
  if (requirements === undefined) {
    requirements = make()
    zoneAndCapacityType.set(key, requirements)
  }
  return requirements
}

/** An offering in a zone with a capacity type; `extra` adds requirements such as a reservation id. */
export const offering = (options: {
  readonly zone: string
  readonly capacityType: string
  readonly price: number
  readonly available?: boolean
  readonly reservationCapacity?: number
  readonly extra?: ReadonlyArray<Requirement.Requirement>
}): Offering => ({
  requirements: offeringRequirements(options.zone, options.capacityType, options.extra),
  zone: options.zone,
  capacityType: options.capacityType,
  price: options.price,
  available: options.available ?? true,
  ...(options.reservationCapacity === undefined ? {} : { reservationCapacity: options.reservationCapacity })
})

// Catalogues are immutable arrays that outlive many lookups (a disruption pass looks up every node's type).
const byNameOfCatalogue = new WeakMap<ReadonlyArray<InstanceType>, ReadonlyMap<string, InstanceType>>()

/** The catalogue's instance type named `name` (the first, should two share it), if any. */
export const named = (catalogue: ReadonlyArray<InstanceType>, name: string | undefined): InstanceType | undefined => {
  if (name === undefined) return undefined
  let byName = byNameOfCatalogue.get(catalogue)
  if (byName === undefined) {
    const built = new Map<string, InstanceType>()
    for (const instanceType of catalogue) if (!built.has(instanceType.name)) built.set(instanceType.name, instanceType)
    byName = built
    byNameOfCatalogue.set(catalogue, byName)
  }
  return byName.get(name)
}

/** The provider's reservation-id label among its well-known labels (upstream's global `ReservationIDLabel`). */
export const reservationIDLabelOf = (wellKnown: ReadonlySet<string>): string | undefined => {
  for (const key of wellKnown) if (key.endsWith("reservation-id")) return key
  return undefined
}

/** The reservation a reserved offering draws from (upstream `Offering.ReservationID`): its reservation-id value. */
export const reservationIDOf = (candidate: Offering, label: string | undefined): string =>
  label === undefined ? "" : (Requirement.values(Requirements.get(candidate.requirements, label))[0] ?? "")

/**
 * The instance types without their reserved offerings: what the providers offer while the ReservedCapacity feature
 * gate is off (upstream's AWS provider drops them there; the capacity type then reads as spot / on-demand only).
 */
export const withoutReservedOfferings = (instanceTypes: ReadonlyArray<InstanceType>): ReadonlyArray<InstanceType> => {
  let offered = unreservedOf.get(instanceTypes)
  if (offered === undefined) {
    offered = instanceTypes.map(withoutReserved)
    unreservedOf.set(instanceTypes, offered)
  }
  return offered
}

// Every pass asks for the NodePools' instance types: one result per catalogue array keeps what later steps cache per
// instance type or per array (lookups by name, templates) valid from one pass to the next.
const unreservedOf = new WeakMap<ReadonlyArray<InstanceType>, ReadonlyArray<InstanceType>>()

const withoutReserved = (instanceType: InstanceType): InstanceType =>
  instanceType.offerings.every((candidate) => candidate.capacityType !== Labels.CapacityTypeReserved)
    ? instanceType
    : {
        ...instanceType,
        requirements: Requirements.add(
          instanceType.requirements,
          Requirement.make(Labels.CapacityType, "NotIn", [Labels.CapacityTypeReserved])
        ),
        offerings: instanceType.offerings.filter((candidate) => candidate.capacityType !== Labels.CapacityTypeReserved)
      }

/**
 * The instance types with each reserved offering's remaining capacity from `capacityOf` (what the provider knows is
 * left now); a reservation with nothing left is unavailable, as upstream's providers report it.
 */
export const withReservationCapacity = (
  instanceTypes: ReadonlyArray<InstanceType>,
  capacityOf: (instanceType: InstanceType, reserved: Offering) => number
): ReadonlyArray<InstanceType> =>
  instanceTypes.map((instanceType) =>
    instanceType.offerings.every((candidate) => candidate.capacityType !== Labels.CapacityTypeReserved)
      ? instanceType
      : {
          ...instanceType,
          offerings: instanceType.offerings.map((candidate) => {
            if (candidate.capacityType !== Labels.CapacityTypeReserved) return candidate
            const left = capacityOf(instanceType, candidate)
            return { ...candidate, reservationCapacity: left, available: candidate.available && left > 0 }
          })
        }
  )

/**
 * Whether an offering is available and compatible with `requirements`; labels in `wellKnown` (the cloud provider's
 * well-known set, which includes its reservation label) may be undefined in `requirements`.
 */
export const isLaunchable =
  (requirements: Requirements.Requirements, wellKnown: ReadonlySet<string> = Labels.WellKnownLabels) =>
  (candidate: Offering): boolean =>
    candidate.available &&
    Requirements.isCompatible(requirements, candidate.requirements, { allowUndefined: wellKnown })

/** The available offerings compatible with `requirements`. */
export const compatibleOfferings = (
  instanceType: InstanceType,
  requirements: Requirements.Requirements,
  wellKnown?: ReadonlySet<string>
): ReadonlyArray<Offering> => instanceType.offerings.filter(isLaunchable(requirements, wellKnown))

const capacityTypeRank = (capacityType: string): number =>
  capacityType === Labels.CapacityTypeReserved ? 0 : capacityType === Labels.CapacityTypeSpot ? 1 : 2

/**
 * Orders offerings cheapest first; ties go to reserved, then spot, then on-demand, then by zone (the CLI contract's
 * launch rule).
 */
export const compareOfferings = (a: Offering, b: Offering): number =>
  a.price - b.price ||
  capacityTypeRank(a.capacityType) - capacityTypeRank(b.capacityType) ||
  (a.zone < b.zone ? -1 : a.zone > b.zone ? 1 : 0)

/** The cheapest available offering compatible with `requirements`, if any. */
export const cheapestOffering = (
  instanceType: InstanceType,
  requirements: Requirements.Requirements,
  wellKnown?: ReadonlySet<string>
): Offering | undefined => {
  let best: Offering | undefined
  for (const candidate of compatibleOfferings(instanceType, requirements, wellKnown)) {
    if (best === undefined || compareOfferings(candidate, best) < 0) best = candidate
  }
  return best
}

// Each type's offerings cheapest first, computed once: the first launchable one is the type's price.
const offeringsByPrice = new WeakMap<InstanceType, ReadonlyArray<Offering>>()

const cheapestFirst = (instanceType: InstanceType): ReadonlyArray<Offering> => {
  let sorted = offeringsByPrice.get(instanceType)
  if (sorted === undefined) {
    sorted = [...instanceType.offerings].sort(compareOfferings)
    offeringsByPrice.set(instanceType, sorted)
  }
  return sorted
}

/**
 * The price {@link orderByPrice} ranks types by (their cheapest available offering compatible with `requirements`;
 * none ⇒ +∞), as a function to apply to many types.
 */
export const launchPrices = (
  requirements: Requirements.Requirements,
  wellKnown: ReadonlySet<string> = Labels.WellKnownLabels
): ((instanceType: InstanceType) => number) => {
  // Whether an offering's requirements are compatible depends on nothing else, and offerings share them (see offering).
  const compatible = new Map<Requirements.Requirements, boolean>()
  const isCompatible = (candidate: Offering): boolean => {
    let answer = compatible.get(candidate.requirements)
    if (answer === undefined) {
      answer = Requirements.isCompatible(requirements, candidate.requirements, { allowUndefined: wellKnown })
      compatible.set(candidate.requirements, answer)
    }
    return answer
  }
  return (instanceType) => {
    for (const candidate of cheapestFirst(instanceType)) {
      if (candidate.available && isCompatible(candidate)) return candidate.price
    }
    return Number.POSITIVE_INFINITY
  }
}

/** Upstream `OrderByPrice`: by cheapest compatible available offering (none ⇒ last), ties by name. */
export const orderByPrice = (
  instanceTypes: ReadonlyArray<InstanceType>,
  requirements: Requirements.Requirements,
  wellKnown?: ReadonlySet<string>
): Array<InstanceType> => {
  const priceOf = launchPrices(requirements, wellKnown)
  return instanceTypes
    .map((instanceType) => ({ instanceType, price: priceOf(instanceType) }))
    .sort((a, b) => a.price - b.price || (a.instanceType.name < b.instanceType.name ? -1 : 1))
    .map(({ instanceType }) => instanceType)
}

/**
 * Upstream `WorstLaunchPrice`: among compatible available offerings, take the first capacity type present in the
 * order reserved, spot, on-demand and return its most expensive price; none ⇒ +∞.
 */
export const worstLaunchPrice = (
  offerings: ReadonlyArray<Offering>,
  requirements: Requirements.Requirements,
  wellKnown?: ReadonlySet<string>
): number => {
  const compatible = offerings.filter(isLaunchable(requirements, wellKnown))
  for (const capacityType of [Labels.CapacityTypeReserved, Labels.CapacityTypeSpot, Labels.CapacityTypeOnDemand]) {
    const prices = compatible.filter((candidate) => candidate.capacityType === capacityType).map((c) => c.price)
    if (prices.length > 0) return Math.max(...prices)
  }
  return Number.POSITIVE_INFINITY
}

/**
 * What a running node of the type costs per hour (upstream `getCandidatePrices`): its cheapest offering compatible
 * with the node's labels, available or not — the offering it was launched on, so on-demand for an on-demand node.
 * Undefined when the type no longer has such an offering.
 */
export const nodePrice = (
  instanceType: InstanceType,
  nodeLabels: Readonly<Record<string, string>>,
  wellKnown: ReadonlySet<string> = Labels.WellKnownLabels
): number | undefined => {
  const known = nodePrices.get(nodeLabels)
  if (known !== undefined && known.instanceType === instanceType && known.wellKnown === wellKnown) return known.price
  const requirements = Requirements.fromLabels(nodeLabels)
  let cheapest: number | undefined
  for (const offering of instanceType.offerings) {
    if (!Requirements.isCompatible(requirements, offering.requirements, { allowUndefined: wellKnown })) continue
    if (cheapest === undefined || offering.price < cheapest) cheapest = offering.price
  }
  nodePrices.set(nodeLabels, { instanceType, wellKnown, price: cheapest })
  return cheapest
}

// Disruption prices every candidate in every pass: a node's (immutable) labels keep their price for the same type.
const nodePrices = new WeakMap<
  Readonly<Record<string, string>>,
  { readonly instanceType: InstanceType; readonly wellKnown: ReadonlySet<string>; readonly price: number | undefined }
>()
