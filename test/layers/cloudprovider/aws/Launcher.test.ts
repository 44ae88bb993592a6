import type * as Ec2Sdk from "@aws-sdk/client-ec2"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/testing/TestClock"
import { parse } from "yaml"
import * as FleetRequest from "../../../../layers/cloudprovider/aws/FleetRequest.ts"
import * as FakeAws from "../../../../layers/cloudprovider/aws/fake/FakeAws.ts"
import * as Launcher from "../../../../layers/cloudprovider/aws/Launcher.ts"
import * as CapacityReservations from "../../../../layers/cloudprovider/aws/providers/CapacityReservations.ts"
import { Ec2 } from "../../../../layers/cloudprovider/aws/sdk/Ec2.ts"
import * as UnavailableOfferings from "../../../../layers/cloudprovider/aws/UnavailableOfferings.ts"
import { EC2NodeClass } from "../../../../src/api/EC2NodeClass.ts"
import * as Labels from "../../../../src/api/Labels.ts"
import { NodeClaim } from "../../../../src/api/NodeClaim.ts"
import * as Ec2Dataset from "../../../../src/cloudprovider/aws/Ec2Dataset.ts"
import * as Ec2InstanceTypes from "../../../../src/cloudprovider/aws/Ec2InstanceTypes.ts"
import * as Ec2Pricing from "../../../../src/cloudprovider/aws/Ec2Pricing.ts"
import type * as InstanceType from "../../../../src/cloudprovider/InstanceType.ts"
import { readDataJson } from "../../../fixtures.ts"

const dataset = Schema.decodeUnknownSync(Ec2Dataset.Dataset)(readDataJson("aws-instance-types.json"))
const zones = ["us-west-2a", "us-west-2b", "us-west-2c"]
const prices = Ec2Pricing.fromStatic(Ec2Dataset.onDemandPrices(dataset))
const instanceTypes: ReadonlyArray<InstanceType.InstanceType> = dataset.flatMap((record) => {
  const described = Ec2Dataset.describe(record)
  return described === undefined
    ? []
    : [
        Ec2InstanceTypes.make({
          ...described,
          placement: { region: "us-west-2", offeringZones: zones, subnetZones: zones.map((zone) => ({ zone })) },
          allZones: zones,
          prices
        })
      ]
})

const cluster = {
  name: "test-cluster",
  endpoint: "https://ABCDEF.gr7.us-west-2.eks.amazonaws.com",
  cidr: "10.100.0.0/16",
  caBundle: "Y2EtYnVuZGxl",
  kubeDnsIp: "10.100.0.10"
}

const TestLayer = Launcher.layer({ cluster }).pipe(
  Layer.provideMerge(UnavailableOfferings.layer),
  Layer.provideMerge(CapacityReservations.layer),
  Layer.provideMerge(FakeAws.layer({ instanceTypes: dataset, zones }))
)

/** The default EC2NodeClass with the fake's subnets, security group and x86_64 AL2023 AMI in its status. */
const nodeClass = (spec?: Record<string, unknown>) =>
  Effect.gen(function* () {
    const ec2 = yield* Ec2
    const subnets = yield* ec2.describeSubnets({})
    const groups = yield* ec2.describeSecurityGroups({})
    const [image] = yield* ec2.describeImages({
      Filters: [{ Name: "name", Values: ["amazon-eks-node-al2023-x86_64-standard-1.32-v20250301"] }]
    })
    return Schema.decodeUnknownSync(EC2NodeClass)({
      apiVersion: "karpenter.k8s.aws/v1",
      kind: "EC2NodeClass",
      metadata: { name: "default" },
      spec: {
        amiSelectorTerms: [{ alias: "al2023@latest" }],
        subnetSelectorTerms: [{ tags: { "karpenter.sh/discovery": "test-cluster" } }],
        securityGroupSelectorTerms: [{ tags: { "karpenter.sh/discovery": "test-cluster" } }],
        role: "KarpenterNodeRole-test-cluster",
        tags: { team: "platform" },
        ...spec
      },
      status: {
        subnets: subnets.map((subnet) => ({ id: subnet.SubnetId, zone: subnet.AvailabilityZone })),
        securityGroups: groups.map((group) => ({ id: group.GroupId })),
        amis: [
          {
            id: image?.ImageId,
            requirements: [{ key: Labels.Arch, operator: "In", values: ["amd64"] }]
          }
        ],
        instanceProfile: "test-cluster_123"
      }
    })
  })

const nodeClaim = (requirements: ReadonlyArray<{ key: string; operator: string; values: Array<string> }>) =>
  Schema.decodeUnknownSync(NodeClaim)({
    apiVersion: "karpenter.sh/v1",
    kind: "NodeClaim",
    metadata: { name: "default-abcde", labels: { [Labels.NodePool]: "default", team: "platform" } },
    spec: {
      requirements: [{ key: Labels.Arch, operator: "In", values: ["amd64"] }, ...requirements],
      taints: [{ key: "dedicated", value: "infra", effect: "NoSchedule" }],
      nodeClassRef: { group: "karpenter.k8s.aws", kind: "EC2NodeClass", name: "default" }
    }
  })

const onDemand = { key: Labels.CapacityType, operator: "In", values: ["on-demand"] }
const onlyType = (...names: Array<string>) => ({ key: Labels.InstanceType, operator: "In", values: names })

const launch = (claim: NodeClaim, nodeClassSpec?: Record<string, unknown>) =>
  Effect.gen(function* () {
    const launcher = yield* Launcher.Launcher
    return yield* launcher.launch({ nodeClass: yield* nodeClass(nodeClassSpec), nodeClaim: claim, instanceTypes })
  })

const inputsOf = <I>(operation: FakeAws.Operation) =>
  Effect.map(FakeAws.FakeAws, (fake) => fake.calls).pipe(
    Effect.flatten,
    Effect.map((calls) => calls.filter((call) => call.operation === operation).map((call) => call.input as I))
  )
const fleets = inputsOf<Ec2Sdk.CreateFleetCommandInput>("CreateFleet")
const createdTemplates = inputsOf<Ec2Sdk.CreateLaunchTemplateCommandInput>("CreateLaunchTemplate")

const overridesOf = (input: Ec2Sdk.CreateFleetCommandInput | undefined) =>
  (input?.LaunchTemplateConfigs ?? []).flatMap((config) => config.Overrides ?? [])
const poolsOf = (input: Ec2Sdk.CreateFleetCommandInput | undefined) =>
  overridesOf(input).map((override) => `${override.InstanceType}/${override.AvailabilityZone}`)

const tagMap = (tags: ReadonlyArray<Ec2Sdk.Tag> | undefined) =>
  Object.fromEntries((tags ?? []).map((tag) => [tag.Key, tag.Value]))

/** The parts of the MIME archive a template's user data carries. */
const userDataParts = (input: Ec2Sdk.CreateLaunchTemplateCommandInput | undefined) => {
  const archive = Buffer.from(input?.LaunchTemplateData?.UserData ?? "", "base64").toString("utf8")
  return {
    archive,
    parts: archive
      .split(/^--\/\/(?:--)?$/m)
      .slice(1, -1)
      .map((part) => {
        const [headers = "", ...body] = part.trim().split("\n\n")
        return { contentType: headers.replace("Content-Type: ", ""), content: body.join("\n\n") }
      })
  }
}

describe("Launcher", () => {
  it.effect("asks an on-demand instant fleet for the 60 cheapest types over one subnet per zone, tagged", () =>
    Effect.gen(function* () {
      const launched = yield* launch(nodeClaim([onDemand]))
      const [fleet] = yield* fleets
      assert.strictEqual(fleet?.Type, "instant")
      assert.deepStrictEqual(fleet?.TargetCapacitySpecification, {
        DefaultTargetCapacityType: "on-demand",
        TotalTargetCapacity: 1
      })
      assert.deepStrictEqual(fleet?.OnDemandOptions, { AllocationStrategy: "lowest-price" })
      assert.isUndefined(fleet?.SpotOptions)

      const overrides = overridesOf(fleet)
      const requested = new Set<string>(overrides.map((override) => override.InstanceType ?? ""))
      assert.strictEqual(requested.size, FleetRequest.maxInstanceTypes)
      // The 60 cheapest of the generic amd64 types: none left out is cheaper than one asked for.
      const price = (name: string) => Ec2Pricing.onDemandPrice(prices, name) ?? Number.POSITIVE_INFINITY
      const generic = FleetRequest.filterExotic(
        instanceTypes.filter((type) => type.requirements.get(Labels.Arch)?.values.has("amd64"))
      )
      const dearestAsked = Math.max(...[...requested].map(price))
      const cheapestLeft = Math.min(
        ...generic.filter((type) => !requested.has(type.name)).map((type) => price(type.name))
      )
      assert.isAtMost(dearestAsked, cheapestLeft)
      assert.isFalse([...requested].some((name) => name.includes("metal")))
      // One subnet per zone, every zone used, each override naming its subnet's zone.
      const subnetsByZone = new Map<string, Set<string>>()
      for (const override of overrides) {
        const zone = override.AvailabilityZone ?? ""
        subnetsByZone.set(zone, (subnetsByZone.get(zone) ?? new Set()).add(override.SubnetId ?? ""))
      }
      assert.deepStrictEqual([...subnetsByZone.keys()].sort(), zones)
      for (const subnets of subnetsByZone.values()) assert.strictEqual(subnets.size, 1)

      const expectedTags = {
        team: "platform",
        "kubernetes.io/cluster/test-cluster": "owned",
        "karpenter.sh/nodepool": "default",
        "eks:eks-cluster-name": "test-cluster",
        "karpenter.k8s.aws/ec2nodeclass": "default"
      }
      assert.deepStrictEqual(
        (fleet?.TagSpecifications ?? []).map((spec) => [spec.ResourceType, tagMap(spec.Tags)]),
        [
          ["instance", expectedTags],
          ["volume", expectedTags],
          ["fleet", expectedTags]
        ]
      )
      assert.strictEqual(launched.capacityType, "on-demand")
      assert.isTrue(requested.has(launched.instanceType))
      // The fake's instance carries the launch tags.
      const ec2 = yield* Ec2
      const [reservation] = yield* ec2.describeInstances({ InstanceIds: [launched.instanceId] })
      assert.deepStrictEqual(tagMap(reservation?.Instances?.[0]?.Tags), expectedTags)
    }).pipe(Effect.provide(TestLayer))
  )

  it.effect("launches spot with price-capacity-optimized when spot is allowed and offered", () =>
    Effect.gen(function* () {
      const launched = yield* launch(
        nodeClaim([{ key: Labels.CapacityType, operator: "In", values: ["spot", "on-demand"] }, onlyType("m5.large")])
      )
      const [fleet] = yield* fleets
      assert.strictEqual(fleet?.TargetCapacitySpecification?.DefaultTargetCapacityType, "spot")
      assert.deepStrictEqual(fleet?.SpotOptions, { AllocationStrategy: "price-capacity-optimized" })
      assert.isUndefined(fleet?.OnDemandOptions)
      assert.strictEqual(launched.capacityType, "spot")
      const [template] = yield* createdTemplates
      assert.deepStrictEqual(
        template?.LaunchTemplateData?.TagSpecifications?.map((spec) => spec.ResourceType),
        ["network-interface", "spot-instances-request"]
      )
    }).pipe(Effect.provide(TestLayer))
  )

  it.effect("AL2023 user data carries the NodeConfig: cluster, max-pods, labels and taints", () =>
    Effect.gen(function* () {
      yield* launch(nodeClaim([onDemand, onlyType("m5.large")]), { userData: "#!/bin/bash\necho hello" })
      const [template] = yield* createdTemplates
      const { archive, parts } = userDataParts(template)
      assert.isTrue(archive.startsWith('MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="//"\n\n--//\n'))
      assert.deepStrictEqual(
        parts.map((part) => part.contentType),
        ['text/x-shellscript; charset="us-ascii"', "application/node.eks.aws"]
      )
      assert.strictEqual(parts[0]?.content, "#!/bin/bash\necho hello")
      const nodeConfigText = parts[1]?.content ?? ""
      assert.isTrue(nodeConfigText.startsWith("# Karpenter Generated NodeConfig\n"))
      const config = parse(nodeConfigText)
      assert.strictEqual(config.apiVersion, "node.eks.aws/v1alpha1")
      assert.strictEqual(config.kind, "NodeConfig")
      assert.deepStrictEqual(config.spec.cluster, {
        apiServerEndpoint: cluster.endpoint,
        certificateAuthority: cluster.caBundle,
        cidr: cluster.cidr,
        name: cluster.name
      })
      // m5.large: 3 interfaces × (10 − 1) + 2 pods.
      assert.strictEqual(config.spec.kubelet.config.maxPods, 29)
      assert.deepStrictEqual(config.spec.kubelet.config.clusterDNS, [cluster.kubeDnsIp])
      assert.deepStrictEqual(config.spec.kubelet.config.registerWithTaints, [
        { key: "dedicated", value: "infra", effect: "NoSchedule" },
        { key: "karpenter.sh/unregistered", effect: "NoExecute" }
      ])
      assert.deepStrictEqual(config.spec.kubelet.flags, [
        '--node-labels="karpenter.sh/capacity-type=on-demand,karpenter.sh/nodepool=default,team=platform"'
      ])
      // The template's other defaults: AL2023's root volume, IMDS from the node class, the instance profile.
      assert.deepStrictEqual(template?.LaunchTemplateData?.BlockDeviceMappings, [
        { DeviceName: "/dev/xvda", Ebs: { Encrypted: true, VolumeType: "gp3", VolumeSize: 20 } }
      ])
      assert.deepStrictEqual(template?.LaunchTemplateData?.MetadataOptions, {
        HttpEndpoint: "enabled",
        HttpProtocolIpv6: "disabled",
        HttpPutResponseHopLimit: 1,
        HttpTokens: "required",
        InstanceMetadataTags: "disabled"
      })
      assert.deepStrictEqual(template?.LaunchTemplateData?.IamInstanceProfile, { Name: "test-cluster_123" })
    }).pipe(Effect.provide(TestLayer))
  )

  it.effect("names a launch template by its content and reuses it: a second launch creates none", () =>
    Effect.gen(function* () {
      const claim = nodeClaim([onDemand, onlyType("m5.large")])
      yield* launch(claim)
      const [created] = yield* createdTemplates
      const name = created?.LaunchTemplateName ?? ""
      assert.match(name, /^karpenter\.k8s\.aws\/\d+$/)
      yield* launch(claim)
      // Past the one-minute cache the template is found by name in EC2, still not created again.
      yield* TestClock.adjust("2 minutes")
      yield* launch(claim)
      assert.strictEqual((yield* createdTemplates).length, 1)
      const names = (yield* fleets).map((fleet) => fleet.LaunchTemplateConfigs?.[0]?.LaunchTemplateSpecification)
      assert.deepStrictEqual(names, Array(3).fill({ LaunchTemplateName: name, Version: "$Latest" }))
      // Other content, another template.
      yield* launch(claim, { tags: { team: "data" } })
      const all = yield* createdTemplates
      assert.strictEqual(all.length, 2)
      assert.notStrictEqual(all[1]?.LaunchTemplateName, name)
    }).pipe(Effect.provide(TestLayer))
  )

  it.effect("retries once when CreateFleet no longer finds a cached launch template", () =>
    Effect.gen(function* () {
      const fake = yield* FakeAws.FakeAws
      const claim = nodeClaim([onDemand, onlyType("m5.large")])
      yield* launch(claim)
      const describedBefore = (yield* inputsOf("DescribeLaunchTemplates")).length
      yield* fake.fail("CreateFleet", "InvalidLaunchTemplateName.NotFoundException")
      const launched = yield* launch(claim)
      assert.strictEqual(launched.instanceType, "m5.large")
      // The cache entry was dropped, so the retry asked EC2 for the template again.
      assert.strictEqual((yield* inputsOf("DescribeLaunchTemplates")).length, describedBefore + 1)
      assert.strictEqual((yield* fleets).length, 3)
      yield* fake.fail("CreateFleet", "InvalidLaunchTemplateName.NotFoundException", { times: 2 })
      const error = yield* Effect.flip(launch(claim))
      assert.strictEqual(error._tag, "CreateError")
      assert.strictEqual((yield* fleets).length, 5)
    }).pipe(Effect.provide(TestLayer))
  )

  it.effect("an insufficient-capacity pool is left out of the next launches for exactly 3 minutes", () =>
    Effect.gen(function* () {
      const fake = yield* FakeAws.FakeAws
      const claim = nodeClaim([onDemand, onlyType("m5.large")])
      yield* fake.insufficientCapacity({ instanceType: "m5.large", zone: "us-west-2a", capacityType: "on-demand" })
      const first = yield* launch(claim)
      // The fleet fell through to the next zone and reported the pool it could not fill.
      assert.strictEqual(first.zone, "us-west-2b")
      const all = ["m5.large/us-west-2a", "m5.large/us-west-2b", "m5.large/us-west-2c"]
      const withoutA = all.slice(1)
      yield* launch(claim)
      yield* TestClock.adjust("179999 millis")
      yield* launch(claim)
      yield* TestClock.adjust("1 millis")
      yield* launch(claim)
      assert.deepStrictEqual((yield* fleets).map(poolsOf), [all, withoutA, withoutA, all])
    }).pipe(Effect.provide(TestLayer))
  )

  it.effect("a fleet that only answers insufficient capacity fails with InsufficientCapacity and marks the pools", () =>
    Effect.gen(function* () {
      const fake = yield* FakeAws.FakeAws
      for (const zone of zones) {
        yield* fake.insufficientCapacity({ instanceType: "m5.large", zone, capacityType: "on-demand" })
      }
      const error = yield* Effect.flip(launch(nodeClaim([onDemand, onlyType("m5.large")])))
      assert.strictEqual(error._tag, "InsufficientCapacity")
      assert.include(
        error.message,
        "InsufficientInstanceCapacity: We currently do not have sufficient m5.large capacity"
      )
      const offerings = yield* UnavailableOfferings.UnavailableOfferings
      for (const zone of zones) assert.isTrue(yield* offerings.isUnavailable("on-demand", "m5.large", zone))
      assert.isFalse(yield* offerings.isUnavailable("spot", "m5.large", "us-west-2a"))
    }).pipe(Effect.provide(TestLayer))
  )
})

describe("FleetRequest.zonalSubnets", () => {
  it.effect("takes the subnet with the most available addresses in each zone; the first on a tie", () =>
    Effect.gen(function* () {
      const base = yield* nodeClass()
      const withSubnets = {
        ...base,
        status: {
          ...base.status,
          subnets: [
            { id: "subnet-a1", zone: "us-west-2a" },
            { id: "subnet-a2", zone: "us-west-2a" },
            { id: "subnet-b1", zone: "us-west-2b" },
            { id: "subnet-b2", zone: "us-west-2b" }
          ]
        }
      }
      const chosen = FleetRequest.zonalSubnets(
        withSubnets,
        new Map([
          ["subnet-a1", 10],
          ["subnet-a2", 200],
          ["subnet-b1", 50],
          ["subnet-b2", 50]
        ])
      )
      assert.deepStrictEqual(
        [...chosen.values()].map((subnet) => subnet.id),
        ["subnet-a2", "subnet-b1"]
      )
    }).pipe(Effect.provide(TestLayer))
  )
})
