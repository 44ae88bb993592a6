/**
 * Kubernetes resource quantities ("100m", "2", "1.5Gi", "1e3"): the API schema and exact conversion to milli-units.
 */
import * as Schema from "effect/Schema"
import * as SchemaGetter from "effect/SchemaGetter"
import * as Cel from "./Cel.ts"

/** Upstream's quantity pattern (apimachinery `resource.Quantity`). */
export const QuantityPattern =
  /^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$/

const binarySuffixes: Readonly<Record<string, bigint>> = {
  Ki: 1n << 10n,
  Mi: 1n << 20n,
  Gi: 1n << 30n,
  Ti: 1n << 40n,
  Pi: 1n << 50n,
  Ei: 1n << 60n
}
const decimalExponents: Readonly<Record<string, number>> = {
  n: -9,
  u: -6,
  m: -3,
  "": 0,
  k: 3,
  M: 6,
  G: 9,
  T: 12,
  P: 15,
  E: 18
}

/** Whether `text` is a valid quantity. */
export const isQuantity = (text: string): boolean => QuantityPattern.test(text)

/**
 * The quantity in thousandths of its unit, rounded up as apimachinery's `MilliValue` does
 * ("100m" → 100, "2" → 2000, "1Ki" → 1024000). Undefined for malformed input.
 */
export const toMilli = (quantity: string | number): number | undefined => {
  if (typeof quantity === "number") return Number.isFinite(quantity) ? Math.ceil(quantity * 1000) : undefined
  const known = parsedMilli.get(quantity)
  if (known !== undefined || parsedMilli.has(quantity)) return known
  // Bounded: arbitrary input must not grow the memo without limit.
  if (parsedMilli.size >= 4096) parsedMilli.clear()
  const milli = parseMilli(quantity)
  parsedMilli.set(quantity, milli)
  return milli
}

// Pods repeat a handful of quantities ("100m", "256Mi"); parsing each one again with BigInt arithmetic was a tenth of
// a 10,000-pod scheduling pass's set-up.
const parsedMilli = new Map<string, number | undefined>()

const parseMilli = (quantity: string): number | undefined => {
  const match = QuantityPattern.exec(quantity)
  if (match === null) return undefined
  const sign = match[1] === "-" ? -1n : 1n
  const mantissa = match[2] ?? "0"
  const suffix = match[6] ?? ""
  const [whole = "", fraction = ""] = mantissa.split(".")
  let numerator = BigInt((whole || "0") + fraction) * 1000n
  let denominator = 10n ** BigInt(fraction.length)
  const binary = binarySuffixes[suffix]
  if (binary !== undefined) {
    numerator *= binary
  } else {
    const exponent =
      suffix.startsWith("e") || suffix.startsWith("E") ? Number(suffix.slice(1)) : decimalExponents[suffix]
    if (exponent === undefined || !Number.isFinite(exponent)) return undefined
    if (exponent >= 0) numerator *= 10n ** BigInt(exponent)
    else denominator *= 10n ** BigInt(-exponent)
  }
  const ceil = (numerator + denominator - 1n) / denominator
  return Number(sign * ceil)
}

/**
 * Renders milli-units canonically: "100m" when not whole; otherwise a binary suffix (Ki…Ei) when `binary` and
 * exact, else a decimal suffix (k…E) when exact, else the plain integer.
 */
export const format = (milli: number, options?: { readonly binary?: boolean }): string => {
  if (milli % 1000 !== 0) return `${milli}m`
  const value = milli / 1000
  if (value === 0) return "0"
  if (options?.binary === true) {
    for (const suffix of ["Ei", "Pi", "Ti", "Gi", "Mi", "Ki"] as const) {
      const unit = Number(binarySuffixes[suffix])
      if (value % unit === 0) return `${value / unit}${suffix}`
    }
    return `${value}`
  }
  for (const [suffix, exponent] of [
    ["E", 18],
    ["P", 15],
    ["T", 12],
    ["G", 9],
    ["M", 6],
    ["k", 3]
  ] as const) {
    const unit = 10 ** exponent
    if (value % unit === 0) return `${value / unit}${suffix}`
  }
  return `${value}`
}

/** Resources whose quantities read best in binary units. */
export const isByteResource = (name: string): boolean =>
  name === "memory" || name === "ephemeral-storage" || name === "storage" || name.startsWith("hugepages-")

/**
 * A quantity on the wire: a string or a number (int-or-string in the CRD); decodes to its string form.
 */
export const Quantity = Schema.Union([Schema.String, Schema.Finite])
  .pipe(
    Schema.decodeTo(Schema.String, {
      decode: SchemaGetter.transform((value: string | number) => String(value)),
      encode: SchemaGetter.transform((value: string) => value)
    })
  )
  .check(
    Cel.pattern(QuantityPattern, "must be a Kubernetes quantity such as 100m, 2, 1.5Gi"),
    Cel.crdOnly({ "x-kubernetes-int-or-string": true })
  )

/** A map from resource name to quantity (`corev1.ResourceList`). */
export const ResourceList = Schema.Record(Schema.String, Quantity)
export type ResourceList = typeof ResourceList.Type
