/**
 * The AWS CloudProvider (aws/karpenter-provider-aws v1.4.0, `pkg/cloudprovider/cloudprovider.go` and `drift.go`, with
 * the instance provider's `Get`/`List`/`Delete` of `pkg/providers/instance/instance.go`): EC2NodeClasses resolve to
 * instance types from DescribeInstanceTypes/Offerings, launches go through the {@link Launcher}, and every instance is
 * read back from DescribeInstances as a NodeClaim whose providerID is `aws:///<zone>/<instance-id>`.
 */
import type * as Ec2Sdk from "@aws-sdk/client-ec2"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { EC2NodeClass } from "../../../src/api/EC2NodeClass.ts"
import * as EC2NodeClassApi from "../../../src/api/EC2NodeClass.ts"
import * as Labels from "../../../src/api/Labels.ts"
import type { NodeClaim } from "../../../src/api/NodeClaim.ts"
import type { NodePool } from "../../../src/api/NodePool.ts"
import * as Ec2Dataset from "../../../src/cloudprovider/aws/Ec2Dataset.ts"
import * as Ec2InstanceTypes from "../../../src/cloudprovider/aws/Ec2InstanceTypes.ts"
import type * as Ec2Pricing from "../../../src/cloudprovider/aws/Ec2Pricing.ts"
import * as CloudProvider from "../../../src/cloudprovider/CloudProvider.ts"
import type * as InstanceType from "../../../src/cloudprovider/InstanceType.ts"
import * as Hash from "../../../src/controllers/nodepool/hash/Hash.ts"
import * as Conditions from "../../../src/controllers/StatusConditions.ts"
import * as Json from "../../../src/kube/Json.ts"
import { KubeClient } from "../../../src/kube/KubeClient.ts"
import type * as KubeError from "../../../src/kube/KubeError.ts"
import * as Resources from "../../../src/kube/Resources.ts"
import * as Requirement from "../../../src/scheduling/Requirement.ts"
import * as Requirements from "../../../src/scheduling/Requirements.ts"
import * as ResourceLists from "../../../src/scheduling/ResourceLists.ts"
import * as FleetRequest from "./FleetRequest.ts"
import * as Launcher from "./Launcher.ts"
import * as LaunchTemplates from "./LaunchTemplates.ts"
import { Prices } from "./Prices.ts"
import { CapacityReservations } from "./providers/CapacityReservations.ts"
import { EksClusterNameTag } from "./providers/InstanceProfiles.ts"
import type { AwsFailure } from "./sdk/AwsError.ts"
import { Ec2 } from "./sdk/Ec2.ts"
import { UnavailableOfferings } from "./UnavailableOfferings.ts"

/** The provider's name. */
export const name = "aws"

/** The annotation a launched NodeClaim carries: the hash of its EC2NodeClass's static fields at launch. */
export const HashAnnotation = "karpenter.k8s.aws/ec2nodeclass-hash"
/** The annotation naming the hash's version; hashes of different versions are never compared. */
export const HashVersionAnnotation = "karpenter.k8s.aws/ec2nodeclass-hash-version"
/**
 * This project's own hash version. Upstream's `v4` is hashstructure over its Go types; {@link hashOf} hashes a
 * canonical JSON instead, so its numbers differ from upstream's and must not be compared with them: another version
 * keeps NodeClaims launched by upstream Karpenter from all looking drifted.
 */
export const HashVersion = "karpenter-effect-v1"

/** The drift reasons of `drift.go`. */
export const DriftReasons = {
  AMIDrift: "AMIDrift",
  SubnetDrift: "SubnetDrift",
  SecurityGroupDrift: "SecurityGroupDrift",
  CapacityReservationDrift: "CapacityReservationDrift",
  NodeClassDrift: "NodeClassDrift"
} as const

/** Upstream's `RepairPolicies`: the kubelet's Ready and the EKS node monitoring agent's conditions. */
export const repairPolicies: ReadonlyArray<CloudProvider.RepairPolicy> = [
  { conditionType: "Ready", conditionStatus: "False", tolerationMillis: 30 * 60_000 },
  { conditionType: "Ready", conditionStatus: "Unknown", tolerationMillis: 30 * 60_000 },
  { conditionType: "AcceleratedHardwareReady", conditionStatus: "False", tolerationMillis: 10 * 60_000 },
  { conditionType: "StorageReady", conditionStatus: "False", tolerationMillis: 30 * 60_000 },
  { conditionType: "NetworkingReady", conditionStatus: "False", tolerationMillis: 30 * 60_000 },
  { conditionType: "KernelReady", conditionStatus: "False", tolerationMillis: 30 * 60_000 },
  { conditionType: "ContainerRuntimeReady", conditionStatus: "False", tolerationMillis: 30 * 60_000 }
]

/** How long described instance types and offerings are reused (upstream `InstanceTypesAndZonesTTL`). */
export const catalogueTtl = Duration.minutes(5)

/** The providerID of an instance. */
export const providerIDOf = (zone: string, instanceId: string): string => `aws:///${zone}/${instanceId}`

const providerIDPattern = /^aws:\/\/\/(.*)\/(.*)$/

/** The instance id of a providerID (upstream `ParseInstanceID`), undefined when it is not an AWS providerID. */
export const instanceIdOf = (providerID: string): string | undefined => providerIDPattern.exec(providerID)?.[2]

// Upstream's `hash:"ignore"` fields: the selectors only choose what the status resolves, which dynamic drift checks.
const unhashedFields = new Set([
  "subnetSelectorTerms",
  "securityGroupSelectorTerms",
  "capacityReservationSelectorTerms",
  "amiSelectorTerms",
  "amiFamily"
])

/** The hash of an EC2NodeClass's static fields ({@link HashVersion}): FNV-1 (64-bit) of their canonical JSON. */
export const hashOf = (nodeClass: EC2NodeClass): string => {
  const spec = Object.fromEntries(Object.entries(nodeClass.spec).filter(([key]) => !unhashedFields.has(key)))
  return Hash.ofString(Json.canonical(spec)).toString()
}

/** upstream `instanceStateFilter`: every state but terminated, so a terminated instance is not found. */
export const instanceStateFilter: Ec2Sdk.Filter = {
  Name: "instance-state-name",
  Values: ["pending", "running", "stopping", "stopped", "shutting-down"]
}

/** What the provider reads of an EC2 instance (upstream `instance.Instance`). */
interface Instance {
  readonly id: string
  readonly instanceType: string
  readonly zone: string
  readonly imageId: string
  readonly subnetId: string
  readonly securityGroupIds: ReadonlyArray<string>
  readonly capacityType: string
  /** The reservation it runs in, if any (only read under the ReservedCapacity gate). */
  readonly capacityReservationId: string | undefined
  readonly state: string
  readonly launchTimeMillis: number | undefined
  readonly tags: Readonly<Record<string, string>>
  readonly efaEnabled: boolean
}

/**
 * upstream `NewInstance`: reserved only under the gate, since an instance can run in an open reservation it was not
 * launched into, and calling it reserved then would make it look drifted.
 */
const instanceOf = (instance: Ec2Sdk.Instance, reservedCapacity: boolean): Instance => ({
  id: instance.InstanceId ?? "",
  instanceType: instance.InstanceType ?? "",
  zone: instance.Placement?.AvailabilityZone ?? "",
  imageId: instance.ImageId ?? "",
  subnetId: instance.SubnetId ?? "",
  securityGroupIds: (instance.SecurityGroups ?? []).map((group) => group.GroupId ?? ""),
  capacityType:
    instance.SpotInstanceRequestId !== undefined
      ? Labels.CapacityTypeSpot
      : instance.CapacityReservationId !== undefined && reservedCapacity
        ? Labels.CapacityTypeReserved
        : Labels.CapacityTypeOnDemand,
  capacityReservationId: reservedCapacity ? instance.CapacityReservationId : undefined,
  state: instance.State?.Name ?? "",
  launchTimeMillis: instance.LaunchTime?.getTime(),
  tags: Object.fromEntries((instance.Tags ?? []).map((tag) => [tag.Key ?? "", tag.Value ?? ""])),
  efaEnabled: (instance.NetworkInterfaces ?? []).some((eni) => eni.InterfaceType === "efa")
})

const nonZero = (resources: ResourceLists.Resources, efaEnabled: boolean): Record<string, string> =>
  ResourceLists.toResourceList(
    Object.fromEntries(
      Object.entries(resources).filter(
        // A NodeClaim advertises EFA only when it was launched with EFA interfaces (upstream `resourceFilter`).
        ([resource, quantity]) => quantity !== 0 && (resource !== Ec2InstanceTypes.AwsResources.efa || efaEnabled)
      )
    )
  )

/**
 * The NodeClaim an instance stands for (upstream `instanceToNodeClaim`): the type's single-valued requirements as
 * labels, then zone, zone id, capacity type and NodePool; capacity and allocatable without zeros; the providerID and
 * image; a deletion timestamp while the instance shuts down.
 */
const toNodeClaim = (
  instance: Instance,
  instanceType: InstanceType.InstanceType | undefined,
  nodeClass: EC2NodeClass | undefined,
  now: number
): NodeClaim => {
  const labels: Record<string, string> = {}
  for (const [key, requirement] of instanceType?.requirements ?? []) {
    const values = Requirement.values(requirement)
    if (
      Requirement.operator(requirement) === "In" &&
      values.length === 1 &&
      key !== Ec2InstanceTypes.AwsLabels.capacityReservationId
    ) {
      labels[key] = values[0]!
    }
  }
  labels[Labels.Zone] = instance.zone
  const zoneId = nodeClass?.status?.subnets?.find((subnet) => subnet.zone === instance.zone)?.zoneID
  if (zoneId !== undefined && zoneId !== "") labels[Ec2InstanceTypes.AwsLabels.zoneId] = zoneId
  labels[Labels.CapacityType] = instance.capacityType
  if (instance.capacityType === Labels.CapacityTypeReserved && instance.capacityReservationId !== undefined) {
    labels[Ec2InstanceTypes.AwsLabels.capacityReservationId] = instance.capacityReservationId
  }
  const nodePool = instance.tags[Labels.NodePool]
  if (nodePool !== undefined) labels[Labels.NodePool] = nodePool
  const terminating = instance.state === "shutting-down" || instance.state === "terminated"
  return {
    apiVersion: "karpenter.sh/v1",
    kind: "NodeClaim",
    metadata: {
      labels,
      ...(instance.launchTimeMillis === undefined
        ? {}
        : { creationTimestamp: Conditions.timestamp(instance.launchTimeMillis) }),
      ...(terminating ? { deletionTimestamp: Conditions.timestamp(now) } : {})
    },
    spec: {
      requirements: [],
      nodeClassRef: {
        group: EC2NodeClassApi.group,
        kind: EC2NodeClassApi.kind,
        name: instance.tags[EC2NodeClassApi.NodeClassLabel] ?? ""
      },
      expireAfter: "720h"
    },
    status: {
      providerID: providerIDOf(instance.zone, instance.id),
      imageID: instance.imageId,
      ...(instanceType === undefined
        ? {}
        : {
            capacity: nonZero(instanceType.capacity, instance.efaEnabled),
            allocatable: nonZero(instanceType.allocatable, instance.efaEnabled)
          })
    }
  }
}

/** The settings the capacity formulas read from an EC2NodeClass. */
const nodeClassOptions = (nodeClass: EC2NodeClass): Ec2InstanceTypes.NodeClassOptions => ({
  amiFamily: EC2NodeClassApi.amiFamilyOf(nodeClass),
  ...(nodeClass.spec.kubelet === undefined ? {} : { kubelet: nodeClass.spec.kubelet }),
  ...(nodeClass.spec.blockDeviceMappings === undefined
    ? {}
    : { blockDeviceMappings: nodeClass.spec.blockDeviceMappings }),
  ...(nodeClass.spec.instanceStorePolicy === undefined
    ? {}
    : { instanceStorePolicy: nodeClass.spec.instanceStorePolicy })
})

/** The provider's settings. */
export interface Options {
  readonly cluster: LaunchTemplates.Cluster
  readonly region: string
  /** Upstream's generated tables (VPC limits, bandwidth) by instance type, e.g. from {@link generatedData}. */
  readonly generated: ReadonlyMap<string, Ec2InstanceTypes.GeneratedData>
  readonly settings?: Ec2InstanceTypes.Settings
  /** The ReservedCapacity feature gate: the node class's capacity reservations are offered only with it. */
  readonly reservedCapacity?: boolean
}

/** The generated data of every dataset record that has it. */
export const generatedData = (
  records: ReadonlyArray<Ec2Dataset.DatasetRecord>
): ReadonlyMap<string, Ec2InstanceTypes.GeneratedData> =>
  new Map(
    records.flatMap((record) => {
      const described = Ec2Dataset.describe(record)
      return described === undefined ? [] : [[record.name, described.generated] as const]
    })
  )

/** What DescribeInstanceTypes and DescribeInstanceTypeOfferings answered. */
interface Catalogue {
  readonly infos: ReadonlyArray<Ec2Sdk.InstanceTypeInfo>
  readonly zonesByType: ReadonlyMap<string, ReadonlyArray<string>>
  readonly allZones: ReadonlyArray<string>
}

const isMissing = (nodeClass: EC2NodeClass) => nodeClass.metadata.deletionTimestamp !== undefined

/** The AWS CloudProvider over the KubeClient, EC2, the launcher and the unavailable-offerings cache. */
export const make = Effect.fn("AwsCloudProvider.make")(function* (options: Options) {
  const kube = yield* KubeClient
  const ec2 = yield* Ec2
  const launcher = yield* Launcher.Launcher
  const unavailable = yield* UnavailableOfferings
  const reservations = yield* CapacityReservations
  const reservedCapacity = options.reservedCapacity === true
  const prices = yield* Prices
  const ttlMillis = Duration.toMillis(catalogueTtl)
  let catalogue:
    | { readonly value: Catalogue; readonly expiresAt: number; readonly names: string; readonly seqNum: number }
    | undefined
  // Node class name → the instance types built for its resourceVersion, the catalogue's and the unavailable
  // offerings' state, and the prices: rebuilt when one of them changes, not on a timer (a build of every EC2 type is
  // costly).
  const built = new Map<
    string,
    {
      readonly key: string
      readonly prices: Ec2Pricing.PriceBook
      readonly types: ReadonlyArray<InstanceType.InstanceType>
    }
  >()

  const failure = (method: string) => (error: AwsFailure | KubeError.KubeUnavailable) =>
    new CloudProvider.CloudProviderError({ method, message: `${method}: ${error.message}` })

  const describeCatalogue = Effect.fn("AwsCloudProvider.describeCatalogue")(function* () {
    const now = yield* Clock.currentTimeMillis
    if (catalogue !== undefined && now < catalogue.expiresAt) return catalogue.value
    const infos = yield* ec2.describeInstanceTypes({
      Filters: [
        { Name: "supported-virtualization-type", Values: ["hvm"] },
        { Name: "processor-info.supported-architecture", Values: ["x86_64", "arm64"] }
      ]
    })
    const offerings = yield* ec2.describeInstanceTypeOfferings({ LocationType: "availability-zone" })
    const zonesByType = new Map<string, Array<string>>()
    for (const offering of offerings) {
      const zones = zonesByType.get(offering.InstanceType ?? "") ?? []
      zones.push(offering.Location ?? "")
      zonesByType.set(offering.InstanceType ?? "", zones)
    }
    const allZones = [...new Set(offerings.map((offering) => offering.Location ?? ""))].sort()
    // As upstream's sequence numbers, bumped only when the answer changed: the types and where each is offered (EC2
    // does not change a type's description in place).
    const names = JSON.stringify([...zonesByType].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
    const seqNum =
      (catalogue?.seqNum ?? 0) + (catalogue?.names === names && catalogue.value.infos.length === infos.length ? 0 : 1)
    const value: Catalogue = { infos, zonesByType, allZones }
    catalogue = { value, expiresAt: now + ttlMillis, names, seqNum }
    return value
  })

  /** upstream `InstanceTypeProvider.List`: every type, its offerings placed in the node class's subnet zones. */
  const instanceTypesOf = Effect.fn("AwsCloudProvider.instanceTypesOf")(function* (nodeClass: EC2NodeClass) {
    const described = yield* describeCatalogue().pipe(Effect.mapError(failure("getInstanceTypes")))
    // The offerings unavailable now, not only the marks: one whose three minutes are over is offered again.
    const unavailableNow = yield* unavailable.active
    const reservationsSeqNum = yield* reservations.seqNum
    const key = `${nodeClass.metadata.resourceVersion ?? ""}/${catalogue?.seqNum ?? 0}/${unavailableNow.join(",")}/${reservationsSeqNum}`
    const book = yield* prices.current
    const cached = built.get(nodeClass.metadata.name ?? "")
    if (cached?.key === key && cached.prices === book) return cached.types
    const isUnavailable = yield* unavailable.snapshot
    const subnetZones = (nodeClass.status?.subnets ?? []).map((subnet) =>
      subnet.zoneID === undefined ? { zone: subnet.zone } : { zone: subnet.zone, zoneId: subnet.zoneID }
    )
    const classOptions = nodeClassOptions(nodeClass)
    const reservationsLeft = yield* reservations.snapshot
    const statusReservations = reservedCapacity ? (nodeClass.status?.capacityReservations ?? []) : []
    const types = described.infos.map((info) =>
      Ec2InstanceTypes.make({
        info,
        generated: options.generated.get(info.InstanceType ?? "") ?? {},
        placement: {
          region: options.region,
          offeringZones: described.zonesByType.get(info.InstanceType ?? "") ?? [],
          subnetZones,
          capacityReservations: statusReservations
            .filter((reservation) => reservation.instanceType === info.InstanceType)
            .map((reservation) => ({
              id: reservation.id,
              zone: reservation.availabilityZone,
              available: reservationsLeft(reservation.id)
            }))
        },
        allZones: described.allZones,
        prices: book,
        nodeClass: classOptions,
        ...(options.settings === undefined ? {} : { settings: options.settings }),
        isUnavailable
      })
    )
    built.set(nodeClass.metadata.name ?? "", { key, prices: book, types })
    return types
  })

  /** The named EC2NodeClass; a deleting one counts as missing (upstream `newTerminatingNodeClassError`). */
  const nodeClassNamed = (method: string, nodeClassName: string) =>
    kube.get(Resources.EC2NodeClasses, nodeClassName).pipe(
      Effect.map((nodeClass) => (isMissing(nodeClass) ? undefined : nodeClass)),
      Effect.catchTag("NotFound", () => Effect.succeed(undefined)),
      Effect.mapError(failure(method))
    )

  const nodePoolNamed = (method: string, nodePoolName: string) =>
    kube.get(Resources.NodePools, nodePoolName).pipe(
      Effect.map((nodePool): NodePool | undefined => nodePool),
      Effect.catchTag("NotFound", () => Effect.succeed(undefined)),
      Effect.mapError(failure(method))
    )

  const getInstanceTypes = Effect.fn("AwsCloudProvider.getInstanceTypes")(function* (nodePool: NodePool) {
    const nodeClass = yield* nodeClassNamed("getInstanceTypes", nodePool.spec.template.spec.nodeClassRef.name)
    // Without its NodeClass a NodePool has no instance types (upstream answers none, not an error).
    return nodeClass === undefined ? [] : yield* instanceTypesOf(nodeClass)
  })

  const create = Effect.fn("AwsCloudProvider.create")(function* (nodeClaim: NodeClaim) {
    const nodeClass = yield* nodeClassNamed("create", nodeClaim.spec.nodeClassRef.name)
    if (nodeClass === undefined) {
      // As upstream: no NodeClass means no capacity for this NodeClaim.
      return yield* new CloudProvider.InsufficientCapacity({
        message: `resolving node class, ec2nodeclasses.karpenter.k8s.aws "${nodeClaim.spec.nodeClassRef.name}" not found`
      })
    }
    const ready = Conditions.get(nodeClass.status?.conditions, Conditions.Ready)
    if (ready?.status === "False") {
      return yield* new CloudProvider.NodeClassNotReady({ message: ready.message ?? "" })
    }
    if (ready?.status !== "True") {
      return yield* new CloudProvider.CreateError({
        conditionReason: "NodeClassReadinessUnknown",
        conditionMessage: "NodeClass is in Ready=Unknown"
      })
    }
    const requirements = Requirements.fromNodeSelectorRequirements(nodeClaim.spec.requirements)
    const requests = ResourceLists.fromResourceList(nodeClaim.spec.resources?.requests)
    const instanceTypes = FleetRequest.compatibleTypes(requirements, requests, yield* instanceTypesOf(nodeClass))
    if (instanceTypes.length === 0) {
      return yield* new CloudProvider.InsufficientCapacity({
        message: "all requested instance types were unavailable during launch"
      })
    }
    const launched = yield* launcher.launch({ nodeClass, nodeClaim, instanceTypes })
    if (launched.capacityReservationId !== undefined) yield* reservations.markLaunched(launched.capacityReservationId)
    const now = yield* Clock.currentTimeMillis
    const instance: Instance = {
      id: launched.instanceId,
      instanceType: launched.instanceType,
      zone: launched.zone,
      imageId: launched.imageId,
      subnetId: launched.subnetId,
      securityGroupIds: [],
      capacityType: launched.capacityType,
      capacityReservationId: launched.capacityReservationId,
      state: "pending",
      launchTimeMillis: now,
      tags: launched.tags,
      // The launch templates add EFA interfaces exactly when the NodeClaim requests EFA.
      efaEnabled: (requests[Ec2InstanceTypes.AwsResources.efa] ?? 0) > 0
    }
    const resolved = toNodeClaim(
      instance,
      instanceTypes.find((candidate) => candidate.name === launched.instanceType),
      nodeClass,
      now
    )
    // upstream `PopulateNodeClaimDetails` order: the NodeClaim's own labels win over the resolved ones.
    return {
      ...nodeClaim,
      metadata: {
        ...nodeClaim.metadata,
        labels: { ...resolved.metadata.labels, ...nodeClaim.metadata.labels },
        annotations: {
          ...nodeClaim.metadata.annotations,
          [HashAnnotation]: hashOf(nodeClass),
          [HashVersionAnnotation]: HashVersion
        }
      },
      status: { ...nodeClaim.status, ...resolved.status }
    } satisfies NodeClaim
  })

  /** upstream `instance.Get`: the instance unless it is terminated or unknown to EC2 (then NodeClaimNotFound). */
  const describeInstance = Effect.fn("AwsCloudProvider.describeInstance")(function* (
    method: string,
    providerID: string
  ) {
    const id = instanceIdOf(providerID)
    if (id === undefined) {
      return yield* new CloudProvider.CloudProviderError({
        method,
        message: `${method}: parsing instance id, providerID "${providerID}" is not aws:///<zone>/<instance-id>`
      })
    }
    const reservations = yield* ec2.describeInstances({ InstanceIds: [id], Filters: [instanceStateFilter] }).pipe(
      Effect.catchTag("AwsNotFound", () => Effect.succeed([])),
      Effect.mapError(failure(method))
    )
    const [instance] = reservations.flatMap((reservation) => reservation.Instances ?? [])
    if (instance === undefined) {
      return yield* new CloudProvider.NodeClaimNotFound({ message: `nodeclaim not found, instance ${id} not found` })
    }
    return instanceOf(instance, reservedCapacity)
  })

  /** upstream `resolveInstanceTypeFromInstance` and `resolveNodeClassFromInstance`, then `instanceToNodeClaim`. */
  const nodeClaimOf = Effect.fn("AwsCloudProvider.nodeClaimOf")(function* (method: string, instance: Instance) {
    const nodePoolName = instance.tags[Labels.NodePool]
    const nodePool = nodePoolName === undefined ? undefined : yield* nodePoolNamed(method, nodePoolName)
    const instanceTypes = nodePool === undefined ? [] : yield* getInstanceTypes(nodePool)
    const nodeClassName = instance.tags[EC2NodeClassApi.NodeClassLabel]
    const nodeClass = nodeClassName === undefined ? undefined : yield* nodeClassNamed(method, nodeClassName)
    return toNodeClaim(
      instance,
      instanceTypes.find((candidate) => candidate.name === instance.instanceType),
      nodeClass,
      yield* Clock.currentTimeMillis
    )
  })

  const get = Effect.fn("AwsCloudProvider.get")(function* (providerID: string) {
    return yield* nodeClaimOf("get", yield* describeInstance("get", providerID))
  })

  const list = Effect.fn("AwsCloudProvider.list")(function* () {
    const reservations = yield* ec2
      .describeInstances({
        Filters: [
          { Name: "tag-key", Values: [Labels.NodePool] },
          { Name: "tag-key", Values: [EC2NodeClassApi.NodeClassLabel] },
          { Name: `tag:${EksClusterNameTag}`, Values: [options.cluster.name] },
          instanceStateFilter
        ]
      })
      .pipe(Effect.mapError(failure("list")))
    const instances = reservations
      .flatMap((reservation) => reservation.Instances ?? [])
      .map((instance) => instanceOf(instance, reservedCapacity))
    return yield* Effect.forEach(instances, (instance) => nodeClaimOf("list", instance))
  })

  /**
   * upstream `instance.Delete`: TerminateInstances unless the instance already shuts down; NodeClaimNotFound once it
   * is terminated (DescribeInstances no longer answers it), which lets the termination finalizer complete.
   */
  const deleteInstance = Effect.fn("AwsCloudProvider.delete")(function* (nodeClaim: NodeClaim) {
    // Once the instance is gone its reservation has the instance back (upstream `Delete`'s MarkTerminated).
    const reservationId = nodeClaim.metadata.labels?.[Ec2InstanceTypes.AwsLabels.capacityReservationId]
    const instance = yield* describeInstance("delete", nodeClaim.status?.providerID ?? "").pipe(
      Effect.tapErrorTag("NodeClaimNotFound", () =>
        reservationId === undefined ? Effect.void : reservations.markTerminated(reservationId)
      )
    )
    if (instance.state === "shutting-down") return
    yield* ec2.terminateInstances({ InstanceIds: [instance.id] }).pipe(
      Effect.catchTag("AwsNotFound", (error) =>
        Effect.fail(new CloudProvider.NodeClaimNotFound({ message: `nodeclaim not found, ${error.message}` }))
      ),
      Effect.mapError((error) => (error._tag === "NodeClaimNotFound" ? error : failure("delete")(error)))
    )
  })

  /** upstream `isAMIDrifted`: the instance's image is not the one its type would launch with now. */
  const amiDrift = Effect.fn("AwsCloudProvider.amiDrift")(function* (
    nodeClaim: NodeClaim,
    nodePool: NodePool,
    nodeClass: EC2NodeClass,
    instance: Instance
  ) {
    const typeName = nodeClaim.metadata.labels?.[Labels.InstanceType] ?? ""
    const instanceType = (yield* getInstanceTypes(nodePool)).find((candidate) => candidate.name === typeName)
    if (instanceType === undefined) return yield* driftFailure(`finding node instance type "${typeName}"`)
    const amis = LaunchTemplates.statusAmis(nodeClass)
    if (amis.length === 0) return yield* driftFailure("no amis exist given constraints")
    return LaunchTemplates.amiFor(instanceType, amis)?.id === instance.imageId ? undefined : DriftReasons.AMIDrift
  })

  const driftFailure = (message: string) =>
    Effect.fail(new CloudProvider.CloudProviderError({ method: "isDrifted", message: `isDrifted: ${message}` }))

  const isDrifted = Effect.fn("AwsCloudProvider.isDrifted")(function* (nodeClaim: NodeClaim) {
    const nodePoolName = nodeClaim.metadata.labels?.[Labels.NodePool]
    if (nodePoolName === undefined) return undefined
    const nodePool = yield* nodePoolNamed("isDrifted", nodePoolName)
    if (nodePool === undefined) return undefined
    const nodeClass = yield* nodeClassNamed("isDrifted", nodePool.spec.template.spec.nodeClassRef.name)
    // Drift cannot be told without the NodeClass.
    if (nodeClass === undefined) return undefined
    // Static drift first: it needs no API call.
    const annotations = nodeClaim.metadata.annotations ?? {}
    const claimHash = annotations[HashAnnotation]
    if (
      claimHash !== undefined &&
      annotations[HashVersionAnnotation] === HashVersion &&
      claimHash !== hashOf(nodeClass)
    ) {
      return DriftReasons.NodeClassDrift
    }
    const instance = yield* describeInstance("isDrifted", nodeClaim.status?.providerID ?? "").pipe(
      Effect.catchTag("NodeClaimNotFound", (error) => driftFailure(error.message))
    )
    const ami = yield* amiDrift(nodeClaim, nodePool, nodeClass, instance)
    if (ami !== undefined) return ami
    const groupIds = new Set((nodeClass.status?.securityGroups ?? []).map((group) => group.id))
    if (groupIds.size === 0) return yield* driftFailure("no security groups are present in the status")
    const instanceGroups = new Set(instance.securityGroupIds)
    if (instanceGroups.size !== groupIds.size || [...groupIds].some((id) => !instanceGroups.has(id))) {
      return DriftReasons.SecurityGroupDrift
    }
    const subnets = nodeClass.status?.subnets ?? []
    if (subnets.length === 0) return yield* driftFailure("no subnets are discovered")
    if (!subnets.some((subnet) => subnet.id === instance.subnetId)) return DriftReasons.SubnetDrift
    // upstream `isCapacityReservationDrifted`: the instance's reservation is no longer one the node class selects.
    const selected = (nodeClass.status?.capacityReservations ?? []).map((reservation) => reservation.id)
    return instance.capacityReservationId !== undefined && !selected.includes(instance.capacityReservationId)
      ? DriftReasons.CapacityReservationDrift
      : undefined
  })

  return CloudProvider.CloudProvider.of({
    name,
    create,
    delete: deleteInstance,
    get,
    list,
    getInstanceTypes,
    isDrifted,
    repairPolicies,
    wellKnownLabels: FleetRequest.wellKnownLabels,
    supportedNodeClasses: [{ group: EC2NodeClassApi.group, kind: EC2NodeClassApi.kind }],
    // The InstanceGarbageCollection controller does, at upstream's 30 s grace.
    collectsUntrackedInstances: true
  })
})

/**
 * The AWS CloudProvider with its own launcher; the unavailable-offerings cache and the prices are shared with whoever
 * provides them (the interruption and pricing controllers).
 */
export const layer = (
  options: Options
): Layer.Layer<
  CloudProvider.CloudProvider,
  never,
  KubeClient | Ec2 | UnavailableOfferings | CapacityReservations | Prices
> =>
  Layer.effect(CloudProvider.CloudProvider, make(options)).pipe(
    Layer.provide(
      Launcher.layer({
        cluster: options.cluster,
        ...(options.reservedCapacity === true ? { reservedCapacity: true } : {})
      })
    )
  )
