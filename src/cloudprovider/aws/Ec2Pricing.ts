/**
 * EC2 prices as the AWS provider keeps them (aws/karpenter-provider-aws v1.4.0, `pkg/providers/pricing/pricing.go`):
 * on-demand per type from a static table until the Pricing API answers, spot per type and zone from
 * DescribeSpotPriceHistory. Until the first spot update every type's spot price is its static on-demand price in
 * every zone; afterwards only zones with history have a price. No price ⇒ the offering is unavailable.
 */
import * as Schema from "effect/Schema"

/** A record of DescribeSpotPriceHistory (the fields read); the SDK's `SpotPrice` is assignable to it. */
export interface SpotPriceRecord {
  readonly InstanceType?: string | undefined
  readonly AvailabilityZone?: string | undefined
  readonly SpotPrice?: string | undefined
  readonly Timestamp?: Date | undefined
}

/** The prices known at one moment. */
export interface PriceBook {
  /** Type → $/hour (Linux, shared tenancy or bare metal). */
  readonly onDemand: ReadonlyMap<string, number>
  /** Type → the spot price used in every zone before the first spot update. */
  readonly spotDefault: ReadonlyMap<string, number>
  /** Type → zone → $/hour, from spot price history. */
  readonly spotZonal: ReadonlyMap<string, ReadonlyMap<string, number>>
  readonly spotUpdated: boolean
}

/** Prices from a static on-demand table (upstream `Reset`): spot defaults to on-demand until the first update. */
export const fromStatic = (onDemand: ReadonlyMap<string, number>): PriceBook => ({
  onDemand,
  spotDefault: onDemand,
  spotZonal: new Map(),
  spotUpdated: false
})

/** The on-demand price of a type, if known. */
export const onDemandPrice = (book: PriceBook, instanceType: string): number | undefined =>
  book.onDemand.get(instanceType)

/** The spot price of a type in a zone, if known (`SpotPrice`). */
export const spotPrice = (book: PriceBook, instanceType: string, zone: string): number | undefined => {
  const zonal = book.spotZonal.get(instanceType)
  const fallback = book.spotDefault.get(instanceType)
  if (zonal === undefined && fallback === undefined) return undefined
  if (!book.spotUpdated) return fallback
  return zonal?.get(zone)
}

// Go's `strconv.ParseFloat` on a decimal price: anything else makes upstream skip the record.
const decimal = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/

/**
 * The book after a spot price history (`UpdateSpotPricing`): records without a timestamp or with an unparsable
 * price are skipped, a later record of the same type and zone replaces an earlier one, and the zones merge into the
 * known ones. Undefined when no record is usable (upstream fails with "no spot pricing found" and keeps its prices).
 */
export const withSpotHistory = (book: PriceBook, history: Iterable<SpotPriceRecord>): PriceBook | undefined => {
  const update = new Map<string, Map<string, number>>()
  for (const record of history) {
    const text = record.SpotPrice ?? ""
    if (!decimal.test(text) || record.Timestamp === undefined) continue
    const instanceType = record.InstanceType ?? ""
    const zones = update.get(instanceType) ?? new Map<string, number>()
    zones.set(record.AvailabilityZone ?? "", Number(text))
    update.set(instanceType, zones)
  }
  if (update.size === 0) return undefined
  const spotZonal = new Map(book.spotZonal)
  for (const [instanceType, zones] of update) {
    spotZonal.set(instanceType, new Map([...(book.spotZonal.get(instanceType) ?? []), ...zones]))
  }
  return { ...book, spotZonal, spotUpdated: true }
}

/** The parts of a Price List product document read (upstream `onDemandPage`'s `priceItem`). */
interface ProductDocument {
  readonly product?: { readonly attributes?: { readonly instanceType?: unknown } }
  readonly terms?: {
    readonly OnDemand?: Readonly<
      Record<string, { readonly priceDimensions?: Readonly<Record<string, { readonly pricePerUnit?: unknown }>> }>
    >
  }
}

const parseDocument = (document: string): ProductDocument | undefined => {
  try {
    const parsed: unknown = JSON.parse(document)
    return typeof parsed === "object" && parsed !== null ? (parsed as ProductDocument) : undefined
  } catch {
    return undefined
  }
}

/** The currency of a region's prices (upstream: CNY in China, else USD). */
export const currencyOf = (region: string): string => (region.startsWith("cn-") ? "CNY" : "USD")

/**
 * Type → on-demand price from GetProducts documents (upstream `onDemandPage`): documents that do not parse or name no
 * instance type are skipped, and so are prices that are not decimals or are zero.
 */
export const onDemandFromProducts = (documents: Iterable<string>, currency: string): Map<string, number> => {
  const prices = new Map<string, number>()
  for (const document of documents) {
    const item = parseDocument(document)
    const instanceType = item?.product?.attributes?.instanceType
    if (typeof instanceType !== "string" || instanceType === "") continue
    for (const term of Object.values(item?.terms?.OnDemand ?? {})) {
      for (const dimension of Object.values(term.priceDimensions ?? {})) {
        const text = (dimension.pricePerUnit as Record<string, unknown> | undefined)?.[currency]
        if (typeof text !== "string" || !decimal.test(text) || Number(text) === 0) continue
        prices.set(instanceType, Number(text))
      }
    }
  }
  return prices
}

/** The book after an on-demand update (`UpdateOnDemandPricing`): new prices merge into the known ones. */
export const withOnDemand = (book: PriceBook, update: ReadonlyMap<string, number>): PriceBook => ({
  ...book,
  onDemand: new Map([...book.onDemand, ...update])
})

/** A price source answered no usable price; the known prices are kept. */
export class NoPricesFound extends Schema.TaggedError<NoPricesFound>()("NoPricesFound", {
  message: Schema.String
}) {}
