/**
 * The `providers.pricing` controller of the AWS provider (aws/karpenter-provider-aws v1.4.0,
 * `pkg/controllers/providers/pricing/controller.go` over `pkg/providers/pricing/pricing.go`): every 12 hours, spot
 * prices from DescribeSpotPriceHistory and on-demand prices from the Price List API (GetProducts), both at once, into
 * the process's {@link Prices}. A source that fails or answers nothing leaves its prices as they were — the bundled
 * table until a first success — and fails the pass, which is retried with backoff.
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Ec2Pricing from "../../../../src/cloudprovider/aws/Ec2Pricing.ts"
import * as Result from "../../../../src/runtime/Result.ts"
import * as Singleton from "../../../../src/runtime/Singleton.ts"
import { Prices } from "../Prices.ts"
import { Ec2 } from "../sdk/Ec2.ts"
import { Pricing } from "../sdk/Pricing.ts"

/** What the controller is told (upstream `AWS_REGION`, `--isolated-vpc`). */
export interface Settings {
  readonly region: string
  /** The Price List API may be unreachable from an isolated VPC: on-demand prices stay the bundled ones. */
  readonly isolatedVpc: boolean
}

/** How often prices are refreshed (upstream: 12 hours). */
export const interval = Duration.hours(12)

/** A source answered nothing usable (upstream's "no spot pricing found" / "no on-demand pricing found"). */
const noPrices = (what: string) => Effect.fail(new Ec2Pricing.NoPricesFound({ message: `no ${what} pricing found` }))

/** The TERM_MATCH filters of upstream `fetchOnDemandPricing`, then the tenancy and product family of one query. */
const onDemandFilters = (region: string, tenancy: string, productFamily: string) =>
  [
    ["regionCode", region],
    ["serviceCode", "AmazonEC2"],
    ["preInstalledSw", "NA"],
    ["operatingSystem", "Linux"],
    ["capacitystatus", "Used"],
    ["marketoption", "OnDemand"],
    ["tenancy", tenancy],
    ["productFamily", productFamily]
  ].map(([Field, Value]) => ({ Type: "TERM_MATCH" as const, Field, Value }))

/** Builds one pass: both sources refreshed, the first failure reported once both are done. */
export const makePass = Effect.fn("PricingRefresh.makePass")(function* (settings: Settings) {
  const ec2 = yield* Ec2
  const pricing = yield* Pricing
  const prices = yield* Prices
  const currency = Ec2Pricing.currencyOf(settings.region)

  /** upstream `UpdateSpotPricing`: the latest price of every type in every zone. */
  const updateSpot = Effect.gen(function* () {
    const now = yield* Clock.currentTimeMillis
    const history = yield* ec2.describeSpotPriceHistory({
      ProductDescriptions: ["Linux/UNIX", "Linux/UNIX (Amazon VPC)"],
      StartTime: new Date(now)
    })
    let found = false
    yield* prices.update((book) => {
      const updated = Ec2Pricing.withSpotHistory(book, history)
      found = updated !== undefined
      return updated ?? book
    })
    if (!found) return yield* noPrices("spot")
  })

  /** upstream `UpdateOnDemandPricing`: shared-tenancy instances and bare metal, both required. */
  const updateOnDemand = Effect.gen(function* () {
    if (settings.isolatedVpc) return
    const [shared, metal] = yield* Effect.all(
      [
        pricing.getProducts({
          ServiceCode: "AmazonEC2",
          Filters: onDemandFilters(settings.region, "Shared", "Compute Instance")
        }),
        pricing.getProducts({
          ServiceCode: "AmazonEC2",
          Filters: onDemandFilters(settings.region, "Dedicated", "Compute Instance (bare metal)")
        })
      ],
      { concurrency: 2 }
    )
    const sharedPrices = Ec2Pricing.onDemandFromProducts(shared, currency)
    const metalPrices = Ec2Pricing.onDemandFromProducts(metal, currency)
    if (sharedPrices.size === 0 || metalPrices.size === 0) return yield* noPrices("on-demand")
    yield* prices.update((book) => Ec2Pricing.withOnDemand(book, new Map([...sharedPrices, ...metalPrices])))
  })

  return Effect.gen(function* () {
    const exits = yield* Effect.all([Effect.exit(updateSpot), Effect.exit(updateOnDemand)], { concurrency: 2 })
    const failed = exits.find(Exit.isFailure)
    if (failed !== undefined) return yield* Effect.failCause(failed.cause)
    return Result.done
  }).pipe(Effect.annotateLogs({ controller: "providers.pricing" }))
})

/** Starts the controller in the current Scope. */
export const make = Effect.fn("PricingRefresh.make")(function* (settings: Settings) {
  const run = yield* makePass(settings)
  return yield* Singleton.make({ name: "providers.pricing", run, interval })
})
