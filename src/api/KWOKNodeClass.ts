/**
 * `karpenter.kwok.sh/v1alpha1` KWOKNodeClass: the NodeClass of the KWOK provider. Upstream's
 * `spec.nodeRegistrationDelay`, plus `spec.failRegistration` (instances launch but their Nodes never register) for
 * testing liveness and NodeRegistrationHealthy.
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Duration from "./Duration.ts"
import { Condition, ObjectMeta } from "./Meta.ts"

const optional = Schema.optionalKey

/** The kind's group, version and name. */
export const group = "karpenter.kwok.sh"
export const apiVersion = "karpenter.kwok.sh/v1alpha1"
export const kind = "KWOKNodeClass"

/** The label naming a node's KWOKNodeClass (`<group>/<lowercase kind>`). */
export const NodeClassLabel = "karpenter.kwok.sh/kwoknodeclass"

/** Labels the KWOK provider puts on instance types (well-known for scheduling). */
export const InstanceSizeLabel = "karpenter.kwok.sh/instance-size"
export const InstanceFamilyLabel = "karpenter.kwok.sh/instance-family"
export const InstanceCPULabel = "karpenter.kwok.sh/instance-cpu"
export const InstanceMemoryLabel = "karpenter.kwok.sh/instance-memory"
/** The capacity reservation a reserved node was launched into (this project's; upstream KWOK declares none). */
export const ReservationIDLabel = "karpenter.kwok.sh/reservation-id"
export const ProviderLabels: ReadonlyArray<string> = [
  InstanceSizeLabel,
  InstanceFamilyLabel,
  InstanceCPULabel,
  InstanceMemoryLabel,
  ReservationIDLabel
]

/** The node-level markers upstream's KWOK provider adds. */
export const KwokNodeLabel = "kwok.x-k8s.io/node"
export const InstancePriceLabel = "eks-node-viewer/instance-price"
export const PartitionLabel = "kwok-partition"

/** The KWOKNodeClass spec. */
export const Spec = Schema.Struct({
  nodeRegistrationDelay: optional(Schema.String.check(Duration.duration)),
  failRegistration: optional(Schema.Boolean)
})

/** A KWOKNodeClass object. */
export const KWOKNodeClass = Schema.Struct({
  apiVersion: Schema.Literal(apiVersion),
  kind: Schema.Literal(kind),
  metadata: ObjectMeta,
  spec: Spec.pipe(Schema.withDecodingDefaultKey(Effect.succeed({}))),
  status: optional(Schema.Struct({ conditions: optional(Schema.Array(Condition)) }))
})
export type KWOKNodeClass = typeof KWOKNodeClass.Type
