/**
 * Whether a pod's tolerations admit a node's taints, with Kubernetes' `Toleration.ToleratesTaint` semantics and
 * Karpenter's `pkg/scheduling/taints.go` (v1.4.0) rule that every taint, whatever its effect, must be tolerated.
 *
 * Plain functions over plain data: the scheduler asks this for every pod against every node and NodeClaim template.
 */
import type * as Meta from "../api/Meta.ts"
import type { TaintLike } from "../api/Taints.ts"

/**
 * Kubernetes' `ToleratesTaint`: an empty effect matches every effect, an empty key every key; `Exists` ignores the
 * value, `Equal` (the default) compares it; any other operator tolerates nothing.
 */
export const toleratesTaint = (toleration: Meta.Toleration, taint: TaintLike): boolean => {
  const effect = toleration.effect
  if (effect !== undefined && effect !== "" && effect !== taint.effect) return false
  const key = toleration.key
  if (key !== undefined && key !== "" && key !== taint.key) return false
  switch (toleration.operator) {
    case undefined:
    case "":
    case "Equal":
      return (toleration.value ?? "") === (taint.value ?? "")
    case "Exists":
      return true
    default:
      return false
  }
}

/** A taint as `key=value:Effect`, or `key:Effect` without a value (upstream `pretty.Taint`). */
export const formatTaint = (taint: TaintLike): string =>
  taint.value === undefined || taint.value === ""
    ? `${taint.key}:${taint.effect}`
    : `${taint.key}=${taint.value}:${taint.effect}`

/**
 * Undefined when the tolerations admit every taint, else `did not tolerate taint <taint>` for the first one they do
 * not. PreferNoSchedule taints count too: the simulation treats them as hard until relaxation adds
 * {@link preferNoScheduleToleration}. Upstream joins a message per untolerated taint; the first is enough to act on.
 */
export const tolerates = (
  tolerations: ReadonlyArray<Meta.Toleration> | undefined,
  taints: ReadonlyArray<TaintLike>
): string | undefined => {
  for (const taint of taints) {
    let tolerated = false
    if (tolerations !== undefined) {
      for (const toleration of tolerations) {
        if (toleratesTaint(toleration, taint)) {
          tolerated = true
          break
        }
      }
    }
    if (!tolerated) return `did not tolerate taint ${formatTaint(taint)}`
  }
  return undefined
}

/** The toleration preference relaxation adds so pods may land behind PreferNoSchedule taints. */
export const preferNoScheduleToleration: Meta.Toleration = { operator: "Exists", effect: "PreferNoSchedule" }
