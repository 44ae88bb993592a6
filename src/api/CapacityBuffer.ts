/**
 * `autoscaling.x-k8s.io/v1beta1` CapacityBuffer (upstream v1.14.0, `pkg/apis/autoscaling/v1beta1`, SIG Autoscaling's
 * API as Cluster Autoscaler serves it): headroom for pods that have not arrived yet, as a number of chunks shaped by a
 * PodTemplate or a workload's pod template. Decoding applies upstream's CRD validation (bounds, the provisioning
 * strategy's default and both CEL rules, with upstream's messages). The PodTemplate kind is here too: `core/v1`'s
 * object that a buffer's `podTemplateRef` names.
 */
import * as Schema from "effect/Schema"
import * as Cel from "./Cel.ts"
import { Condition, ObjectMeta } from "./Meta.ts"
import { PodTemplateSpec } from "./Pod.ts"
import * as Quantity from "./Quantity.ts"

const optional = Schema.optionalKey

export const group = "autoscaling.x-k8s.io"
export const version = "v1beta1"
/** The kind's API version. */
export const apiVersion = `${group}/${version}`
export const kind = "CapacityBuffer"

/** The only strategy upstream implements (and the default): keep the buffer's capacity launched. */
export const ActiveProvisioningStrategy = "buffer.x-k8s.io/active-capacity"

/** The buffer controller's condition: the pod template resolved and the replicas computed. */
export const ReadyForProvisioning = "ReadyForProvisioning"
/** The provisioner's condition: True once every virtual pod fits on existing capacity. */
export const Provisioning = "Provisioning"

/** Reasons of ReadyForProvisioning (upstream `pkg/controllers/capacitybuffer/constants.go`). */
export const ReasonResolved = "Resolved"
export const ReasonScalableRefNotFound = "ScalableRefNotFound"
export const ReasonPodTemplateNotFound = "PodTemplateNotFound"
export const ReasonResolutionFailed = "ResolutionFailed"
/** Reasons of Provisioning. */
export const ReasonFitsExistingCapacity = "FitsExistingCapacity"
export const ReasonRequiresNewCapacity = "RequiresNewCapacity"
export const ReasonNotReadyForProvisioning = "NotReadyForProvisioning"
export const ReasonBufferEmpty = "BufferEmpty"

/** The annotations a virtual pod carries: it is one, and whose (upstream `FakePodAnnotationKey` and the buffer's). */
export const VirtualPodAnnotation = "karpenter.sh/capacity-buffer-fake-pod"
export const BufferNameAnnotation = "karpenter.sh/capacity-buffer-name"
export const BufferNamespaceAnnotation = "karpenter.sh/capacity-buffer-namespace"

/** The `scalableRef` kinds upstream resolves (all in the `apps` group). */
export const ScalableKinds: ReadonlyArray<string> = ["Deployment", "StatefulSet", "ReplicaSet"]

const NonEmpty = Schema.String.check(Schema.isMinLength(1))
const NonNegativeInt32 = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 2_147_483_647 }))

/** A reference to an object in the buffer's namespace. */
export const LocalObjectRef = Schema.Struct({ name: NonEmpty })

/** A reference to a workload with a scale subresource. */
export const ScalableRef = Schema.Struct({
  apiGroup: optional(Schema.String),
  kind: NonEmpty,
  name: NonEmpty
})
export type ScalableRef = typeof ScalableRef.Type

/** What the user asks for. */
export const Spec = Schema.Struct({
  provisioningStrategy: Schema.String.pipe(Cel.withDefault(ActiveProvisioningStrategy)),
  podTemplateRef: optional(LocalObjectRef),
  scalableRef: optional(ScalableRef),
  replicas: optional(NonNegativeInt32),
  percentage: optional(NonNegativeInt32),
  limits: optional(Quantity.ResourceList)
}).check(
  Cel.rule<{ readonly podTemplateRef?: unknown; readonly replicas?: number; readonly limits?: unknown }>({
    rule: "!has(self.podTemplateRef) || has(self.replicas) || has(self.limits)",
    message: "If podTemplateRef is set, replicas or limits must also be set",
    holds: (spec) => spec.podTemplateRef === undefined || spec.replicas !== undefined || spec.limits !== undefined
  }),
  Cel.rule<{ readonly podTemplateRef?: unknown; readonly scalableRef?: unknown }>({
    rule: "!(has(self.podTemplateRef) && has(self.scalableRef))",
    message: "You must define either PodTemplateRef or ScalableRef, but not both",
    holds: (spec) => spec.podTemplateRef === undefined || spec.scalableRef === undefined
  })
)
export type Spec = typeof Spec.Type

/** What the controller and the provisioner report. */
export const Status = Schema.Struct({
  podTemplateRef: optional(LocalObjectRef),
  replicas: optional(Schema.Int),
  podTemplateGeneration: optional(Schema.Int),
  conditions: optional(Schema.Array(Condition)),
  provisioningStrategy: optional(Schema.String)
})
export type Status = typeof Status.Type

/** A CapacityBuffer object. */
export const CapacityBuffer = Schema.Struct({
  apiVersion: Schema.Literal(apiVersion),
  kind: Schema.Literal(kind),
  metadata: ObjectMeta,
  spec: Spec,
  status: optional(Status)
})
export type CapacityBuffer = typeof CapacityBuffer.Type

/** A `core/v1` PodTemplate: a named pod template a buffer's `podTemplateRef` points at. */
export const PodTemplate = Schema.Struct({
  apiVersion: optional(Schema.String),
  kind: optional(Schema.String),
  metadata: ObjectMeta,
  template: PodTemplateSpec
})
export type PodTemplate = typeof PodTemplate.Type
