/**
 * The launch templates of a launch (aws/karpenter-provider-aws v1.4.0, `pkg/providers/launchtemplate/launchtemplate.go`
 * `CreateAMIOptions`/`GetCreateLaunchTemplateInput`, `pkg/providers/amifamily/resolver.go` `Resolve`, `al2023.go`):
 * each instance type takes the first AMI of the node class's status it is compatible with; the types of one AMI are
 * grouped by their pod capacity (the kubelet's max-pods), and each group gets a template named by the hash of its
 * content. Pure functions over the node class, the NodeClaim and the cluster's facts; only the AL2023 family is built.
 */
import { createHash } from "node:crypto"
import type * as Ec2Sdk from "@aws-sdk/client-ec2"
import type { EC2NodeClass } from "../../../src/api/EC2NodeClass.ts"
import * as EC2NodeClassApi from "../../../src/api/EC2NodeClass.ts"
import * as Labels from "../../../src/api/Labels.ts"
import type { NodeClaim } from "../../../src/api/NodeClaim.ts"
import * as Quantity from "../../../src/api/Quantity.ts"
import * as Taints from "../../../src/api/Taints.ts"
import type * as InstanceType from "../../../src/cloudprovider/InstanceType.ts"
import * as Requirements from "../../../src/scheduling/Requirements.ts"
import * as Resources from "../../../src/scheduling/ResourceLists.ts"
import * as Nodeadm from "./Nodeadm.ts"
import { EksClusterNameTag } from "./providers/InstanceProfiles.ts"

/** Upstream `LaunchTemplateNamePrefix`. */
export const namePrefix = "karpenter.k8s.aws"

/** The cluster facts every template carries. */
export interface Cluster {
  readonly name: string
  readonly endpoint: string
  /** The service CIDR (upstream resolves it from EKS's DescribeCluster). */
  readonly cidr: string
  /** The CA bundle, base64. */
  readonly caBundle?: string | undefined
  /** kube-dns's service IP, the default `clusterDNS`. */
  readonly kubeDnsIp?: string | undefined
}

/** A template to ensure and the instance types the fleet launches from it. */
export interface Resolved {
  readonly name: string
  readonly input: Ec2Sdk.CreateLaunchTemplateCommandInput
  readonly imageId: string
  readonly instanceTypes: ReadonlyArray<InstanceType.InstanceType>
}

/** AL2023's root volume when the node class has none (upstream `DefaultEBS` on `/dev/xvda`). */
export const defaultBlockDeviceMappings: ReadonlyArray<EC2NodeClassApi.BlockDeviceMapping> = [
  { deviceName: "/dev/xvda", ebs: { encrypted: true, volumeType: "gp3", volumeSize: "20Gi" } }
]

/**
 * The tags of everything a launch creates (upstream `utils.GetTags`): the node class's tags, then Karpenter's, which
 * win. v1.4.0 does not tag launches with the NodeClaim: the tagging controller adds `karpenter.sh/nodeclaim` after
 * registration, which lets identical fleet requests batch.
 */
export const launchTags = (
  nodeClass: EC2NodeClass,
  nodeClaim: NodeClaim,
  clusterName: string
): Record<string, string> => ({
  ...nodeClass.spec.tags,
  [`kubernetes.io/cluster/${clusterName}`]: "owned",
  [Labels.NodePool]: nodeClaim.metadata.labels?.[Labels.NodePool] ?? "",
  [EksClusterNameTag]: clusterName,
  [EC2NodeClassApi.NodeClassLabel]: nodeClass.metadata.name ?? ""
})

/** Tags as EC2 takes them, sorted by key so equal maps make equal requests. */
export const ec2Tags = (tags: Readonly<Record<string, string>>): Array<Ec2Sdk.Tag> =>
  Object.keys(tags)
    .sort()
    .map((Key) => ({ Key, Value: tags[Key] }))

const labelDomain = (key: string): string => (key.includes("/") ? (key.split("/")[0] ?? "") : "")

/**
 * The node's labels (upstream `CreateAMIOptions`): the NodeClaim's labels and the capacity type, without the domains
 * kubelet may not set on itself.
 */
export const nodeLabels = (nodeClaim: NodeClaim, capacityType: string): Record<string, string> =>
  Object.fromEntries(
    Object.entries({ ...nodeClaim.metadata.labels, [Labels.CapacityType]: capacityType }).filter(([key]) => {
      const domain = labelDomain(key)
      return !domain.endsWith("node-restriction.kubernetes.io") && !domain.endsWith("kops.k8s.io")
    })
  )

/** The taints kubelet registers with: the NodeClaim's, its startup taints, and `karpenter.sh/unregistered`. */
export const registerTaints = (nodeClaim: NodeClaim): Array<Taints.TaintLike> => {
  const taints = [...(nodeClaim.spec.taints ?? []), ...(nodeClaim.spec.startupTaints ?? [])]
  return taints.some((taint) => Taints.matches(taint, Taints.UnregisteredNoExecute))
    ? taints
    : [...taints, Taints.UnregisteredNoExecute]
}

/** A volume size in GiB, rounded up (upstream `volumeSize`). */
const volumeSizeGiB = (size: string | undefined): number | undefined => {
  const milli = size === undefined ? undefined : Quantity.toMilli(size)
  return milli === undefined ? undefined : Math.ceil(milli / 1000 / 2 ** 30)
}

const blockDeviceMappings = (
  mappings: ReadonlyArray<EC2NodeClassApi.BlockDeviceMapping>
): Array<Ec2Sdk.LaunchTemplateBlockDeviceMappingRequest> =>
  mappings.map((mapping) => {
    const ebs = mapping.ebs
    const fields: Ec2Sdk.LaunchTemplateEbsBlockDeviceRequest = {
      DeleteOnTermination: ebs?.deleteOnTermination,
      Encrypted: ebs?.encrypted,
      VolumeType: ebs?.volumeType,
      // Upstream sends zero IOPS and throughput as absent.
      Iops: ebs?.iops === 0 ? undefined : ebs?.iops,
      Throughput: ebs?.throughput === 0 ? undefined : ebs?.throughput,
      KmsKeyId: ebs?.kmsKeyID,
      SnapshotId: ebs?.snapshotID,
      VolumeSize: volumeSizeGiB(ebs?.volumeSize)
    }
    return {
      ...(mapping.deviceName === undefined ? {} : { DeviceName: mapping.deviceName }),
      // Absent fields left out rather than undefined, so requests compare and hash by what they say.
      Ebs: Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined))
    }
  })

// JSON with object keys sorted, so the hash does not depend on how an object was assembled.
const canonical = (value: unknown): unknown =>
  Array.isArray(value)
    ? value.map(canonical)
    : value !== null && typeof value === "object"
      ? Object.fromEntries(
          Object.keys(value)
            .filter((key) => (value as Record<string, unknown>)[key] !== undefined)
            .sort()
            .map((key) => [key, canonical((value as Record<string, unknown>)[key])])
        )
      : value

/**
 * The template's name, `karpenter.k8s.aws/<hash>`: a 64-bit number, like upstream's `hashstructure` of the resolved
 * options, over everything the template carries, so equal content reuses a template and any change makes a new one.
 */
export const nameOf = (
  input: Pick<Ec2Sdk.CreateLaunchTemplateCommandInput, "LaunchTemplateData" | "TagSpecifications">
): string => {
  const digest = createHash("sha256")
    .update(JSON.stringify(canonical({ data: input.LaunchTemplateData, tags: input.TagSpecifications })))
    .digest("hex")
  return `${namePrefix}/${BigInt(`0x${digest.slice(0, 16)}`).toString(10)}`
}

/** What one template is built from. */
export interface TemplateOptions {
  readonly cluster: Cluster
  readonly nodeClass: EC2NodeClass
  readonly nodeClaim: NodeClaim
  readonly capacityType: string
  readonly tags: Readonly<Record<string, string>>
  readonly imageId: string
  readonly maxPods: number
  /**
   * The ReservedCapacity feature gate: templates then say how to use reservations (upstream gates it, since it opts
   * on-demand and spot launches out of open reservations).
   */
  readonly reservedCapacity?: boolean
  /** The reservation a reserved launch targets. */
  readonly capacityReservationId?: string
}

/** The CreateLaunchTemplate request of one template (upstream `GetCreateLaunchTemplateInput`, IPv4 clusters). */
export const createInput = (options: TemplateOptions): Ec2Sdk.CreateLaunchTemplateCommandInput => {
  const { cluster, nodeClass, capacityType, tags } = options
  const spec = nodeClass.spec
  const kubelet = spec.kubelet ?? {}
  const userData = Nodeadm.userData({
    clusterName: cluster.name,
    clusterEndpoint: cluster.endpoint,
    clusterCIDR: cluster.cidr,
    caBundle: cluster.caBundle,
    kubelet: {
      ...kubelet,
      maxPods: kubelet.maxPods ?? options.maxPods,
      ...(kubelet.clusterDNS === undefined || kubelet.clusterDNS.length === 0
        ? cluster.kubeDnsIp === undefined
          ? {}
          : { clusterDNS: [cluster.kubeDnsIp] }
        : {})
    },
    taints: registerTaints(options.nodeClaim),
    labels: nodeLabels(options.nodeClaim, capacityType),
    customUserData: spec.userData,
    instanceStorePolicy: spec.instanceStorePolicy
  })
  const securityGroupIds = (nodeClass.status?.securityGroups ?? []).map((group) => group.id)
  const resourceTags = ec2Tags(tags)
  const data: Ec2Sdk.RequestLaunchTemplateData = {
    BlockDeviceMappings: blockDeviceMappings(
      spec.blockDeviceMappings !== undefined && spec.blockDeviceMappings.length > 0
        ? spec.blockDeviceMappings
        : defaultBlockDeviceMappings
    ),
    IamInstanceProfile: { Name: nodeClass.status?.instanceProfile ?? spec.instanceProfile },
    Monitoring: { Enabled: spec.detailedMonitoring ?? false },
    ImageId: options.imageId,
    UserData: userData,
    MetadataOptions: {
      HttpEndpoint: spec.metadataOptions.httpEndpoint,
      HttpProtocolIpv6: spec.metadataOptions.httpProtocolIPv6,
      HttpPutResponseHopLimit: spec.metadataOptions.httpPutResponseHopLimit,
      HttpTokens: spec.metadataOptions.httpTokens,
      // Account defaults that expose tags in IMDS would break on Karpenter's tag keys, which contain slashes.
      InstanceMetadataTags: "disabled"
    },
    NetworkInterfaces: [
      { AssociatePublicIpAddress: spec.associatePublicIPAddress, DeviceIndex: 0, Groups: securityGroupIds }
    ],
    TagSpecifications: [
      { ResourceType: "network-interface", Tags: resourceTags },
      ...(capacityType === Labels.CapacityTypeSpot
        ? [{ ResourceType: "spot-instances-request" as const, Tags: resourceTags }]
        : [])
    ],
    ...(options.reservedCapacity === true
      ? {
          CapacityReservationSpecification:
            capacityType === Labels.CapacityTypeReserved && options.capacityReservationId !== undefined
              ? {
                  CapacityReservationPreference: "capacity-reservations-only",
                  CapacityReservationTarget: { CapacityReservationId: options.capacityReservationId }
                }
              : { CapacityReservationPreference: "none" }
        }
      : {})
  }
  const tagSpecifications: Array<Ec2Sdk.TagSpecification> = [{ ResourceType: "launch-template", Tags: resourceTags }]
  return {
    LaunchTemplateName: nameOf({ LaunchTemplateData: data, TagSpecifications: tagSpecifications }),
    LaunchTemplateData: data,
    TagSpecifications: tagSpecifications
  }
}

/**
 * Why no template can be built, else undefined: upstream needs resolved security groups and AMIs in the status
 * (`CreateAMIOptions`, `Resolve`).
 */
export const missingStatus = (nodeClass: EC2NodeClass): string | undefined =>
  (nodeClass.status?.securityGroups ?? []).length === 0
    ? "no security groups are present in the status"
    : (nodeClass.status?.amis ?? []).length === 0
      ? "no amis exist given constraints"
      : undefined

/** A status AMI with its requirements decoded. */
export interface StatusAmi {
  readonly id: string
  readonly requirements: Requirements.Requirements
}

/** The node class's resolved AMIs, newest first as the status lists them. */
export const statusAmis = (nodeClass: EC2NodeClass): Array<StatusAmi> =>
  (nodeClass.status?.amis ?? []).map((ami) => ({
    id: ami.id,
    requirements: Requirements.fromNodeSelectorRequirements(ami.requirements)
  }))

/** The AMI a type launches with (upstream `MapToInstanceTypes`): the first status AMI whose requirements it meets. */
export const amiFor = (
  instanceType: InstanceType.InstanceType,
  amis: ReadonlyArray<StatusAmi>
): StatusAmi | undefined =>
  amis.find((candidate) =>
    Requirements.isCompatible(
      instanceType.requirements,
      candidate.requirements,
      Requirements.AllowUndefinedWellKnownLabels
    )
  )

/**
 * The templates of a launch (upstream `Resolve`), in the order of the instance types (cheapest first) rather than
 * upstream's map order: each type takes the first status AMI whose requirements it meets, then the types of an AMI
 * split by pod capacity. Types no AMI fits are left out.
 */
export const resolve = (options: {
  readonly cluster: Cluster
  readonly nodeClass: EC2NodeClass
  readonly nodeClaim: NodeClaim
  readonly instanceTypes: ReadonlyArray<InstanceType.InstanceType>
  readonly capacityType: string
  readonly tags: Readonly<Record<string, string>>
  readonly reservedCapacity?: boolean
  readonly capacityReservationId?: string
}): Array<Resolved> => {
  const amis = statusAmis(options.nodeClass)
  const groups = new Map<
    string,
    { imageId: string; maxPods: number; instanceTypes: Array<InstanceType.InstanceType> }
  >()
  for (const instanceType of options.instanceTypes) {
    const ami = amiFor(instanceType, amis)
    if (ami === undefined) continue
    const maxPods = Math.floor((instanceType.capacity[Resources.Pods] ?? 0) / 1000)
    const groupKey = `${ami.id}/${maxPods}`
    const group = groups.get(groupKey) ?? { imageId: ami.id, maxPods, instanceTypes: [] }
    group.instanceTypes.push(instanceType)
    groups.set(groupKey, group)
  }
  return Array.from(groups.values(), (group) => {
    const input = createInput({ ...options, imageId: group.imageId, maxPods: group.maxPods })
    return {
      name: input.LaunchTemplateName ?? "",
      input,
      imageId: group.imageId,
      instanceTypes: group.instanceTypes
    }
  })
}
