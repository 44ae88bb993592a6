/**
 * The Price List API call of the pricing refresh: GetProducts, every page. The API has endpoints in a few regions
 * only, so the client goes to the one upstream picks for the cluster's region (`pricing.NewAPI`). The SDK is loaded
 * when {@link layer} is built, so importing this module costs nothing.
 */
import type * as Sdk from "@aws-sdk/client-pricing"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as AwsCall from "./AwsCall.ts"
import type { AwsFailure } from "./AwsError.ts"

/** The Pricing contract. */
export class Pricing extends Context.Service<
  Pricing,
  {
    /** Every price-list document (a JSON string per product) of every page. */
    getProducts(input: Sdk.GetProductsCommandInput): Effect.Effect<ReadonlyArray<string>, AwsFailure>
  }
>()("karpenter-effect/cloudprovider/aws/sdk/Pricing") {}

/** Options of the real client; `region` is the cluster's region, not the endpoint's. */
export type Options = AwsCall.Options<Pick<Sdk.PricingClientConfig, "credentials" | "endpoint" | "requestHandler">>

/** The Price List API is slow and rarely called (twice per refresh); a low limit keeps paging polite. */
const defaultRateLimit: AwsCall.RateLimit = { qps: 5, burst: 10 }

/** The region whose Price List endpoint serves `region`. */
export const endpointRegion = (region: string): string =>
  region.startsWith("ap-")
    ? "ap-south-1"
    : region.startsWith("cn-")
      ? "cn-northwest-1"
      : region.startsWith("eu-")
        ? "eu-central-1"
        : "us-east-1"

/** The real Price List client for the options' region. */
export const layer = (options: Options): Layer.Layer<Pricing> =>
  Layer.effect(
    Pricing,
    Effect.gen(function* () {
      const sdk = yield* Effect.promise(() => import("@aws-sdk/client-pricing"))
      const client = yield* AwsCall.client(
        () =>
          new sdk.PricingClient({
            ...options.sdk,
            ...AwsCall.clientDefaults(options),
            region: endpointRegion(options.region)
          })
      )
      const { paginated } = AwsCall.make("Pricing", options, defaultRateLimit)
      return Pricing.of({
        getProducts: paginated(
          "GetProducts",
          (input: Sdk.GetProductsCommandInput, abortSignal) =>
            client.send(new sdk.GetProductsCommand(input), { abortSignal }),
          // The SDK hands each document over as a lazily parsed JSON string object.
          (page) => page.PriceList?.map(String)
        )
      })
    })
  )
