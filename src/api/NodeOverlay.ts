/**
 * `karpenter.sh/v1alpha1` NodeOverlay (upstream v1.7.0, `pkg/apis/v1alpha1/nodeoverlay*.go`): a price, a price
 * adjustment or extra extended-resource capacity for the instance types its requirements match, as the scheduler sees
 * them. Decoding applies upstream's CRD validation (patterns, bounds and CEL rules, with upstream's messages).
 */
import * as Schema from "effect/Schema"
import * as Cel from "./Cel.ts"
import { Condition, ObjectMeta } from "./Meta.ts"
import { NodeOverlayRequirements } from "./NodeSelectorRequirements.ts"
import * as Quantity from "./Quantity.ts"

const optional = Schema.optionalKey

/** The kind's API version. */
export const apiVersion = "karpenter.sh/v1alpha1"
export const kind = "NodeOverlay"

/** The condition the NodeOverlay controller sets: False with a reason when the overlay is not applied. */
export const ValidationSucceeded = "ValidationSucceeded"
/** Reason: the overlay breaks a rule the CRD cannot express (upstream `RuntimeValidate`). */
export const RuntimeValidation = "RuntimeValidation"
/** Reason: an overlay of the same weight already sets the same price or capacity on a matching instance type. */
export const Conflict = "Conflict"

/** The resources an overlay's capacity may not set (upstream `v1.WellKnownResources`, as its CEL rule lists them). */
export const RestrictedCapacity: ReadonlyArray<string> = ["cpu", "memory", "ephemeral-storage", "pods"]

const PricePattern = /^\d+(\.\d+)?$/
const PriceAdjustmentPattern = /^(([+-]{1}(\d*\.?\d+))|(\+{1}\d*\.?\d+%)|(^(-\d{1,2}(\.\d+)?%)$)|(-100%))$/

/** What the user asks for. */
export const Spec = Schema.Struct({
  requirements: NodeOverlayRequirements,
  priceAdjustment: optional(
    Schema.String.check(
      Cel.pattern(PriceAdjustmentPattern, "must be a signed amount such as -0.5 or a percentage such as +10% or -15%")
    )
  ),
  price: optional(Schema.String.check(Cel.pattern(PricePattern, "must be a price such as 0.25"))),
  capacity: optional(
    Quantity.ResourceList.check(
      Cel.rule<Readonly<Record<string, string>>>({
        rule: "self.all(x, !(x in ['cpu', 'memory', 'ephemeral-storage', 'pods']))",
        message: "invalid resource restricted",
        holds: (capacity) => Object.keys(capacity).every((name) => !RestrictedCapacity.includes(name))
      })
    )
  ),
  weight: optional(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 10000 })))
}).check(
  Cel.rule<{ readonly price?: string; readonly priceAdjustment?: string }>({
    rule: "!has(self.price) || !has(self.priceAdjustment)",
    message: "cannot set both 'price' and 'priceAdjustment'",
    holds: (spec) => spec.price === undefined || spec.priceAdjustment === undefined
  })
)
export type Spec = typeof Spec.Type

/** What the controller reports. */
export const Status = Schema.Struct({
  conditions: optional(Schema.Array(Condition))
})

/** A NodeOverlay object. */
export const NodeOverlay = Schema.Struct({
  apiVersion: Schema.Literal(apiVersion),
  kind: Schema.Literal(kind),
  metadata: ObjectMeta,
  spec: Spec,
  status: optional(Status)
})
export type NodeOverlay = typeof NodeOverlay.Type

/** The overlay's weight; an unset weight counts as 0. */
export const weightOf = (overlay: NodeOverlay): number => overlay.spec.weight ?? 0

/**
 * Upstream `OrderByWeight`: the order overlays are resolved in — heaviest first, equal weights by name, descending
 * (as upstream sorts them).
 */
export const orderByWeight = (overlays: ReadonlyArray<NodeOverlay>): Array<NodeOverlay> =>
  [...overlays].sort((a, b) => {
    const byWeight = weightOf(b) - weightOf(a)
    if (byWeight !== 0) return byWeight
    const nameA = a.metadata.name ?? ""
    const nameB = b.metadata.name ?? ""
    return nameA > nameB ? -1 : nameA < nameB ? 1 : 0
  })

/** The price change an overlay makes: `price` wins over `priceAdjustment` (the CRD forbids both); none ⇒ undefined. */
export const priceChangeOf = (overlay: NodeOverlay): string | undefined =>
  overlay.spec.price ?? overlay.spec.priceAdjustment

/**
 * Upstream `AdjustedPrice`: an unsigned change is the new price; a signed one adds an amount or a percentage of the
 * price; the result is never below 0.
 */
export const adjustedPrice = (price: number, change: string): number => {
  if (change === "") return price
  if (!change.startsWith("+") && !change.startsWith("-")) return Number.parseFloat(change)
  const adjusted = change.endsWith("%")
    ? price * (1 + Number.parseFloat(change.slice(0, -1)) / 100)
    : price + Number.parseFloat(change)
  return Math.max(adjusted, 0)
}
