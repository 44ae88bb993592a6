/**
 * Which instance types can carry a simulated node (upstream `filterInstanceTypesByRequirements`): intersecting
 * its requirements, big enough for its requests, and launchable (an available offering compatible with the
 * requirements). When nothing is left, the filter says which criterion failed, in words a person can act on.
 */

import * as Labels from "../../../api/Labels.ts"
import type * as InstanceType from "../../../cloudprovider/InstanceType.ts"
import * as Requirement from "../../../scheduling/Requirement.ts"
import * as Requirements from "../../../scheduling/Requirements.ts"
import * as Resources from "../../../scheduling/ResourceLists.ts"

/** The types that passed, or why none did. */
export type Filtered =
  | { readonly ok: true; readonly instanceTypes: ReadonlyArray<InstanceType.InstanceType> }
  | { readonly ok: false; readonly reason: string }

const hasLaunchableOffering = (
  instanceType: InstanceType.InstanceType,
  requirements: Requirements.Requirements,
  wellKnown: ReadonlySet<string>
): boolean => {
  for (const offering of instanceType.offerings) {
    if (
      offering.available &&
      Requirements.isCompatible(requirements, offering.requirements, { allowUndefined: wellKnown })
    ) {
      return true
    }
  }
  return false
}

/** Resource names and quantities, for messages ("cpu 64, memory 1Gi"). */
export const describeRequests = (requests: Resources.Resources): string =>
  Object.entries(Resources.toResourceList(requests))
    .filter(([name]) => name !== Resources.Pods)
    .map(([name, quantity]) => `${name} ${quantity}`)
    .join(", ")

/** The types compatible with some requirements and launchable, with counts for explanations. */
interface Compatible {
  readonly instanceTypes: ReadonlySet<InstanceType.InstanceType>
  readonly compatible: number
}

// Requirement maps are immutable, so their signature and the types they admit can be cached per catalogue: simulated
// NodeClaims of one template mostly share requirements (they differ in their hostname, which no instance type defines).
const signatures = new WeakMap<Requirements.Requirements, string>()
const compatibleByCatalogue = new WeakMap<ReadonlyArray<InstanceType.InstanceType>, Map<string, Compatible>>()

const signatureOf = (requirements: Requirements.Requirements): string => {
  let signature = signatures.get(requirements)
  if (signature === undefined) {
    const parts: Array<string> = []
    for (const [key, req] of requirements) {
      if (key === Labels.Hostname) continue
      const values = [...req.values].sort().join(",")
      parts.push(`${key}|${req.complement ? "!" : ""}${values}|${req.greaterThan ?? ""}|${req.lessThan ?? ""}`)
    }
    signature = parts.sort().join(";")
    signatures.set(requirements, signature)
  }
  return signature
}

const compatibleTypes = (
  catalogue: ReadonlyArray<InstanceType.InstanceType>,
  requirements: Requirements.Requirements,
  wellKnown: ReadonlySet<string>
): Compatible => {
  let cache = compatibleByCatalogue.get(catalogue)
  if (cache === undefined) {
    cache = new Map()
    compatibleByCatalogue.set(catalogue, cache)
  }
  const signature = signatureOf(requirements)
  let result = cache.get(signature)
  if (result === undefined) {
    const kept = new Set<InstanceType.InstanceType>()
    let compatible = 0
    for (const instanceType of catalogue) {
      // Upstream uses Intersects here, not Compatible: the node may carry keys an instance type does not define
      // (its simulated hostname, custom template labels).
      if (!Requirements.hasIntersection(instanceType.requirements, requirements)) continue
      compatible++
      if (hasLaunchableOffering(instanceType, requirements, wellKnown)) kept.add(instanceType)
    }
    result = { instanceTypes: kept, compatible }
    cache.set(signature, result)
  }
  return result
}

/**
 * Keeps the `options` (a subset of `catalogue`) that are compatible with `requirements`, fit `totalRequests` in their
 * allocatable, and have a launchable offering. `checkRequirements: false` skips the requirement checks when the caller
 * knows they still hold (the requirements did not change since the options were last filtered).
 */
export const filter = (
  options: ReadonlyArray<InstanceType.InstanceType>,
  catalogue: ReadonlyArray<InstanceType.InstanceType>,
  requirements: Requirements.Requirements,
  totalRequests: Resources.Resources,
  wellKnown: ReadonlySet<string>,
  checkRequirements = true
): Filtered => {
  const candidates = checkRequirements ? compatibleTypes(catalogue, requirements, wellKnown) : undefined
  const kept: Array<InstanceType.InstanceType> = []
  for (const instanceType of options) {
    if (candidates !== undefined && !candidates.instanceTypes.has(instanceType)) continue
    if (Resources.fits(totalRequests, instanceType.allocatable)) kept.push(instanceType)
  }
  if (kept.length > 0) return { ok: true, instanceTypes: kept.length === options.length ? options : kept }
  const compatible = candidates?.compatible ?? options.length
  const launchable = candidates?.instanceTypes.size ?? options.length
  const anyFits = catalogue.some((instanceType) => Resources.fits(totalRequests, instanceType.allocatable))
  return { ok: false, reason: explain(catalogue.length, compatible, anyFits, launchable, requirements, totalRequests) }
}

const explain = (
  total: number,
  compatible: number,
  anyFits: boolean,
  launchable: number,
  requirements: Requirements.Requirements,
  totalRequests: Resources.Resources
): string => {
  if (total === 0) return "no instance types available"
  const needs = describeRequests(totalRequests)
  if (compatible === 0) return `no instance type matches ${Requirements.format(requirements)}`
  if (launchable === 0) return `no available offering matches ${Requirements.format(requirements)}`
  if (!anyFits) return `no instance type has ${needs}`
  return `no instance type has ${needs} and matches ${Requirements.format(requirements)}`
}

/** How many distinct values of `key` the instance types offer within the requirement, counting up to `enough`. */
const distinctValues = (
  instanceTypes: ReadonlyArray<InstanceType.InstanceType>,
  key: string,
  requirement: Requirement.Requirement,
  enough: number
): number => {
  const seen = new Set<string>()
  for (const instanceType of instanceTypes) {
    const offered = instanceType.requirements.get(key)
    if (offered === undefined || offered.complement) continue
    for (const value of offered.values) if (Requirement.has(requirement, value)) seen.add(value)
    if (seen.size >= enough) break
  }
  return seen.size
}

/**
 * Upstream `SatisfiesMinValues`: for every requirement with `minValues`, the instance types together must offer at
 * least that many distinct values of its key. The violated requirement's message, or undefined.
 */
export const minValuesViolation = (
  instanceTypes: ReadonlyArray<InstanceType.InstanceType>,
  requirements: Requirements.Requirements
): string | undefined => {
  for (const [key, requirement] of requirements) {
    const minimum = requirement.minValues
    if (minimum === undefined) continue
    const seen = distinctValues(instanceTypes, key, requirement, minimum)
    if (seen < minimum) return `minValues requirement is not met for "${key}" (${seen} of ${minimum})`
  }
  return undefined
}

/**
 * MinValuesPolicy BestEffort (upstream v1.6 `filterInstanceTypesByRequirements` with `relaxMinValues`): every
 * requirement whose `minValues` the instance types do not meet gets, as its `minValues`, the number of distinct values
 * they do offer. The same requirements when nothing needed relaxing.
 */
export const relaxMinValues = (
  instanceTypes: ReadonlyArray<InstanceType.InstanceType>,
  requirements: Requirements.Requirements
): Requirements.Requirements => {
  let relaxed: Map<string, Requirement.Requirement> | undefined
  for (const [key, requirement] of requirements) {
    const minimum = requirement.minValues
    if (minimum === undefined) continue
    const seen = distinctValues(instanceTypes, key, requirement, minimum)
    if (seen >= minimum) continue
    relaxed ??= new Map(requirements)
    relaxed.set(key, { ...requirement, minValues: seen })
  }
  return relaxed ?? requirements
}
