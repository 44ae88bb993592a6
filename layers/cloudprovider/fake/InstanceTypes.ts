/**
 * Instance types for tests, shaped like upstream's fake provider (`pkg/cloudprovider/fake/instancetype.go`).
 */
import * as Labels from "../../../src/api/Labels.ts"
import * as Quantity from "../../../src/api/Quantity.ts"
import * as InstanceType from "../../../src/cloudprovider/InstanceType.ts"
import * as Requirement from "../../../src/scheduling/Requirement.ts"
import * as Requirements from "../../../src/scheduling/Requirements.ts"
import * as Resources from "../../../src/scheduling/ResourceLists.ts"

/** `size`: small or large. */
export const SizeLabel = "size"
/** `special`: "optional" on large types and absent on small ones, to test exotic selectors. */
export const ExoticLabel = "special"
/** `integer`: the cpu count, to test Gt/Lt. */
export const IntegerLabel = "integer"
/** The label of a reserved offering's reservation. */
export const ReservationIDLabel = "karpenter.test.sh/reservation-id"
/** Extended resources priced like GPUs. */
export const GpuVendorA = "fake.com/vendor-a"
export const GpuVendorB = "fake.com/vendor-b"

/** Labels the fake provider makes well-known. */
export const wellKnownLabels = Labels.withProviderLabels([SizeLabel, ExoticLabel, IntegerLabel, ReservationIDLabel])

/** The NodeClass the fake provider supports. */
export const NodeClassGroup = "karpenter.test.sh"
export const NodeClassKind = "TestNodeClass"

/** Upstream `PriceFromResources`: 0.1/cpu + 0.1/GB memory + 1.0 per GPU. */
export const priceFromResources = (resources: Resources.Resources): number => {
  let price = 0
  for (const [name, milli] of Object.entries(resources)) {
    if (name === "cpu") price += (0.1 * milli) / 1000
    else if (name === "memory") price += (0.1 * milli) / 1000 / 1e9
    else if (name === GpuVendorA || name === GpuVendorB) price += milli / 1000
  }
  return price
}

/** Options of {@link make}; everything has upstream's default. */
export interface Options {
  readonly name: string
  /** Wire quantities; defaults cpu 4, memory 4Gi, pods 5. */
  readonly resources?: Readonly<Record<string, string>>
  readonly architecture?: string
  readonly operatingSystems?: ReadonlyArray<string>
  /** Defaults: spot in test-zone-1 and -2, on-demand in test-zone-1, -2 and -3, priced from the resources. */
  readonly offerings?: ReadonlyArray<InstanceType.Offering>
  readonly overhead?: InstanceType.Overhead
}

/** A fake instance type (upstream `NewInstanceType`). */
export const make = (options: Options): InstanceType.InstanceType => {
  const capacity = Resources.fromResourceList({ cpu: "4", memory: "4Gi", pods: "5", ...options.resources })
  const price = priceFromResources(capacity)
  const offerings = options.offerings ?? [
    InstanceType.offering({ zone: "test-zone-1", capacityType: Labels.CapacityTypeSpot, price }),
    InstanceType.offering({ zone: "test-zone-2", capacityType: Labels.CapacityTypeSpot, price }),
    InstanceType.offering({ zone: "test-zone-1", capacityType: Labels.CapacityTypeOnDemand, price }),
    InstanceType.offering({ zone: "test-zone-2", capacityType: Labels.CapacityTypeOnDemand, price }),
    InstanceType.offering({ zone: "test-zone-3", capacityType: Labels.CapacityTypeOnDemand, price })
  ]
  const available = offerings.filter((offering) => offering.available)
  const cpu = (capacity.cpu ?? 0) / 1000
  const large = cpu > 4 && (capacity.memory ?? 0) > (Quantity.toMilli("8Gi") ?? 0)
  return InstanceType.make({
    name: options.name,
    requirements: Requirements.make(
      Requirement.make(Labels.InstanceType, "In", [options.name]),
      Requirement.make(Labels.Arch, "In", [options.architecture ?? Labels.ArchAmd64]),
      Requirement.make(Labels.OS, "In", options.operatingSystems ?? ["linux", "windows", "darwin"]),
      Requirement.make(Labels.Zone, "In", [...new Set(available.map((offering) => offering.zone))]),
      Requirement.make(Labels.CapacityType, "In", [...new Set(available.map((offering) => offering.capacityType))]),
      Requirement.make(SizeLabel, "In", [large ? "large" : "small"]),
      large ? Requirement.make(ExoticLabel, "In", ["optional"]) : Requirement.make(ExoticLabel, "DoesNotExist"),
      Requirement.make(IntegerLabel, "In", [String(Math.floor(cpu))])
    ),
    offerings,
    capacity,
    overhead: options.overhead ?? {
      ...InstanceType.noOverhead,
      kubeReserved: Resources.fromResourceList({ cpu: "100m", memory: "10Mi" })
    }
  })
}

/** Upstream's default catalogue of the fake provider. */
export const defaults = (): Array<InstanceType.InstanceType> => [
  make({ name: "default-instance-type" }),
  make({ name: "small-instance-type", resources: { cpu: "2", memory: "2Gi" } }),
  make({ name: "gpu-vendor-instance-type", resources: { [GpuVendorA]: "2" } }),
  make({ name: "gpu-vendor-b-instance-type", resources: { [GpuVendorB]: "2" } }),
  make({ name: "arm-instance-type", architecture: Labels.ArchArm64, resources: { cpu: "16", memory: "128Gi" } }),
  make({ name: "single-pod-instance-type", resources: { pods: "1" } })
]

/** `n` types with i+1 cpu, 2(i+1) Gi memory and 10(i+1) pods (upstream `InstanceTypes(n)`). */
export const sized = (count: number): Array<InstanceType.InstanceType> =>
  Array.from({ length: count }, (_, i) =>
    make({
      name: `fake-it-${i}`,
      resources: { cpu: String(i + 1), memory: `${2 * (i + 1)}Gi`, pods: String(10 * (i + 1)) }
    })
  )
