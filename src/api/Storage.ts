/**
 * PersistentVolumeClaim, PersistentVolume and StorageClass: the scheduler reads them for volume topology and
 * per-driver volume limits. VolumeAttachment: node termination waits for a node's volumes to be detached.
 */
import * as Schema from "effect/Schema"
import { NodeSelector, ObjectMeta } from "./Meta.ts"
import { ResourceList } from "./Quantity.ts"

const optional = Schema.optionalKey

/** A PersistentVolumeClaim. */
export const PersistentVolumeClaim = Schema.Struct({
  apiVersion: optional(Schema.String),
  kind: optional(Schema.String),
  metadata: ObjectMeta,
  spec: Schema.Struct({
    storageClassName: optional(Schema.String),
    volumeName: optional(Schema.String),
    accessModes: optional(Schema.Array(Schema.String)),
    resources: optional(Schema.Struct({ requests: optional(ResourceList) }))
  }),
  status: optional(Schema.Struct({ phase: optional(Schema.String) }))
})
export type PersistentVolumeClaim = typeof PersistentVolumeClaim.Type

/** A PersistentVolume. */
export const PersistentVolume = Schema.Struct({
  apiVersion: optional(Schema.String),
  kind: optional(Schema.String),
  metadata: ObjectMeta,
  spec: Schema.Struct({
    storageClassName: optional(Schema.String),
    capacity: optional(ResourceList),
    nodeAffinity: optional(Schema.Struct({ required: optional(NodeSelector) })),
    claimRef: optional(Schema.Struct({ namespace: optional(Schema.String), name: optional(Schema.String) })),
    csi: optional(Schema.Struct({ driver: Schema.String, volumeHandle: optional(Schema.String) }))
  }),
  status: optional(Schema.Struct({ phase: optional(Schema.String) }))
})
export type PersistentVolume = typeof PersistentVolume.Type

/** A StorageClass: `volumeBindingMode` and `allowedTopologies` decide where its volumes can be. */
export const StorageClass = Schema.Struct({
  apiVersion: optional(Schema.String),
  kind: optional(Schema.String),
  metadata: ObjectMeta,
  provisioner: Schema.String,
  volumeBindingMode: optional(Schema.String),
  allowedTopologies: optional(
    Schema.Array(
      Schema.Struct({
        matchLabelExpressions: optional(
          Schema.Array(Schema.Struct({ key: Schema.String, values: Schema.Array(Schema.String) }))
        )
      })
    )
  )
})
export type StorageClass = typeof StorageClass.Type

/** A CSINode: how many volumes of each CSI driver the node can attach (volume limits). */
export const CSINode = Schema.Struct({
  apiVersion: optional(Schema.String),
  kind: optional(Schema.String),
  metadata: ObjectMeta,
  spec: Schema.Struct({
    drivers: Schema.Array(
      Schema.Struct({
        name: Schema.String,
        nodeID: optional(Schema.String),
        allocatable: optional(Schema.Struct({ count: optional(Schema.Number) }))
      })
    )
  })
})
export type CSINode = typeof CSINode.Type

/**
 * A VolumeAttachment (`storage.k8s.io/v1`): the attach/detach controller asks the CSI driver `spec.attacher` to attach
 * a PersistentVolume to `spec.nodeName`; the driver's external-attacher reports `status.attached`. The object stays
 * until the volume is detached.
 */
export const VolumeAttachment = Schema.Struct({
  apiVersion: optional(Schema.String),
  kind: optional(Schema.String),
  metadata: ObjectMeta,
  spec: Schema.Struct({
    attacher: Schema.String,
    nodeName: Schema.String,
    source: Schema.Struct({ persistentVolumeName: optional(Schema.String) })
  }),
  status: optional(Schema.Struct({ attached: Schema.Boolean }))
})
export type VolumeAttachment = typeof VolumeAttachment.Type
