/** The AWS provider's tests: the fake AWS, the provider over it, and the EC2NodeClass they launch on. */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as AwsCloudProvider from "../../../../layers/cloudprovider/aws/AwsCloudProvider.ts"
import * as NodeClassStatus from "../../../../layers/cloudprovider/aws/controllers/NodeClassStatus.ts"
import * as FakeAws from "../../../../layers/cloudprovider/aws/fake/FakeAws.ts"
import * as Prices from "../../../../layers/cloudprovider/aws/Prices.ts"
import * as CapacityReservations from "../../../../layers/cloudprovider/aws/providers/CapacityReservations.ts"
import * as UnavailableOfferings from "../../../../layers/cloudprovider/aws/UnavailableOfferings.ts"
import * as MemoryKube from "../../../../layers/kube/memory/MemoryKubeClient.ts"
import * as EC2NodeClass from "../../../../src/api/EC2NodeClass.ts"
import * as Labels from "../../../../src/api/Labels.ts"
import { NodeClaim } from "../../../../src/api/NodeClaim.ts"
import * as Ec2Dataset from "../../../../src/cloudprovider/aws/Ec2Dataset.ts"
import * as Ec2Pricing from "../../../../src/cloudprovider/aws/Ec2Pricing.ts"
import { EventRecorder } from "../../../../src/kube/EventRecorder.ts"
import { KubeClient } from "../../../../src/kube/KubeClient.ts"
import * as Resources from "../../../../src/kube/Resources.ts"
import * as InformerCache from "../../../../src/runtime/InformerCache.ts"
import { nodePool } from "../../../controllers/support.ts"
import { readDataJson } from "../../../fixtures.ts"
import { settle } from "../../../support/Settle.ts"

// A few families keep the catalogue small; m5 and m6g give both architectures.
export const dataset = Schema.decodeUnknownSync(Ec2Dataset.Dataset)(readDataJson("aws-instance-types.json")).filter(
  (record) => /^(m5|c5|m6g)\./.test(record.name)
)
export const zones = ["us-west-2a", "us-west-2b", "us-west-2c"]
export const cluster = {
  name: "test-cluster",
  endpoint: "https://ABCDEF.gr7.us-west-2.eks.amazonaws.com",
  cidr: "10.100.0.0/16",
  caBundle: "Y2EtYnVuZGxl",
  kubeDnsIp: "10.100.0.10"
}
export const settings: NodeClassStatus.Settings = {
  clusterName: "test-cluster",
  region: "us-west-2",
  kubernetesVersion: "1.32"
}

/** The AWS provider on FakeAws, with the ReservedCapacity gate as given. */
export const layerWith = (gates: { readonly reservedCapacity?: boolean } = {}) =>
  AwsCloudProvider.layer({
    cluster,
    region: "us-west-2",
    generated: AwsCloudProvider.generatedData(dataset),
    ...gates
  }).pipe(
    Layer.provideMerge(UnavailableOfferings.layer),
    Layer.provideMerge(CapacityReservations.layer),
    Layer.provideMerge(Prices.layer(Ec2Pricing.fromStatic(Ec2Dataset.onDemandPrices(dataset)))),
    Layer.provideMerge(FakeAws.layer({ instanceTypes: dataset, zones })),
    Layer.provideMerge(InformerCache.layer.pipe(Layer.provideMerge(MemoryKube.layer()))),
    Layer.provideMerge(EventRecorder.layerMemory([]))
  )

export const TestLayer = layerWith()

export const nodeClassRef = { group: EC2NodeClass.group, kind: EC2NodeClass.kind, name: "default" } as const

export const nodeClassObject = (spec?: Record<string, unknown>) => ({
  apiVersion: EC2NodeClass.apiVersion,
  kind: EC2NodeClass.kind,
  metadata: { name: "default" },
  spec: {
    subnetSelectorTerms: [{ tags: { "karpenter.sh/discovery": "test-cluster" } }],
    securityGroupSelectorTerms: [{ tags: { "karpenter.sh/discovery": "*" } }],
    amiSelectorTerms: [{ alias: "al2023@latest" }],
    // One of role and instanceProfile: a spec naming a profile has no role.
    ...(spec?.instanceProfile === undefined ? { role: "KarpenterNodeRole-test-cluster" } : {}),
    ...spec
  }
})

/**
 * The EC2NodeClass `default` and a NodePool on it (`default` unless given), with the status controller running on
 * the NodeClass.
 */
export const setUp = (
  spec?: Record<string, unknown>,
  pool: object = nodePool("default", { nodeClassRef }),
  statusSettings: NodeClassStatus.Settings = settings
) =>
  Effect.gen(function* () {
    const kube = yield* KubeClient
    yield* kube.create(Resources.EC2NodeClasses, nodeClassObject(spec) as never)
    yield* kube.create(Resources.NodePools, pool as never)
    yield* NodeClassStatus.make(statusSettings)
    yield* settle
  })

export const storedNodeClass = Effect.flatMap(Effect.service(KubeClient), (kube) =>
  kube.get(Resources.EC2NodeClasses, "default")
)

export const updateNodeClassSpec = (spec: Record<string, unknown>) =>
  Effect.gen(function* () {
    const kube = yield* KubeClient
    yield* kube.patch(Resources.EC2NodeClasses, "default", { type: "merge", patch: { spec } })
    yield* settle
  })

const nodeClaimOf = (requirements: ReadonlyArray<{ key: string; operator: string; values: Array<string> }>) =>
  Schema.decodeUnknownSync(NodeClaim)({
    apiVersion: "karpenter.sh/v1",
    kind: "NodeClaim",
    metadata: { name: "default-abcde", labels: { [Labels.NodePool]: "default", team: "platform" } },
    spec: {
      requirements: [
        { key: Labels.NodePool, operator: "In", values: ["default"] },
        { key: Labels.Arch, operator: "In", values: ["amd64"] },
        ...requirements
      ],
      nodeClassRef
    }
  })

export const m5Large = nodeClaimOf([
  { key: Labels.InstanceType, operator: "In", values: ["m5.large"] },
  { key: Labels.CapacityType, operator: "In", values: ["on-demand"] }
])

export const operations = (operation: FakeAws.Operation) =>
  Effect.map(
    Effect.flatMap(Effect.service(FakeAws.FakeAws), (fake) => fake.calls),
    (calls) => calls.filter((call) => call.operation === operation)
  )

export const recommended = (arch: string, variant: string) =>
  `/aws/service/eks/optimized-ami/1.32/amazon-linux-2023/${arch}/${variant}/recommended/image_id`
