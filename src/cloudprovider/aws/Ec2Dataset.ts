/**
 * data/aws-instance-types.json as EC2 would describe it: each record as a DescribeInstanceTypes `InstanceTypeInfo`
 * with upstream's generated VPC limits and bandwidth, and the us-east-1 on-demand prices as the static price table,
 * so that a fake EC2 can serve the dataset and {@link Ec2InstanceTypes} compute from it.
 */
import * as Schema from "effect/Schema"
import * as Catalog from "../Catalog.ts"
import type * as Ec2InstanceTypes from "./Ec2InstanceTypes.ts"

/** A record of data/aws-instance-types.json: {@link Catalog.AwsEntry} and the fields EC2 describes. */
export const DatasetRecord = Schema.Struct({
  ...Catalog.AwsEntry.fields,
  cpuManufacturer: Schema.NullOr(Schema.String),
  cpuSustainedClockSpeedMhz: Schema.NullOr(Schema.Number),
  gpuManufacturer: Schema.NullOr(Schema.String),
  gpuMemoryMiB: Schema.NullOr(Schema.Number),
  acceleratorCount: Schema.Number,
  acceleratorName: Schema.NullOr(Schema.String),
  acceleratorManufacturer: Schema.NullOr(Schema.String),
  baremetal: Schema.Boolean,
  localNVMeGiB: Schema.NullOr(Schema.Number),
  networkBandwidthMbps: Schema.NullOr(Schema.Number),
  ebsBandwidthMbps: Schema.NullOr(Schema.Number),
  encryptionInTransitSupported: Schema.Boolean,
  eni: Schema.NullOr(
    Schema.Struct({
      maxInterfaces: Schema.Number,
      ipv4PerInterface: Schema.Number,
      branchInterfaces: Schema.Number,
      trunkingCompatible: Schema.Boolean,
      networkCards: Schema.Number,
      defaultNetworkCardIndex: Schema.Number
    })
  )
})
export type DatasetRecord = typeof DatasetRecord.Type

/** The dataset as an array of records. */
export const Dataset = Schema.Array(DatasetRecord)

/** A record as EC2 describes it, with what upstream's generated tables say of it. */
export interface Described {
  readonly info: Ec2InstanceTypes.InstanceTypeInfo
  readonly generated: Ec2InstanceTypes.GeneratedData
}

// DescribeInstanceTypes spells manufacturers as vendors do; upstream counts GPUs by "NVIDIA", "AMD" and "Habana".
const gpuManufacturers: Readonly<Record<string, string>> = { nvidia: "NVIDIA", amd: "AMD", habana: "Habana" }

const present = <A>(value: A | null): A | undefined => (value === null ? undefined : value)

/**
 * A dataset record as DescribeInstanceTypes would return it; undefined for the records without VPC limits (their
 * network shape is unknown). The dataset leaves out what this needs in three places, recovered from what it has:
 * - the default network card's interfaces, from `maxPods` (= interfaces × (IPv4 per interface − 1) + 2 by
 *   construction) when the type has several cards;
 * - EFA interfaces and Neuron cores per device, from the `allocatable.extended` counts (extended resources carry no
 *   overhead, so they equal capacity);
 * - the usage classes, taken as on-demand and spot.
 */
export const describe = (record: DatasetRecord): Described | undefined => {
  const eni = record.eni
  if (eni === null) return undefined
  const extended = record.allocatable.extended
  const defaultCardInterfaces =
    eni.networkCards > 1 ? (record.maxPods - 2) / (eni.ipv4PerInterface - 1) : eni.maxInterfaces
  const neuronDevices = extended["aws.amazon.com/neuron"] ?? 0
  const efa = extended["vpc.amazonaws.com/efa"]
  const info: Ec2InstanceTypes.InstanceTypeInfo = {
    InstanceType: record.name,
    SupportedUsageClasses: ["on-demand", "spot"],
    Hypervisor: present(record.hypervisor),
    BareMetal: record.baremetal,
    VCpuInfo: { DefaultVCpus: record.vcpu },
    MemoryInfo: { SizeInMiB: record.memoryMiB },
    ProcessorInfo: {
      SupportedArchitectures: [record.arch === "arm64" ? "arm64" : "x86_64"],
      Manufacturer: present(record.cpuManufacturer),
      SustainedClockSpeedInGhz:
        record.cpuSustainedClockSpeedMhz === null ? undefined : record.cpuSustainedClockSpeedMhz / 1000
    },
    NetworkInfo: {
      MaximumNetworkInterfaces: eni.maxInterfaces,
      Ipv4AddressesPerInterface: eni.ipv4PerInterface,
      DefaultNetworkCardIndex: eni.defaultNetworkCardIndex,
      NetworkCards: Array.from({ length: eni.networkCards }, (_, index) => ({
        NetworkCardIndex: index,
        ...(index === eni.defaultNetworkCardIndex ? { MaximumNetworkInterfaces: defaultCardInterfaces } : {})
      })),
      EncryptionInTransitSupported: record.encryptionInTransitSupported,
      ...(efa === undefined ? {} : { EfaInfo: { MaximumEfaInterfaces: efa } })
    },
    ...(record.gpuCount > 0
      ? {
          GpuInfo: {
            Gpus: [
              {
                Name: present(record.gpuName),
                Manufacturer: gpuManufacturers[record.gpuManufacturer ?? ""] ?? present(record.gpuManufacturer),
                Count: record.gpuCount,
                MemoryInfo: { SizeInMiB: present(record.gpuMemoryMiB) }
              }
            ]
          }
        }
      : {}),
    ...(neuronDevices > 0
      ? {
          NeuronInfo: {
            NeuronDevices: [
              {
                Name: present(record.acceleratorName),
                Count: neuronDevices,
                CoreInfo: { Count: (extended["aws.amazon.com/neuroncore"] ?? 0) / neuronDevices }
              }
            ]
          }
        }
      : record.acceleratorCount > 0
        ? {
            InferenceAcceleratorInfo: {
              Accelerators: [
                {
                  Name: present(record.acceleratorName),
                  Manufacturer: present(record.acceleratorManufacturer),
                  Count: record.acceleratorCount
                }
              ]
            }
          }
        : {}),
    ...(record.localNVMeGiB === null
      ? {}
      : { InstanceStorageInfo: { TotalSizeInGB: record.localNVMeGiB, NvmeSupport: "required" } }),
    ...(record.ebsBandwidthMbps === null
      ? {}
      : {
          EbsInfo: {
            EbsOptimizedSupport: "default",
            EbsOptimizedInfo: { MaximumBandwidthInMbps: record.ebsBandwidthMbps }
          }
        })
  }
  return {
    info,
    generated: {
      vpcLimits: {
        branchInterfaces: eni.branchInterfaces,
        trunkingCompatible: eni.trunkingCompatible,
        ipv4PerInterface: eni.ipv4PerInterface
      },
      ...(record.networkBandwidthMbps === null ? {} : { networkBandwidthMbps: record.networkBandwidthMbps })
    }
  }
}

/** The static on-demand price table: the dataset's us-east-1 prices (types without a published price are absent). */
export const onDemandPrices = (records: ReadonlyArray<DatasetRecord>): ReadonlyMap<string, number> =>
  new Map(
    records.flatMap((record) => (record.onDemandPriceUSD === null ? [] : [[record.name, record.onDemandPriceUSD]]))
  )
