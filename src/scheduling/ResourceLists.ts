/**
 * Resource lists as plain records of milli-units (`cpu: 1500` is 1.5 cores, `memory: 1024000` is 1Ki), with the
 * arithmetic Karpenter's `pkg/utils/resources` (v1.4.0) does on `corev1.ResourceList`.
 *
 * Plain numbers keep the scheduler's inner loop free of a decimal type: milli-units are exact integers up to 2^53
 * (9 TB of memory); above that a double is still within a few bytes, far below any scheduling decision.
 */
import * as Pod from "../api/Pod.ts"
import * as Quantity from "../api/Quantity.ts"

/** Resource name → amount in milli-units. */
export type Resources = Readonly<Record<string, number>>

/** The resource that counts pods; {@link requestsForPods} sets it to the number of pods. */
export const Pods = "pods"

/** No resources. */
export const empty: Resources = {}

/** A wire resource list (quantity strings or numbers) in milli-units; malformed quantities are left out. */
export const fromResourceList = (list: Readonly<Record<string, string | number>> | undefined): Resources => {
  const result: Record<string, number> = {}
  if (list === undefined) return result
  for (const name of Object.keys(list)) {
    const milli = Quantity.toMilli(list[name]!)
    if (milli !== undefined) result[name] = milli
  }
  return result
}

/** Resources as a wire resource list; byte-valued resources (memory, storage, hugepages) in binary units. */
export const toResourceList = (resources: Resources): Record<string, string> => {
  const result: Record<string, string> = {}
  for (const name of Object.keys(resources)) {
    result[name] = Quantity.format(resources[name]!, { binary: Quantity.isByteResource(name) })
  }
  return result
}

// Sums `source` into `target`, which the caller owns.
const mergeInto = (target: Record<string, number>, source: Resources | undefined): void => {
  if (source === undefined) return
  for (const name in source) target[name] = (target[name] ?? 0) + source[name]!
}

/** The sum of resource lists; a resource missing from a list counts as 0 (upstream `Merge`). */
export const merge = (...lists: ReadonlyArray<Resources | undefined>): Resources => {
  const result: Record<string, number> = {}
  for (const list of lists) mergeInto(result, list)
  return result
}

/** `a + b`. */
export const add = (a: Resources, b: Resources): Resources => merge(a, b)

/** `a − b` over the resources of `a` only, as upstream `Subtract` (resources only `b` has are dropped). */
export const subtract = (a: Resources, b: Resources): Resources => {
  const result: Record<string, number> = {}
  for (const name in a) result[name] = a[name]! - (b[name] ?? 0)
  return result
}

/** The per-resource maximum over lists (upstream `MaxResources`). */
export const max = (...lists: ReadonlyArray<Resources>): Resources => {
  const result: Record<string, number> = {}
  for (const list of lists) {
    for (const name in list) {
      const value = list[name]!
      const current = result[name]
      if (current === undefined || value > current) result[name] = value
    }
  }
  return result
}

/** Whether `base + extra` fit in `available` ({@link fits} without allocating the sum; the scheduler's hot path). */
export const fitsWith = (base: Resources, extra: Resources, available: Resources): boolean => {
  for (const name in available) if (available[name]! < 0) return false
  for (const name in base) if (base[name]! + (extra[name] ?? 0) > (available[name] ?? 0)) return false
  for (const name in extra) if (!(name in base) && extra[name]! > (available[name] ?? 0)) return false
  return true
}

/**
 * Whether `requests` fit in `available`: every requested amount at most the available amount (missing counts as 0).
 * Any negative available amount means nothing fits, as upstream `Fits` (an overcommitted node takes nothing more).
 */
export const fits = (requests: Resources, available: Resources): boolean => {
  for (const name in available) if (available[name]! < 0) return false
  for (const name in requests) if (requests[name]! > (available[name] ?? 0)) return false
  return true
}

// apimachinery's `AsDec()` rendering: a plain decimal number ("1.5", "0.1", "2048").
const decimal = (milli: number): string => {
  const sign = milli < 0 ? "-" : ""
  const magnitude = Math.abs(milli)
  const whole = Math.floor(magnitude / 1000)
  const fraction = magnitude % 1000
  if (fraction === 0) return `${sign}${whole}`
  return `${sign}${whole}.${String(fraction).padStart(3, "0").replace(/0+$/, "")}`
}

/**
 * Upstream `Limits.ExceededBy`: a message for a resource whose usage is strictly above its limit (resources without a
 * limit are unlimited), or undefined. Of several, the first by name is reported.
 */
export const exceeds = (usage: Resources, limits: Resources | undefined): string | undefined => {
  if (limits === undefined) return undefined
  for (const name of Object.keys(usage).sort()) {
    const limit = limits[name]
    const used = usage[name]!
    if (limit !== undefined && used > limit) {
      return `${name} resource usage of ${decimal(used)} exceeds limit of ${decimal(limit)}`
    }
  }
  return undefined
}

/** Whether every amount is zero (an empty list is zero). */
export const isZero = (resources: Resources): boolean => {
  for (const name in resources) if (resources[name] !== 0) return false
  return true
}

/**
 * What a pod needs to be scheduled (kube's `resourcehelper.PodRequests`, which upstream `Ceiling` calls since v1.8):
 * its pod-level requests ({@link Pod.podLevelRequests}) where set, else its containers' aggregate
 * ({@link Pod.aggregateContainerRequests}: sidecars and init containers as the kubelet counts them), plus overhead.
 */
export const podRequests = (spec: Pod.Spec): Resources => {
  const cached = requestsByContainers.get(spec.containers)
  if (
    cached !== undefined &&
    cached.initContainers === spec.initContainers &&
    cached.resources === spec.resources &&
    cached.overhead === spec.overhead
  ) {
    return cached.requests
  }
  const requests = shared(computePodRequests(spec))
  requestsByContainers.set(spec.containers, {
    initContainers: spec.initContainers,
    resources: spec.resources,
    overhead: spec.overhead,
    requests
  })
  return requests
}

// Specs are immutable and every simulation of a disruption pass reads the same bound pods: parse their quantities
// once. Keyed by the containers array with the other fields requests read: a pod's unbound copy (a new spec without
// nodeName, made once per disruption pass) shares them with the bound pod, so it needs no entry of its own.
const requestsByContainers = new WeakMap<
  ReadonlyArray<Pod.Container>,
  {
    readonly initContainers: Pod.Spec["initContainers"]
    readonly resources: Pod.Spec["resources"]
    readonly overhead: Pod.Spec["overhead"]
    readonly requests: Resources
  }
>()

// The pods of a workload request the same: one object per distinct request, not one per pod (30,000 in a controller's
// cache). Held weakly, so a request no pod makes any more is released.
const requestsByText = new Map<string, WeakRef<Resources>>()
const releaseText = new FinalizationRegistry<string>((text) => {
  if (requestsByText.get(text)?.deref() === undefined) requestsByText.delete(text)
})

const shared = (requests: Resources): Resources => {
  let text = ""
  for (const name in requests) text += `${name}=${requests[name]};`
  const known = requestsByText.get(text)?.deref()
  if (known !== undefined) return known
  requestsByText.set(text, new WeakRef(requests))
  releaseText.register(requests, text)
  return requests
}

const computePodRequests = (spec: Pod.Spec): Resources => {
  const aggregate = Pod.aggregateContainerRequests(spec)
  const result: Record<string, number> = { ...aggregate, ...Pod.podLevelRequests(spec, aggregate) }
  mergeInto(result, fromResourceList(spec.overhead))
  return result
}

// Pod requests are shared per distinct request (see `shared`): so is each one with its pod counted.
const withOnePod = new WeakMap<Resources, Resources>()

/** One pod's requests plus `pods` = 1: {@link requestsForPods} of one spec, the same object for equal requests. */
export const requestsForPod = (spec: Pod.Spec): Resources => {
  const requests = podRequests(spec)
  let counted = withOnePod.get(requests)
  if (counted === undefined) {
    counted = requestsForPods(spec)
    withOnePod.set(requests, counted)
  }
  return counted
}

/** The summed requests of pods plus `pods` = their count, which is how instance types cap pods per node. */
export const requestsForPods = (...specs: ReadonlyArray<Pod.Spec>): Resources => {
  const result: Record<string, number> = {}
  for (const spec of specs) mergeInto(result, podRequests(spec))
  result[Pods] = specs.length * 1000
  return result
}
