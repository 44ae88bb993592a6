/**
 * Instance-type catalogues: the KWOK catalogue (built in, the default), catalogues in its JSON format
 * (`--instance-types`), and the AWS catalogue of data/ for realistic simulations and benchmarks.
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Decode from "../api/Decode.ts"
import * as KWOKNodeClass from "../api/KWOKNodeClass.ts"
import * as Labels from "../api/Labels.ts"
import * as Quantity from "../api/Quantity.ts"
import * as Requirement from "../scheduling/Requirement.ts"
import * as Requirements from "../scheduling/Requirements.ts"
import * as Resources from "../scheduling/ResourceLists.ts"
import * as InstanceType from "./InstanceType.ts"

const optional = Schema.optionalKey

/**
 * An offering of a catalogue entry. A `reserved` offering is a capacity reservation (upstream KWOK's
 * `ReservationCapacity`): it names its reservation and how many instances it holds.
 */
export const CatalogOffering = Schema.Struct({
  zone: Schema.String,
  capacityType: Schema.String,
  price: Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0)),
  available: Schema.Boolean,
  reservationID: optional(Schema.String.check(Schema.isMinLength(1))),
  reservationCapacity: optional(Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)))
}).check(
  Schema.makeFilter((offering) =>
    (offering.capacityType === Labels.CapacityTypeReserved) ===
    (offering.reservationID !== undefined && offering.reservationCapacity !== undefined)
      ? undefined
      : "a reserved offering needs reservationID and reservationCapacity, and only a reserved offering has them"
  )
)

/** One entry of a catalogue in KWOK's JSON format (see the CLI contract), with this project's extras. */
export const CatalogEntry = Schema.Struct({
  name: Schema.String.check(Schema.isMinLength(1)),
  family: optional(Schema.String),
  architecture: Schema.String,
  operatingSystems: Schema.Array(Schema.String),
  cpu: Quantity.Quantity,
  memory: Quantity.Quantity,
  memoryMiB: optional(Schema.Number),
  pods: optional(Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))),
  ephemeralStorage: optional(Quantity.Quantity),
  labels: optional(Schema.Record(Schema.String, Schema.String)),
  resources: optional(Quantity.ResourceList),
  overhead: optional(Schema.Struct({ cpu: optional(Quantity.Quantity), memory: optional(Quantity.Quantity) })),
  offerings: Schema.Array(CatalogOffering)
})
export type CatalogEntry = typeof CatalogEntry.Type

/** A catalogue file: a JSON array of entries. */
export const Catalog = Schema.Array(CatalogEntry)

/** Upstream KWOK's per-node kube-reserved overhead. */
export const defaultOverhead = { cpu: "100m", memory: "10Mi" } as const

/** The provider-specific labels of the KWOK catalogue, well-known for scheduling. */
export const kwokWellKnownLabels = Labels.withProviderLabels(KWOKNodeClass.ProviderLabels)

// Upstream's KWOK loader: "family.size" names give the size; otherwise the cpu count.
const sizeOf = (name: string, cpu: string): string => {
  const dot = name.indexOf(".")
  return dot < 0 ? cpu : name.slice(dot + 1)
}
const familyOf = (name: string): string => {
  const match = /^([^.-]+)[.-]/.exec(name)
  return match?.[1] ?? name.slice(0, 1)
}

const unique = (values: ReadonlyArray<string>): Array<string> => [...new Set(values)].sort()

/** An instance type from a catalogue entry, as upstream KWOK's `ConstructInstanceTypes` builds it. */
export const toInstanceType = (entry: CatalogEntry): InstanceType.InstanceType => {
  const labels: Record<string, string> = {
    [KWOKNodeClass.InstanceSizeLabel]: sizeOf(entry.name, entry.cpu),
    [KWOKNodeClass.InstanceFamilyLabel]: entry.family ?? familyOf(entry.name),
    [KWOKNodeClass.InstanceCPULabel]: entry.cpu,
    [KWOKNodeClass.InstanceMemoryLabel]: entry.memory,
    ...entry.labels
  }
  const requirements = Requirements.make(
    Requirement.make(Labels.InstanceType, "In", [entry.name]),
    Requirement.make(Labels.Arch, "In", [entry.architecture]),
    Requirement.make(Labels.OS, "In", entry.operatingSystems),
    Requirement.make(Labels.Zone, "In", unique(entry.offerings.map((o) => o.zone))),
    Requirement.make(Labels.CapacityType, "In", unique(entry.offerings.map((o) => o.capacityType))),
    ...Object.entries(labels).map(([key, value]) => Requirement.make(key, "In", [value]))
  )
  const capacity = Resources.fromResourceList({
    cpu: entry.cpu,
    memory: entry.memory,
    pods: String(entry.pods ?? 110),
    ...(entry.ephemeralStorage === undefined ? {} : { "ephemeral-storage": entry.ephemeralStorage }),
    ...entry.resources
  })
  return InstanceType.make({
    name: entry.name,
    requirements,
    offerings: entry.offerings.map((o) =>
      InstanceType.offering({
        zone: o.zone,
        capacityType: o.capacityType,
        price: o.price,
        // A reservation with nothing left cannot be launched into (upstream's providers mark it unavailable).
        available: o.available && (o.reservationCapacity ?? 1) > 0,
        ...(o.reservationID === undefined
          ? {}
          : {
              reservationCapacity: o.reservationCapacity ?? 0,
              extra: [Requirement.make(KWOKNodeClass.ReservationIDLabel, "In", [o.reservationID])]
            })
      })
    ),
    capacity,
    overhead: {
      ...InstanceType.noOverhead,
      kubeReserved: Resources.fromResourceList({ ...defaultOverhead, ...entry.overhead })
    }
  })
}

const decodeCatalog = Decode.decoder("instance-type catalogue", Catalog)

/** Instance types from a parsed catalogue file; fails with a one-line message naming the bad entry and field. */
export const fromJson = (json: unknown): Effect.Effect<Array<InstanceType.InstanceType>, Decode.InvalidObject> =>
  decodeCatalog(json).pipe(Effect.map((entries) => entries.map(toInstanceType)))

// -- The KWOK catalogue ------------------------------------------------------------------------------------------

const kwokCpus = [1, 2, 4, 8, 16, 32, 48, 64, 96, 128, 192, 256]
const kwokFamilies = [
  { family: "c", memoryPerCpuGi: 2 },
  { family: "s", memoryPerCpuGi: 4 },
  { family: "m", memoryPerCpuGi: 8 }
]
const kwokZones = ["test-zone-a", "test-zone-b", "test-zone-c", "test-zone-d"]
const roundPrice = (price: number): number => Math.round(price * 1e10) / 1e10

/**
 * The entries of upstream KWOK's embedded catalogue (`kwok/tools/gen_instance_types.go`): cpu × memory family × OS ×
 * arch, four zones, spot at 70% of on-demand. Identical to data/kwok-instance-types.json (a test checks).
 */
export const kwokEntries = (): Array<CatalogEntry> =>
  kwokCpus.flatMap((cpu) =>
    kwokFamilies.flatMap(({ family, memoryPerCpuGi }) =>
      ["linux", "windows"].flatMap((os) =>
        ["amd64", "arm64"].map((architecture) => {
          const memoryGi = cpu * memoryPerCpuGi
          const onDemand = 0.025 * cpu + (0.001 * memoryGi * 1024 ** 3) / 1e9
          return {
            name: `${family}-${cpu}x-${architecture}-${os}`,
            family,
            architecture,
            operatingSystems: [os],
            cpu: String(cpu),
            memory: Quantity.format(memoryGi * 1024 ** 3 * 1000, { binary: true }),
            memoryMiB: memoryGi * 1024,
            pods: Math.min(cpu * 16, 1024),
            ephemeralStorage: "20Gi",
            offerings: kwokZones.flatMap((zone) => [
              { zone, capacityType: Labels.CapacityTypeSpot, price: roundPrice(onDemand * 0.7), available: true },
              { zone, capacityType: Labels.CapacityTypeOnDemand, price: roundPrice(onDemand), available: true }
            ])
          }
        })
      )
    )
  )

/** The built-in KWOK instance types (the default catalogue). */
export const kwok = (): Array<InstanceType.InstanceType> => kwokEntries().map(toInstanceType)

// -- The AWS catalogue -------------------------------------------------------------------------------------------

/** An entry of data/aws-instance-types.json (the fields used). */
export const AwsEntry = Schema.Struct({
  name: Schema.String,
  family: Schema.String,
  category: Schema.String,
  generation: Schema.Number,
  size: Schema.String,
  vcpu: Schema.Number,
  memoryMiB: Schema.Number,
  arch: Schema.String,
  gpuCount: Schema.Number,
  gpuName: Schema.NullOr(Schema.String),
  maxPods: Schema.Number,
  onDemandPriceUSD: Schema.NullOr(Schema.Number),
  hypervisor: Schema.NullOr(Schema.String),
  allocatable: Schema.Struct({
    cpuMillicores: Schema.Number,
    memoryMiB: Schema.Number,
    ephemeralStorageGiB: Schema.Number,
    pods: Schema.Number,
    extended: Schema.Record(Schema.String, Schema.Number)
  })
})
export type AwsEntry = typeof AwsEntry.Type

/** The labels of the AWS provider used by the AWS catalogue. */
export const AwsLabels = {
  category: "karpenter.k8s.aws/instance-category",
  family: "karpenter.k8s.aws/instance-family",
  generation: "karpenter.k8s.aws/instance-generation",
  size: "karpenter.k8s.aws/instance-size",
  cpu: "karpenter.k8s.aws/instance-cpu",
  memory: "karpenter.k8s.aws/instance-memory",
  gpuCount: "karpenter.k8s.aws/instance-gpu-count",
  gpuName: "karpenter.k8s.aws/instance-gpu-name",
  hypervisor: "karpenter.k8s.aws/instance-hypervisor"
} as const

/** Well-known labels when scheduling against the AWS catalogue. */
export const awsWellKnownLabels = Labels.withProviderLabels(Object.values(AwsLabels))

const awsEphemeralStorageGi = 20

/**
 * Instance types from the AWS dataset: capacity from vCPU/memory/max pods, overhead chosen so allocatable is the
 * dataset's `allocatable` block; offerings in `zones` as on-demand at the us-east-1 price and spot at `spotFactor`
 * of it. Types without a price have no offerings.
 */
export const fromAws = (
  entries: ReadonlyArray<AwsEntry>,
  options?: { readonly zones?: ReadonlyArray<string>; readonly spotFactor?: number }
): Array<InstanceType.InstanceType> => {
  const zones = options?.zones ?? ["us-east-1a", "us-east-1b", "us-east-1c"]
  const spotFactor = options?.spotFactor ?? 0.7
  const mi = 1024 ** 2 * 1000
  const gi = 1024 ** 3 * 1000
  return entries.map((entry) => {
    const extended = Object.fromEntries(Object.entries(entry.allocatable.extended).map(([k, v]) => [k, v * 1000]))
    const capacity: Resources.Resources = {
      cpu: entry.vcpu * 1000,
      memory: entry.memoryMiB * mi,
      pods: entry.maxPods * 1000,
      "ephemeral-storage": awsEphemeralStorageGi * gi,
      ...extended
    }
    const allocatable: Resources.Resources = {
      cpu: entry.allocatable.cpuMillicores,
      memory: entry.allocatable.memoryMiB * mi,
      pods: entry.allocatable.pods * 1000,
      "ephemeral-storage": Math.round(entry.allocatable.ephemeralStorageGiB * gi),
      ...extended
    }
    const price = entry.onDemandPriceUSD
    const labels: Record<string, string> = {
      [AwsLabels.category]: entry.category,
      [AwsLabels.family]: entry.family,
      [AwsLabels.generation]: String(entry.generation),
      [AwsLabels.size]: entry.size,
      [AwsLabels.cpu]: String(entry.vcpu),
      [AwsLabels.memory]: String(entry.memoryMiB),
      [AwsLabels.gpuCount]: String(entry.gpuCount),
      ...(entry.gpuName === null ? {} : { [AwsLabels.gpuName]: entry.gpuName }),
      ...(entry.hypervisor === null ? {} : { [AwsLabels.hypervisor]: entry.hypervisor })
    }
    const offerings =
      price === null
        ? []
        : zones.flatMap((zone) => [
            InstanceType.offering({
              zone,
              capacityType: Labels.CapacityTypeSpot,
              price: roundPrice(price * spotFactor)
            }),
            InstanceType.offering({ zone, capacityType: Labels.CapacityTypeOnDemand, price })
          ])
    return InstanceType.make({
      name: entry.name,
      requirements: Requirements.make(
        Requirement.make(Labels.InstanceType, "In", [entry.name]),
        Requirement.make(Labels.Arch, "In", [entry.arch]),
        Requirement.make(Labels.OS, "In", ["linux"]),
        Requirement.make(Labels.Zone, "In", [...zones]),
        Requirement.make(Labels.Region, "In", ["us-east-1"]),
        Requirement.make(Labels.CapacityType, "In", [Labels.CapacityTypeSpot, Labels.CapacityTypeOnDemand]),
        ...Object.entries(labels).map(([key, value]) => Requirement.make(key, "In", [value]))
      ),
      offerings,
      capacity,
      overhead: { ...InstanceType.noOverhead, kubeReserved: Resources.subtract(capacity, allocatable) }
    })
  })
}

const decodeAws = Decode.decoder("AWS instance-type dataset", Schema.Array(AwsEntry))

/** Instance types from the parsed AWS dataset. */
export const fromAwsJson = (json: unknown): Effect.Effect<Array<InstanceType.InstanceType>, Decode.InvalidObject> =>
  decodeAws(json).pipe(Effect.map((entries) => fromAws(entries)))
