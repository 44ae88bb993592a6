/**
 * `apps/v1` Deployment, ReplicaSet and DaemonSet: the embedded cluster runs their controllers, and the scheduler
 * reserves room for daemons on new nodes (sized by each DaemonSet's newest pod, else its pod template). StatefulSet
 * is read only, as a CapacityBuffer's `scalableRef`.
 */
import * as Schema from "effect/Schema"
import { LabelSelector, ObjectMeta } from "./Meta.ts"
import { PodTemplateSpec } from "./Pod.ts"

const optional = Schema.optionalKey

export const apiVersion = "apps/v1"

const ReplicaStatus = Schema.Struct({
  observedGeneration: optional(Schema.Number),
  replicas: optional(Schema.Number),
  readyReplicas: optional(Schema.Number),
  availableReplicas: optional(Schema.Number),
  updatedReplicas: optional(Schema.Number)
})

/** A Deployment. */
export const Deployment = Schema.Struct({
  apiVersion: optional(Schema.String),
  kind: optional(Schema.String),
  metadata: ObjectMeta,
  spec: Schema.Struct({
    replicas: optional(Schema.Number),
    selector: LabelSelector,
    template: PodTemplateSpec
  }),
  status: optional(ReplicaStatus)
})
export type Deployment = typeof Deployment.Type

/** A ReplicaSet. */
export const ReplicaSet = Schema.Struct({
  apiVersion: optional(Schema.String),
  kind: optional(Schema.String),
  metadata: ObjectMeta,
  spec: Schema.Struct({
    replicas: optional(Schema.Number),
    selector: LabelSelector,
    template: PodTemplateSpec
  }),
  status: optional(ReplicaStatus)
})
export type ReplicaSet = typeof ReplicaSet.Type

/** A StatefulSet (its replicas and pod template; the embedded cluster runs no controller for it). */
export const StatefulSet = ReplicaSet
export type StatefulSet = typeof StatefulSet.Type

/** A DaemonSet. */
export const DaemonSet = Schema.Struct({
  apiVersion: optional(Schema.String),
  kind: optional(Schema.String),
  metadata: ObjectMeta,
  spec: Schema.Struct({ selector: LabelSelector, template: PodTemplateSpec }),
  status: optional(
    Schema.Struct({
      desiredNumberScheduled: optional(Schema.Number),
      currentNumberScheduled: optional(Schema.Number),
      numberReady: optional(Schema.Number),
      observedGeneration: optional(Schema.Number)
    })
  )
})
export type DaemonSet = typeof DaemonSet.Type
