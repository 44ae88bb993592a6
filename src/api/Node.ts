/**
 * `v1` Node: the fields registration, initialization, cluster state and termination read.
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { ObjectMeta, Taint } from "./Meta.ts"
import { ResourceList } from "./Quantity.ts"

const optional = Schema.optionalKey

export const apiVersion = "v1"
export const kind = "Node"

/** A node condition (Ready, MemoryPressure, …). */
export const NodeCondition = Schema.Struct({
  type: Schema.String,
  status: Schema.String,
  reason: optional(Schema.String),
  message: optional(Schema.String),
  lastHeartbeatTime: optional(Schema.String),
  lastTransitionTime: optional(Schema.String)
})
export type NodeCondition = typeof NodeCondition.Type

/** The node spec. */
export const Spec = Schema.Struct({
  providerID: optional(Schema.String),
  taints: optional(Schema.Array(Taint)),
  unschedulable: optional(Schema.Boolean)
})

/** The node status. */
export const Status = Schema.Struct({
  capacity: optional(ResourceList),
  allocatable: optional(ResourceList),
  conditions: optional(Schema.Array(NodeCondition)),
  phase: optional(Schema.String),
  nodeInfo: optional(
    Schema.Struct({
      kubeletVersion: optional(Schema.String),
      osImage: optional(Schema.String),
      architecture: optional(Schema.String),
      operatingSystem: optional(Schema.String)
    })
  )
})

/** A Node object. */
export const Node = Schema.Struct({
  apiVersion: optional(Schema.String),
  kind: optional(Schema.String),
  metadata: ObjectMeta,
  spec: Spec.pipe(Schema.withDecodingDefaultKey(Effect.succeed({}))),
  status: optional(Status)
})
export type Node = typeof Node.Type

/** Whether the node's Ready condition is True. */
export const isReady = (node: Node): boolean =>
  node.status?.conditions?.some((condition) => condition.type === "Ready" && condition.status === "True") ?? false
