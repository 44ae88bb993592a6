/**
 * The fake AWS world of `schedule` and `simulate` (src/operator/AwsWorld.ts): the fake AWS seeded with every EC2
 * instance type of data/aws-instance-types.json in us-east-1 (the dataset's prices are that region's), its default
 * VPC of three zones whose subnets and security group carry `karpenter.sh/discovery: <clusterName>`, the AWS
 * CloudProvider, the `nodeclass` status controller (EC2NodeClasses become Ready before anything launches) and the
 * instances' kubelets. Deterministic: ids, addresses and DNS names come from the fake's counters, prices from the
 * dataset, time from the caller's clock. The AWS SDK is never loaded: the fake imports its types only.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/testing/TestClock"
import awsInstanceTypes from "../../data/aws-instance-types.json" with { type: "json" }
import * as Conditions from "../../src/api/Conditions.ts"
import * as EC2NodeClass from "../../src/api/EC2NodeClass.ts"
import * as Meta from "../../src/api/Meta.ts"
import type { NodePool } from "../../src/api/NodePool.ts"
import * as Ec2Dataset from "../../src/cloudprovider/aws/Ec2Dataset.ts"
import * as Ec2InstanceTypes from "../../src/cloudprovider/aws/Ec2InstanceTypes.ts"
import * as Ec2Pricing from "../../src/cloudprovider/aws/Ec2Pricing.ts"
import { CloudProvider } from "../../src/cloudprovider/CloudProvider.ts"
import type * as InstanceType from "../../src/cloudprovider/InstanceType.ts"
import * as Scenario from "../../src/cluster/Scenario.ts"
import { EventRecorder } from "../../src/kube/EventRecorder.ts"
import { KubeClient } from "../../src/kube/KubeClient.ts"
import type { KubeObject, Resource } from "../../src/kube/Resource.ts"
import * as Resources from "../../src/kube/Resources.ts"
import type * as AwsWorld from "../../src/operator/AwsWorld.ts"
import * as InformerCache from "../../src/runtime/InformerCache.ts"
import * as AwsCloudProvider from "../cloudprovider/aws/AwsCloudProvider.ts"
import * as NodeClassStatus from "../cloudprovider/aws/controllers/NodeClassStatus.ts"
import * as FakeAws from "../cloudprovider/aws/fake/FakeAws.ts"
import * as FakeKubelet from "../cloudprovider/aws/fake/FakeKubelet.ts"
import * as Prices from "../cloudprovider/aws/Prices.ts"
import * as CapacityReservations from "../cloudprovider/aws/providers/CapacityReservations.ts"
import * as UnavailableOfferings from "../cloudprovider/aws/UnavailableOfferings.ts"
import * as MemoryKube from "../kube/memory/MemoryKubeClient.ts"
import * as SimulationApp from "./SimulationApp.ts"

/** The region of the world: the dataset's prices are us-east-1's. */
export const region = "us-east-1"

/** The cluster's name: the `karpenter.sh/discovery` tag of the default VPC's subnets and security group. */
export const clusterName = "simulation"

/** The Kubernetes version whose EKS-optimized AMIs the aliases resolve to. */
export const kubernetesVersion = "1.32"

const cluster = {
  name: clusterName,
  endpoint: "https://SIMULATION.gr7.us-east-1.eks.amazonaws.com",
  cidr: "10.100.0.0/16",
  kubeDnsIp: "10.100.0.10"
}

const settings: NodeClassStatus.Settings = { clusterName, region, kubernetesVersion }

/** How many rounds of yields the EC2NodeClasses get to become resolved (each reconcile is a few API calls). */
const resolveRounds = 2_000

/** Every record of the dataset. */
export const dataset = (): ReadonlyArray<Ec2Dataset.DatasetRecord> =>
  Schema.decodeUnknownSync(Ec2Dataset.Dataset)(awsInstanceTypes)

/** The prices the provider knows: the dataset's on-demand table and the fake's spot price history. */
const pricesOf = Effect.fn("AwsWorld.prices")(function* (
  fake: FakeAws.Controls,
  records: ReadonlyArray<Ec2Dataset.DatasetRecord>
) {
  const book = Ec2Pricing.fromStatic(Ec2Dataset.onDemandPrices(records))
  const history = yield* Effect.orDie(fake.ec2.describeSpotPriceHistory({ ProductDescriptions: ["Linux/UNIX"] }))
  return Ec2Pricing.withSpotHistory(book, history) ?? book
})

/** The AWS provider on `fake`, the `nodeclass` status controller and the instances' kubelets. */
const providerOn = (
  fake: FakeAws.Controls,
  records: ReadonlyArray<Ec2Dataset.DatasetRecord>,
  prices: Ec2Pricing.PriceBook
): Layer.Layer<CloudProvider, never, KubeClient | InformerCache.InformerCache | EventRecorder> =>
  Layer.mergeAll(
    AwsCloudProvider.layer({ cluster, region, generated: AwsCloudProvider.generatedData(records) }),
    Layer.effectDiscard(NodeClassStatus.make(settings)),
    FakeKubelet.layer()
  ).pipe(
    Layer.provideMerge(Layer.mergeAll(UnavailableOfferings.layer, CapacityReservations.layer, Prices.layer(prices))),
    Layer.provideMerge(FakeAws.layerOf(fake))
  )

/** Every type of the region, offered in every zone as a default EC2NodeClass would see it. */
const catalogueOf = (
  records: ReadonlyArray<Ec2Dataset.DatasetRecord>,
  zones: ReadonlyArray<string>,
  prices: Ec2Pricing.PriceBook
) =>
  records.flatMap((record) => {
    const described = Ec2Dataset.describe(record)
    if (described === undefined) return []
    return [
      Ec2InstanceTypes.make({
        info: described.info,
        generated: described.generated,
        placement: { region, offeringZones: zones, subnetZones: zones.map((zone) => ({ zone })) },
        allZones: zones,
        prices
      })
    ]
  })

/** Why a resolved EC2NodeClass is not Ready, or undefined when it is. */
const notReadyBecause = (nodeClass: EC2NodeClass.EC2NodeClass | undefined, name: string): string | undefined => {
  if (nodeClass === undefined) return `EC2NodeClass "${name}" not found`
  const ready = Meta.findCondition(nodeClass.status?.conditions, Conditions.Ready)
  if (ready?.status === "True") return undefined
  const why = ready === undefined ? "Ready=Unknown" : ready.reason || `Ready=${ready.status}`
  return `EC2NodeClass "${name}": ${why}${ready?.message ? `: ${ready.message}` : ""}`
}

/** Builds the world: one fake AWS, which the run's provider then uses. */
export const make: Effect.Effect<AwsWorld.AwsWorld> = Effect.gen(function* () {
  const records = dataset()
  const fake = yield* FakeAws.make({ instanceTypes: records, region, clusterName })
  const prices = yield* pricesOf(fake, records)
  // Some 1,363 types to build: only for what needs them (simulate's prices, schedule's existing nodes).
  let built: ReadonlyArray<InstanceType.InstanceType> | undefined
  const catalogue = () => {
    built ??= catalogueOf(records, fake.zones, prices)
    return built
  }
  const provider = providerOn(fake, records, prices)

  const offered = (
    objects: ReadonlyArray<{ readonly resource: Resource<KubeObject>; readonly object: KubeObject }>,
    nodePools: ReadonlyArray<NodePool>
  ) =>
    Effect.gen(function* () {
      const kube = yield* KubeClient
      yield* TestClock.setTime(Date.parse(Scenario.defaultStart))
      for (const { object } of objects.filter((entry) => entry.resource === Resources.EC2NodeClasses)) {
        yield* kube.create(Resources.EC2NodeClasses, object as never).pipe(Effect.orDie)
      }
      // The status controller resolves each EC2NodeClass in a few API calls on the fake: let it run until all have
      // a Ready condition (a selector that matches nothing is resolved too, as Ready=False).
      const resolved = Effect.map(kube.list(Resources.EC2NodeClasses), (list) =>
        list.items.every(
          (nodeClass) => Meta.findCondition(nodeClass.status?.conditions, Conditions.Ready) !== undefined
        )
      )
      for (let round = 0; round < resolveRounds && !(yield* Effect.orDie(resolved)); round++) yield* Effect.yieldNow
      const cloud = yield* CloudProvider
      const instanceTypes = new Map<string, ReadonlyArray<InstanceType.InstanceType>>()
      const notReady = new Map<string, string>()
      for (const nodePool of nodePools) {
        const name = nodePool.metadata.name ?? ""
        const ref = nodePool.spec.template.spec.nodeClassRef
        if (ref.group !== EC2NodeClass.group || ref.kind !== EC2NodeClass.kind) {
          notReady.set(name, `${ref.kind} "${ref.name}" is not a NodeClass of the AWS provider`)
          continue
        }
        const nodeClass = yield* kube.get(Resources.EC2NodeClasses, ref.name).pipe(
          Effect.option,
          Effect.map((found) => (found._tag === "Some" ? found.value : undefined))
        )
        const why = notReadyBecause(nodeClass, ref.name)
        if (why !== undefined) notReady.set(name, why)
        else instanceTypes.set(name, yield* Effect.orDie(cloud.getInstanceTypes(nodePool)))
      }
      return { instanceTypes, notReady, wellKnownLabels: cloud.wellKnownLabels, catalogue }
    }).pipe(
      Effect.provide(
        provider.pipe(
          Layer.provideMerge(EventRecorder.layer),
          Layer.provideMerge(InformerCache.layer),
          Layer.provideMerge(MemoryKube.layer())
        )
      ),
      Effect.provide(TestClock.layer()),
      Effect.scoped
    )

  return {
    offered,
    simulation: (options) => SimulationApp.withProvider(provider, options),
    catalogue
  } satisfies AwsWorld.AwsWorld
})
