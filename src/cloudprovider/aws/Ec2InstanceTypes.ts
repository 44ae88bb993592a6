/**
 * EC2 instance types as the AWS provider computes them (aws/karpenter-provider-aws v1.4.0,
 * `pkg/providers/instancetype/types.go`): capacity, overhead (kube-reserved, system-reserved, eviction threshold) and
 * requirements from a DescribeInstanceTypes record and the EC2NodeClass's kubelet, block-device and AMI-family
 * settings. Pure functions over plain records: no AWS SDK here, the SDK's `InstanceTypeInfo` is assignable to
 * {@link InstanceTypeInfo}.
 */
import * as Labels from "../../api/Labels.ts"
import * as Quantity from "../../api/Quantity.ts"
import * as Requirement from "../../scheduling/Requirement.ts"
import * as Requirements from "../../scheduling/Requirements.ts"
import type * as Resources from "../../scheduling/ResourceLists.ts"
import * as InstanceType from "../InstanceType.ts"
import * as Pricing from "./Ec2Pricing.ts"

// -- DescribeInstanceTypes shape (the fields upstream reads) ------------------------------------------------------

/** A GPU entry of `GpuInfo.Gpus`. */
export interface GpuDeviceInfo {
  readonly Name?: string | undefined
  readonly Manufacturer?: string | undefined
  readonly Count?: number | undefined
  readonly MemoryInfo?: { readonly SizeInMiB?: number | undefined } | undefined
}

/** A Neuron device of `NeuronInfo.NeuronDevices`. */
export interface NeuronDeviceInfo {
  readonly Name?: string | undefined
  readonly Count?: number | undefined
  readonly CoreInfo?: { readonly Count?: number | undefined } | undefined
}

/** An inference accelerator of `InferenceAcceleratorInfo.Accelerators`. */
export interface InferenceDeviceInfo {
  readonly Name?: string | undefined
  readonly Manufacturer?: string | undefined
  readonly Count?: number | undefined
}

/** A network card of `NetworkInfo.NetworkCards`. */
export interface NetworkCardInfo {
  readonly NetworkCardIndex?: number | undefined
  readonly MaximumNetworkInterfaces?: number | undefined
}

/** The fields of EC2's `InstanceTypeInfo` (DescribeInstanceTypes) that capacity, overhead and labels read. */
export interface InstanceTypeInfo {
  readonly InstanceType?: string | undefined
  readonly SupportedUsageClasses?: ReadonlyArray<string> | undefined
  readonly Hypervisor?: string | undefined
  readonly BareMetal?: boolean | undefined
  readonly VCpuInfo?: { readonly DefaultVCpus?: number | undefined } | undefined
  readonly MemoryInfo?: { readonly SizeInMiB?: number | undefined } | undefined
  readonly ProcessorInfo?:
    | {
        readonly SupportedArchitectures?: ReadonlyArray<string> | undefined
        readonly Manufacturer?: string | undefined
        readonly SustainedClockSpeedInGhz?: number | undefined
      }
    | undefined
  readonly NetworkInfo?:
    | {
        readonly MaximumNetworkInterfaces?: number | undefined
        readonly Ipv4AddressesPerInterface?: number | undefined
        readonly DefaultNetworkCardIndex?: number | undefined
        readonly NetworkCards?: ReadonlyArray<NetworkCardInfo> | undefined
        readonly EfaInfo?: { readonly MaximumEfaInterfaces?: number | undefined } | undefined
        readonly EncryptionInTransitSupported?: boolean | undefined
      }
    | undefined
  readonly GpuInfo?: { readonly Gpus?: ReadonlyArray<GpuDeviceInfo> | undefined } | undefined
  readonly NeuronInfo?: { readonly NeuronDevices?: ReadonlyArray<NeuronDeviceInfo> | undefined } | undefined
  readonly InferenceAcceleratorInfo?:
    | { readonly Accelerators?: ReadonlyArray<InferenceDeviceInfo> | undefined }
    | undefined
  readonly InstanceStorageInfo?:
    | { readonly TotalSizeInGB?: number | undefined; readonly NvmeSupport?: string | undefined }
    | undefined
  readonly EbsInfo?:
    | {
        readonly EbsOptimizedSupport?: string | undefined
        readonly EbsOptimizedInfo?: { readonly MaximumBandwidthInMbps?: number | undefined } | undefined
      }
    | undefined
}

/**
 * What upstream's generated tables know of a type beyond DescribeInstanceTypes: the VPC limits
 * (`zz_generated.vpclimits.go`: branch ENIs for pod-eni, IPv4 per interface for Windows) and the network bandwidth
 * (`zz_generated.bandwidth.go`).
 */
export interface GeneratedData {
  readonly vpcLimits?: {
    readonly branchInterfaces: number
    readonly trunkingCompatible: boolean
    readonly ipv4PerInterface: number
  }
  readonly networkBandwidthMbps?: number
}

// -- Names ---------------------------------------------------------------------------------------------------------

/** The AWS provider's well-known labels (`pkg/apis/v1/labels.go`). */
export const AwsLabels = {
  hypervisor: "karpenter.k8s.aws/instance-hypervisor",
  encryptionInTransitSupported: "karpenter.k8s.aws/instance-encryption-in-transit-supported",
  category: "karpenter.k8s.aws/instance-category",
  family: "karpenter.k8s.aws/instance-family",
  generation: "karpenter.k8s.aws/instance-generation",
  localNvme: "karpenter.k8s.aws/instance-local-nvme",
  size: "karpenter.k8s.aws/instance-size",
  cpu: "karpenter.k8s.aws/instance-cpu",
  cpuManufacturer: "karpenter.k8s.aws/instance-cpu-manufacturer",
  cpuSustainedClockSpeedMhz: "karpenter.k8s.aws/instance-cpu-sustained-clock-speed-mhz",
  memory: "karpenter.k8s.aws/instance-memory",
  ebsBandwidth: "karpenter.k8s.aws/instance-ebs-bandwidth",
  networkBandwidth: "karpenter.k8s.aws/instance-network-bandwidth",
  gpuName: "karpenter.k8s.aws/instance-gpu-name",
  gpuManufacturer: "karpenter.k8s.aws/instance-gpu-manufacturer",
  gpuCount: "karpenter.k8s.aws/instance-gpu-count",
  gpuMemory: "karpenter.k8s.aws/instance-gpu-memory",
  acceleratorName: "karpenter.k8s.aws/instance-accelerator-name",
  acceleratorManufacturer: "karpenter.k8s.aws/instance-accelerator-manufacturer",
  acceleratorCount: "karpenter.k8s.aws/instance-accelerator-count",
  capacityReservationId: "karpenter.k8s.aws/capacity-reservation-id",
  zoneId: "topology.k8s.aws/zone-id"
} as const

/** The AWS provider's extended resources (`pkg/apis/v1/labels.go`). */
export const AwsResources = {
  podEni: "vpc.amazonaws.com/pod-eni",
  nvidiaGpu: "nvidia.com/gpu",
  amdGpu: "amd.com/gpu",
  neuron: "aws.amazon.com/neuron",
  neuronCore: "aws.amazon.com/neuroncore",
  habanaGaudi: "habana.ai/gaudi",
  efa: "vpc.amazonaws.com/efa",
  privateIPv4Address: "vpc.amazonaws.com/PrivateIPv4Address"
} as const

// -- AMI families --------------------------------------------------------------------------------------------------

/** The EC2NodeClass AMI families. */
export type AmiFamily = "AL2" | "AL2023" | "Bottlerocket" | "Custom" | "Windows2019" | "Windows2022"

interface FamilyTraits {
  /** kube-reserved memory counts ENI-limited pods rather than the node's pods. */
  readonly usesENILimitedMemoryOverhead: boolean
  readonly podsPerCoreEnabled: boolean
  /** Pods default to the ENI limit (else 110). */
  readonly supportsENILimitedPodDensity: boolean
  /** The device the kubelet's filesystem lives on, and the family's default mappings (name → size). */
  readonly ephemeralDevice?: string
  readonly defaultVolumeSizes: Readonly<Record<string, string>>
  readonly windowsBuild?: string
}

// `amifamily.DefaultEBS.VolumeSize`.
const defaultVolumeSize = "20Gi"
const linuxDefaults: FamilyTraits = {
  usesENILimitedMemoryOverhead: true,
  podsPerCoreEnabled: true,
  supportsENILimitedPodDensity: true,
  ephemeralDevice: "/dev/xvda",
  defaultVolumeSizes: { "/dev/xvda": defaultVolumeSize }
}
const windows = (build: string): FamilyTraits => ({
  usesENILimitedMemoryOverhead: false,
  podsPerCoreEnabled: true,
  supportsENILimitedPodDensity: false,
  ephemeralDevice: "/dev/sda1",
  defaultVolumeSizes: { "/dev/sda1": "50Gi" },
  windowsBuild: build
})

// `amifamily.GetAMIFamily` and each family's `FeatureFlags`, `EphemeralBlockDevice`, `DefaultBlockDeviceMappings`.
const families: Readonly<Record<AmiFamily, FamilyTraits>> = {
  AL2: linuxDefaults,
  AL2023: linuxDefaults,
  Bottlerocket: {
    usesENILimitedMemoryOverhead: false,
    podsPerCoreEnabled: false,
    supportsENILimitedPodDensity: true,
    ephemeralDevice: "/dev/xvdb",
    defaultVolumeSizes: { "/dev/xvda": "4Gi", "/dev/xvdb": defaultVolumeSize }
  },
  // A custom AMI's volumes are unknown: no ephemeral device, no default mappings.
  Custom: {
    usesENILimitedMemoryOverhead: true,
    podsPerCoreEnabled: true,
    supportsENILimitedPodDensity: true,
    defaultVolumeSizes: {}
  },
  Windows2019: windows("10.0.17763"),
  Windows2022: windows("10.0.20348")
}

// -- EC2NodeClass settings -----------------------------------------------------------------------------------------

/** The EC2NodeClass kubelet settings that shape capacity and overhead (`spec.kubelet`). */
export interface KubeletOptions {
  readonly maxPods?: number
  readonly podsPerCore?: number
  readonly kubeReserved?: Readonly<Record<string, string>>
  readonly systemReserved?: Readonly<Record<string, string>>
  /** Only `evictionHard` reduces allocatable: `evictionSoft` is a warning threshold (upstream fix, below). */
  readonly evictionHard?: Readonly<Record<string, string>>
}

/** A block device mapping of `spec.blockDeviceMappings` (the fields capacity reads). */
export interface BlockDeviceMapping {
  readonly deviceName?: string
  readonly rootVolume?: boolean
  readonly ebs?: { readonly volumeSize?: string }
}

/** The EC2NodeClass settings an instance type depends on. */
export interface NodeClassOptions {
  readonly amiFamily: AmiFamily
  readonly kubelet?: KubeletOptions
  readonly blockDeviceMappings?: ReadonlyArray<BlockDeviceMapping>
  readonly instanceStorePolicy?: "RAID0"
}

/** Operator settings (`VM_MEMORY_OVERHEAD_PERCENT`, `RESERVED_ENIS`). */
export interface Settings {
  readonly vmMemoryOverheadPercent: number
  readonly reservedENIs: number
}

/** Upstream's defaults: 7.5% VM memory overhead, no reserved ENIs (`pkg/operator/options/options.go`). */
export const defaultSettings: Settings = { vmMemoryOverheadPercent: 0.075, reservedENIs: 0 }

/** The settings of upstream's instance-type reference page and of data/aws-instance-types.json's allocatable. */
export const defaultNodeClass: NodeClassOptions = { amiFamily: "AL2023" }

// -- Capacity ------------------------------------------------------------------------------------------------------

const milli = 1000
const mebibyte = 1024 * 1024
const toMilli = (quantity: string): number => Quantity.toMilli(quantity) ?? 0

/** `VCpuInfo.DefaultVCpus` cores, in millicores. */
export const cpu = (info: InstanceTypeInfo): number => (info.VCpuInfo?.DefaultVCpus ?? 0) * milli

/**
 * Memory in milli-bytes: `SizeInMiB` (less Graviton's 64 MiB of CMA when the first architecture is arm64) minus
 * `ceil(bytes × vmMemoryOverheadPercent / 1 MiB)` MiB.
 */
export const memory = (info: InstanceTypeInfo, settings: Settings = defaultSettings): number => {
  let sizeInMiB = info.MemoryInfo?.SizeInMiB ?? 0
  if (info.ProcessorInfo?.SupportedArchitectures?.[0] === "arm64") sizeInMiB -= 64
  const bytes = sizeInMiB * mebibyte
  // The same float operations, in the same order, as upstream's `float64(mem.Value())*percent/1024/1024`.
  const overheadMiB = Math.ceil((bytes * settings.vmMemoryOverheadPercent) / 1024 / 1024)
  return (bytes - overheadMiB * mebibyte) * milli
}

/**
 * Ephemeral storage in milli-bytes: the instance store under RAID0; else the root-volume mapping's size; else (Custom)
 * the last mapping's size or 20Gi; else the mapping on the family's ephemeral device; else the family's default for
 * that device; else 20Gi.
 */
export const ephemeralStorage = (info: InstanceTypeInfo, nodeClass: NodeClassOptions): number => {
  const totalSizeInGB = info.InstanceStorageInfo?.TotalSizeInGB
  if (nodeClass.instanceStorePolicy === "RAID0" && totalSizeInGB !== undefined) return toMilli(`${totalSizeInGB}G`)
  const family = families[nodeClass.amiFamily]
  const mappings = nodeClass.blockDeviceMappings ?? []
  if (mappings.length > 0) {
    const root = mappings.find((mapping) => mapping.rootVolume === true)
    if (root?.ebs?.volumeSize !== undefined) return toMilli(root.ebs.volumeSize)
    if (nodeClass.amiFamily === "Custom") return toMilli(mappings.at(-1)?.ebs?.volumeSize ?? defaultVolumeSize)
    const onDevice = mappings.find((mapping) => mapping.deviceName === family.ephemeralDevice)
    if (onDevice?.ebs?.volumeSize !== undefined) return toMilli(onDevice.ebs.volumeSize)
  }
  const familyDefault =
    family.ephemeralDevice === undefined ? undefined : family.defaultVolumeSizes[family.ephemeralDevice]
  return toMilli(familyDefault ?? defaultVolumeSize)
}

/**
 * `ENILimitedPods`: (interfaces of the default network card − reserved ENIs) × (IPv4 per interface − 1) + 2, or 0
 * when no interface is left. The VPC CNI only uses the default card.
 */
export const eniLimitedPods = (info: InstanceTypeInfo, reservedENIs: number): number => {
  const network = info.NetworkInfo
  const interfaces = network?.NetworkCards?.[network.DefaultNetworkCardIndex ?? 0]?.MaximumNetworkInterfaces ?? 0
  const usable = Math.max(interfaces - reservedENIs, 0)
  if (usable === 0) return 0
  return usable * ((network?.Ipv4AddressesPerInterface ?? 0) - 1) + 2
}

/**
 * The pod count: kubelet `maxPods`; else the ENI limit (110 on Windows); then at most `podsPerCore × vCPUs` where
 * the family honours podsPerCore (not Bottlerocket).
 */
export const pods = (
  info: InstanceTypeInfo,
  nodeClass: NodeClassOptions,
  settings: Settings = defaultSettings
): number => {
  const family = families[nodeClass.amiFamily]
  const kubelet = nodeClass.kubelet
  let count =
    kubelet?.maxPods !== undefined
      ? kubelet.maxPods
      : family.supportsENILimitedPodDensity
        ? eniLimitedPods(info, settings.reservedENIs)
        : 110
  const podsPerCore = kubelet?.podsPerCore ?? 0
  if (podsPerCore > 0 && family.podsPerCoreEnabled) {
    count = Math.min(podsPerCore * (info.VCpuInfo?.DefaultVCpus ?? 0), count)
  }
  return count
}

const gpusBy = (info: InstanceTypeInfo, manufacturer: string): number => {
  let count = 0
  for (const gpu of info.GpuInfo?.Gpus ?? []) if (gpu.Manufacturer === manufacturer) count += gpu.Count ?? 0
  return count
}

const neuronDevices = (info: InstanceTypeInfo): number => {
  let count = 0
  for (const device of info.NeuronInfo?.NeuronDevices ?? []) count += device.Count ?? 0
  return count
}

// Upstream multiplies the first device's count by its cores per device.
const neuronCores = (info: InstanceTypeInfo): number => {
  const first = info.NeuronInfo?.NeuronDevices?.[0]
  return first === undefined ? 0 : (first.Count ?? 0) * (first.CoreInfo?.Count ?? 0)
}

const isWindows = (nodeClass: NodeClassOptions): boolean => families[nodeClass.amiFamily].windowsBuild !== undefined

/**
 * Capacity (`computeCapacity`, milli-units): cpu, memory, ephemeral-storage, pods and every extended resource, zero
 * when absent as upstream lists them; Windows nodes also count private IPv4 addresses (IPv4 per interface − 1).
 */
export const capacity = (
  info: InstanceTypeInfo,
  generated: GeneratedData,
  nodeClass: NodeClassOptions = defaultNodeClass,
  settings: Settings = defaultSettings
): Resources.Resources => {
  const limits = generated.vpcLimits
  const result: Record<string, number> = {
    cpu: cpu(info),
    memory: memory(info, settings),
    "ephemeral-storage": ephemeralStorage(info, nodeClass),
    pods: pods(info, nodeClass, settings) * milli,
    [AwsResources.podEni]: limits?.trunkingCompatible === true ? limits.branchInterfaces * milli : 0,
    [AwsResources.nvidiaGpu]: gpusBy(info, "NVIDIA") * milli,
    [AwsResources.amdGpu]: gpusBy(info, "AMD") * milli,
    [AwsResources.neuron]: neuronDevices(info) * milli,
    [AwsResources.neuronCore]: neuronCores(info) * milli,
    [AwsResources.habanaGaudi]: gpusBy(info, "Habana") * milli,
    [AwsResources.efa]: (info.NetworkInfo?.EfaInfo?.MaximumEfaInterfaces ?? 0) * milli
  }
  // Upstream: when the type's requirements are compatible with os=windows, i.e. a Windows family on amd64.
  if (isWindows(nodeClass) && architecture(info) === Labels.ArchAmd64) {
    result[AwsResources.privateIPv4Address] = limits === undefined ? 0 : (limits.ipv4PerInterface - 1) * milli
  }
  return result
}

// -- Overhead ------------------------------------------------------------------------------------------------------

// kube-reserved cpu: a share of each range of millicores (Bottlerocket's formula, which upstream adopts).
const cpuReservationTiers = [
  { start: 0, end: 1000, percentage: 0.06 },
  { start: 1000, end: 2000, percentage: 0.01 },
  { start: 2000, end: 4000, percentage: 0.005 },
  { start: 4000, end: 2 ** 31, percentage: 0.0025 }
] as const

const parseList = (list: Readonly<Record<string, string>> | undefined): Record<string, number> => {
  const result: Record<string, number> = {}
  for (const name of Object.keys(list ?? {})) result[name] = toMilli(list![name]!)
  return result
}

/**
 * kube-reserved: memory `11 × pods + 255` MiB, ephemeral-storage 1Gi, cpu by tiers (6% of the first core, 1% of the
 * second, 0.5% of the next two, 0.25% above), each key overridable by kubelet `kubeReserved`. On AL2, AL2023 and
 * Custom the memory counts ENI-limited pods, whatever maxPods says.
 */
export const kubeReserved = (
  info: InstanceTypeInfo,
  nodeClass: NodeClassOptions = defaultNodeClass,
  settings: Settings = defaultSettings
): Resources.Resources => {
  // Upstream v1.6.0 (#8205, "kube-reserved memory calculation should match AL2/AL2023 calculation") counts the ENI
  // limit without RESERVED_ENIS here, as the AMIs' own max-pods table does; v1.4.0 subtracted them.
  const podsForMemory = families[nodeClass.amiFamily].usesENILimitedMemoryOverhead
    ? eniLimitedPods(info, 0)
    : pods(info, nodeClass, settings)
  const cores = cpu(info)
  let reservedCpu = 0
  for (const tier of cpuReservationTiers) {
    if (cores >= tier.start) {
      const range = cores < tier.end ? cores - tier.start : tier.end - tier.start
      reservedCpu += Math.trunc(range * tier.percentage)
    }
  }
  return {
    memory: (11 * podsForMemory + 255) * mebibyte * milli,
    "ephemeral-storage": toMilli("1Gi"),
    cpu: reservedCpu,
    ...parseList(nodeClass.kubelet?.kubeReserved)
  }
}

/** system-reserved: kubelet `systemReserved` as given. */
export const systemReserved = (nodeClass: NodeClassOptions = defaultNodeClass): Resources.Resources =>
  parseList(nodeClass.kubelet?.systemReserved)

// `mustParsePercentage`: "100%" disables the threshold.
const percentage = (value: string): number => {
  const parsed = Number(value.replace(/^%+|%+$/g, ""))
  return parsed === 100 ? 0 : parsed
}

// `computeEvictionSignal`: a percentage of the capacity (rounded up to a byte), else a quantity.
const evictionSignal = (capacityMilli: number, value: string): number =>
  value.endsWith("%") ? Math.ceil((capacityMilli / milli / 100) * percentage(value)) * milli : toMilli(value)

/**
 * The eviction threshold: memory 100Mi and ephemeral-storage 10% of the storage (rounded up to a byte), replaced by
 * kubelet `evictionHard`'s `memory.available` / `nodefs.available`.
 */
export const evictionThreshold = (
  info: InstanceTypeInfo,
  nodeClass: NodeClassOptions = defaultNodeClass,
  settings: Settings = defaultSettings
): Resources.Resources => {
  const storage = ephemeralStorage(info, nodeClass)
  const result: Record<string, number> = {
    memory: toMilli("100Mi"),
    "ephemeral-storage": Math.ceil((storage / milli / 100) * 10) * milli
  }
  // Upstream v1.9.0 (#8565, "use only evictionHard for allocatable capacity calculation") fixed v1.4.0, which also
  // took evictionSoft (the larger of the two) although a soft threshold never evicts below allocatable.
  const hard = nodeClass.kubelet?.evictionHard
  const memoryAvailable = hard?.["memory.available"]
  if (memoryAvailable !== undefined) result.memory = evictionSignal(memory(info, settings), memoryAvailable)
  const nodefsAvailable = hard?.["nodefs.available"]
  if (nodefsAvailable !== undefined) result["ephemeral-storage"] = evictionSignal(storage, nodefsAvailable)
  return result
}

// -- Requirements --------------------------------------------------------------------------------------------------

const awsToKubeArchitectures: Readonly<Record<string, string>> = { x86_64: Labels.ArchAmd64, arm64: Labels.ArchArm64 }

/** The first supported architecture Kubernetes names (`x86_64` → amd64, `arm64`). */
export const architecture = (info: InstanceTypeInfo): string => {
  const supported = info.ProcessorInfo?.SupportedArchitectures ?? []
  for (const name of supported) {
    const kube = awsToKubeArchitectures[name]
    if (kube !== undefined) return kube
  }
  return `[${supported.join(" ")}]`
}

const lowerKebabCase = (text: string): string => text.replaceAll(" ", "-").toLowerCase()

// Category, and generation as the digits after it (`instanceTypeScheme`).
const instanceTypeScheme = /(^[a-z]+)(-[0-9]+tb)?([0-9]+).*\./

/** Where the instance type is offered: region, zones, zone ids of the NodeClass's subnets, reservations. */
export interface Placement {
  readonly region: string
  /** Zones where EC2 offers the type (DescribeInstanceTypeOfferings). */
  readonly offeringZones: ReadonlyArray<string>
  /** The NodeClass's subnet zones (`status.subnets`) and their zone ids. */
  readonly subnetZones: ReadonlyArray<{ readonly zone: string; readonly zoneId?: string }>
  /** Capacity reservations of this type (`status.capacityReservations`) and the instances each has left. */
  readonly capacityReservations?: ReadonlyArray<ReservationPlacement>
}

/** A capacity reservation of the type: its id, zone and the instances it has left. */
export interface ReservationPlacement {
  readonly id: string
  readonly zone: string
  readonly available: number
}

/**
 * The label values of an instance type (`computeRequirements`), before placement: undefined for labels the type
 * does not have (they become `DoesNotExist`).
 */
export const labels = (
  info: InstanceTypeInfo,
  generated: GeneratedData,
  nodeClass: NodeClassOptions = defaultNodeClass
): Readonly<Record<string, string | undefined>> => {
  const name = info.InstanceType ?? ""
  const scheme = instanceTypeScheme.exec(name)
  const parts = name.split(".")
  const storage = info.InstanceStorageInfo
  const gpus = info.GpuInfo?.Gpus ?? []
  const gpu = gpus.length === 1 ? gpus[0] : undefined
  const accelerators = info.InferenceAcceleratorInfo?.Accelerators ?? []
  const accelerator = accelerators.length === 1 && info.NeuronInfo === undefined ? accelerators[0] : undefined
  const neuronDevices = info.NeuronInfo?.NeuronDevices ?? []
  const neuron = neuronDevices.length === 1 ? neuronDevices[0] : undefined
  const processor = info.ProcessorInfo
  const ebs = info.EbsInfo
  const text = (value: number | undefined): string => String(value ?? 0)
  return {
    [AwsLabels.cpu]: text(info.VCpuInfo?.DefaultVCpus),
    [AwsLabels.memory]: text(info.MemoryInfo?.SizeInMiB),
    [AwsLabels.hypervisor]: info.Hypervisor ?? "",
    [AwsLabels.encryptionInTransitSupported]: String(info.NetworkInfo?.EncryptionInTransitSupported ?? false),
    [AwsLabels.category]: scheme?.[1],
    [AwsLabels.generation]: scheme?.[3],
    [AwsLabels.family]: parts.length === 2 ? parts[0] : undefined,
    [AwsLabels.size]: parts.length === 2 ? parts[1] : undefined,
    [AwsLabels.localNvme]:
      storage !== undefined && storage.NvmeSupport !== "unsupported" && storage.TotalSizeInGB !== undefined
        ? String(storage.TotalSizeInGB)
        : undefined,
    [AwsLabels.networkBandwidth]:
      generated.networkBandwidthMbps === undefined ? undefined : String(generated.networkBandwidthMbps),
    [AwsLabels.gpuName]: gpu && lowerKebabCase(gpu.Name ?? ""),
    [AwsLabels.gpuManufacturer]: gpu && lowerKebabCase(gpu.Manufacturer ?? ""),
    [AwsLabels.gpuCount]: gpu && text(gpu.Count),
    [AwsLabels.gpuMemory]: gpu && text(gpu.MemoryInfo?.SizeInMiB),
    [AwsLabels.acceleratorName]: neuron
      ? lowerKebabCase(neuron.Name ?? "")
      : accelerator && lowerKebabCase(accelerator.Name ?? ""),
    [AwsLabels.acceleratorManufacturer]: neuron ? "aws" : accelerator && lowerKebabCase(accelerator.Manufacturer ?? ""),
    [AwsLabels.acceleratorCount]: neuron ? text(neuron.Count) : accelerator && text(accelerator.Count),
    [AwsLabels.cpuManufacturer]: processor && lowerKebabCase(processor.Manufacturer ?? ""),
    // GHz to MHz, rounded to a whole number so that Gt/Lt apply.
    [AwsLabels.cpuSustainedClockSpeedMhz]:
      processor && String(Math.round((processor.SustainedClockSpeedInGhz ?? 0) * 1000)),
    [AwsLabels.ebsBandwidth]:
      ebs?.EbsOptimizedInfo !== undefined && ebs.EbsOptimizedSupport === "default"
        ? text(ebs.EbsOptimizedInfo.MaximumBandwidthInMbps)
        : undefined,
    [Labels.WindowsBuild]: families[nodeClass.amiFamily].windowsBuild
  }
}

const sorted = (values: Iterable<string>): Array<string> => [...values].sort()

/**
 * The requirements of an instance type (`computeRequirements`): instance type, arch, os, zones (offered ∩ subnet
 * zones), region, capacity types (on-demand/spot as supported, reserved with reservations), zone ids, reservation id
 * and every AWS label, `DoesNotExist` where the type has none.
 */
export const requirements = (
  info: InstanceTypeInfo,
  generated: GeneratedData,
  placement: Placement,
  nodeClass: NodeClassOptions = defaultNodeClass
): Requirements.Requirements => {
  const subnetZones = new Set(placement.subnetZones.map((subnet) => subnet.zone))
  const zones = sorted(new Set(placement.offeringZones.filter((zone) => subnetZones.has(zone))))
  const zoneSet = new Set(zones)
  const reservations = (placement.capacityReservations ?? []).map((reservation) => reservation.id)
  const capacityTypes: Array<string> = (info.SupportedUsageClasses ?? []).filter(
    (usage) => usage === Labels.CapacityTypeOnDemand || usage === Labels.CapacityTypeSpot
  )
  if (reservations.length > 0) capacityTypes.push(Labels.CapacityTypeReserved)
  const arch = architecture(info)
  const os = isWindows(nodeClass) ? (arch === Labels.ArchAmd64 ? ["windows"] : []) : ["linux"]
  const zoneIds = sorted(
    new Set(
      placement.subnetZones.flatMap((subnet) =>
        zoneSet.has(subnet.zone) && subnet.zoneId !== undefined ? [subnet.zoneId] : []
      )
    )
  )
  const valued = Object.entries(labels(info, generated, nodeClass)).map(([key, value]) =>
    value === undefined ? Requirement.make(key, "DoesNotExist") : Requirement.make(key, "In", [value])
  )
  return Requirements.make(
    Requirement.make(Labels.InstanceType, "In", [info.InstanceType ?? ""]),
    Requirement.make(Labels.Arch, "In", [arch]),
    Requirement.make(Labels.OS, "In", os),
    Requirement.make(Labels.Zone, "In", zones),
    Requirement.make(Labels.Region, "In", [placement.region]),
    Requirement.make(Labels.CapacityType, "In", capacityTypes),
    ...valued,
    ...(zoneIds.length > 0 ? [Requirement.make(AwsLabels.zoneId, "In", zoneIds)] : []),
    reservations.length > 0
      ? Requirement.make(AwsLabels.capacityReservationId, "In", reservations)
      : Requirement.make(AwsLabels.capacityReservationId, "DoesNotExist")
  )
}

// -- Offerings and the instance type -------------------------------------------------------------------------------

// A reservation is paid for whether used or not: its offering costs next to nothing (upstream `createOfferings`).
const reservedPriceDivisor = 10_000_000

/** Whether an offering is known to lack capacity (the unavailable-offerings cache). */
export type IsUnavailable = (instanceType: string, zone: string, capacityType: string) => boolean

/**
 * The offerings of a type (`createOfferings`): on-demand and spot in every zone of `allZones` (all zones where EC2
 * offers any type), available only when not marked unavailable, priced, and in one of the type's zones; then one
 * reserved offering per capacity reservation of the placement (there are some only under the `ReservedCapacity`
 * gate), in its zone, available while it has instances left, at the on-demand price / 10,000,000 so that it is all but
 * free yet keeps the types' order for consolidation.
 */
export const offerings = (
  instanceType: string,
  typeRequirements: Requirements.Requirements,
  allZones: Iterable<string>,
  prices: Pricing.PriceBook,
  placement: Placement,
  isUnavailable: IsUnavailable = () => false
): Array<InstanceType.Offering> => {
  const typeZones = new Set(Requirement.values(Requirements.get(typeRequirements, Labels.Zone)))
  const zoneIds = new Map(placement.subnetZones.map((subnet) => [subnet.zone, subnet.zoneId]))
  const capacityTypes = Requirement.values(Requirements.get(typeRequirements, Labels.CapacityType)).filter(
    (capacityType) => capacityType !== Labels.CapacityTypeReserved
  )
  const reserved = (placement.capacityReservations ?? []).map((reservation) => {
    const zoneId = zoneIds.get(reservation.zone)
    return InstanceType.offering({
      zone: reservation.zone,
      capacityType: Labels.CapacityTypeReserved,
      price: (Pricing.onDemandPrice(prices, instanceType) ?? 0) / reservedPriceDivisor,
      available: reservation.available !== 0 && typeZones.has(reservation.zone),
      reservationCapacity: reservation.available,
      extra: [
        Requirement.make(AwsLabels.capacityReservationId, "In", [reservation.id]),
        ...(zoneId === undefined ? [] : [Requirement.make(AwsLabels.zoneId, "In", [zoneId])])
      ]
    })
  })
  const standard = sorted(new Set(allZones)).flatMap((zone) =>
    capacityTypes.map((capacityType) => {
      const price =
        capacityType === Labels.CapacityTypeOnDemand
          ? Pricing.onDemandPrice(prices, instanceType)
          : Pricing.spotPrice(prices, instanceType, zone)
      const zoneId = zoneIds.get(zone)
      return InstanceType.offering({
        zone,
        capacityType,
        price: price ?? 0,
        available: !isUnavailable(instanceType, zone, capacityType) && price !== undefined && typeZones.has(zone),
        extra: [
          Requirement.make(AwsLabels.capacityReservationId, "DoesNotExist"),
          ...(zoneId === undefined ? [] : [Requirement.make(AwsLabels.zoneId, "In", [zoneId])])
        ]
      })
    })
  )
  return [...standard, ...reserved]
}

/**
 * The overhead of a type (`NewInstanceType`): kube-reserved, system-reserved and the eviction threshold, which
 * Karpenter subtracts from capacity to get allocatable.
 */
export const overhead = (
  info: InstanceTypeInfo,
  nodeClass: NodeClassOptions = defaultNodeClass,
  settings: Settings = defaultSettings
): InstanceType.Overhead => ({
  kubeReserved: kubeReserved(info, nodeClass, settings),
  systemReserved: systemReserved(nodeClass),
  evictionThreshold: evictionThreshold(info, nodeClass, settings)
})

/** An EC2 instance type as the AWS provider lists it: requirements, capacity, overhead and priced offerings. */
export const make = (options: {
  readonly info: InstanceTypeInfo
  readonly generated: GeneratedData
  readonly placement: Placement
  readonly allZones: Iterable<string>
  readonly prices: Pricing.PriceBook
  readonly nodeClass?: NodeClassOptions
  readonly settings?: Settings
  readonly isUnavailable?: IsUnavailable
}): InstanceType.InstanceType => {
  const { info, generated, placement } = options
  const nodeClass = options.nodeClass ?? defaultNodeClass
  const settings = options.settings ?? defaultSettings
  const name = info.InstanceType ?? ""
  const typeRequirements = requirements(info, generated, placement, nodeClass)
  return InstanceType.make({
    name,
    requirements: typeRequirements,
    offerings: offerings(name, typeRequirements, options.allZones, options.prices, placement, options.isUnavailable),
    capacity: capacity(info, generated, nodeClass, settings),
    overhead: overhead(info, nodeClass, settings)
  })
}
