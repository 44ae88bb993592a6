/**
 * The EC2 prices of one controller process (aws/karpenter-provider-aws v1.4.0, `pkg/providers/pricing`): the bundled
 * table until the pricing refresh answers, then what it last answered. The refresh controller writes it, the
 * CloudProvider reads it for every offering it builds; each update is a new book, so a cache of offerings built on an
 * older one knows it is stale.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Ec2Pricing from "../../../src/cloudprovider/aws/Ec2Pricing.ts"

/** The book's operations. */
export interface Service {
  /** The prices now. */
  readonly current: Effect.Effect<Ec2Pricing.PriceBook>
  /** Replaces the prices with `f` of the current ones. */
  update(f: (book: Ec2Pricing.PriceBook) => Ec2Pricing.PriceBook): Effect.Effect<void>
}

/** The price book of one controller process. */
export class Prices extends Context.Service<Prices, Service>()("karpenter-effect/layers/cloudprovider/aws/Prices") {}

/** A book holding `initial` (e.g. `Ec2Pricing.fromStatic` of the bundled table) until updated. */
export const make = (initial: Ec2Pricing.PriceBook): Effect.Effect<Service> =>
  Effect.sync(() => {
    let book = initial
    return {
      current: Effect.sync(() => book),
      update: (f) =>
        Effect.sync(() => {
          book = f(book)
        })
    }
  })

/** A fresh book holding `initial`. */
export const layer = (initial: Ec2Pricing.PriceBook): Layer.Layer<Prices> => Layer.effect(Prices, make(initial))
