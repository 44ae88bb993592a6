/**
 * Object metadata and the small shared types of the Kubernetes API: owner references, conditions, selectors,
 * taints and tolerations. Decoding keeps only the fields the controllers use.
 */
import * as Schema from "effect/Schema"
import * as Cel from "./Cel.ts"
import type * as Conditions from "./Conditions.ts"
import * as Taints from "./Taints.ts"

const StringMap = Schema.Record(Schema.String, Schema.String)
const optional = Schema.optionalKey

/** `metav1.OwnerReference`. */
export const OwnerReference = Schema.Struct({
  apiVersion: Schema.String,
  kind: Schema.String,
  name: Schema.String,
  uid: Schema.String,
  controller: optional(Schema.Boolean),
  blockOwnerDeletion: optional(Schema.Boolean)
})
export type OwnerReference = typeof OwnerReference.Type

/** `metav1.ObjectMeta`: timestamps stay RFC 3339 strings. */
export const ObjectMeta = Schema.Struct({
  name: optional(Schema.String),
  generateName: optional(Schema.String),
  namespace: optional(Schema.String),
  uid: optional(Schema.String),
  resourceVersion: optional(Schema.String),
  generation: optional(Schema.Number),
  creationTimestamp: optional(Schema.String),
  deletionTimestamp: optional(Schema.String),
  deletionGracePeriodSeconds: optional(Schema.Number),
  labels: optional(StringMap),
  annotations: optional(StringMap),
  finalizers: optional(Schema.Array(Schema.String)),
  ownerReferences: optional(Schema.Array(OwnerReference))
})
export type ObjectMeta = typeof ObjectMeta.Type

/** The owner reference with `controller: true` (upstream `metav1.GetControllerOf`). */
export const controllerOf = (object: { readonly metadata: ObjectMeta }): OwnerReference | undefined =>
  object.metadata.ownerReferences?.find((reference) => reference.controller === true)

/** Condition status values. */
export const ConditionStatus = Schema.Literals(["True", "False", "Unknown"])

const ConditionTypePattern =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$/
const ReasonPattern = /^([A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?)?$/

/** An operatorpkg status condition (`metav1.Condition` shape). */
export const Condition = Schema.Struct({
  type: Schema.String.check(Schema.isMaxLength(316), Cel.pattern(ConditionTypePattern)),
  status: ConditionStatus,
  observedGeneration: optional(Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))),
  lastTransitionTime: Schema.String,
  reason: optional(Schema.String.check(Schema.isMaxLength(1024), Cel.pattern(ReasonPattern))),
  message: optional(Schema.String.check(Schema.isMaxLength(32768)))
})
export type Condition = typeof Condition.Type

/** A condition status of a given type, or undefined when the object does not carry it. */
export const findCondition = (conditions: ReadonlyArray<Condition> | undefined, type: string): Condition | undefined =>
  conditions?.find((condition) => condition.type === type)

/** Whether the object's condition of `type` is True. */
export const isConditionTrue = (conditions: ReadonlyArray<Condition> | undefined, type: string): boolean =>
  findCondition(conditions, type)?.status === ("True" satisfies Conditions.Status)

/** A `metav1.LabelSelectorRequirement`. */
export const LabelSelectorRequirement = Schema.Struct({
  key: Schema.String,
  operator: Schema.String,
  values: optional(Schema.Array(Schema.String))
})

/** A `metav1.LabelSelector`. */
export const LabelSelector = Schema.Struct({
  matchLabels: optional(StringMap),
  matchExpressions: optional(Schema.Array(LabelSelectorRequirement))
})
export type LabelSelector = typeof LabelSelector.Type

/** A `corev1.NodeSelectorRequirement` (In, NotIn, Exists, DoesNotExist, Gt, Lt). */
export const NodeSelectorRequirement = Schema.Struct({
  key: Schema.String,
  operator: Schema.String,
  values: optional(Schema.Array(Schema.String))
})
export type NodeSelectorRequirement = typeof NodeSelectorRequirement.Type

/** A `corev1.NodeSelectorTerm`: its expressions are ANDed. */
export const NodeSelectorTerm = Schema.Struct({
  matchExpressions: optional(Schema.Array(NodeSelectorRequirement)),
  matchFields: optional(Schema.Array(NodeSelectorRequirement))
})
export type NodeSelectorTerm = typeof NodeSelectorTerm.Type

/** A `corev1.NodeSelector`: its terms are ORed. */
export const NodeSelector = Schema.Struct({ nodeSelectorTerms: Schema.Array(NodeSelectorTerm) })
export type NodeSelector = typeof NodeSelector.Type

/** A `corev1.Taint` as found on Nodes (decoded leniently). */
export const Taint = Schema.Struct({
  key: Schema.String,
  value: optional(Schema.String),
  effect: Schema.String,
  timeAdded: optional(Schema.String)
})
export type Taint = typeof Taint.Type

/** A `corev1.Toleration`. */
export const Toleration = Schema.Struct({
  key: optional(Schema.String),
  operator: optional(Schema.String),
  value: optional(Schema.String),
  effect: optional(Schema.String),
  tolerationSeconds: optional(Schema.Number)
})
export type Toleration = typeof Toleration.Type

/** A label value: at most 63 characters, alphanumerics with `-_.` inside. */
export const LabelValuePattern = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/
/** A qualified name: an optional DNS-subdomain prefix and `/`, then a name. */
export const QualifiedNamePattern =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*(\/))?([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/

/** A taint as a NodePool template may declare it: validated like the upstream CRD. */
export const TemplateTaint = Schema.Struct({
  key: Schema.String.check(Schema.isMinLength(1), Cel.pattern(QualifiedNamePattern, "must be a qualified name")),
  value: optional(Schema.String.check(Cel.pattern(LabelValuePattern, "must be a valid label value"))),
  effect: Schema.Literals(Taints.Effects),
  timeAdded: optional(Schema.String)
})
