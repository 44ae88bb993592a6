import type * as PricingSdk from "@aws-sdk/client-pricing"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as PricingRefresh from "../../../../../layers/cloudprovider/aws/controllers/PricingRefresh.ts"
import * as FakeAws from "../../../../../layers/cloudprovider/aws/fake/FakeAws.ts"
import { Prices } from "../../../../../layers/cloudprovider/aws/Prices.ts"
import * as Labels from "../../../../../src/api/Labels.ts"
import * as Ec2Pricing from "../../../../../src/cloudprovider/aws/Ec2Pricing.ts"
import { CloudProvider } from "../../../../../src/cloudprovider/CloudProvider.ts"
import { KubeClient } from "../../../../../src/kube/KubeClient.ts"
import * as Resources from "../../../../../src/kube/Resources.ts"
import * as S from "../../../../controllers/support.ts"
import { dataset, operations, setUp, TestLayer } from "../support.ts"

const settings: PricingRefresh.Settings = { region: "us-west-2", isolatedVpc: false }

/** The price of an offering as the CloudProvider's instance types show it; undefined when it is unavailable. */
const offeringPrice = (instanceType: string, zone: string, capacityType: string) =>
  Effect.gen(function* () {
    const nodePool = yield* Effect.flatMap(Effect.service(KubeClient), (kube) =>
      kube.get(Resources.NodePools, "default")
    )
    const types = yield* (yield* CloudProvider).getInstanceTypes(nodePool)
    const offering = types
      .find((type) => type.name === instanceType)
      ?.offerings.find((candidate) => candidate.zone === zone && candidate.capacityType === capacityType)
    return offering?.available === true ? offering.price : undefined
  })

const datasetPrice = (name: string) => dataset.find((record) => record.name === name)?.onDemandPriceUSD ?? undefined

/** Sets an on-demand price the Price List does not have, to see whether a refresh replaced it. */
const staleOnDemand = (instanceType: string) =>
  Effect.flatMap(Prices, (prices) =>
    prices.update((book) => Ec2Pricing.withOnDemand(book, new Map([[instanceType, 99]])))
  )

describe("providers.pricing (AWS)", S.controllerSuite, () => {
  it.effect("a changed spot price in EC2 shows in the instance types after the 12-hour refresh, not before", () =>
    Effect.gen(function* () {
      yield* setUp()
      const fake = yield* FakeAws.FakeAws
      yield* PricingRefresh.make(settings)
      yield* S.advance(1_000, 1_000)
      const before = yield* offeringPrice("m5.large", "us-west-2a", Labels.CapacityTypeSpot)
      assert.closeTo(before ?? 0, (datasetPrice("m5.large") ?? 0) * 0.7, 1e-6, "the fake's history: 70% of on-demand")

      yield* fake.setSpotPrice("m5.large", "us-west-2a", 0.0321)
      yield* S.advance(12 * 3_600_000 - 2_000, 600_000)
      assert.strictEqual(yield* offeringPrice("m5.large", "us-west-2a", Labels.CapacityTypeSpot), before)
      yield* S.advance(2_000, 1_000)
      assert.strictEqual(yield* offeringPrice("m5.large", "us-west-2a", Labels.CapacityTypeSpot), 0.0321)
      // Other zones keep their own history.
      assert.strictEqual(yield* offeringPrice("m5.large", "us-west-2b", Labels.CapacityTypeSpot), before)
    }).pipe(Effect.provide(TestLayer))
  )

  it.effect("on-demand prices come from GetProducts, shared tenancy and bare metal, as upstream filters them", () =>
    Effect.gen(function* () {
      yield* setUp()
      yield* staleOnDemand("m5.large")
      yield* staleOnDemand("m5.metal")
      yield* PricingRefresh.make(settings)
      yield* S.advance(1_000, 1_000)
      assert.strictEqual(
        yield* offeringPrice("m5.large", "us-west-2a", Labels.CapacityTypeOnDemand),
        datasetPrice("m5.large")
      )
      assert.strictEqual(
        yield* offeringPrice("m5.metal", "us-west-2a", Labels.CapacityTypeOnDemand),
        datasetPrice("m5.metal")
      )
      const filters = (yield* operations("GetProducts")).map((call) =>
        Object.fromEntries(
          ((call.input as PricingSdk.GetProductsCommandInput).Filters ?? []).map((filter) => [
            filter.Field,
            filter.Value
          ])
        )
      )
      const common = {
        regionCode: "us-west-2",
        serviceCode: "AmazonEC2",
        preInstalledSw: "NA",
        operatingSystem: "Linux",
        capacitystatus: "Used",
        marketoption: "OnDemand"
      }
      assert.deepStrictEqual(filters, [
        { ...common, tenancy: "Shared", productFamily: "Compute Instance" },
        { ...common, tenancy: "Dedicated", productFamily: "Compute Instance (bare metal)" }
      ])
    }).pipe(Effect.provide(TestLayer))
  )

  it.effect("when the Pricing API fails the prices held are kept, spot still refreshes, and the pass is retried", () =>
    Effect.gen(function* () {
      yield* setUp()
      const fake = yield* FakeAws.FakeAws
      yield* staleOnDemand("m5.large")
      yield* fake.fail("GetProducts", "InternalFailure", { times: 2 })
      yield* PricingRefresh.make(settings)
      yield* S.settle
      assert.strictEqual(yield* offeringPrice("m5.large", "us-west-2a", Labels.CapacityTypeOnDemand), 99)
      assert.closeTo(
        (yield* offeringPrice("m5.large", "us-west-2a", Labels.CapacityTypeSpot)) ?? 0,
        (datasetPrice("m5.large") ?? 0) * 0.7,
        1e-6
      )
      // Retried with backoff, long before the 12 hours.
      yield* S.advance(1_000, 100)
      assert.strictEqual(
        yield* offeringPrice("m5.large", "us-west-2a", Labels.CapacityTypeOnDemand),
        datasetPrice("m5.large")
      )
    }).pipe(Effect.provide(TestLayer))
  )

  it.effect("in an isolated VPC the Price List API is not called: on-demand prices stay the bundled ones", () =>
    Effect.gen(function* () {
      yield* setUp()
      yield* PricingRefresh.make({ ...settings, isolatedVpc: true })
      yield* S.advance(1_000, 1_000)
      assert.deepStrictEqual(yield* operations("GetProducts"), [])
      assert.strictEqual((yield* operations("DescribeSpotPriceHistory")).length, 1)
    }).pipe(Effect.provide(TestLayer))
  )
})
