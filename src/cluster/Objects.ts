/**
 * Small helpers over pods, owners, conditions and timestamps, shared by the embedded cluster's control-plane
 * emulation (scheduler, kubelet, workload controllers, PDB status, pod GC, volume attachment). Plain functions over
 * decoded objects.
 */
import * as Meta from "../api/Meta.ts"
import type * as Pod from "../api/Pod.ts"
import type { KubeObject } from "../kube/Resource.ts"

/** RFC 3339 at whole seconds, the way the API server writes `metav1.Time`. */
export const timestamp = (millis: number): string => `${new Date(millis).toISOString().slice(0, 19)}Z`

/** The epoch millis of an RFC 3339 timestamp; undefined when absent or malformed. */
export const millisOf = (time: string | undefined): number | undefined => {
  if (time === undefined) return undefined
  const millis = Date.parse(time)
  return Number.isNaN(millis) ? undefined : millis
}

/** Orders strings by code unit, the way Go's `sort.Strings` does (locale-independent, so output is reproducible). */
export const compareStrings = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

/** Whether the object has a deletionTimestamp. */
export const isTerminating = (object: KubeObject): boolean => object.metadata.deletionTimestamp !== undefined

/** Whether the pod's `Ready` condition is True (upstream `podutil.IsPodReady`). */
export const isPodReady = (pod: Pod.Pod): boolean => conditionStatus(pod.status?.conditions, "Ready") === "True"

/** The node a pod is bound to, or undefined. */
export const nodeNameOf = (pod: Pod.Pod): string | undefined =>
  pod.spec.nodeName === undefined || pod.spec.nodeName === "" ? undefined : pod.spec.nodeName

/** The `namespace/name` key of an object's controller of `kind`, when it has one. */
export const controllerKey = (object: KubeObject, kind: string): ReadonlyArray<string> => {
  const owner = Meta.controllerOf(object)
  if (owner === undefined || owner.kind !== kind) return []
  const namespace = object.metadata.namespace
  return [namespace === undefined || namespace === "" ? owner.name : `${namespace}/${owner.name}`]
}

/** A controller owner reference to `owner` (what `metav1.NewControllerRef` builds). */
export const controllerReference = (apiVersion: string, kind: string, owner: KubeObject): Meta.OwnerReference => ({
  apiVersion,
  kind,
  name: owner.metadata.name ?? "",
  uid: owner.metadata.uid ?? "",
  controller: true,
  blockOwnerDeletion: true
})

/** A pod or node condition, as the wire carries it. */
export interface ConditionLike {
  readonly type: string
  readonly status: string
  readonly reason?: string
  readonly message?: string
  readonly lastTransitionTime?: string
  readonly lastHeartbeatTime?: string
}

/** The status of the condition of `type`, or undefined when absent. */
export const conditionStatus = (
  conditions: ReadonlyArray<ConditionLike> | undefined,
  type: string
): string | undefined => conditions?.find((condition) => condition.type === type)?.status

/**
 * `conditions` with each of `updates` put in place of the condition of its type (appended when absent). A condition
 * whose status does not change keeps its `lastTransitionTime`, as the API conventions ask.
 */
export const withConditions = <C extends ConditionLike>(
  conditions: ReadonlyArray<C> | undefined,
  updates: ReadonlyArray<C>
): Array<C> => {
  const result: Array<C> = [...(conditions ?? [])]
  for (const update of updates) {
    const index = result.findIndex((condition) => condition.type === update.type)
    if (index < 0) {
      result.push(update)
      continue
    }
    const current = result[index]!
    result[index] =
      current.status === update.status && current.lastTransitionTime !== undefined
        ? { ...update, lastTransitionTime: current.lastTransitionTime }
        : update
  }
  return result
}

/** Whether `conditions` already carry each of `wanted` with the same status, reason and message. */
export const hasConditions = (
  conditions: ReadonlyArray<ConditionLike> | undefined,
  wanted: ReadonlyArray<ConditionLike>
): boolean =>
  wanted.every((want) => {
    const current = conditions?.find((condition) => condition.type === want.type)
    return (
      current !== undefined &&
      current.status === want.status &&
      (current.reason ?? "") === (want.reason ?? "") &&
      (current.message ?? "") === (want.message ?? "")
    )
  })

/** Kubernetes' default scheduler name; pods naming another scheduler are left to it. */
export const DefaultSchedulerName = "default-scheduler"

/** Upstream `intstr.GetScaledValueFromIntOrPercent`: a number as is, `"N%"` of `total` rounded up or down. */
export const scaledValue = (
  value: number | string,
  total: number,
  roundUp: boolean
): { readonly ok: true; readonly value: number } | { readonly ok: false; readonly message: string } => {
  if (typeof value === "number") return { ok: true, value }
  const match = /^(\d+)%$/.exec(value)
  if (match === null) {
    return /^\d+$/.test(value)
      ? { ok: false, message: `invalid value for IntOrString: invalid type: string is not a percentage` }
      : { ok: false, message: `invalid value "${value}": must be an integer or a percentage` }
  }
  const scaled = (Number(match[1]) * total) / 100
  return { ok: true, value: roundUp ? Math.ceil(scaled) : Math.floor(scaled) }
}
