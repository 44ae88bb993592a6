/**
 * The CreateFleet request of a launch (aws/karpenter-provider-aws v1.4.0, `pkg/providers/instance/instance.go`
 * `Create`, `launchInstance`, `getOverrides`, `GetCreateFleetInput`, and `pkg/providers/subnet/subnet.go`
 * `ZonalSubnetsForLaunch`): which instance types to ask for, the capacity type, one subnet per zone, the overrides
 * and the instant fleet itself. Pure functions.
 */
import type * as Ec2Sdk from "@aws-sdk/client-ec2"
import type { EC2NodeClass } from "../../../src/api/EC2NodeClass.ts"
import * as Labels from "../../../src/api/Labels.ts"
import { AwsLabels, AwsResources, type IsUnavailable } from "../../../src/cloudprovider/aws/Ec2InstanceTypes.ts"
import * as InstanceType from "../../../src/cloudprovider/InstanceType.ts"
import * as Requirement from "../../../src/scheduling/Requirement.ts"
import * as Requirements from "../../../src/scheduling/Requirements.ts"
import * as Resources from "../../../src/scheduling/ResourceLists.ts"
import { ec2Tags } from "./LaunchTemplates.ts"

/** The most instance types one fleet request names (upstream `maxInstanceTypes`). */
export const maxInstanceTypes = 60

/** Labels that offerings define and a NodeClaim may leave undefined: the well-known ones, the AWS provider's too. */
export const wellKnownLabels: ReadonlySet<string> = Labels.withProviderLabels(Object.values(AwsLabels))

const launchable = (instanceType: InstanceType.InstanceType, requirements: Requirements.Requirements) =>
  InstanceType.compatibleOfferings(instanceType, requirements, wellKnownLabels)

/** The instance types with the offerings the cache marks unavailable taken out of the available ones. */
export const withUnavailable = (
  instanceTypes: ReadonlyArray<InstanceType.InstanceType>,
  isUnavailable: IsUnavailable
): Array<InstanceType.InstanceType> =>
  instanceTypes.map((instanceType) => ({
    ...instanceType,
    offerings: instanceType.offerings.map((offering) =>
      offering.available && isUnavailable(instanceType.name, offering.zone, offering.capacityType)
        ? { ...offering, available: false }
        : offering
    )
  }))

/**
 * The types that can serve the NodeClaim (upstream `CloudProvider.resolveInstanceTypes`): requirements compatible,
 * an available compatible offering, and allocatable fitting the NodeClaim's requests.
 */
export const compatibleTypes = (
  requirements: Requirements.Requirements,
  requests: Resources.Resources,
  instanceTypes: ReadonlyArray<InstanceType.InstanceType>
): Array<InstanceType.InstanceType> =>
  instanceTypes.filter(
    (instanceType) =>
      Requirements.isCompatible(requirements, instanceType.requirements, { allowUndefined: wellKnownLabels }) &&
      launchable(instanceType, requirements).length > 0 &&
      Resources.fits(requests, instanceType.allocatable)
  )

const exoticResources = [
  AwsResources.neuron,
  AwsResources.neuronCore,
  AwsResources.amdGpu,
  AwsResources.nvidiaGpu,
  AwsResources.habanaGaudi
]

/**
 * Without metal sizes and accelerated types, unless that leaves none (upstream `filterExoticInstanceTypes`).
 */
export const filterExotic = (
  instanceTypes: ReadonlyArray<InstanceType.InstanceType>
): ReadonlyArray<InstanceType.InstanceType> => {
  const generic = instanceTypes.filter(
    (instanceType) =>
      !Requirement.values(Requirements.get(instanceType.requirements, AwsLabels.size)).some((size) =>
        size.includes("metal")
      ) && exoticResources.every((resource) => (instanceType.capacity[resource] ?? 0) === 0)
  )
  return generic.length > 0 ? generic : instanceTypes
}

/** Whether both spot and on-demand are allowed and offered (upstream `isMixedCapacityLaunch`). */
export const isMixedCapacityLaunch = (
  requirements: Requirements.Requirements,
  instanceTypes: ReadonlyArray<InstanceType.InstanceType>
): boolean => {
  const allowed = Requirements.get(requirements, Labels.CapacityType)
  if (!Requirement.has(allowed, Labels.CapacityTypeSpot) || !Requirement.has(allowed, Labels.CapacityTypeOnDemand)) {
    return false
  }
  const offered = new Set(
    instanceTypes.flatMap((instanceType) => launchable(instanceType, requirements).map((o) => o.capacityType))
  )
  return offered.has(Labels.CapacityTypeSpot) && [...offered].some((type) => type !== Labels.CapacityTypeSpot)
}

/**
 * Without the types whose cheapest available offering costs more than the cheapest available on-demand offering
 * (upstream `filterUnwantedSpot`): a mixed launch must not buy a larger spot type dearer than on-demand would be.
 */
export const filterUnwantedSpot = (
  instanceTypes: ReadonlyArray<InstanceType.InstanceType>
): ReadonlyArray<InstanceType.InstanceType> => {
  let cheapestOnDemand = Number.POSITIVE_INFINITY
  for (const instanceType of instanceTypes) {
    for (const offering of instanceType.offerings) {
      if (offering.available && offering.capacityType === Labels.CapacityTypeOnDemand) {
        cheapestOnDemand = Math.min(cheapestOnDemand, offering.price)
      }
    }
  }
  return instanceTypes.filter((instanceType) => {
    const prices = instanceType.offerings.filter((offering) => offering.available).map((offering) => offering.price)
    return prices.length > 0 && Math.min(...prices) <= cheapestOnDemand
  })
}

/**
 * The types a fleet asks for (upstream `Create`): exotic and unwanted-spot filters unless a requirement has
 * minValues, then the cheapest {@link maxInstanceTypes} by their cheapest compatible offering (core `Truncate`).
 */
export const narrow = (
  requirements: Requirements.Requirements,
  instanceTypes: ReadonlyArray<InstanceType.InstanceType>
): Array<InstanceType.InstanceType> => {
  let candidates = instanceTypes
  if (!Requirements.hasMinValues(requirements)) {
    candidates = filterExotic(candidates)
    if (isMixedCapacityLaunch(requirements, candidates)) candidates = filterUnwantedSpot(candidates)
  }
  return InstanceType.orderByPrice(candidates, requirements, wellKnownLabels).slice(0, maxInstanceTypes)
}

/** The requirements with the capacity type pinned to one value. */
export const pinCapacityType = (
  requirements: Requirements.Requirements,
  capacityType: string
): Requirements.Requirements =>
  new Map(requirements).set(Labels.CapacityType, Requirement.make(Labels.CapacityType, "In", [capacityType]))

/**
 * Reserved, else spot, when the requirements allow it and some type offers it now, else on-demand (upstream
 * `getCapacityType`; reserved offerings exist only under the ReservedCapacity gate).
 */
export const capacityTypeOf = (
  requirements: Requirements.Requirements,
  instanceTypes: ReadonlyArray<InstanceType.InstanceType>
): string => {
  for (const capacityType of [Labels.CapacityTypeReserved, Labels.CapacityTypeSpot]) {
    if (!Requirement.has(Requirements.get(requirements, Labels.CapacityType), capacityType)) continue
    const pinned = pinCapacityType(requirements, capacityType)
    if (instanceTypes.some((instanceType) => launchable(instanceType, pinned).length > 0)) return capacityType
  }
  return Labels.CapacityTypeOnDemand
}

/**
 * When the NodeClaim allows reserved capacity, only the types with an available reserved offering, each keeping one
 * reserved offering per zone, the reservation with the most instances left (upstream `filterReservedInstanceTypes`:
 * CreateFleet takes one override per pool); the types unchanged when none has one.
 */
export const onlyReserved = (
  requirements: Requirements.Requirements,
  instanceTypes: ReadonlyArray<InstanceType.InstanceType>
): ReadonlyArray<InstanceType.InstanceType> => {
  if (!Requirement.has(Requirements.get(requirements, Labels.CapacityType), Labels.CapacityTypeReserved)) {
    return instanceTypes
  }
  const reserved = pinCapacityType(requirements, Labels.CapacityTypeReserved)
  const narrowed = instanceTypes.flatMap((instanceType) => {
    const byZone = new Map<string, InstanceType.Offering>()
    for (const offering of launchable(instanceType, reserved)) {
      const current = byZone.get(offering.zone)
      if (current === undefined || (offering.reservationCapacity ?? 0) > (current.reservationCapacity ?? 0)) {
        byZone.set(offering.zone, offering)
      }
    }
    return byZone.size === 0 ? [] : [{ ...instanceType, offerings: [...byZone.values()] }]
  })
  return narrowed.length === 0 ? instanceTypes : narrowed
}

/** The reservation a reserved offering of the type in the zone draws from (upstream `getCapacityReservationIDForInstance`). */
export const reservationIdOf = (
  instanceTypes: ReadonlyArray<InstanceType.InstanceType>,
  instanceType: string,
  zone: string
): string | undefined => {
  const offering = instanceTypes
    .find((candidate) => candidate.name === instanceType)
    ?.offerings.find((candidate) => candidate.capacityType === Labels.CapacityTypeReserved && candidate.zone === zone)
  return offering === undefined
    ? undefined
    : InstanceType.reservationIDOf(offering, AwsLabels.capacityReservationId) || undefined
}

/** The reservations the reserved offerings of a type draw from, each once, in offering order. */
export const reservationIdsOf = (instanceType: InstanceType.InstanceType): Array<string> => [
  ...new Set(
    instanceType.offerings
      .filter((offering) => offering.capacityType === Labels.CapacityTypeReserved)
      .map((offering) => InstanceType.reservationIDOf(offering, AwsLabels.capacityReservationId))
  )
]

/** A subnet chosen for a zone. */
export interface ZonalSubnet {
  readonly id: string
  readonly zone: string
  readonly availableIps: number
}

/**
 * Per zone, the node class's subnet with the most available addresses; on a tie the one listed first in the status
 * stays (upstream `ZonalSubnetsForLaunch` replaces only on strictly more). Zones in status order.
 */
export const zonalSubnets = (
  nodeClass: EC2NodeClass,
  availableIps: ReadonlyMap<string, number>
): Map<string, ZonalSubnet> => {
  const chosen = new Map<string, ZonalSubnet>()
  for (const subnet of nodeClass.status?.subnets ?? []) {
    const candidate = { id: subnet.id, zone: subnet.zone, availableIps: availableIps.get(subnet.id) ?? 0 }
    const current = chosen.get(subnet.zone)
    if (current === undefined || candidate.availableIps > current.availableIps) chosen.set(subnet.zone, candidate)
  }
  return chosen
}

/**
 * The overrides of one launch template (upstream `getOverrides`): every available offering of its types compatible
 * with the requirements (capacity type pinned) in a zone with a subnet, as type × that zone's subnet, in type order.
 * The zone is named too, so that fleet errors say which pool failed.
 */
export const overrides = (
  instanceTypes: ReadonlyArray<InstanceType.InstanceType>,
  subnets: ReadonlyMap<string, ZonalSubnet>,
  requirements: Requirements.Requirements,
  imageId: string
): Array<Ec2Sdk.FleetLaunchTemplateOverridesRequest> =>
  instanceTypes.flatMap((instanceType) =>
    launchable(instanceType, requirements).flatMap((offering) => {
      const subnet = subnets.get(offering.zone)
      return subnet === undefined
        ? []
        : [
            {
              // The SDK types instance types as its enum; EC2 takes any name.
              InstanceType: instanceType.name as Ec2Sdk._InstanceType,
              SubnetId: subnet.id,
              ImageId: imageId,
              AvailabilityZone: subnet.zone
            }
          ]
    })
  )

/** A launch template to name in the fleet and its overrides. */
export interface TemplateConfig {
  readonly launchTemplateName: string
  readonly overrides: ReadonlyArray<Ec2Sdk.FleetLaunchTemplateOverridesRequest>
}

/**
 * The instant fleet of one instance (upstream `GetCreateFleetInput` and `launchInstance`): spot fleets allocate
 * price-capacity-optimized, on-demand ones lowest-price; the instance, its volumes and the fleet carry the tags.
 */
export const createFleetInput = (options: {
  readonly nodeClass: EC2NodeClass
  readonly capacityType: string
  readonly tags: Readonly<Record<string, string>>
  readonly configs: ReadonlyArray<TemplateConfig>
}): Ec2Sdk.CreateFleetCommandInput => {
  const tags = ec2Tags(options.tags)
  // A reserved launch is an on-demand fleet whose launch templates target the reservation.
  const spot = options.capacityType === Labels.CapacityTypeSpot
  return {
    Type: "instant",
    ...(options.nodeClass.spec.context === undefined ? {} : { Context: options.nodeClass.spec.context }),
    LaunchTemplateConfigs: options.configs.map((config) => ({
      LaunchTemplateSpecification: { LaunchTemplateName: config.launchTemplateName, Version: "$Latest" },
      Overrides: [...config.overrides]
    })),
    TargetCapacitySpecification: {
      DefaultTargetCapacityType: spot ? "spot" : "on-demand",
      TotalTargetCapacity: 1
    },
    TagSpecifications: [
      { ResourceType: "instance", Tags: tags },
      { ResourceType: "volume", Tags: tags },
      { ResourceType: "fleet", Tags: tags }
    ],
    ...(spot
      ? { SpotOptions: { AllocationStrategy: "price-capacity-optimized" } }
      : { OnDemandOptions: { AllocationStrategy: "lowest-price" } })
  }
}
