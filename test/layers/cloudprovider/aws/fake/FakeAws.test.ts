import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/testing/TestClock"
import * as FakeAws from "../../../../../layers/cloudprovider/aws/fake/FakeAws.ts"
import { Ec2 } from "../../../../../layers/cloudprovider/aws/sdk/Ec2.ts"
import { Iam } from "../../../../../layers/cloudprovider/aws/sdk/Iam.ts"
import { Pricing } from "../../../../../layers/cloudprovider/aws/sdk/Pricing.ts"
import { Sqs } from "../../../../../layers/cloudprovider/aws/sdk/Sqs.ts"
import { Ssm } from "../../../../../layers/cloudprovider/aws/sdk/Ssm.ts"
import * as Ec2Dataset from "../../../../../src/cloudprovider/aws/Ec2Dataset.ts"
import { readDataJson, root } from "../../../../fixtures.ts"

// Decoded once for the file: every test builds its fake from these records.
const instanceTypes = Schema.decodeUnknownSync(Ec2Dataset.Dataset)(readDataJson("aws-instance-types.json"))

const withFake = <A, E>(
  effect: Effect.Effect<A, E, FakeAws.FakeAws | Ec2 | Ssm | Iam | Pricing | Sqs>,
  options?: Partial<FakeAws.Options>
) => Effect.provide(effect, FakeAws.layer({ instanceTypes, ...options }))

const ensureTemplate = Effect.gen(function* () {
  const ec2 = yield* Ec2
  const [image] = yield* ec2.describeImages({
    Filters: [{ Name: "name", Values: ["amazon-eks-node-al2023-x86_64-standard-1.32-*"] }]
  })
  yield* ec2.createLaunchTemplate({
    LaunchTemplateName: "karpenter.k8s.aws/default",
    LaunchTemplateData: { ImageId: image?.ImageId },
    TagSpecifications: [{ ResourceType: "launch-template", Tags: [{ Key: "karpenter.k8s.aws/cluster", Value: "c" }] }]
  })
  return image?.ImageId
})

/** An instant fleet of one instance over `types` × the three zones, in that order. */
const fleet = (types: ReadonlyArray<string>, capacityType: "on-demand" | "spot", strategy?: string) => ({
  Type: "instant" as const,
  TargetCapacitySpecification: { TotalTargetCapacity: 1, DefaultTargetCapacityType: capacityType },
  ...(strategy === undefined
    ? {}
    : capacityType === "spot"
      ? { SpotOptions: { AllocationStrategy: strategy as "capacity-optimized-prioritized" } }
      : { OnDemandOptions: { AllocationStrategy: strategy as "prioritized" } }),
  LaunchTemplateConfigs: [
    {
      LaunchTemplateSpecification: { LaunchTemplateName: "karpenter.k8s.aws/default", Version: "$Latest" },
      Overrides: types.flatMap((type, index) =>
        ["us-west-2a", "us-west-2b", "us-west-2c"].map((zone) => ({
          InstanceType: type as "m5.large",
          AvailabilityZone: zone,
          Priority: index
        }))
      )
    }
  ],
  TagSpecifications: [{ ResourceType: "instance" as const, Tags: [{ Key: "karpenter.sh/nodepool", Value: "default" }] }]
})

describe("FakeAws", () => {
  it.effect("seeds the default VPC, AL2023 AMIs with their SSM parameters, and the dataset's instance types", () =>
    withFake(
      Effect.gen(function* () {
        const ec2 = yield* Ec2
        const subnets = yield* ec2.describeSubnets({
          Filters: [{ Name: "tag:karpenter.sh/discovery", Values: ["test-cluster"] }]
        })
        assert.deepStrictEqual(
          subnets.map((subnet) => subnet.AvailabilityZone),
          ["us-west-2a", "us-west-2b", "us-west-2c"]
        )
        const groups = yield* ec2.describeSecurityGroups({ Filters: [{ Name: "tag-key", Values: ["karpenter.sh/*"] }] })
        assert.deepStrictEqual(
          groups.map((group) => group.GroupName),
          ["test-cluster-node"]
        )

        const ssm = yield* Ssm
        const recommended = yield* ssm.getParameter({
          Name: "/aws/service/eks/optimized-ami/1.32/amazon-linux-2023/arm64/standard/recommended/image_id"
        })
        const [image] = yield* ec2.describeImages({ ImageIds: [recommended.Parameter?.Value ?? ""] })
        assert.strictEqual(image?.Name, "amazon-eks-node-al2023-arm64-standard-1.32-v20250301")
        assert.strictEqual(image?.Architecture, "arm64")
        const releases = yield* ec2.describeImages({
          Owners: ["amazon"],
          Filters: [{ Name: "name", Values: ["amazon-eks-node-al2023-arm64-standard-1.32-v2025????"] }]
        })
        assert.deepStrictEqual(
          releases.map((release) => release.CreationDate),
          ["2025-01-01T00:00:00.000Z", "2025-03-01T00:00:00.000Z"]
        )
        const missing = yield* ssm.getParameter({ Name: "/aws/service/eks/nope" }).pipe(Effect.flip)
        assert.deepStrictEqual([missing._tag, missing.code], ["AwsNotFound", "ParameterNotFound"])

        // Upstream's query: every HVM type of both architectures; the 8 records without VPC limits are left out.
        const described = yield* ec2.describeInstanceTypes({
          Filters: [
            { Name: "supported-virtualization-type", Values: ["hvm"] },
            { Name: "processor-info.supported-architecture", Values: ["x86_64", "arm64"] }
          ]
        })
        assert.strictEqual(described.length, 1355)
        const [m5] = yield* ec2.describeInstanceTypes({ InstanceTypes: ["m5.large"] })
        assert.deepStrictEqual([m5?.VCpuInfo?.DefaultVCpus, m5?.MemoryInfo?.SizeInMiB], [2, 8192])
        const offerings = yield* ec2.describeInstanceTypeOfferings({
          LocationType: "availability-zone",
          Filters: [{ Name: "instance-type", Values: ["m5.large"] }]
        })
        assert.deepStrictEqual(
          offerings.map((offering) => offering.Location),
          ["us-west-2a", "us-west-2b", "us-west-2c"]
        )
        const invalid = yield* ec2
          .describeSubnets({ Filters: [{ Name: "subnet-idd", Values: ["x"] }] })
          .pipe(Effect.flip)
        assert.deepStrictEqual([invalid._tag, invalid.code], ["AwsError", "InvalidParameterValue"])
      })
    )
  )

  it.effect("CreateFleet launches the cheapest override; spot at its zone's fraction; prioritized by Priority", () =>
    withFake(
      Effect.gen(function* () {
        const ec2 = yield* Ec2
        const imageId = yield* ensureTemplate
        // m5.large 0.096, c5.large 0.085, m6g.large 0.077 (us-east-1 on-demand); 2c is the cheapest spot zone.
        const onDemand = yield* ec2.createFleet(fleet(["m5.large", "c5.large", "m6g.large"], "on-demand"))
        const launched = onDemand.Instances?.[0]
        assert.deepStrictEqual(
          [
            launched?.InstanceType,
            launched?.LaunchTemplateAndOverrides?.Overrides?.AvailabilityZone,
            launched?.Lifecycle
          ],
          ["m6g.large", "us-west-2a", "on-demand"]
        )
        assert.deepStrictEqual(launched?.InstanceIds, ["i-00000000000000012"])
        const spot = yield* ec2.createFleet(fleet(["m5.large", "c5.large"], "spot"))
        assert.deepStrictEqual(
          [
            spot.Instances?.[0]?.InstanceType,
            spot.Instances?.[0]?.LaunchTemplateAndOverrides?.Overrides?.AvailabilityZone
          ],
          ["c5.large", "us-west-2c"]
        )
        const prioritized = yield* ec2.createFleet(fleet(["m5.large", "c5.large"], "on-demand", "prioritized"))
        assert.strictEqual(prioritized.Instances?.[0]?.InstanceType, "m5.large")

        const reservations = yield* ec2.describeInstances({ InstanceIds: spot.Instances?.[0]?.InstanceIds ?? [] })
        const instance = reservations[0]?.Instances?.[0]
        assert.strictEqual(instance?.ImageId, imageId)
        assert.strictEqual(instance?.InstanceLifecycle, "spot")
        assert.strictEqual(instance?.State?.Name, "running")
        assert.deepStrictEqual(instance?.Tags, [{ Key: "karpenter.sh/nodepool", Value: "default" }])
        assert.match(instance?.PrivateDnsName ?? "", /^ip-10-0-128-\d+\.us-west-2\.compute\.internal$/)
      }),
      { spotFractions: { "us-west-2a": 0.7, "us-west-2b": 0.6, "us-west-2c": 0.5 } }
    )
  )

  it.effect("insufficient capacity: per-override errors for the pools tried, the next pool launches", () =>
    withFake(
      Effect.gen(function* () {
        const fake = yield* FakeAws.FakeAws
        const ec2 = yield* Ec2
        yield* ensureTemplate
        for (const zone of ["us-west-2a", "us-west-2b"]) {
          yield* fake.insufficientCapacity({ instanceType: "c5.large", zone, capacityType: "on-demand" })
        }
        const output = yield* ec2.createFleet(fleet(["m5.large", "c5.large"], "on-demand"))
        assert.deepStrictEqual(
          output.Errors?.map((error) => [
            error.ErrorCode,
            error.LaunchTemplateAndOverrides?.Overrides?.InstanceType,
            error.LaunchTemplateAndOverrides?.Overrides?.AvailabilityZone
          ]),
          [
            ["InsufficientInstanceCapacity", "c5.large", "us-west-2a"],
            ["InsufficientInstanceCapacity", "c5.large", "us-west-2b"]
          ]
        )
        assert.strictEqual(output.Instances?.[0]?.LaunchTemplateAndOverrides?.Overrides?.AvailabilityZone, "us-west-2c")
        // Spot of the same pools is unaffected; with every pool out, the fleet launches nothing.
        const spot = yield* ec2.createFleet(fleet(["c5.large"], "spot"))
        assert.strictEqual(spot.Instances?.[0]?.InstanceType, "c5.large")
        yield* fake.insufficientCapacity({ instanceType: "c5.large", zone: "us-west-2c", capacityType: "on-demand" })
        const none = yield* ec2.createFleet(fleet(["c5.large"], "on-demand"))
        assert.deepStrictEqual([none.Instances, none.Errors?.length], [[], 3])

        const missing = yield* ec2
          .createFleet({
            ...fleet(["c5.large"], "on-demand"),
            LaunchTemplateConfigs: [{ LaunchTemplateSpecification: { LaunchTemplateName: "gone" }, Overrides: [] }]
          })
          .pipe(Effect.flip)
        assert.deepStrictEqual(
          [missing._tag, missing.code],
          ["AwsNotFound", "InvalidLaunchTemplateName.NotFoundException"]
        )
      })
    )
  )

  it.effect("a repeated ClientToken answers the first fleet again without launching twice", () =>
    withFake(
      Effect.gen(function* () {
        const ec2 = yield* Ec2
        yield* ensureTemplate
        const first = yield* ec2.createFleet({ ...fleet(["m5.large"], "on-demand"), ClientToken: "token-1" })
        const again = yield* ec2.createFleet({ ...fleet(["m5.large"], "on-demand"), ClientToken: "token-1" })
        assert.deepStrictEqual(again.Instances?.[0]?.InstanceIds, first.Instances?.[0]?.InstanceIds)
        const reservations = yield* ec2.describeInstances({})
        assert.strictEqual(reservations.flatMap((reservation) => reservation.Instances ?? []).length, 1)
      })
    )
  )

  it.effect("DescribeInstances filters by tag and state; TerminateInstances goes shutting-down, then terminated", () =>
    withFake(
      Effect.gen(function* () {
        const ec2 = yield* Ec2
        yield* ensureTemplate
        const ids = [] as Array<string>
        for (let n = 0; n < 2; n++) {
          const output = yield* ec2.createFleet(fleet(["m5.large"], "on-demand"))
          ids.push(...(output.Instances?.[0]?.InstanceIds ?? []))
        }
        yield* ec2.createTags({ Resources: [ids[1] ?? ""], Tags: [{ Key: "karpenter.sh/nodeclaim", Value: "nc-2" }] })
        const describe = (filters: ReadonlyArray<{ Name: string; Values: Array<string> }>) =>
          Effect.map(ec2.describeInstances({ Filters: [...filters] }), (reservations) =>
            reservations.flatMap((reservation) => reservation.Instances ?? []).map((instance) => instance.InstanceId)
          )
        assert.deepStrictEqual(yield* describe([{ Name: "tag:karpenter.sh/nodeclaim", Values: ["*"] }]), [ids[1]])
        assert.deepStrictEqual(yield* describe([{ Name: "tag-key", Values: ["karpenter.sh/nodepool"] }]), ids)

        const terminated = yield* ec2.terminateInstances({ InstanceIds: [ids[0] ?? ""] })
        assert.deepStrictEqual(
          terminated.TerminatingInstances?.map((change) => [change.PreviousState?.Name, change.CurrentState?.Name]),
          [["running", "shutting-down"]]
        )
        const live = [{ Name: "instance-state-name", Values: ["pending", "running", "shutting-down", "stopping"] }]
        assert.deepStrictEqual(yield* describe(live), ids)
        yield* TestClock.adjust("30 seconds")
        assert.deepStrictEqual(yield* describe(live), [ids[1]])
        assert.deepStrictEqual(yield* describe([{ Name: "instance-state-name", Values: ["terminated"] }]), [ids[0]])
        // EC2 forgets terminated instances after about an hour.
        yield* TestClock.adjust("1 hour")
        const gone = yield* ec2.describeInstances({ InstanceIds: [ids[0] ?? ""] }).pipe(Effect.flip)
        assert.deepStrictEqual([gone._tag, gone.code], ["AwsNotFound", "InvalidInstanceID.NotFound"])
      })
    )
  )

  it.effect("launch templates: create, AlreadyExists, describe by name and tag, delete, NotFound", () =>
    withFake(
      Effect.gen(function* () {
        const ec2 = yield* Ec2
        yield* ensureTemplate
        const taken = yield* ensureTemplate.pipe(Effect.flip)
        assert.deepStrictEqual(
          [taken._tag, taken.code],
          ["AwsAlreadyExists", "InvalidLaunchTemplateName.AlreadyExistsException"]
        )
        const byTag = yield* ec2.describeLaunchTemplates({
          Filters: [{ Name: "tag:karpenter.k8s.aws/cluster", Values: ["c"] }]
        })
        assert.deepStrictEqual(
          byTag.map((template) => template.LaunchTemplateName),
          ["karpenter.k8s.aws/default"]
        )
        yield* ec2.deleteLaunchTemplate({ LaunchTemplateName: "karpenter.k8s.aws/default" })
        const missing = yield* ec2
          .describeLaunchTemplates({ LaunchTemplateNames: ["karpenter.k8s.aws/default"] })
          .pipe(Effect.flip)
        assert.deepStrictEqual(
          [missing._tag, missing.code],
          ["AwsNotFound", "InvalidLaunchTemplateName.NotFoundException"]
        )
      })
    )
  )

  it.effect("IAM instance profiles: create, add a role, tag, remove, delete; NoSuchEntity and conflicts", () =>
    withFake(
      Effect.gen(function* () {
        const iam = yield* Iam
        const created = yield* iam.createInstanceProfile({
          InstanceProfileName: "c_123",
          Path: "/karpenter/",
          Tags: [{ Key: "karpenter.sh/managed-by", Value: "c" }]
        })
        assert.strictEqual(created.InstanceProfile?.Arn, "arn:aws:iam::123456789012:instance-profile/karpenter/c_123")
        const again = yield* iam.createInstanceProfile({ InstanceProfileName: "c_123" }).pipe(Effect.flip)
        assert.deepStrictEqual([again._tag, again.code], ["AwsAlreadyExists", "EntityAlreadyExists"])
        yield* iam.addRoleToInstanceProfile({ InstanceProfileName: "c_123", RoleName: "NodeRole" })
        yield* iam.tagInstanceProfile({ InstanceProfileName: "c_123", Tags: [{ Key: "extra", Value: "1" }] })
        const got = yield* iam.getInstanceProfile({ InstanceProfileName: "c_123" })
        assert.deepStrictEqual(
          got.InstanceProfile?.Roles?.map((role) => role.RoleName),
          ["NodeRole"]
        )
        assert.deepStrictEqual(
          got.InstanceProfile?.Tags?.map((tag) => tag.Key),
          ["karpenter.sh/managed-by", "extra"]
        )
        const conflict = yield* iam.deleteInstanceProfile({ InstanceProfileName: "c_123" }).pipe(Effect.flip)
        assert.deepStrictEqual([conflict._tag, conflict.code], ["AwsError", "DeleteConflict"])
        yield* iam.removeRoleFromInstanceProfile({ InstanceProfileName: "c_123", RoleName: "NodeRole" })
        yield* iam.deleteInstanceProfile({ InstanceProfileName: "c_123" })
        const gone = yield* iam.getInstanceProfile({ InstanceProfileName: "c_123" }).pipe(Effect.flip)
        assert.deepStrictEqual([gone._tag, gone.code], ["AwsNotFound", "NoSuchEntity"])
      })
    )
  )

  it.effect("GetProducts answers price-list documents for upstream's filters; spot history per zone", () =>
    withFake(
      Effect.gen(function* () {
        const pricing = yield* Pricing
        const filters = (tenancy: string, productFamily: string) => ({
          ServiceCode: "AmazonEC2",
          Filters: [
            ["regionCode", "us-west-2"],
            ["serviceCode", "AmazonEC2"],
            ["preInstalledSw", "NA"],
            ["operatingSystem", "Linux"],
            ["capacitystatus", "Used"],
            ["marketoption", "OnDemand"],
            ["tenancy", tenancy],
            ["productFamily", productFamily]
          ].map(([Field, Value]) => ({ Field, Value, Type: "TERM_MATCH" as const }))
        })
        const shared = yield* pricing.getProducts(filters("Shared", "Compute Instance"))
        const metal = yield* pricing.getProducts(filters("Dedicated", "Compute Instance (bare metal)"))
        assert.strictEqual(shared.length + metal.length, 1345)
        const m5 = shared
          .map((document) => JSON.parse(document))
          .find((doc) => doc.product.attributes.instanceType === "m5.large")
        const terms = Object.values(m5.terms.OnDemand) as Array<{
          priceDimensions: Record<string, { pricePerUnit: { USD: string } }>
        }>
        assert.deepStrictEqual(
          Object.values(terms[0]?.priceDimensions ?? {}).map((dimension) => dimension.pricePerUnit.USD),
          ["0.0960000000"]
        )
        assert.isTrue(metal.some((document) => JSON.parse(document).product.attributes.instanceType === "m5.metal"))

        const ec2 = yield* Ec2
        const spot = yield* ec2.describeSpotPriceHistory({
          InstanceTypes: ["m5.large"],
          ProductDescriptions: ["Linux/UNIX", "Linux/UNIX (Amazon VPC)"]
        })
        assert.deepStrictEqual(
          spot.map((price) => [price.AvailabilityZone, price.SpotPrice]),
          [
            ["us-west-2a", "0.067200"],
            ["us-west-2b", "0.067200"],
            ["us-west-2c", "0.048000"]
          ]
        )
      }),
      { spotFractions: { "us-west-2c": 0.5 } }
    )
  )

  it.effect("SQS: receive hides a message for its visibility timeout, delete removes it, long polls wait", () =>
    withFake(
      Effect.gen(function* () {
        const fake = yield* FakeAws.FakeAws
        const sqs = yield* Sqs
        const { QueueUrl } = yield* sqs.getQueueUrl({ QueueName: "karpenter-interruption" })
        const missing = yield* sqs.getQueueUrl({ QueueName: "other" }).pipe(Effect.flip)
        assert.strictEqual(missing._tag, "AwsNotFound")
        yield* fake.sendMessage('{"detail-type":"EC2 Spot Instance Interruption Warning"}')
        const first = yield* sqs.receiveMessage({ QueueUrl, MaxNumberOfMessages: 10, VisibilityTimeout: 20 })
        assert.strictEqual(first.Messages?.length, 1)
        assert.deepStrictEqual((yield* sqs.receiveMessage({ QueueUrl })).Messages, [])
        yield* TestClock.adjust("20 seconds")
        const again = yield* sqs.receiveMessage({ QueueUrl })
        assert.strictEqual(again.Messages?.[0]?.Attributes?.ApproximateReceiveCount, "2")
        yield* sqs.deleteMessage({ QueueUrl, ReceiptHandle: again.Messages?.[0]?.ReceiptHandle ?? "" })
        assert.strictEqual(yield* fake.queueDepth, 0)

        // A long poll returns when a message arrives, and empty when its wait time is over.
        const polling = yield* Effect.forkChild(sqs.receiveMessage({ QueueUrl, WaitTimeSeconds: 20 }))
        yield* TestClock.adjust("5 seconds")
        yield* fake.sendMessage("later")
        assert.deepStrictEqual(
          (yield* Fiber.join(polling)).Messages?.map((message) => message.Body),
          ["later"]
        )
        const empty = yield* Effect.forkChild(sqs.receiveMessage({ QueueUrl, WaitTimeSeconds: 20 }))
        yield* TestClock.adjust("20 seconds")
        assert.deepStrictEqual((yield* Fiber.join(empty)).Messages, [])
      })
    )
  )

  it.effect("switches: throttling and failures for the next calls of an operation; every call is recorded", () =>
    withFake(
      Effect.gen(function* () {
        const fake = yield* FakeAws.FakeAws
        const ec2 = yield* Ec2
        const ssm = yield* Ssm
        yield* fake.throttle("DescribeSubnets", 2)
        yield* fake.fail("GetParameter", "AccessDeniedException", { statusCode: 400 })
        const throttled = yield* Effect.all([ec2.describeSubnets({}), ec2.describeSubnets({})].map(Effect.flip))
        assert.deepStrictEqual(
          throttled.map((error) => [error._tag, error.code]),
          [
            ["AwsThrottled", "RequestLimitExceeded"],
            ["AwsThrottled", "RequestLimitExceeded"]
          ]
        )
        assert.strictEqual((yield* ec2.describeSubnets({})).length, 3)
        const denied = yield* ssm.getParameter({ Name: "/x" }).pipe(Effect.flip)
        assert.deepStrictEqual([denied._tag, denied.service], ["AwsUnauthorized", "SSM"])
        assert.deepStrictEqual(
          (yield* fake.calls).map((call) => `${call.service}:${call.operation}`),
          ["EC2:DescribeSubnets", "EC2:DescribeSubnets", "EC2:DescribeSubnets", "SSM:GetParameter"]
        )
        assert.deepStrictEqual((yield* fake.calls)[3]?.input, { Name: "/x" })
      })
    )
  )

  it("imports the AWS SDK as types only", () => {
    const folder = join(root, "layers/cloudprovider/aws/fake")
    const eager = readdirSync(folder).filter((file) =>
      /^import\s+(?!type\b)[^;]*from\s+["']@aws-sdk\//m.test(readFileSync(join(folder, file), "utf8"))
    )
    assert.deepStrictEqual(eager, [])
  })
})
