/**
 * Taints Karpenter applies or recognises (`pkg/apis/v1/taints.go`, `pkg/scheduling/taints.go`).
 */

/** A taint as the scheduler compares it. */
export interface TaintLike {
  readonly key: string
  readonly value?: string | undefined
  readonly effect: string
}

/** `karpenter.sh/disrupted:NoSchedule`: put on a node before it is disrupted. */
export const DisruptedNoSchedule: TaintLike = { key: "karpenter.sh/disrupted", effect: "NoSchedule" }
/** `karpenter.sh/unregistered:NoExecute`: on a Node from boot until Karpenter registers it. */
export const UnregisteredNoExecute: TaintLike = { key: "karpenter.sh/unregistered", effect: "NoExecute" }

/** Taints that come and go during node start-up; they never block initialization or scheduling simulation. */
export const KnownEphemeral: ReadonlyArray<TaintLike> = [
  { key: "node.kubernetes.io/not-ready", effect: "NoSchedule" },
  { key: "node.kubernetes.io/unreachable", effect: "NoSchedule" },
  { key: "node.cloudprovider.kubernetes.io/uninitialized", value: "true", effect: "NoSchedule" },
  UnregisteredNoExecute
]

/** Taint effects Kubernetes accepts. */
export const Effects = ["NoSchedule", "PreferNoSchedule", "NoExecute"] as const

/** Two taints are the same taint when key and effect match (the value does not identify a taint). */
export const matches = (a: TaintLike, b: TaintLike): boolean => a.key === b.key && a.effect === b.effect

/**
 * `taints` followed by each of `added` that matches none already there (upstream `Taints.Merge`): for a key and
 * effect present in both, the first one stays.
 */
export const merge = <T extends TaintLike>(taints: ReadonlyArray<T>, added: ReadonlyArray<T>): Array<T> => {
  const merged = [...taints]
  for (const taint of added) if (!merged.some((present) => matches(present, taint))) merged.push(taint)
  return merged
}
