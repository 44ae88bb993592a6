/**
 * A stateful fake of the AWS APIs the provider calls (after upstream's `pkg/fake`), behind the same contracts as the
 * real clients (`../sdk/*`): EC2 instances, fleets, launch templates, a seeded default VPC and AL2023 images, the
 * instance types and offerings of data/aws-instance-types.json, SSM parameters, IAM instance profiles, price lists,
 * spot prices and an SQS queue. Tests inject capacity shortages, throttling and API failures, and read back every call.
 * It sits where the real layers' retries already happened, so an injected throttle reaches the caller as is. Time is
 * Effect's Clock, ids come from counters; the SDK is imported for its types only.
 */
import type * as Ec2Sdk from "@aws-sdk/client-ec2"
import type * as IamSdk from "@aws-sdk/client-iam"
import type * as SqsSdk from "@aws-sdk/client-sqs"
import type * as SsmSdk from "@aws-sdk/client-ssm"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as PubSub from "effect/PubSub"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Ec2Dataset from "../../../../src/cloudprovider/aws/Ec2Dataset.ts"
import * as AwsError from "../sdk/AwsError.ts"
import { Ec2 } from "../sdk/Ec2.ts"
import { Iam } from "../sdk/Iam.ts"
import { Pricing } from "../sdk/Pricing.ts"
import { Sqs } from "../sdk/Sqs.ts"
import { Ssm } from "../sdk/Ssm.ts"
import * as Ec2Filters from "./Ec2Filters.ts"

/** Each operation the fake serves (every call the provider makes), with its service as AWS names it in errors. */
export const operations = {
  DescribeInstanceTypes: "EC2",
  DescribeInstanceTypeOfferings: "EC2",
  DescribeSpotPriceHistory: "EC2",
  DescribeSubnets: "EC2",
  DescribeSecurityGroups: "EC2",
  DescribeImages: "EC2",
  DescribeLaunchTemplates: "EC2",
  DescribeInstances: "EC2",
  DescribeCapacityReservations: "EC2",
  CreateFleet: "EC2",
  CreateLaunchTemplate: "EC2",
  DeleteLaunchTemplate: "EC2",
  TerminateInstances: "EC2",
  CreateTags: "EC2",
  GetParameter: "SSM",
  GetInstanceProfile: "IAM",
  CreateInstanceProfile: "IAM",
  AddRoleToInstanceProfile: "IAM",
  RemoveRoleFromInstanceProfile: "IAM",
  DeleteInstanceProfile: "IAM",
  TagInstanceProfile: "IAM",
  GetProducts: "Pricing",
  GetQueueUrl: "SQS",
  ReceiveMessage: "SQS",
  DeleteMessage: "SQS"
} as const

/** An API operation of the fake, e.g. `CreateFleet`. */
export type Operation = keyof typeof operations

/** A call the code under test made: the IAM policy must allow `service:operation`. */
export interface Call {
  readonly service: (typeof operations)[Operation]
  readonly operation: Operation
  readonly input: unknown
}

/** A capacity pool of EC2: an instance type in a zone for a capacity type. */
export interface CapacityPool {
  readonly instanceType: string
  readonly zone: string
  readonly capacityType: "on-demand" | "spot"
}

/** A capacity reservation the test creates: targeted and active unless it says otherwise. */
export interface CapacityReservationInput {
  readonly instanceType: string
  readonly availabilityZone: string
  /** Instances it holds; all are available at first. */
  readonly count: number
  readonly tags?: Readonly<Record<string, string>>
  readonly instanceMatchCriteria?: "open" | "targeted"
  readonly endDate?: Date
}

/** An instance's life as the machines see it (not an API): a fleet launched it, or TerminateInstances stopped it. */
export type InstanceChange =
  | { readonly _tag: "Launched"; readonly instance: Ec2Sdk.Instance }
  | { readonly _tag: "Terminating"; readonly instance: Ec2Sdk.Instance }

/** The fake's settings; only the instance types are required. */
export interface Options {
  /** The records of data/aws-instance-types.json that EC2 describes and prices. */
  readonly instanceTypes: ReadonlyArray<Ec2Dataset.DatasetRecord>
  /** Default `us-west-2`. */
  readonly region?: string
  /** The default VPC's zones, one subnet each; default the region's `a`, `b` and `c`. */
  readonly zones?: ReadonlyArray<string>
  /** The `karpenter.sh/discovery` tag value of the seeded subnets and security group; default `test-cluster`. */
  readonly clusterName?: string
  /** The Kubernetes versions with AL2023 AMIs and SSM parameters; default `["1.32"]`. */
  readonly kubernetesVersions?: ReadonlyArray<string>
  /** Spot price as a fraction of on-demand, per zone (zones absent take 0.7). */
  readonly spotFractions?: Readonly<Record<string, number>>
  /** How long a terminated instance stays `shutting-down`; default 30 seconds. */
  readonly shutdownDelay?: Duration.Input
  /** The SQS queue's name; default `karpenter-interruption`. */
  readonly queueName?: string
}

/** The fake's services and the test's handle on it. */
export interface Controls {
  readonly ec2: (typeof Ec2)["Service"]
  readonly ssm: (typeof Ssm)["Service"]
  readonly iam: (typeof Iam)["Service"]
  readonly pricing: (typeof Pricing)["Service"]
  readonly sqs: (typeof Sqs)["Service"]
  readonly region: string
  readonly zones: ReadonlyArray<string>
  /** The account that owns every resource. */
  readonly accountId: string
  /** The queue's URL, as GetQueueUrl answers. */
  readonly queueUrl: string
  /** CreateFleet answers InsufficientInstanceCapacity for this pool until {@link Controls.restoreCapacity}. */
  insufficientCapacity(pool: CapacityPool): Effect.Effect<void>
  restoreCapacity(pool: CapacityPool): Effect.Effect<void>
  /**
   * Creates an active capacity reservation; answers its id. A fleet whose launch template targets it launches into it
   * while it has instances available (InsufficientInstanceCapacity after), and a terminated instance gives its back.
   */
  createCapacityReservation(reservation: CapacityReservationInput): Effect.Effect<string>
  /** Sets a reservation's state (`expired`, `cancelled`: it is no longer active, its instances become on-demand). */
  setCapacityReservationState(id: string, state: Ec2Sdk.CapacityReservationState): Effect.Effect<void>
  /** The next `times` calls of the operation fail with `AwsThrottled`. */
  throttle(operation: Operation, times: number): Effect.Effect<void>
  /** The next `times` (default 1) calls of the operation fail with the AWS error `code`, tagged as the real layer does. */
  fail(
    operation: Operation,
    code: string,
    options?: { readonly times?: number; readonly statusCode?: number; readonly message?: string }
  ): Effect.Effect<void>
  /** Sets the spot price of a type in a zone: spot price history and CreateFleet's lowest-price pick answer it. */
  setSpotPrice(instanceType: string, zone: string, price: number): Effect.Effect<void>
  /** Sets an SSM parameter (a custom AMI alias, a newer release). */
  putParameter(name: string, value: string): Effect.Effect<void>
  /** Registers an image (a new AMI release); answers its id. */
  registerImage(image: Omit<Ec2Sdk.Image, "ImageId">): Effect.Effect<string>
  /** Creates a security group in the default VPC (a new group a selector matches); answers its id. */
  createSecurityGroup(group: Omit<Ec2Sdk.SecurityGroup, "GroupId" | "VpcId" | "OwnerId">): Effect.Effect<string>
  /** Sends a message to the queue; answers its message id. */
  sendMessage(body: string): Effect.Effect<string>
  /** Messages in the queue, visible or not. */
  readonly queueDepth: Effect.Effect<number>
  /** Every call so far, in order, injected failures included. */
  readonly calls: Effect.Effect<ReadonlyArray<Call>>
  /** The running instances, as the machines know them (no API call is recorded). */
  readonly runningInstances: Effect.Effect<ReadonlyArray<Ec2Sdk.Instance>>
  /** Whether an instance is still running (no API call is recorded). */
  isRunning(instanceId: string): Effect.Effect<boolean>
  /** Every launch and termination from now on, for as long as the scope lasts (the fake kubelet follows them). */
  readonly instanceChanges: Effect.Effect<Stream.Stream<InstanceChange>, never, Scope.Scope>
}

/** The fake AWS; its {@link layer} also provides the five sdk services. */
export class FakeAws extends Context.Service<FakeAws, Controls>()(
  "karpenter-effect/layers/cloudprovider/aws/fake/FakeAws"
) {}

// -- Identifiers and constants ----------------------------------------------------------------------------------------

const accountId = "123456789012"
/** The account that publishes the EKS optimized AMIs. */
const eksAmiOwner = "602401143452"
const defaultVisibilitySeconds = 30
/** EC2 keeps describing a terminated instance for about an hour. */
const terminatedVisibleMillis = Duration.toMillis(Duration.hours(1))
const al2023Releases = ["v20250101", "v20250301"] as const
const al2023Variants = [
  { arch: "x86_64", variant: "standard" },
  { arch: "x86_64", variant: "nvidia" },
  { arch: "x86_64", variant: "neuron" },
  { arch: "arm64", variant: "standard" },
  { arch: "arm64", variant: "nvidia" }
] as const
/** The Price List's `location` attribute of some regions (the others fall back to the region code). */
const regionLocations: Readonly<Record<string, string>> = {
  "us-east-1": "US East (N. Virginia)",
  "us-east-2": "US East (Ohio)",
  "us-west-1": "US West (N. California)",
  "us-west-2": "US West (Oregon)",
  "eu-west-1": "EU (Ireland)",
  "eu-central-1": "EU (Frankfurt)",
  "ap-southeast-1": "Asia Pacific (Singapore)"
}

const hexId = (prefix: string, n: number): string => `${prefix}-${n.toString(16).padStart(17, "0")}`

const instanceStates = {
  running: { Name: "running", Code: 16 },
  "shutting-down": { Name: "shutting-down", Code: 32 },
  terminated: { Name: "terminated", Code: 48 }
} as const

const metadata = { $metadata: {} }

/** The SDK's enum of instance type names; the fake serves whichever names its dataset has. */
type Ec2InstanceType = NonNullable<Ec2Sdk.Instance["InstanceType"]>

const awsFailure = (operation: Operation, code: string, message: string, statusCode = 400): AwsError.AwsFailure =>
  AwsError.fromSdk(operations[operation], operation, { Code: code, message, $metadata: { httpStatusCode: statusCode } })

const tagsOf = (specifications: ReadonlyArray<Ec2Sdk.TagSpecification> | undefined, resourceType: string) =>
  (specifications ?? []).filter((spec) => spec.ResourceType === resourceType).flatMap((spec) => spec.Tags ?? [])

// -- State ----------------------------------------------------------------------------------------------------------

interface InstanceRecord {
  readonly instance: Ec2Sdk.Instance
  readonly reservationId: string
  readonly tags: Map<string, string>
  readonly subnet: Ec2Sdk.Subnet
  /** When the instance becomes `terminated`; undefined while it runs. */
  terminatedAt: number | undefined
}

interface LaunchTemplateRecord {
  readonly template: Ec2Sdk.LaunchTemplate
  readonly data: Ec2Sdk.RequestLaunchTemplateData | undefined
}

interface Message {
  readonly id: string
  readonly body: string
  readonly sentAt: number
  visibleAt: number
  receiveCount: number
}

interface Candidate {
  readonly template: LaunchTemplateRecord
  readonly override: Ec2Sdk.FleetLaunchTemplateOverridesRequest
  readonly instanceType: string
  readonly zone: string
  readonly subnet: Ec2Sdk.Subnet
  readonly price: number
}

/** Builds the fake's state and services. */
export const make = (options: Options): Effect.Effect<Controls> =>
  Effect.flatMap(PubSub.unbounded<InstanceChange>(), (instanceChanges) =>
    Effect.sync(() => {
      const region = options.region ?? "us-west-2"
      const zones = options.zones ?? ["a", "b", "c"].map((suffix) => `${region}${suffix}`)
      const clusterName = options.clusterName ?? "test-cluster"
      const shutdownMillis = Duration.toMillis(Duration.fromInputUnsafe(options.shutdownDelay ?? "30 seconds"))
      const queueName = options.queueName ?? "karpenter-interruption"
      const queueUrl = `https://sqs.${region}.amazonaws.com/${accountId}/${queueName}`

      let counter = 0
      const nextId = (prefix: string) => hexId(prefix, ++counter)

      // Instance types: described once; the SDK's types are mutable arrays of its enums, the converter's are readonly
      // strings of the same values.
      const described = options.instanceTypes.flatMap((record) => {
        const result = Ec2Dataset.describe(record)
        return result === undefined ? [] : [{ record, info: result.info as unknown as Ec2Sdk.InstanceTypeInfo }]
      })
      const typesByName = new Map(described.map((entry) => [entry.record.name, entry]))
      // `<type>/<zone>` → a spot price set by the test, else a fraction of on-demand.
      const spotPrices = new Map<string, number>()
      const spotPrice = (instanceType: string, onDemand: number, zone: string) =>
        spotPrices.get(`${instanceType}/${zone}`) ?? onDemand * (options.spotFractions?.[zone] ?? 0.7)

      // The default VPC: a /18 subnet per zone, one security group.
      const vpcId = nextId("vpc")
      const subnets: Array<Ec2Sdk.Subnet> = zones.map((zone, index) => ({
        SubnetId: nextId("subnet"),
        VpcId: vpcId,
        AvailabilityZone: zone,
        AvailabilityZoneId: `${region.replace(/-/g, "").slice(0, 4)}-az${index + 1}`,
        CidrBlock: `10.0.${index * 64}.0/18`,
        // A /18 less the five addresses AWS reserves.
        AvailableIpAddressCount: 16_379,
        State: "available",
        MapPublicIpOnLaunch: false,
        OwnerId: accountId,
        Tags: [
          { Key: "Name", Value: `${clusterName}-private-${zone}` },
          { Key: "karpenter.sh/discovery", Value: clusterName }
        ]
      }))
      const subnetsById = new Map(subnets.map((subnet) => [subnet.SubnetId ?? "", subnet]))
      const launchedPerSubnet = new Map<string, number>()
      const securityGroups: Array<Ec2Sdk.SecurityGroup> = [
        {
          GroupId: nextId("sg"),
          GroupName: `${clusterName}-node`,
          Description: `nodes of ${clusterName}`,
          VpcId: vpcId,
          OwnerId: accountId,
          Tags: [{ Key: "karpenter.sh/discovery", Value: clusterName }]
        }
      ]

      // AL2023 images: two releases per Kubernetes version and variant; `recommended` is the newer.
      const images: Array<Ec2Sdk.Image> = []
      const parameters = new Map<string, string>()
      for (const version of options.kubernetesVersions ?? ["1.32"]) {
        for (const { arch, variant } of al2023Variants) {
          for (const [index, release] of al2023Releases.entries()) {
            const name = `amazon-eks-node-al2023-${arch}-${variant}-${version}-${release}`
            const image: Ec2Sdk.Image = {
              ImageId: nextId("ami"),
              Name: name,
              Description: `EKS-optimized Kubernetes node based on Amazon Linux 2023, (k8s: ${version}, ${variant})`,
              Architecture: arch,
              CreationDate: `2025-0${1 + 2 * index}-01T00:00:00.000Z`,
              State: "available",
              OwnerId: eksAmiOwner,
              ImageOwnerAlias: "amazon",
              Public: true,
              RootDeviceName: "/dev/xvda",
              RootDeviceType: "ebs",
              VirtualizationType: "hvm"
            }
            images.push(image)
            const prefix = `/aws/service/eks/optimized-ami/${version}/amazon-linux-2023/${arch}/${variant}`
            parameters.set(`${prefix}/${name}/image_id`, image.ImageId ?? "")
            parameters.set(`${prefix}/recommended/image_id`, image.ImageId ?? "")
          }
        }
      }

      const instances = new Map<string, InstanceRecord>()
      const launchTemplates = new Map<string, LaunchTemplateRecord>()
      const fleetsByToken = new Map<string, Ec2Sdk.CreateFleetCommandOutput>()
      const instanceProfiles = new Map<string, IamSdk.InstanceProfile>()
      const insufficientPools = new Set<string>()
      const capacityReservations: Array<Ec2Sdk.CapacityReservation> = []
      const faults = new Map<Operation, Array<AwsError.AwsFailure>>()
      const calls: Array<Call> = []
      const messages = new Map<string, Message>()
      const receipts = new Map<string, string>()
      const messageWaiters = new Set<Deferred.Deferred<void>>()

      const poolKey = (pool: CapacityPool) => `${pool.instanceType}/${pool.zone}/${pool.capacityType}`

      /** Records the call, then answers an injected failure if one is due, else runs the operation. */
      const call =
        <I, A>(operation: Operation, body: (input: I) => Effect.Effect<A, AwsError.AwsFailure>) =>
        (input: I): Effect.Effect<A, AwsError.AwsFailure> =>
          Effect.suspend(() => {
            calls.push({ service: operations[operation], operation, input })
            const fault = faults.get(operation)?.shift()
            return fault === undefined ? body(input) : Effect.fail(fault)
          })

      // -- EC2: instances ---------------------------------------------------------------------------------------------

      const stateAt = (record: InstanceRecord, now: number) =>
        record.terminatedAt === undefined
          ? instanceStates.running
          : now < record.terminatedAt
            ? instanceStates["shutting-down"]
            : instanceStates.terminated

      const visible = (record: InstanceRecord, now: number) =>
        record.terminatedAt === undefined || now < record.terminatedAt + terminatedVisibleMillis

      // An instance stays in its capacity reservation while the reservation is active; after, EC2 runs it on demand.
      const snapshot = (record: InstanceRecord, now: number): Ec2Sdk.Instance => {
        const { CapacityReservationId, ...instance } = record.instance
        return {
          ...instance,
          ...(reservationOf(CapacityReservationId)?.State === "active" ? { CapacityReservationId } : {}),
          State: { ...stateAt(record, now) },
          Tags: Array.from(record.tags, ([Key, Value]) => ({ Key, Value }))
        }
      }

      const existingInstance = (operation: Operation, id: string, now: number) => {
        const record = instances.get(id)
        return record !== undefined && visible(record, now)
          ? Effect.succeed(record)
          : Effect.fail(awsFailure(operation, "InvalidInstanceID.NotFound", `The instance ID '${id}' does not exist`))
      }

      const instanceFields: Ec2Filters.Fields<Ec2Sdk.Instance> = {
        "instance-id": (instance) => instance.InstanceId,
        "instance-state-name": (instance) => instance.State?.Name,
        "instance-type": (instance) => instance.InstanceType,
        "availability-zone": (instance) => instance.Placement?.AvailabilityZone,
        "subnet-id": (instance) => instance.SubnetId,
        "vpc-id": (instance) => instance.VpcId,
        "image-id": (instance) => instance.ImageId,
        "instance-lifecycle": (instance) => instance.InstanceLifecycle
      }

      const describeInstances = Effect.fn("FakeAws.describeInstances")(function* (
        input: Ec2Sdk.DescribeInstancesCommandInput
      ) {
        const now = yield* Clock.currentTimeMillis
        const records =
          input.InstanceIds === undefined || input.InstanceIds.length === 0
            ? Array.from(instances.values()).filter((record) => visible(record, now))
            : yield* Effect.forEach(input.InstanceIds, (id) => existingInstance("DescribeInstances", id, now))
        const snapshots = records.map((record) => ({ record, instance: snapshot(record, now) }))
        const matching = new Set(
          yield* Ec2Filters.apply(
            "DescribeInstances",
            snapshots.map((entry) => entry.instance),
            input.Filters,
            instanceFields,
            (instance) => instance.Tags
          )
        )
        const reservations = new Map<string, Array<Ec2Sdk.Instance>>()
        for (const { record, instance } of snapshots) {
          if (!matching.has(instance)) continue
          const reservation = reservations.get(record.reservationId) ?? []
          reservation.push(instance)
          reservations.set(record.reservationId, reservation)
        }
        return Array.from(
          reservations,
          ([ReservationId, Instances]): Ec2Sdk.Reservation => ({ ReservationId, OwnerId: accountId, Instances })
        )
      })

      const terminateInstances = Effect.fn("FakeAws.terminateInstances")(function* (
        input: Ec2Sdk.TerminateInstancesCommandInput
      ) {
        const now = yield* Clock.currentTimeMillis
        const records = yield* Effect.forEach(input.InstanceIds ?? [], (id) =>
          existingInstance("TerminateInstances", id, now)
        )
        const terminating: Array<Ec2Sdk.Instance> = []
        const changes = records.map((record): Ec2Sdk.InstanceStateChange => {
          const previous = stateAt(record, now)
          if (record.terminatedAt === undefined) {
            record.terminatedAt = now + shutdownMillis
            record.subnet.AvailableIpAddressCount = (record.subnet.AvailableIpAddressCount ?? 0) + 1
            const reservation = reservationOf(record.instance.CapacityReservationId)
            if (reservation !== undefined) {
              reservation.AvailableInstanceCount = (reservation.AvailableInstanceCount ?? 0) + 1
            }
            terminating.push(snapshot(record, now))
          }
          return {
            InstanceId: record.instance.InstanceId,
            PreviousState: { ...previous },
            CurrentState: { ...stateAt(record, now) }
          }
        })
        yield* PubSub.publishAll(
          instanceChanges,
          terminating.map((instance): InstanceChange => ({ _tag: "Terminating", instance }))
        )
        return { TerminatingInstances: changes, ...metadata }
      })

      const createTags = Effect.fn("FakeAws.createTags")(function* (input: Ec2Sdk.CreateTagsCommandInput) {
        const now = yield* Clock.currentTimeMillis
        const records = yield* Effect.forEach(input.Resources ?? [], (id) => existingInstance("CreateTags", id, now))
        for (const record of records) {
          for (const tag of input.Tags ?? []) record.tags.set(tag.Key ?? "", tag.Value ?? "")
        }
      })

      // -- EC2: fleets ------------------------------------------------------------------------------------------------

      const launchTemplateOf = (spec: Ec2Sdk.FleetLaunchTemplateSpecificationRequest | undefined) => {
        const byName = spec?.LaunchTemplateName === undefined ? undefined : launchTemplates.get(spec.LaunchTemplateName)
        const byId = Array.from(launchTemplates.values()).find(
          (record) => spec?.LaunchTemplateId !== undefined && record.template.LaunchTemplateId === spec.LaunchTemplateId
        )
        const found = byName ?? byId
        return found === undefined
          ? Effect.fail(
              spec?.LaunchTemplateName === undefined
                ? awsFailure("CreateFleet", "InvalidLaunchTemplateId.NotFound", "The launch template does not exist.")
                : awsFailure(
                    "CreateFleet",
                    "InvalidLaunchTemplateName.NotFoundException",
                    `The specified launch template, with template name ${spec.LaunchTemplateName}, does not exist.`
                  )
            )
          : Effect.succeed(found)
      }

      /** The fleet's candidate pools, each with the price the allocation strategy compares. */
      const candidatesOf = Effect.fn("FakeAws.fleetCandidates")(function* (
        input: Ec2Sdk.CreateFleetCommandInput,
        capacityType: CapacityPool["capacityType"]
      ) {
        const candidates: Array<Candidate> = []
        for (const config of input.LaunchTemplateConfigs ?? []) {
          const template = yield* launchTemplateOf(config.LaunchTemplateSpecification)
          for (const override of config.Overrides ?? []) {
            const subnet =
              override.SubnetId === undefined
                ? subnets.find((candidate) => candidate.AvailabilityZone === override.AvailabilityZone)
                : subnetsById.get(override.SubnetId)
            if (subnet === undefined) {
              return yield* awsFailure(
                "CreateFleet",
                "InvalidSubnetID.NotFound",
                `The subnet ID '${override.SubnetId ?? override.AvailabilityZone}' does not exist`
              )
            }
            const instanceType = override.InstanceType ?? ""
            const known = typesByName.get(instanceType)
            if (known === undefined) {
              return yield* awsFailure(
                "CreateFleet",
                "InvalidParameterValue",
                `Invalid instance type '${instanceType}'`
              )
            }
            const zone = subnet.AvailabilityZone ?? ""
            // A type without a published price is never the cheapest.
            const onDemand = known.record.onDemandPriceUSD ?? Number.POSITIVE_INFINITY
            const price = capacityType === "spot" ? spotPrice(instanceType, onDemand, zone) : onDemand
            candidates.push({ template, override, instanceType, zone, subnet, price })
          }
        }
        return candidates
      })

      const launch = (candidate: Candidate, capacityType: CapacityPool["capacityType"], tags: Map<string, string>) => {
        const subnetId = candidate.subnet.SubnetId ?? ""
        const index = launchedPerSubnet.get(subnetId) ?? 0
        launchedPerSubnet.set(subnetId, index + 1)
        candidate.subnet.AvailableIpAddressCount = (candidate.subnet.AvailableIpAddressCount ?? 0) - 1
        // Addresses after the four that AWS reserves at the start of the subnet.
        const [a, b, c] = (candidate.subnet.CidrBlock ?? "10.0.0.0/18").split(".").map(Number)
        const offset = index + 4
        const ip = `${a}.${b}.${(c ?? 0) + Math.floor(offset / 256)}.${offset % 256}`
        const data = candidate.template.data
        const instanceType = typesByName.get(candidate.instanceType)
        const instance: Ec2Sdk.Instance = {
          InstanceId: nextId("i"),
          InstanceType: candidate.instanceType as Ec2InstanceType,
          ImageId: candidate.override.ImageId ?? data?.ImageId,
          Architecture: instanceType?.record.arch === "arm64" ? "arm64" : "x86_64",
          Placement: { AvailabilityZone: candidate.zone, Tenancy: "default" },
          SubnetId: subnetId,
          VpcId: vpcId,
          PrivateIpAddress: ip,
          PrivateDnsName: `ip-${ip.replace(/\./g, "-")}.${region}.compute.internal`,
          // EC2 takes the groups of the primary network interface when the template names them there.
          SecurityGroups: (
            data?.SecurityGroupIds ??
            data?.NetworkInterfaces?.find((eni) => (eni.DeviceIndex ?? 0) === 0)?.Groups ??
            []
          ).map((id) => ({
            GroupId: id,
            GroupName: securityGroups.find((group) => group.GroupId === id)?.GroupName
          })),
          ...(data?.IamInstanceProfile?.Name === undefined
            ? {}
            : {
                IamInstanceProfile: {
                  Arn: instanceProfiles.get(data.IamInstanceProfile.Name)?.Arn,
                  Id: instanceProfiles.get(data.IamInstanceProfile.Name)?.InstanceProfileId
                }
              }),
          ...(capacityType === "spot" ? { InstanceLifecycle: "spot", SpotInstanceRequestId: nextId("sir") } : {})
        }
        return { instance, tags: new Map(tags), subnet: candidate.subnet }
      }

      const reservationOf = (id: string | undefined) =>
        id === undefined
          ? undefined
          : capacityReservations.find((reservation) => reservation.CapacityReservationId === id)

      /** The instances a targeted reservation can still launch for the candidate: none unless it is active and its pool. */
      const reservedRoom = (candidate: Candidate, id: string): number => {
        const reservation = reservationOf(id)
        return reservation === undefined ||
          reservation.State !== "active" ||
          reservation.InstanceType !== candidate.instanceType ||
          reservation.AvailabilityZone !== candidate.zone
          ? 0
          : (reservation.AvailableInstanceCount ?? 0)
      }

      const capacityReservationFields: Ec2Filters.Fields<Ec2Sdk.CapacityReservation> = {
        state: (reservation) => reservation.State,
        "owner-id": (reservation) => reservation.OwnerId,
        "instance-type": (reservation) => reservation.InstanceType,
        "availability-zone": (reservation) => reservation.AvailabilityZone,
        "instance-match-criteria": (reservation) => reservation.InstanceMatchCriteria
      }

      const describeCapacityReservations = (input: Ec2Sdk.DescribeCapacityReservationsCommandInput) =>
        byIds(
          "DescribeCapacityReservations",
          capacityReservations,
          (reservation) => reservation.CapacityReservationId,
          input.CapacityReservationIds,
          "InvalidCapacityReservationId.NotFound"
        ).pipe(
          Effect.flatMap((selected) =>
            Ec2Filters.apply(
              "DescribeCapacityReservations",
              selected,
              input.Filters,
              capacityReservationFields,
              (reservation) => reservation.Tags
            )
          ),
          Effect.map((selected) => selected.map((reservation) => ({ ...reservation })))
        )

      const isPrioritized = (strategy: string) =>
        strategy === "prioritized" || strategy === "capacity-optimized-prioritized"

      const createFleet = Effect.fn("FakeAws.createFleet")(function* (input: Ec2Sdk.CreateFleetCommandInput) {
        const token = input.ClientToken
        const answered = token === undefined ? undefined : fleetsByToken.get(token)
        if (answered !== undefined) return answered
        if (input.Type !== "instant") {
          return yield* awsFailure("CreateFleet", "InvalidParameterValue", "the fake answers instant fleets only")
        }
        const capacityType: CapacityPool["capacityType"] =
          input.TargetCapacitySpecification?.DefaultTargetCapacityType === "spot" ? "spot" : "on-demand"
        const total = input.TargetCapacitySpecification?.TotalTargetCapacity ?? 1
        const strategy: string =
          capacityType === "spot"
            ? (input.SpotOptions?.AllocationStrategy ?? "price-capacity-optimized")
            : (input.OnDemandOptions?.AllocationStrategy ?? "lowest-price")
        const candidates = yield* candidatesOf(input, capacityType)
        // Price-capacity-optimized weighs spare capacity too; the fake has no capacity figures, so it takes the
        // cheapest, as lowest-price does. Sorting is stable: equal prices keep the request's order.
        const ordered = isPrioritized(strategy)
          ? [...candidates].sort(
              (x, y) =>
                (x.override.Priority ?? Number.POSITIVE_INFINITY) - (y.override.Priority ?? Number.POSITIVE_INFINITY)
            )
          : [...candidates].sort((x, y) => x.price - y.price)
        const errors: Array<Ec2Sdk.CreateFleetError> = []
        const reported = new Set<string>()
        const fleetError = (candidate: Candidate, code: string, message: string) => {
          const key = `${poolKey({ instanceType: candidate.instanceType, zone: candidate.zone, capacityType })}/${code}`
          if (reported.has(key)) return
          reported.add(key)
          errors.push({
            ErrorCode: code,
            ErrorMessage: message,
            Lifecycle: capacityType,
            LaunchTemplateAndOverrides: {
              LaunchTemplateSpecification: {
                LaunchTemplateId: candidate.template.template.LaunchTemplateId,
                Version: "1"
              },
              Overrides: {
                InstanceType: candidate.instanceType as Ec2InstanceType,
                AvailabilityZone: candidate.zone,
                SubnetId: candidate.subnet.SubnetId
              }
            }
          })
        }
        const chosen = ordered.find((candidate) => {
          const targeted = candidate.template.data?.CapacityReservationSpecification?.CapacityReservationTarget
          if (
            targeted?.CapacityReservationId !== undefined &&
            reservedRoom(candidate, targeted.CapacityReservationId) < total
          ) {
            fleetError(
              candidate,
              "InsufficientInstanceCapacity",
              `Insufficient capacity in capacity reservation ${targeted.CapacityReservationId}.`
            )
            return false
          }
          if (
            insufficientPools.has(poolKey({ instanceType: candidate.instanceType, zone: candidate.zone, capacityType }))
          ) {
            fleetError(
              candidate,
              "InsufficientInstanceCapacity",
              `We currently do not have sufficient ${candidate.instanceType} capacity in the Availability Zone you requested (${candidate.zone}).`
            )
            return false
          }
          if ((candidate.subnet.AvailableIpAddressCount ?? 0) < total) {
            fleetError(candidate, "InsufficientFreeAddressesInSubnet", "There are not enough free addresses in subnet")
            return false
          }
          return true
        })
        const instanceIds: Array<string> = []
        if (chosen !== undefined) {
          const now = yield* Clock.currentTimeMillis
          const reservationId = nextId("r")
          const tags = new Map(
            [
              ...tagsOf(chosen.template.data?.TagSpecifications, "instance"),
              ...tagsOf(input.TagSpecifications, "instance")
            ].map((tag) => [tag.Key ?? "", tag.Value ?? ""] as const)
          )
          const reservationTarget =
            chosen.template.data?.CapacityReservationSpecification?.CapacityReservationTarget?.CapacityReservationId
          const reservation = reservationOf(reservationTarget)
          for (let launched = 0; launched < total; launched++) {
            const { instance, ...rest } = launch(chosen, capacityType, tags)
            if (reservation !== undefined) {
              reservation.AvailableInstanceCount = (reservation.AvailableInstanceCount ?? 0) - 1
            }
            const record: InstanceRecord = {
              instance: {
                ...instance,
                LaunchTime: new Date(now),
                ...(reservation === undefined ? {} : { CapacityReservationId: reservation.CapacityReservationId })
              },
              reservationId,
              terminatedAt: undefined,
              ...rest
            }
            instances.set(instance.InstanceId ?? "", record)
            instanceIds.push(instance.InstanceId ?? "")
            yield* PubSub.publish(instanceChanges, { _tag: "Launched", instance: snapshot(record, now) } as const)
          }
        }
        const output: Ec2Sdk.CreateFleetCommandOutput = {
          FleetId: nextId("fleet"),
          Instances:
            chosen === undefined
              ? []
              : [
                  {
                    InstanceIds: instanceIds,
                    InstanceType: chosen.instanceType as Ec2InstanceType,
                    Lifecycle: capacityType,
                    LaunchTemplateAndOverrides: {
                      LaunchTemplateSpecification: {
                        LaunchTemplateId: chosen.template.template.LaunchTemplateId,
                        Version: "1"
                      },
                      Overrides: {
                        InstanceType: chosen.instanceType as Ec2InstanceType,
                        AvailabilityZone: chosen.zone,
                        SubnetId: chosen.subnet.SubnetId,
                        ImageId: chosen.override.ImageId
                      }
                    }
                  }
                ],
          Errors: errors,
          ...metadata
        }
        if (token !== undefined) fleetsByToken.set(token, output)
        return output
      })

      // -- EC2: launch templates --------------------------------------------------------------------------------------

      const createLaunchTemplate = Effect.fn("FakeAws.createLaunchTemplate")(function* (
        input: Ec2Sdk.CreateLaunchTemplateCommandInput
      ) {
        const name = input.LaunchTemplateName ?? ""
        if (launchTemplates.has(name)) {
          return yield* awsFailure(
            "CreateLaunchTemplate",
            "InvalidLaunchTemplateName.AlreadyExistsException",
            `Launch template name already in use.`
          )
        }
        const now = yield* Clock.currentTimeMillis
        const template: Ec2Sdk.LaunchTemplate = {
          LaunchTemplateId: nextId("lt"),
          LaunchTemplateName: name,
          CreateTime: new Date(now),
          CreatedBy: `arn:aws:iam::${accountId}:role/KarpenterController`,
          DefaultVersionNumber: 1,
          LatestVersionNumber: 1,
          Tags: tagsOf(input.TagSpecifications, "launch-template")
        }
        launchTemplates.set(name, { template, data: input.LaunchTemplateData })
        return { LaunchTemplate: template, ...metadata }
      })

      const templateFields: Ec2Filters.Fields<Ec2Sdk.LaunchTemplate> = {
        "launch-template-name": (template) => template.LaunchTemplateName,
        "launch-template-id": (template) => template.LaunchTemplateId
      }

      const describeLaunchTemplates = Effect.fn("FakeAws.describeLaunchTemplates")(function* (
        input: Ec2Sdk.DescribeLaunchTemplatesCommandInput
      ) {
        const all = Array.from(launchTemplates.values(), (record) => record.template)
        const missingName = input.LaunchTemplateNames?.find((name) => !launchTemplates.has(name))
        const missingId = input.LaunchTemplateIds?.find(
          (id) => !all.some((template) => template.LaunchTemplateId === id)
        )
        if (missingName !== undefined || missingId !== undefined) {
          return yield* awsFailure(
            "DescribeLaunchTemplates",
            missingName !== undefined
              ? "InvalidLaunchTemplateName.NotFoundException"
              : "InvalidLaunchTemplateId.NotFound",
            "At least one of the launch templates specified in the request does not exist."
          )
        }
        const selected = all.filter(
          (template) =>
            (input.LaunchTemplateNames === undefined ||
              input.LaunchTemplateNames.includes(template.LaunchTemplateName ?? "")) &&
            (input.LaunchTemplateIds === undefined || input.LaunchTemplateIds.includes(template.LaunchTemplateId ?? ""))
        )
        return yield* Ec2Filters.apply(
          "DescribeLaunchTemplates",
          selected,
          input.Filters,
          templateFields,
          (template) => template.Tags
        )
      })

      const deleteLaunchTemplate = Effect.fn("FakeAws.deleteLaunchTemplate")(function* (
        input: Ec2Sdk.DeleteLaunchTemplateCommandInput
      ) {
        const record =
          input.LaunchTemplateName === undefined
            ? Array.from(launchTemplates.values()).find(
                (candidate) => candidate.template.LaunchTemplateId === input.LaunchTemplateId
              )
            : launchTemplates.get(input.LaunchTemplateName)
        if (record === undefined) {
          return yield* awsFailure(
            "DeleteLaunchTemplate",
            input.LaunchTemplateName === undefined
              ? "InvalidLaunchTemplateId.NotFound"
              : "InvalidLaunchTemplateName.NotFoundException",
            "The specified launch template does not exist."
          )
        }
        launchTemplates.delete(record.template.LaunchTemplateName ?? "")
        return { LaunchTemplate: record.template, ...metadata }
      })

      // -- EC2: network, images, instance types, spot prices -----------------------------------------------------------

      /** The resources named by `ids` (all must exist, else `code`), or all of them. */
      const byIds = <R>(
        operation: Operation,
        resources: ReadonlyArray<R>,
        idOf: (resource: R) => string | undefined,
        ids: ReadonlyArray<string> | undefined,
        code: string
      ): Effect.Effect<ReadonlyArray<R>, AwsError.AwsFailure> => {
        if (ids === undefined || ids.length === 0) return Effect.succeed(resources)
        const missing = ids.find((id) => !resources.some((resource) => idOf(resource) === id))
        return missing === undefined
          ? Effect.succeed(resources.filter((resource) => ids.includes(idOf(resource) ?? "")))
          : Effect.fail(awsFailure(operation, code, `The ID '${missing}' does not exist`))
      }

      const subnetFields: Ec2Filters.Fields<Ec2Sdk.Subnet> = {
        "subnet-id": (subnet) => subnet.SubnetId,
        "vpc-id": (subnet) => subnet.VpcId,
        "availability-zone": (subnet) => subnet.AvailabilityZone,
        "availability-zone-id": (subnet) => subnet.AvailabilityZoneId,
        "cidr-block": (subnet) => subnet.CidrBlock,
        state: (subnet) => subnet.State
      }

      const securityGroupFields: Ec2Filters.Fields<Ec2Sdk.SecurityGroup> = {
        "group-id": (group) => group.GroupId,
        "group-name": (group) => group.GroupName,
        "vpc-id": (group) => group.VpcId
      }

      const imageFields: Ec2Filters.Fields<Ec2Sdk.Image> = {
        "image-id": (image) => image.ImageId,
        name: (image) => image.Name,
        architecture: (image) => image.Architecture,
        state: (image) => image.State,
        "owner-id": (image) => image.OwnerId,
        "owner-alias": (image) => image.ImageOwnerAlias,
        "is-public": (image) => String(image.Public ?? false)
      }

      const describeImages = Effect.fn("FakeAws.describeImages")(function* (input: Ec2Sdk.DescribeImagesCommandInput) {
        const owned =
          input.Owners === undefined || input.Owners.length === 0
            ? images
            : images.filter((image) =>
                input.Owners?.some((owner) => owner === image.OwnerId || owner === image.ImageOwnerAlias)
              )
        const selected = yield* byIds(
          "DescribeImages",
          owned,
          (image) => image.ImageId,
          input.ImageIds,
          "InvalidAMIID.NotFound"
        )
        return yield* Ec2Filters.apply("DescribeImages", selected, input.Filters, imageFields, (image) => image.Tags)
      })

      const instanceTypeFields: Ec2Filters.Fields<Ec2Sdk.InstanceTypeInfo> = {
        "instance-type": (info) => info.InstanceType,
        "processor-info.supported-architecture": (info) => info.ProcessorInfo?.SupportedArchitectures,
        // Every type of the dataset runs HVM guests (Nitro and Xen alike).
        "supported-virtualization-type": () => "hvm",
        "bare-metal": (info) => String(info.BareMetal ?? false)
      }

      const describeInstanceTypes = Effect.fn("FakeAws.describeInstanceTypes")(function* (
        input: Ec2Sdk.DescribeInstanceTypesCommandInput
      ) {
        const selected = yield* byIds(
          "DescribeInstanceTypes",
          described.map((entry) => entry.info),
          (info) => info.InstanceType,
          input.InstanceTypes,
          "InvalidInstanceType"
        )
        return yield* Ec2Filters.apply("DescribeInstanceTypes", selected, input.Filters, instanceTypeFields, () => [])
      })

      const offeringFields: Ec2Filters.Fields<Ec2Sdk.InstanceTypeOffering> = {
        location: (offering) => offering.Location,
        "instance-type": (offering) => offering.InstanceType
      }

      const describeInstanceTypeOfferings = (input: Ec2Sdk.DescribeInstanceTypeOfferingsCommandInput) => {
        const locationType = input.LocationType ?? "region"
        const locations =
          locationType === "region"
            ? [region]
            : subnets.map(
                (subnet) =>
                  (locationType === "availability-zone" ? subnet.AvailabilityZone : subnet.AvailabilityZoneId) ?? ""
              )
        const offerings = described.flatMap((entry) =>
          locations.map(
            (Location): Ec2Sdk.InstanceTypeOffering => ({
              InstanceType: entry.info.InstanceType,
              LocationType: locationType,
              Location
            })
          )
        )
        return Ec2Filters.apply("DescribeInstanceTypeOfferings", offerings, input.Filters, offeringFields, () => [])
      }

      const spotPriceFields: Ec2Filters.Fields<Ec2Sdk.SpotPrice> = {
        "availability-zone": (price) => price.AvailabilityZone,
        "instance-type": (price) => price.InstanceType,
        "product-description": (price) => price.ProductDescription
      }

      const describeSpotPriceHistory = Effect.fn("FakeAws.describeSpotPriceHistory")(function* (
        input: Ec2Sdk.DescribeSpotPriceHistoryCommandInput
      ) {
        const now = yield* Clock.currentTimeMillis
        const wanted = (values: ReadonlyArray<string> | undefined, value: string) =>
          values === undefined || values.length === 0 || values.includes(value)
        const prices = described.flatMap(({ record, info }) =>
          record.onDemandPriceUSD === null || !wanted(input.InstanceTypes, record.name)
            ? []
            : zones.flatMap(
                (zone): Array<Ec2Sdk.SpotPrice> =>
                  wanted(input.ProductDescriptions, "Linux/UNIX") &&
                  (input.AvailabilityZone === undefined || input.AvailabilityZone === zone)
                    ? [
                        {
                          InstanceType: info.InstanceType,
                          AvailabilityZone: zone,
                          ProductDescription: "Linux/UNIX",
                          SpotPrice: spotPrice(record.name, record.onDemandPriceUSD ?? 0, zone).toFixed(6),
                          Timestamp: new Date(now)
                        }
                      ]
                    : []
              )
        )
        return yield* Ec2Filters.apply("DescribeSpotPriceHistory", prices, input.Filters, spotPriceFields, () => [])
      })

      const ec2 = Ec2.of({
        describeInstanceTypes: call("DescribeInstanceTypes", describeInstanceTypes),
        describeInstanceTypeOfferings: call("DescribeInstanceTypeOfferings", describeInstanceTypeOfferings),
        describeSpotPriceHistory: call("DescribeSpotPriceHistory", describeSpotPriceHistory),
        describeSubnets: call("DescribeSubnets", (input: Ec2Sdk.DescribeSubnetsCommandInput) =>
          byIds(
            "DescribeSubnets",
            subnets,
            (subnet) => subnet.SubnetId,
            input.SubnetIds,
            "InvalidSubnetID.NotFound"
          ).pipe(
            Effect.flatMap((selected) =>
              Ec2Filters.apply("DescribeSubnets", selected, input.Filters, subnetFields, (subnet) => subnet.Tags)
            ),
            Effect.map((selected) => selected.map((subnet) => ({ ...subnet })))
          )
        ),
        describeSecurityGroups: call("DescribeSecurityGroups", (input: Ec2Sdk.DescribeSecurityGroupsCommandInput) =>
          byIds(
            "DescribeSecurityGroups",
            securityGroups,
            (group) => group.GroupId,
            input.GroupIds,
            "InvalidGroup.NotFound"
          ).pipe(
            Effect.flatMap((selected) =>
              Ec2Filters.apply(
                "DescribeSecurityGroups",
                selected,
                input.Filters,
                securityGroupFields,
                (group) => group.Tags
              )
            )
          )
        ),
        describeImages: call("DescribeImages", describeImages),
        describeLaunchTemplates: call("DescribeLaunchTemplates", describeLaunchTemplates),
        describeInstances: call("DescribeInstances", describeInstances),
        describeCapacityReservations: call("DescribeCapacityReservations", describeCapacityReservations),
        createFleet: call("CreateFleet", createFleet),
        createLaunchTemplate: call("CreateLaunchTemplate", createLaunchTemplate),
        deleteLaunchTemplate: call("DeleteLaunchTemplate", deleteLaunchTemplate),
        terminateInstances: call("TerminateInstances", terminateInstances),
        createTags: call("CreateTags", createTags)
      })

      // -- SSM ----------------------------------------------------------------------------------------------------------

      const ssm = Ssm.of({
        getParameter: call("GetParameter", (input: SsmSdk.GetParameterCommandInput) => {
          const name = input.Name ?? ""
          const value = parameters.get(name)
          return value === undefined
            ? Effect.fail(awsFailure("GetParameter", "ParameterNotFound", `Parameter ${name} not found.`))
            : Effect.succeed({
                Parameter: { Name: name, Type: "String" as const, Value: value, Version: 1 },
                ...metadata
              })
        })
      })

      // -- IAM ----------------------------------------------------------------------------------------------------------

      const profile = (operation: Operation, name: string | undefined) => {
        const found = instanceProfiles.get(name ?? "")
        return found === undefined
          ? Effect.fail(awsFailure(operation, "NoSuchEntity", `Instance Profile ${name} cannot be found.`, 404))
          : Effect.succeed(found)
      }

      const createInstanceProfile = Effect.fn("FakeAws.createInstanceProfile")(function* (
        input: IamSdk.CreateInstanceProfileCommandInput
      ) {
        const name = input.InstanceProfileName ?? ""
        if (instanceProfiles.has(name)) {
          return yield* awsFailure(
            "CreateInstanceProfile",
            "EntityAlreadyExists",
            `Instance Profile ${name} already exists.`,
            409
          )
        }
        const now = yield* Clock.currentTimeMillis
        const path = input.Path ?? "/"
        const created: IamSdk.InstanceProfile = {
          InstanceProfileName: name,
          InstanceProfileId: `AIPA${(++counter).toString(16).toUpperCase().padStart(17, "0")}`,
          Arn: `arn:aws:iam::${accountId}:instance-profile${path}${name}`,
          Path: path,
          CreateDate: new Date(now),
          Roles: [],
          Tags: [...(input.Tags ?? [])]
        }
        instanceProfiles.set(name, created)
        return { InstanceProfile: created, ...metadata }
      })

      const addRoleToInstanceProfile = Effect.fn("FakeAws.addRoleToInstanceProfile")(function* (
        input: IamSdk.AddRoleToInstanceProfileCommandInput
      ) {
        const found = yield* profile("AddRoleToInstanceProfile", input.InstanceProfileName)
        if ((found.Roles ?? []).length > 0) {
          return yield* awsFailure(
            "AddRoleToInstanceProfile",
            "LimitExceeded",
            "Cannot exceed quota for InstanceSessionsPerInstanceProfile: 1",
            409
          )
        }
        const now = yield* Clock.currentTimeMillis
        // Every role is taken to exist: the fake has no roles of its own.
        found.Roles = [
          {
            RoleName: input.RoleName,
            RoleId: `AROA${(++counter).toString(16).toUpperCase().padStart(17, "0")}`,
            Arn: `arn:aws:iam::${accountId}:role/${input.RoleName}`,
            Path: "/",
            CreateDate: new Date(now)
          }
        ]
      })

      const removeRoleFromInstanceProfile = Effect.fn("FakeAws.removeRoleFromInstanceProfile")(function* (
        input: IamSdk.RemoveRoleFromInstanceProfileCommandInput
      ) {
        const found = yield* profile("RemoveRoleFromInstanceProfile", input.InstanceProfileName)
        if (!(found.Roles ?? []).some((role) => role.RoleName === input.RoleName)) {
          return yield* awsFailure(
            "RemoveRoleFromInstanceProfile",
            "NoSuchEntity",
            `The role with name ${input.RoleName} cannot be found.`,
            404
          )
        }
        found.Roles = (found.Roles ?? []).filter((role) => role.RoleName !== input.RoleName)
      })

      const deleteInstanceProfile = Effect.fn("FakeAws.deleteInstanceProfile")(function* (
        input: IamSdk.DeleteInstanceProfileCommandInput
      ) {
        const found = yield* profile("DeleteInstanceProfile", input.InstanceProfileName)
        if ((found.Roles ?? []).length > 0) {
          return yield* awsFailure(
            "DeleteInstanceProfile",
            "DeleteConflict",
            "Cannot delete entity, must remove roles from instance profile first.",
            409
          )
        }
        instanceProfiles.delete(found.InstanceProfileName ?? "")
      })

      const tagInstanceProfile = Effect.fn("FakeAws.tagInstanceProfile")(function* (
        input: IamSdk.TagInstanceProfileCommandInput
      ) {
        const found = yield* profile("TagInstanceProfile", input.InstanceProfileName)
        const tags = new Map((found.Tags ?? []).map((tag) => [tag.Key, tag.Value] as const))
        for (const tag of input.Tags ?? []) tags.set(tag.Key, tag.Value)
        found.Tags = Array.from(tags, ([Key, Value]) => ({ Key, Value }))
      })

      const iam = Iam.of({
        getInstanceProfile: call("GetInstanceProfile", (input: IamSdk.GetInstanceProfileCommandInput) =>
          Effect.map(profile("GetInstanceProfile", input.InstanceProfileName), (found) => ({
            // A copy, so the caller's view does not change under it.
            InstanceProfile: { ...found, Roles: [...(found.Roles ?? [])], Tags: [...(found.Tags ?? [])] },
            ...metadata
          }))
        ),
        createInstanceProfile: call("CreateInstanceProfile", createInstanceProfile),
        addRoleToInstanceProfile: call("AddRoleToInstanceProfile", addRoleToInstanceProfile),
        removeRoleFromInstanceProfile: call("RemoveRoleFromInstanceProfile", removeRoleFromInstanceProfile),
        deleteInstanceProfile: call("DeleteInstanceProfile", deleteInstanceProfile),
        tagInstanceProfile: call("TagInstanceProfile", tagInstanceProfile)
      })

      // -- Pricing ------------------------------------------------------------------------------------------------------

      /** The price-list product of each priced type, as GetProducts documents it, with the attributes filters match. */
      const products = described.flatMap(({ record }, index) => {
        if (record.onDemandPriceUSD === null) return []
        const sku = `FAKESKU${index.toString().padStart(9, "0")}`
        // Upstream asks for bare-metal types separately: they are listed as dedicated hosts of their own family.
        const attributes: Record<string, string> = {
          instanceType: record.name,
          regionCode: region,
          location: regionLocations[region] ?? region,
          operatingSystem: "Linux",
          tenancy: record.baremetal ? "Dedicated" : "Shared",
          capacitystatus: "Used",
          preInstalledSw: "NA",
          marketoption: "OnDemand",
          licenseModel: "No License required",
          vcpu: String(record.vcpu),
          memory: `${record.memoryMiB / 1024} GiB`,
          servicecode: "AmazonEC2"
        }
        const productFamily = record.baremetal ? "Compute Instance (bare metal)" : "Compute Instance"
        const offerTerm = "JRTCKXETXF"
        const document = JSON.stringify({
          product: { productFamily, attributes, sku },
          serviceCode: "AmazonEC2",
          terms: {
            OnDemand: {
              [`${sku}.${offerTerm}`]: {
                priceDimensions: {
                  [`${sku}.${offerTerm}.6YS6EN2CT7`]: {
                    unit: "Hrs",
                    endRange: "Inf",
                    description: `$${record.onDemandPriceUSD} per On Demand Linux ${record.name} Instance Hour`,
                    appliesTo: [],
                    rateCode: `${sku}.${offerTerm}.6YS6EN2CT7`,
                    beginRange: "0",
                    pricePerUnit: { USD: record.onDemandPriceUSD.toFixed(10) }
                  }
                },
                sku,
                effectiveDate: "2025-01-01T00:00:00Z",
                offerTermCode: offerTerm,
                termAttributes: {}
              }
            }
          },
          version: "20250101000000",
          publicationDate: "2025-01-01T00:00:00Z"
        })
        const fields: Readonly<Record<string, string>> = { ...attributes, productFamily, serviceCode: "AmazonEC2" }
        return [{ fields, document }]
      })

      const pricing = Pricing.of({
        getProducts: call("GetProducts", (input) =>
          Effect.succeed(
            input.ServiceCode !== "AmazonEC2"
              ? []
              : products
                  .filter((product) =>
                    (input.Filters ?? []).every((filter) => product.fields[filter.Field ?? ""] === filter.Value)
                  )
                  .map((product) => product.document)
          )
        )
      })

      // -- SQS ----------------------------------------------------------------------------------------------------------

      const queueMissing = (operation: Operation) =>
        awsFailure(operation, "AWS.SimpleQueueService.NonExistentQueue", "The specified queue does not exist.")

      /** Takes up to `max` visible messages, hiding each for `visibilityMillis`. */
      const takeVisible = (now: number, max: number, visibilityMillis: number): Array<SqsSdk.Message> =>
        Array.from(messages.values())
          .filter((message) => message.visibleAt <= now)
          .slice(0, max)
          .map((message) => {
            message.visibleAt = now + visibilityMillis
            message.receiveCount++
            const receiptHandle = `${message.id}#${message.receiveCount}`
            receipts.set(receiptHandle, message.id)
            return {
              MessageId: message.id,
              ReceiptHandle: receiptHandle,
              Body: message.body,
              Attributes: {
                ApproximateReceiveCount: String(message.receiveCount),
                SentTimestamp: String(message.sentAt)
              }
            }
          })

      const receiveMessage = Effect.fn("FakeAws.receiveMessage")(function* (input: SqsSdk.ReceiveMessageCommandInput) {
        if (input.QueueUrl !== queueUrl) return yield* queueMissing("ReceiveMessage")
        const max = Math.min(input.MaxNumberOfMessages ?? 1, 10)
        const visibilityMillis = (input.VisibilityTimeout ?? defaultVisibilitySeconds) * 1000
        const deadline = (yield* Clock.currentTimeMillis) + (input.WaitTimeSeconds ?? 0) * 1000
        // Long polling: wait for a send or for a hidden message to show again, until the wait time is over.
        while (true) {
          const now = yield* Clock.currentTimeMillis
          const received = takeVisible(now, max, visibilityMillis)
          if (received.length > 0 || now >= deadline) return { Messages: received, ...metadata }
          const nextVisible = Math.min(
            deadline,
            ...Array.from(messages.values(), (message) => message.visibleAt).filter((at) => at > now)
          )
          const sent = yield* Deferred.make<void>()
          messageWaiters.add(sent)
          yield* Effect.raceFirst(Deferred.await(sent), Effect.sleep(Duration.millis(nextVisible - now))).pipe(
            Effect.ensuring(Effect.sync(() => messageWaiters.delete(sent)))
          )
        }
      })

      const sqs = Sqs.of({
        getQueueUrl: call("GetQueueUrl", (input: SqsSdk.GetQueueUrlCommandInput) =>
          input.QueueName === queueName
            ? Effect.succeed({ QueueUrl: queueUrl, ...metadata })
            : Effect.fail(queueMissing("GetQueueUrl"))
        ),
        receiveMessage: call("ReceiveMessage", receiveMessage),
        deleteMessage: call("DeleteMessage", (input: SqsSdk.DeleteMessageCommandInput) => {
          if (input.QueueUrl !== queueUrl) return Effect.fail(queueMissing("DeleteMessage"))
          const id = receipts.get(input.ReceiptHandle ?? "")
          if (id === undefined) {
            return Effect.fail(
              awsFailure(
                "DeleteMessage",
                "ReceiptHandleIsInvalid",
                `The receipt handle "${input.ReceiptHandle}" is not valid.`
              )
            )
          }
          // An older receipt handle of a message still deletes it, and deleting twice succeeds, as in SQS.
          messages.delete(id)
          return Effect.void
        })
      })

      // -- Controls -----------------------------------------------------------------------------------------------------

      const addFaults = (operation: Operation, times: number, fault: AwsError.AwsFailure) =>
        Effect.sync(() => {
          const queued = faults.get(operation) ?? []
          for (let n = 0; n < times; n++) queued.push(fault)
          faults.set(operation, queued)
        })

      return {
        ec2,
        ssm,
        iam,
        pricing,
        sqs,
        region,
        zones,
        accountId,
        queueUrl,
        insufficientCapacity: (pool) => Effect.sync(() => void insufficientPools.add(poolKey(pool))),
        restoreCapacity: (pool) => Effect.sync(() => void insufficientPools.delete(poolKey(pool))),
        createCapacityReservation: (reservation) =>
          Effect.map(Clock.currentTimeMillis, (now) => {
            const id = nextId("cr")
            capacityReservations.push({
              CapacityReservationId: id,
              OwnerId: accountId,
              InstanceType: reservation.instanceType as Ec2InstanceType,
              InstancePlatform: "Linux/UNIX",
              AvailabilityZone: reservation.availabilityZone,
              Tenancy: "default",
              TotalInstanceCount: reservation.count,
              AvailableInstanceCount: reservation.count,
              State: "active",
              StartDate: new Date(now),
              ...(reservation.endDate === undefined ? {} : { EndDate: reservation.endDate, EndDateType: "limited" }),
              InstanceMatchCriteria: reservation.instanceMatchCriteria ?? "targeted",
              Tags: Object.entries(reservation.tags ?? {}).map(([Key, Value]) => ({ Key, Value }))
            })
            return id
          }),
        setCapacityReservationState: (id, state) =>
          Effect.sync(() => {
            const reservation = reservationOf(id)
            if (reservation !== undefined) reservation.State = state
          }),
        throttle: (operation, times) =>
          addFaults(
            operation,
            times,
            awsFailure(
              operation,
              operations[operation] === "EC2" ? "RequestLimitExceeded" : "ThrottlingException",
              "Rate exceeded",
              operations[operation] === "EC2" ? 503 : 400
            )
          ),
        fail: (operation, code, failOptions) =>
          addFaults(
            operation,
            failOptions?.times ?? 1,
            awsFailure(operation, code, failOptions?.message ?? code, failOptions?.statusCode ?? 500)
          ),
        setSpotPrice: (instanceType, zone, price) =>
          Effect.sync(() => void spotPrices.set(`${instanceType}/${zone}`, price)),
        putParameter: (name, value) => Effect.sync(() => void parameters.set(name, value)),
        createSecurityGroup: (group) =>
          Effect.sync(() => {
            const created = { ...group, GroupId: nextId("sg"), VpcId: vpcId, OwnerId: accountId }
            securityGroups.push(created)
            return created.GroupId
          }),
        registerImage: (image) =>
          Effect.sync(() => {
            const registered = { State: "available" as const, OwnerId: accountId, ...image, ImageId: nextId("ami") }
            images.push(registered)
            return registered.ImageId
          }),
        sendMessage: Effect.fn("FakeAws.sendMessage")(function* (body: string) {
          const now = yield* Clock.currentTimeMillis
          const id = `msg-${(++counter).toString().padStart(8, "0")}`
          messages.set(id, { id, body, sentAt: now, visibleAt: now, receiveCount: 0 })
          for (const waiter of messageWaiters) yield* Deferred.succeed(waiter, undefined)
          return id
        }),
        queueDepth: Effect.sync(() => messages.size),
        calls: Effect.sync(() => [...calls]),
        runningInstances: Effect.map(Clock.currentTimeMillis, (now) =>
          Array.from(instances.values())
            .filter((record) => stateAt(record, now) === instanceStates.running)
            .map((record) => snapshot(record, now))
        ),
        isRunning: (instanceId) =>
          Effect.map(Clock.currentTimeMillis, (now) => {
            const record = instances.get(instanceId)
            return record !== undefined && stateAt(record, now) === instanceStates.running
          }),
        instanceChanges: Effect.map(PubSub.subscribe(instanceChanges), Stream.fromSubscription)
      } satisfies Controls
    })
  )

/** The five sdk services of the fake in context: Ec2, Ssm, Iam, Pricing and Sqs. */
const services = Layer.effectContext(
  Effect.map(FakeAws, (fake) =>
    Context.make(Ec2, fake.ec2).pipe(
      Context.add(Ssm, fake.ssm),
      Context.add(Iam, fake.iam),
      Context.add(Pricing, fake.pricing),
      Context.add(Sqs, fake.sqs)
    )
  )
)

/** The fake AWS and the five sdk services it answers: Ec2, Ssm, Iam, Pricing and Sqs. */
export const layer = (options: Options): Layer.Layer<FakeAws | Ec2 | Ssm | Iam | Pricing | Sqs> =>
  Layer.provideMerge(services, Layer.effect(FakeAws, make(options)))

/** A fake already made (its state shared with whoever holds it) and its five sdk services. */
export const layerOf = (fake: Controls): Layer.Layer<FakeAws | Ec2 | Ssm | Iam | Pricing | Sqs> =>
  Layer.provideMerge(services, Layer.succeed(FakeAws, fake))
