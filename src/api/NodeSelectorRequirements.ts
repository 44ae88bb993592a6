/**
 * The requirement schema shared by NodePool templates and NodeClaims (`NodeSelectorRequirementWithMinValues`), with
 * upstream's validation: operators, label keys and values, label-domain rules, and the In / Gt / Lt / minValues rules.
 */
import * as Schema from "effect/Schema"
import * as Cel from "./Cel.ts"
import * as Labels from "./Labels.ts"
import { LabelValuePattern, QualifiedNamePattern } from "./Meta.ts"

/** The operators of a node selector requirement (v1.4.0; Gte/Lte came in v1.9). */
export const Operators = ["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"] as const
export type Operator = (typeof Operators)[number]

const optional = Schema.optionalKey

/** A label key that passes upstream's label-domain rules, written once for CEL and for decoding. */
export const domainChecked = (rules: ReadonlyArray<Labels.DomainRule>) =>
  rules.map((domainRule) =>
    Cel.rule<string>({ rule: domainRule.cel("self"), message: domainRule.message, holds: domainRule.allows })
  )

const isNonNegativeInteger = (value: string | undefined): boolean => value !== undefined && /^[0-9]+$/.test(value)

const requirementItem = (allowNodePoolKey: boolean) =>
  Schema.Struct({
    key: Schema.String.check(
      Schema.isMaxLength(316),
      Cel.pattern(QualifiedNamePattern, "must be a qualified label key"),
      ...domainChecked(Labels.domainRules({ forRequirements: true, allowNodePoolKey }))
    ),
    operator: Schema.Literals(Operators),
    values: optional(
      Schema.Array(
        Schema.String.check(Schema.isMaxLength(63), Cel.pattern(LabelValuePattern, "must be a valid label value"))
      )
    ),
    minValues: optional(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 50 })))
  })

type RequirementItem = typeof RequirementWithMinValues.Type

/** The shape the list rules read. */
interface OperatorAndValues {
  readonly operator: Operator
  readonly values?: ReadonlyArray<string>
}

const inRule = Cel.rule<ReadonlyArray<OperatorAndValues>>({
  rule: "self.all(x, x.operator == 'In' ? x.values.size() != 0 : true)",
  message: "requirements with operator 'In' must have a value defined",
  holds: (requirements) => requirements.every((r) => r.operator !== "In" || (r.values?.length ?? 0) > 0)
})

const gtLtRule = Cel.rule<ReadonlyArray<OperatorAndValues>>({
  rule: "self.all(x, (x.operator == 'Gt' || x.operator == 'Lt') ? (x.values.size() == 1 && int(x.values[0]) >= 0) : true)",
  message: "requirements operator 'Gt' or 'Lt' must have a single positive integer value",
  holds: (requirements) =>
    requirements.every(
      (r) =>
        (r.operator !== "Gt" && r.operator !== "Lt") || (r.values?.length === 1 && isNonNegativeInteger(r.values[0]))
    )
})

const requirementsList = (allowNodePoolKey: boolean) =>
  Schema.Array(requirementItem(allowNodePoolKey)).check(
    Schema.isMaxLength(100),
    inRule,
    gtLtRule,
    Cel.rule<ReadonlyArray<RequirementItem>>({
      rule: "self.all(x, (x.operator == 'In' && has(x.minValues)) ? x.values.size() >= x.minValues : true)",
      message: "requirements with 'minValues' must have at least that many values specified in the 'values' field",
      holds: (requirements) =>
        requirements.every(
          (r) => r.operator !== "In" || r.minValues === undefined || (r.values?.length ?? 0) >= r.minValues
        )
    })
  )

/** One requirement of a NodePool template. */
export const RequirementWithMinValues = requirementItem(false)
export type RequirementWithMinValues = typeof RequirementWithMinValues.Type

/** A NodePool template's requirements. */
export const NodePoolRequirements = requirementsList(false)
/** A NodeClaim's requirements: as a NodePool's, but `karpenter.sh/nodepool` is allowed. */
export const NodeClaimRequirements = requirementsList(true)

const overlayRequirementItem = requirementItem(true).mapFields(({ minValues: _, ...fields }) => fields)
type OverlayRequirementItem = typeof overlayRequirementItem.Type

/**
 * A NodeOverlay's requirements (`karpenter.sh/v1alpha1`, v1.7.0): no minValues, `karpenter.sh/nodepool` allowed, and
 * NotIn needs values too.
 */
export const NodeOverlayRequirements = Schema.Array(overlayRequirementItem).check(
  Schema.isMaxLength(100),
  Cel.rule<ReadonlyArray<OverlayRequirementItem>>({
    rule: "self.all(x, x.operator == 'NotIn' ? x.values.size() != 0 : true)",
    message: "requirements with operator 'NotIn' must have a value defined",
    holds: (requirements) => requirements.every((r) => r.operator !== "NotIn" || (r.values?.length ?? 0) > 0)
  }),
  inRule,
  gtLtRule
)
