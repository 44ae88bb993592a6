import { readFileSync } from "node:fs"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import * as Schema from "effect/Schema"
import * as Labels from "../../../src/api/Labels.ts"
import * as Quantity from "../../../src/api/Quantity.ts"
import * as Ec2Dataset from "../../../src/cloudprovider/aws/Ec2Dataset.ts"
import * as Ec2InstanceTypes from "../../../src/cloudprovider/aws/Ec2InstanceTypes.ts"
import * as Ec2Pricing from "../../../src/cloudprovider/aws/Ec2Pricing.ts"
import type * as InstanceType from "../../../src/cloudprovider/InstanceType.ts"
import * as Requirement from "../../../src/scheduling/Requirement.ts"
import * as Requirements from "../../../src/scheduling/Requirements.ts"
import * as Resources from "../../../src/scheduling/ResourceLists.ts"
import { readDataJson } from "../../fixtures.ts"

// Upstream's fake DescribeInstanceTypes records and the generated VPC limits / bandwidth of those types, all at
// aws/karpenter-provider-aws v1.4.0 (see the file's `source`).
const upstream = JSON.parse(readFileSync(join(import.meta.dirname, "describe-instance-types.json"), "utf8")) as {
  readonly instanceTypes: ReadonlyArray<Ec2InstanceTypes.InstanceTypeInfo>
  readonly generated: Readonly<Record<string, Ec2InstanceTypes.GeneratedData>>
}
const dataset = Schema.decodeUnknownSync(Ec2Dataset.Dataset)(readDataJson("aws-instance-types.json"))

const fromUpstream = (name: string): Ec2Dataset.Described => ({
  info: upstream.instanceTypes.find((info) => info.InstanceType === name)!,
  generated: upstream.generated[name]!
})
const fromDataset = (name: string): Ec2Dataset.Described =>
  Ec2Dataset.describe(dataset.find((record) => record.name === name)!)!

const zones = ["us-east-1a", "us-east-1b", "us-east-1c"]
const placement: Ec2InstanceTypes.Placement = {
  region: "us-east-1",
  offeringZones: zones,
  subnetZones: zones.map((zone, i) => ({ zone, zoneId: `use1-az${i + 1}` }))
}
const staticPrices = Ec2Pricing.fromStatic(Ec2Dataset.onDemandPrices(dataset))

const build = (
  described: Ec2Dataset.Described,
  options?: { readonly nodeClass?: Ec2InstanceTypes.NodeClassOptions; readonly prices?: Ec2Pricing.PriceBook }
): InstanceType.InstanceType =>
  Ec2InstanceTypes.make({
    ...described,
    placement,
    allZones: zones,
    prices: options?.prices ?? staticPrices,
    ...(options?.nodeClass === undefined ? {} : { nodeClass: options.nodeClass })
  })

// Non-zero resources as quantity strings, the way upstream's reference page lists them.
const listed = (resources: Resources.Resources): Record<string, string> =>
  Resources.toResourceList(Object.fromEntries(Object.entries(resources).filter(([, value]) => value !== 0)))

const label = (instanceType: InstanceType.InstanceType, key: string): Array<string> =>
  Requirement.values(Requirements.get(instanceType.requirements, key))

// Allocatable of each type on upstream's generated reference page at v1.4.0 (AL2023, no blockDeviceMappings,
// default kubelet): website/content/en/docs/reference/instance-types.md at tag v1.4.0, section "### `<type>`",
// table "Resources". The types of the first group are upstream's own test fixtures, the others come from the dataset.
const referencePage: Record<string, Record<string, string>> = {
  "t4g.small": { cpu: "1930m", "ephemeral-storage": "17Gi", memory: "1359Mi", pods: "11" },
  "t3.large": { cpu: "1930m", "ephemeral-storage": "17Gi", memory: "6837Mi", pods: "35" },
  "m5.large": {
    cpu: "1930m",
    "ephemeral-storage": "17Gi",
    memory: "6903Mi",
    pods: "29",
    "vpc.amazonaws.com/pod-eni": "9"
  },
  "m5.xlarge": {
    cpu: "3920m",
    "ephemeral-storage": "17Gi",
    memory: "14162Mi",
    pods: "58",
    "vpc.amazonaws.com/pod-eni": "18"
  },
  "c6g.large": {
    cpu: "1930m",
    "ephemeral-storage": "17Gi",
    memory: "3055Mi",
    pods: "29",
    "vpc.amazonaws.com/pod-eni": "9"
  },
  "m5.metal": {
    cpu: "95690m",
    "ephemeral-storage": "17Gi",
    memory: "355262Mi",
    pods: "737",
    "vpc.amazonaws.com/pod-eni": "120"
  },
  "g4dn.8xlarge": {
    cpu: "31850m",
    "ephemeral-storage": "17Gi",
    memory: "120248Mi",
    "nvidia.com/gpu": "1",
    pods: "58",
    "vpc.amazonaws.com/efa": "1",
    "vpc.amazonaws.com/pod-eni": "58"
  },
  "g4ad.16xlarge": {
    "amd.com/gpu": "4",
    cpu: "63770m",
    "ephemeral-storage": "17Gi",
    memory: "239554Mi",
    pods: "234",
    "vpc.amazonaws.com/pod-eni": "6"
  },
  "p3.8xlarge": { cpu: "31850m", "ephemeral-storage": "17Gi", memory: "228187Mi", "nvidia.com/gpu": "4", pods: "234" },
  "inf2.xlarge": {
    "aws.amazon.com/neuron": "1",
    "aws.amazon.com/neuroncore": "2",
    cpu: "3920m",
    "ephemeral-storage": "17Gi",
    memory: "14162Mi",
    pods: "58",
    "vpc.amazonaws.com/pod-eni": "18"
  },
  "trn1.2xlarge": {
    "aws.amazon.com/neuron": "1",
    "aws.amazon.com/neuroncore": "2",
    cpu: "7910m",
    "ephemeral-storage": "17Gi",
    memory: "29317Mi",
    pods: "58",
    "vpc.amazonaws.com/pod-eni": "17"
  },
  "dl1.24xlarge": {
    cpu: "95690m",
    "ephemeral-storage": "17Gi",
    "habana.ai/gaudi": "8",
    memory: "718987Mi",
    pods: "737",
    "vpc.amazonaws.com/efa": "4",
    "vpc.amazonaws.com/pod-eni": "62"
  },
  "m6idn.32xlarge": {
    cpu: "127610m",
    "ephemeral-storage": "17Gi",
    memory: "480277Mi",
    pods: "394",
    "vpc.amazonaws.com/efa": "2",
    "vpc.amazonaws.com/pod-eni": "106"
  }
}
const referencePageFromDataset: Record<string, Record<string, string>> = {
  "t3.micro": { cpu: "1930m", "ephemeral-storage": "17Gi", memory: "548Mi", pods: "4" },
  "p5.48xlarge": {
    cpu: "191450m",
    "ephemeral-storage": "17Gi",
    memory: "1938410Mi",
    "nvidia.com/gpu": "8",
    pods: "100",
    "vpc.amazonaws.com/efa": "32",
    "vpc.amazonaws.com/pod-eni": "120"
  },
  "m7i-flex.large": {
    cpu: "1930m",
    "ephemeral-storage": "17Gi",
    memory: "6903Mi",
    pods: "29",
    "vpc.amazonaws.com/pod-eni": "3"
  },
  "r6i.xlarge": {
    cpu: "3920m",
    "ephemeral-storage": "17Gi",
    memory: "29317Mi",
    pods: "58",
    "vpc.amazonaws.com/pod-eni": "18"
  }
}

describe("Ec2InstanceTypes", () => {
  it("allocatable of upstream's fixture types equals upstream's v1.4.0 reference page", () => {
    for (const [name, expected] of Object.entries(referencePage)) {
      assert.deepStrictEqual(listed(build(fromUpstream(name)).allocatable), expected, name)
    }
  })

  it("allocatable of dataset types (burstable, GPU + EFA, flex, memory-optimised) equals the v1.4.0 reference page", () => {
    for (const [name, expected] of Object.entries(referencePageFromDataset)) {
      assert.deepStrictEqual(listed(build(fromDataset(name)).allocatable), expected, name)
    }
  })

  it("capacity: vCPUs, memory less 7.5% VM overhead (and 64 MiB CMA on Graviton), ENI-limited pods, 20Gi root", () => {
    // types.go computeCapacity/memory at v1.4.0: m5.large 8192 − ceil(8192 × 0.075) = 7577 MiB; c6g.large (arm64)
    // 4096 − 64 = 4032, − ceil(302.4) = 3729 MiB; pods 3 ENIs × (10 − 1) + 2 = 29.
    assert.deepStrictEqual(listed(build(fromUpstream("m5.large")).capacity), {
      cpu: "2",
      memory: "7577Mi",
      "ephemeral-storage": "20Gi",
      pods: "29",
      "vpc.amazonaws.com/pod-eni": "9"
    })
    assert.deepStrictEqual(listed(build(fromUpstream("c6g.large")).capacity).memory, "3729Mi")
    // suite_test.go "should default max pods based off of network interfaces": t3.large 35, m6idn.32xlarge 394.
    assert.strictEqual(Ec2InstanceTypes.pods(fromUpstream("t3.large").info, Ec2InstanceTypes.defaultNodeClass), 35)
    assert.strictEqual(
      Ec2InstanceTypes.pods(fromUpstream("m6idn.32xlarge").info, Ec2InstanceTypes.defaultNodeClass),
      394
    )
  })

  it("overhead: kube-reserved cpu tiers and 11 MiB × pods + 255 MiB, eviction 100Mi and 10% of the root volume", () => {
    // suite_test.go "Kube Reserved Resources / should use defaults when no kubelet is specified" (m5.xlarge).
    const overhead = build(fromUpstream("m5.xlarge")).overhead
    assert.deepStrictEqual(Resources.toResourceList(overhead.kubeReserved), {
      memory: "893Mi",
      "ephemeral-storage": "1Gi",
      cpu: "80m"
    })
    // "should use the default eviction threshold when none specified": memory 100Mi, storage ≈ 2Gi.
    assert.deepStrictEqual(Resources.toResourceList(overhead.evictionThreshold), {
      memory: "100Mi",
      "ephemeral-storage": "2Gi"
    })
    assert.deepStrictEqual(overhead.systemReserved, {})
  })

  it("kubelet settings: maxPods, podsPerCore, kubeReserved/systemReserved overrides, evictionHard", () => {
    const m5xlarge = fromUpstream("m5.xlarge")
    const withKubelet = (kubelet: Ec2InstanceTypes.KubeletOptions) =>
      build(m5xlarge, { nodeClass: { amiFamily: "AL2023", kubelet } })
    // "should set max-pods to user-defined value if specified"; kube-reserved memory still counts ENI pods on AL2023.
    const maxPods = withKubelet({ maxPods: 10 })
    assert.strictEqual(maxPods.capacity.pods, 10_000)
    assert.deepStrictEqual(Resources.toResourceList(maxPods.overhead.kubeReserved).memory, "893Mi")
    // "should take the minimum of pods-per-core and max-pods": min(20, 4 × 4).
    assert.strictEqual(withKubelet({ maxPods: 20, podsPerCore: 4 }).capacity.pods, 16_000)
    // "should override system reserved cpus when specified" and the kube-reserved twin.
    const reserved = withKubelet({
      systemReserved: { cpu: "2", memory: "20Gi", "ephemeral-storage": "10Gi" },
      kubeReserved: { cpu: "2", memory: "10Gi", "ephemeral-storage": "2Gi" }
    })
    assert.deepStrictEqual(Resources.toResourceList(reserved.overhead.systemReserved), {
      cpu: "2",
      memory: "20Gi",
      "ephemeral-storage": "10Gi"
    })
    assert.deepStrictEqual(Resources.toResourceList(reserved.overhead.kubeReserved), {
      cpu: "2",
      memory: "10Gi",
      "ephemeral-storage": "2Gi"
    })
    // evictionHard as a quantity and as a percentage of capacity; "100%" disables the signal.
    const hard = withKubelet({ evictionHard: { "memory.available": "500Mi", "nodefs.available": "100%" } })
    assert.deepStrictEqual(Resources.toResourceList(hard.overhead.evictionThreshold), {
      memory: "500Mi",
      "ephemeral-storage": "0"
    })
    const percent = withKubelet({ evictionHard: { "memory.available": "10%" } })
    assert.strictEqual(
      percent.overhead.evictionThreshold.memory,
      Math.ceil(percent.capacity.memory! / 1000 / 10) * 1000
    )
  })

  it("block devices: RAID0 instance store, root volume, the family's device, Custom's last mapping", () => {
    const m6idn = fromUpstream("m6idn.32xlarge")
    const storage = (nodeClass: Ec2InstanceTypes.NodeClassOptions) =>
      Ec2InstanceTypes.ephemeralStorage(m6idn.info, nodeClass)
    // suite_test.go "...when disks are mounted for ephemeral-storage": 7600G.
    assert.strictEqual(storage({ amiFamily: "AL2023", instanceStorePolicy: "RAID0" }), Quantity.toMilli("7600G"))
    const mappings = [
      { deviceName: "/dev/xvda", ebs: { volumeSize: "50Gi" } },
      { deviceName: "/dev/xvdb", ebs: { volumeSize: "100Gi" } }
    ]
    assert.strictEqual(storage({ amiFamily: "AL2023", blockDeviceMappings: mappings }), Quantity.toMilli("50Gi"))
    assert.strictEqual(storage({ amiFamily: "Bottlerocket", blockDeviceMappings: mappings }), Quantity.toMilli("100Gi"))
    assert.strictEqual(storage({ amiFamily: "Custom", blockDeviceMappings: mappings }), Quantity.toMilli("100Gi"))
    assert.strictEqual(
      storage({ amiFamily: "Custom", blockDeviceMappings: [{ deviceName: "/dev/sdb" }] }),
      Quantity.toMilli("20Gi")
    )
    assert.strictEqual(
      storage({
        amiFamily: "AL2023",
        blockDeviceMappings: [...mappings, { rootVolume: true, ebs: { volumeSize: "80Gi" } }]
      }),
      Quantity.toMilli("80Gi")
    )
    assert.strictEqual(storage({ amiFamily: "Windows2022" }), Quantity.toMilli("50Gi"))
  })

  it("AMI families: Bottlerocket ignores podsPerCore and reserves memory for its pods; Windows has 110 pods", () => {
    const m5large = fromUpstream("m5.large")
    const bottlerocket = build(m5large, {
      nodeClass: { amiFamily: "Bottlerocket", kubelet: { maxPods: 100, podsPerCore: 1 } }
    })
    assert.strictEqual(bottlerocket.capacity.pods, 100_000)
    assert.deepStrictEqual(Resources.toResourceList(bottlerocket.overhead.kubeReserved).memory, `${11 * 100 + 255}Mi`)
    const windows = build(m5large, { nodeClass: { amiFamily: "Windows2022" } })
    assert.strictEqual(windows.capacity.pods, 110_000)
    assert.strictEqual(windows.capacity["vpc.amazonaws.com/PrivateIPv4Address"], 9000)
    assert.deepStrictEqual(label(windows, Labels.OS), ["windows"])
    assert.deepStrictEqual(label(windows, Labels.WindowsBuild), ["10.0.20348"])
  })

  it("RESERVED_ENIS lowers the pods but not the kube-reserved memory (upstream v1.6 fix)", () => {
    const settings = { ...Ec2InstanceTypes.defaultSettings, reservedENIs: 1 }
    const t3large = fromUpstream("t3.large").info
    // suite_test.go "should reserve ENIs when aws.reservedENIs is set": (3 − 1) × (12 − 1) + 2 = 24.
    assert.strictEqual(Ec2InstanceTypes.pods(t3large, Ec2InstanceTypes.defaultNodeClass, settings), 24)
    assert.strictEqual(
      Ec2InstanceTypes.kubeReserved(t3large, Ec2InstanceTypes.defaultNodeClass, settings).memory,
      (11 * 35 + 255) * 1024 ** 2 * 1000
    )
    assert.strictEqual(Ec2InstanceTypes.eniLimitedPods(t3large, 1_000_000), 0)
  })

  it("evictionSoft does not reduce allocatable (upstream v1.9 fix of v1.4's max(hard, soft))", () => {
    // v1.4.0 suite_test.go "should take the greater of evictionHard and evictionSoft" expected 3Gi; after #8565
    // (v1.9.0) the same case expects evictionHard's 1Gi. KubeletOptions has no evictionSoft for that reason.
    const hard = build(fromUpstream("m5.xlarge"), {
      nodeClass: { amiFamily: "AL2023", kubelet: { evictionHard: { "memory.available": "1Gi" } } }
    })
    assert.deepStrictEqual(Resources.toResourceList(hard.overhead.evictionThreshold).memory, "1Gi")
  })

  it("labels as upstream's reference page lists them: metal, GPU, Neuron, flex", () => {
    const m5large = build(fromUpstream("m5.large"))
    const expected: Record<string, string> = {
      "karpenter.k8s.aws/instance-category": "m",
      "karpenter.k8s.aws/instance-cpu": "2",
      "karpenter.k8s.aws/instance-cpu-manufacturer": "intel",
      "karpenter.k8s.aws/instance-cpu-sustained-clock-speed-mhz": "3100",
      "karpenter.k8s.aws/instance-ebs-bandwidth": "4750",
      "karpenter.k8s.aws/instance-encryption-in-transit-supported": "false",
      "karpenter.k8s.aws/instance-family": "m5",
      "karpenter.k8s.aws/instance-generation": "5",
      "karpenter.k8s.aws/instance-hypervisor": "nitro",
      "karpenter.k8s.aws/instance-memory": "8192",
      "karpenter.k8s.aws/instance-network-bandwidth": "750",
      "karpenter.k8s.aws/instance-size": "large",
      "kubernetes.io/arch": "amd64",
      "kubernetes.io/os": "linux",
      "node.kubernetes.io/instance-type": "m5.large",
      "topology.kubernetes.io/region": "us-east-1"
    }
    for (const [key, value] of Object.entries(expected)) assert.deepStrictEqual(label(m5large, key), [value], key)
    for (const key of [Ec2InstanceTypes.AwsLabels.gpuName, Ec2InstanceTypes.AwsLabels.localNvme, Labels.WindowsBuild]) {
      assert.strictEqual(Requirement.operator(Requirements.get(m5large.requirements, key)), "DoesNotExist", key)
    }
    assert.deepStrictEqual(label(m5large, Ec2InstanceTypes.AwsLabels.zoneId), ["use1-az1", "use1-az2", "use1-az3"])
    assert.deepStrictEqual(label(build(fromUpstream("m5.metal")), Ec2InstanceTypes.AwsLabels.hypervisor), [""])
    const g4dn = build(fromUpstream("g4dn.8xlarge"))
    assert.deepStrictEqual(label(g4dn, Ec2InstanceTypes.AwsLabels.gpuName), ["t4"])
    assert.deepStrictEqual(label(g4dn, Ec2InstanceTypes.AwsLabels.gpuManufacturer), ["nvidia"])
    assert.deepStrictEqual(label(g4dn, Ec2InstanceTypes.AwsLabels.gpuMemory), ["16384"])
    assert.deepStrictEqual(label(g4dn, Ec2InstanceTypes.AwsLabels.localNvme), ["900"])
    const inf2 = build(fromUpstream("inf2.xlarge"))
    assert.deepStrictEqual(label(inf2, Ec2InstanceTypes.AwsLabels.acceleratorName), ["inferentia2"])
    assert.deepStrictEqual(label(inf2, Ec2InstanceTypes.AwsLabels.acceleratorManufacturer), ["aws"])
    assert.deepStrictEqual(label(inf2, Ec2InstanceTypes.AwsLabels.acceleratorCount), ["1"])
    const flex = build(fromDataset("m7i-flex.large"))
    assert.deepStrictEqual(label(flex, Ec2InstanceTypes.AwsLabels.family), ["m7i-flex"])
    assert.deepStrictEqual(label(flex, Ec2InstanceTypes.AwsLabels.generation), ["7"])
    assert.deepStrictEqual(label(build(fromDataset("t3.micro")), Ec2InstanceTypes.AwsLabels.networkBandwidth), ["64"])
  })

  it("prices: on-demand from the dataset's table, spot at on-demand until a price history, no price ⇒ unavailable", () => {
    // data/aws-instance-types.json onDemandPriceUSD (zz_generated.pricing_aws.go us-east-1, see data/README.md).
    const prices: Record<string, number> = {
      "t3.micro": 0.0104,
      "t4g.small": 0.0168,
      "m5.large": 0.096,
      "c6g.large": 0.068,
      "m5.metal": 4.608,
      "g4dn.8xlarge": 2.176,
      "p5.48xlarge": 55.04,
      "inf2.xlarge": 0.7582,
      "m7i-flex.large": 0.09576,
      "r6i.xlarge": 0.252,
      "m6idn.32xlarge": 10.18368
    }
    for (const [name, price] of Object.entries(prices)) {
      const offerings = build(fromDataset(name)).offerings
      assert.deepStrictEqual(
        offerings.map((o) => [o.zone, o.capacityType, o.price, o.available]),
        zones.flatMap((zone) => [
          [zone, "on-demand", price, true],
          [zone, "spot", price, true]
        ]),
        name
      )
    }
    const at = new Date(0)
    const history = Ec2Pricing.withSpotHistory(staticPrices, [
      { InstanceType: "m5.large", AvailabilityZone: "us-east-1a", SpotPrice: "0.0400", Timestamp: at },
      { InstanceType: "m5.large", AvailabilityZone: "us-east-1a", SpotPrice: "0.0350", Timestamp: at },
      { InstanceType: "m5.large", AvailabilityZone: "us-east-1b", SpotPrice: "0.0410", Timestamp: at },
      { InstanceType: "m5.large", AvailabilityZone: "us-east-1c", SpotPrice: "0.0420" },
      { InstanceType: "m5.large", AvailabilityZone: "us-east-1c", SpotPrice: "n/a", Timestamp: at }
    ])!
    const spot = build(fromDataset("m5.large"), { prices: history }).offerings.filter((o) => o.capacityType === "spot")
    assert.deepStrictEqual(
      spot.map((o) => [o.zone, o.price, o.available]),
      [
        ["us-east-1a", 0.035, true],
        ["us-east-1b", 0.041, true],
        ["us-east-1c", 0, false]
      ]
    )
    // After the update, a type without spot history has no spot price anywhere.
    assert.isTrue(
      build(fromDataset("r6i.xlarge"), { prices: history })
        .offerings.filter((o) => o.capacityType === "spot")
        .every((o) => !o.available)
    )
    assert.isUndefined(Ec2Pricing.withSpotHistory(staticPrices, [{ InstanceType: "m5.large", SpotPrice: "0.1" }]))
    // A type missing from the price table is described but never launchable.
    const unpriced = dataset.find((record) => record.onDemandPriceUSD === null && record.eni !== null)!
    assert.isTrue(build(Ec2Dataset.describe(unpriced)!).offerings.every((o) => !o.available))
    // Offerings outside the NodeClass's subnet zones or marked unavailable are unavailable.
    const narrowed = Ec2InstanceTypes.make({
      ...fromDataset("m5.large"),
      placement: { ...placement, subnetZones: [{ zone: "us-east-1a" }] },
      allZones: zones,
      prices: staticPrices,
      isUnavailable: (_, zone, capacityType) => zone === "us-east-1a" && capacityType === "spot"
    })
    assert.deepStrictEqual(
      narrowed.offerings.filter((o) => o.available).map((o) => [o.zone, o.capacityType]),
      [["us-east-1a", "on-demand"]]
    )
  })

  it("over the whole dataset: allocatable ≤ capacity, and equals the dataset's allocatable (AL2023, defaults)", () => {
    const gi = 1024 ** 3 * 1000
    const mi = 1024 ** 2 * 1000
    let compared = 0
    let podEniUnlisted = 0
    for (const record of dataset) {
      const described = Ec2Dataset.describe(record)
      if (described === undefined) continue // no VPC limits: the dataset took maxPods from the docs
      const instanceType = build(described)
      for (const [name, value] of Object.entries(instanceType.allocatable)) {
        assert.isAtMost(value, instanceType.capacity[name]!, `${record.name} ${name}`)
      }
      const { cpu, memory, pods, ...extended } = instanceType.allocatable
      const ephemeral = instanceType.allocatable["ephemeral-storage"]!
      delete (extended as Record<string, number>)["ephemeral-storage"]
      // The dataset's reference page predates the VPC limits it ships for 56 newer types (c9g, *8gb/*8in metal,
      // hpc7g, i4i.large): their `eni` says trunking-compatible, their `allocatable` has no pod-eni.
      if (
        record.eni?.trunkingCompatible === true &&
        record.allocatable.extended["vpc.amazonaws.com/pod-eni"] === undefined
      ) {
        delete (extended as Record<string, number>)["vpc.amazonaws.com/pod-eni"]
        podEniUnlisted++
      }
      assert.deepStrictEqual(
        {
          cpuMillicores: cpu,
          memoryMiB: memory! / mi,
          ephemeralStorageGiB: ephemeral / gi,
          pods: pods! / 1000,
          extended: Object.fromEntries(
            Object.entries(extended)
              .filter(([, value]) => value !== 0)
              .map(([name, value]) => [name, value / 1000])
          )
        },
        record.allocatable,
        record.name
      )
      compared++
    }
    assert.strictEqual(compared, 1355)
    assert.strictEqual(podEniUnlisted, 56)
  })
})
