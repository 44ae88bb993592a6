/**
 * `karpenter.sh/v1` NodePool: what nodes may be launched for pending pods, within which limits, and how they may be
 * disrupted. Decoding applies upstream's defaults and validation (CRD schema and CEL).
 */
import * as Schema from "effect/Schema"
import * as Cel from "./Cel.ts"
import * as Conditions from "./Conditions.ts"
import * as Duration from "./Duration.ts"
import * as Labels from "./Labels.ts"
import { Condition, LabelValuePattern, ObjectMeta, TemplateTaint } from "./Meta.ts"
import { NodePoolNodeClassRef } from "./NodeClassRef.ts"
import { NodePoolRequirements } from "./NodeSelectorRequirements.ts"
import * as Quantity from "./Quantity.ts"

const optional = Schema.optionalKey

/** The kind's API version. */
export const apiVersion = "karpenter.sh/v1"
export const kind = "NodePool"

/** Consolidation policies (v1.4.0; Balanced since v1.14.0: moves scored by savings against disruption). */
export const ConsolidationPolicies = ["WhenEmpty", "WhenEmptyOrUnderutilized", "Balanced"] as const
export type ConsolidationPolicy = (typeof ConsolidationPolicies)[number]

const BudgetNodesPattern = /^((100|[0-9]{1,2})%|[0-9]+)$/
const CronPattern = /^(@(annually|yearly|monthly|weekly|daily|midnight|hourly))|((.+)\s(.+)\s(.+)\s(.+)\s(.+))$/

/** A disruption budget: at most `nodes` of this NodePool's nodes disrupted at once, optionally on a schedule. */
export const Budget = Schema.Struct({
  nodes: Schema.String.check(
    Cel.pattern(BudgetNodesPattern, "must be a count such as 5 or a percentage such as 10%")
  ).pipe(Cel.withDefault("10%")),
  schedule: optional(
    Schema.String.check(Cel.pattern(CronPattern, "must be a cron expression or macro such as @daily"))
  ),
  duration: optional(Schema.String.check(Duration.budgetDuration)),
  reasons: optional(Schema.Array(Schema.Literals(Conditions.DisruptionReasons)))
})
export type Budget = typeof Budget.Type

const defaultBudgets = [{ nodes: "10%" }]

/** How and when Karpenter may disrupt this NodePool's nodes. */
export const Disruption = Schema.Struct({
  consolidateAfter: Schema.String.check(Duration.nillable),
  consolidationPolicy: Schema.Literals(ConsolidationPolicies).pipe(Cel.withDefault("WhenEmptyOrUnderutilized")),
  budgets: Schema.Array(Budget)
    .check(
      Schema.isMaxLength(50),
      Cel.rule<ReadonlyArray<Budget>>({
        rule: "self.all(x, has(x.schedule) == has(x.duration))",
        message: "'schedule' must be set with 'duration'",
        holds: (budgets) =>
          budgets.every((budget) => (budget.schedule === undefined) === (budget.duration === undefined))
      })
    )
    .pipe(Cel.withDefault(defaultBudgets))
})
export type Disruption = typeof Disruption.Type

const labelRules = Labels.domainRules({ forRequirements: false, allowNodePoolKey: false }).map((domainRule) =>
  Cel.rule<Readonly<Record<string, string>>>({
    rule: `self.all(x, ${domainRule.cel("x")})`,
    message: domainRule.message,
    holds: (labels) => Object.keys(labels).every(domainRule.allows)
  })
)

/** Labels and annotations every NodeClaim (and Node) of the NodePool gets. */
export const TemplateMetadata = Schema.Struct({
  labels: optional(
    Schema.Record(
      Schema.String,
      Schema.String.check(Schema.isMaxLength(63), Cel.pattern(LabelValuePattern, "must be a valid label value"))
    ).check(Schema.isMaxProperties(100), ...labelRules)
  ),
  annotations: optional(Schema.Record(Schema.String, Schema.String))
})

const defaultExpireAfter = "720h"

/** The NodeClaim spec a NodePool stamps out. */
export const TemplateSpec = Schema.Struct({
  taints: optional(Schema.Array(TemplateTaint)),
  startupTaints: optional(Schema.Array(TemplateTaint)),
  requirements: NodePoolRequirements,
  nodeClassRef: NodePoolNodeClassRef,
  expireAfter: Schema.String.check(Duration.nillable).pipe(Cel.withDefault(defaultExpireAfter)),
  terminationGracePeriod: optional(Schema.String.check(Duration.duration))
})
export type TemplateSpec = typeof TemplateSpec.Type

/** The NodeClaim template. */
export const Template = Schema.Struct({
  metadata: optional(TemplateMetadata),
  spec: TemplateSpec
})
export type Template = typeof Template.Type

const defaultDisruption = { consolidateAfter: "0s" }

/**
 * What the user asks for. `replicas` (alpha, upstream v1.8, used under the StaticCapacity gate) makes the NodePool
 * static: it keeps that many nodes whatever the pods, so only `limits.nodes` and no weight apply, and a NodePool
 * never switches between static and dynamic (upstream's three CEL rules on NodePoolSpec, v1.11).
 */
export const Spec = Schema.Struct({
  template: Template,
  disruption: Disruption.pipe(Cel.withDefault(defaultDisruption)),
  limits: optional(Quantity.ResourceList),
  weight: optional(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 100 }))),
  replicas: optional(Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)))
}).check(
  Cel.transitionRule({
    rule: "has(self.replicas) == has(oldSelf.replicas)",
    message: "Cannot transition NodePool between static (replicas set) and dynamic (replicas unset) provisioning modes"
  }),
  Cel.rule<{ readonly replicas?: number; readonly limits?: Readonly<Record<string, string>> }>({
    rule: "!has(self.replicas) || (!has(self.limits) || size(self.limits) == 0 || (size(self.limits) == 1 && 'nodes' in self.limits))",
    message: "only 'limits.nodes' is supported on static NodePools",
    holds: (spec) =>
      spec.replicas === undefined || Object.keys(spec.limits ?? {}).every((resource) => resource === "nodes")
  }),
  Cel.rule<{ readonly replicas?: number; readonly weight?: number }>({
    rule: "!has(self.replicas) || !has(self.weight)",
    message: "'weight' is not supported on static NodePools",
    holds: (spec) => spec.replicas === undefined || spec.weight === undefined
  })
)
export type Spec = typeof Spec.Type

/** What Karpenter reports. */
export const Status = Schema.Struct({
  resources: optional(Quantity.ResourceList),
  /** How many nodes the NodePool has (upstream v1.8): the scale subresource's status replicas. */
  nodes: optional(Schema.Int),
  nodeClassObservedGeneration: optional(Schema.Int),
  conditions: optional(Schema.Array(Condition))
})
export type Status = typeof Status.Type

/** A NodePool object. */
export const NodePool = Schema.Struct({
  apiVersion: Schema.Literal(apiVersion),
  kind: Schema.Literal(kind),
  metadata: ObjectMeta,
  spec: Spec,
  status: optional(Status)
})
export type NodePool = typeof NodePool.Type

/** The NodePool's weight; an unset weight counts as 0. */
export const weightOf = (nodePool: NodePool): number => nodePool.spec.weight ?? 0

/** A static NodePool (`spec.replicas` set): it keeps a fixed count of nodes, outside provisioning and consolidation. */
export const isStatic = (nodePool: NodePool): boolean => nodePool.spec.replicas !== undefined
