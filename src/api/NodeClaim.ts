/**
 * `karpenter.sh/v1` NodeClaim: a request for one node, and the record of its life (launch, registration,
 * initialization, disruption).
 */
import * as Schema from "effect/Schema"
import * as Cel from "./Cel.ts"
import * as Duration from "./Duration.ts"
import { Condition, ObjectMeta, TemplateTaint } from "./Meta.ts"
import { NodeClassRef } from "./NodeClassRef.ts"
import { NodeClaimRequirements } from "./NodeSelectorRequirements.ts"
import * as Quantity from "./Quantity.ts"

const optional = Schema.optionalKey

/** The kind's API version. */
export const apiVersion = "karpenter.sh/v1"
export const kind = "NodeClaim"

const defaultExpireAfter = "720h"

/** The NodeClaim spec: immutable once created. */
export const Spec = Schema.Struct({
  taints: optional(Schema.Array(TemplateTaint)),
  startupTaints: optional(Schema.Array(TemplateTaint)),
  requirements: NodeClaimRequirements,
  resources: optional(Schema.Struct({ requests: optional(Quantity.ResourceList) })),
  nodeClassRef: NodeClassRef,
  terminationGracePeriod: optional(Schema.String.check(Duration.duration)),
  expireAfter: Schema.String.check(Duration.nillable).pipe(Cel.withDefault(defaultExpireAfter))
}).check(Cel.transitionRule({ rule: "self == oldSelf", message: "spec is immutable" }))
export type Spec = typeof Spec.Type

/** What Karpenter and the cloud provider report. */
export const Status = Schema.Struct({
  nodeName: optional(Schema.String),
  providerID: optional(Schema.String),
  imageID: optional(Schema.String),
  capacity: optional(Quantity.ResourceList),
  allocatable: optional(Quantity.ResourceList),
  conditions: optional(Schema.Array(Condition)),
  lastPodEventTime: optional(Schema.String)
})
export type Status = typeof Status.Type

/** A NodeClaim object. */
export const NodeClaim = Schema.Struct({
  apiVersion: Schema.Literal(apiVersion),
  kind: Schema.Literal(kind),
  metadata: ObjectMeta,
  spec: Spec,
  status: optional(Status)
})
export type NodeClaim = typeof NodeClaim.Type
