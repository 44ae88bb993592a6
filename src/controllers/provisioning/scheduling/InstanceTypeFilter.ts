/**
 * Which instance types can carry a simulated node (upstream `filterInstanceTypesByRequirements`): intersecting
 * its requirements, big enough for its requests, and launchable (an available offering compatible with the
 * requirements). When nothing is left, the filter says which criterion failed, in words a person can act on.
 */

import * as Labels from "../../../api/Labels.ts"
import * as InstanceType from "../../../cloudprovider/InstanceType.ts"
import * as Requirement from "../../../scheduling/Requirement.ts"
import * as Requirements from "../../../scheduling/Requirements.ts"
import * as Resources from "../../../scheduling/ResourceLists.ts"

/**
 * A catalogue (a template's instance types) with what the filter compares laid out flat: the filter runs for every
 * pod placed, over up to the whole catalogue, and comparing numbers in arrays is what keeps that cheap.
 */
class Catalogue {
  readonly cpu: Float64Array
  readonly memory: Float64Array
  readonly pods: Float64Array
  /** 1 where the type's allocatable has no negative amount (such a type fits nothing; {@link Resources.fits}). */
  readonly nonNegative: Uint8Array
  readonly position = new Map<InstanceType.InstanceType, number>()
  /** Scratch space for one filter call (calls never overlap). */
  readonly scratch: Int32Array
  /** Every type, as options. */
  readonly all: Options
  /** Each type's place in name order: ties in price go to the smaller name. */
  readonly nameRank: Int32Array
  /** The keys offerings constrain: a type's launch price depends on the requirements of these keys only. */
  readonly offeringKeys: ReadonlyArray<string>
  /** Launch prices by position, per well-known set and per signature of the requirements on the offering keys. */
  readonly prices = new WeakMap<ReadonlySet<string>, Map<string, Float64Array>>()

  constructor(readonly types: ReadonlyArray<InstanceType.InstanceType>) {
    const count = types.length
    this.nameRank = new Int32Array(count)
    types
      .map((instanceType, position) => ({ name: instanceType.name, position }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.position - b.position))
      .forEach(({ position }, rank) => {
        this.nameRank[position] = rank
      })
    this.offeringKeys = [
      ...new Set(
        types.flatMap((instanceType) => instanceType.offerings.flatMap((offering) => [...offering.requirements.keys()]))
      )
    ].sort()
    this.cpu = new Float64Array(count)
    this.memory = new Float64Array(count)
    this.pods = new Float64Array(count)
    this.nonNegative = new Uint8Array(count)
    this.scratch = new Int32Array(count)
    const positions = new Int32Array(count)
    types.forEach((instanceType, index) => {
      const allocatable = instanceType.allocatable
      this.cpu[index] = allocatable.cpu ?? 0
      this.memory[index] = allocatable.memory ?? 0
      this.pods[index] = allocatable[Resources.Pods] ?? 0
      this.nonNegative[index] = Object.values(allocatable).every((amount) => amount >= 0) ? 1 : 0
      this.position.set(instanceType, index)
      positions[index] = index
    })
    this.all = new Options(this, positions, types)
  }
}

const catalogues = new WeakMap<ReadonlyArray<InstanceType.InstanceType>, Catalogue>()

const catalogueOf = (types: ReadonlyArray<InstanceType.InstanceType>): Catalogue => {
  let catalogue = catalogues.get(types)
  if (catalogue === undefined) {
    catalogue = new Catalogue(types)
    catalogues.set(types, catalogue)
  }
  return catalogue
}

/** Some of a catalogue's instance types, in catalogue order: a simulated NodeClaim's options. */
export class Options {
  constructor(
    readonly catalogue: Catalogue,
    /** Positions in the catalogue, ascending. */
    readonly positions: Int32Array,
    private types?: ReadonlyArray<InstanceType.InstanceType>
  ) {}

  get size(): number {
    return this.positions.length
  }

  /** The instance types (built on first use: most options are narrowed again before anyone reads them). */
  get instanceTypes(): ReadonlyArray<InstanceType.InstanceType> {
    if (this.types === undefined) {
      const all = this.catalogue.types
      this.types = Array.from(this.positions, (position) => all[position]!)
    }
    return this.types
  }
}

/** `subset` (instance types of `catalogue`, in its order) as options; the catalogue itself gives its shared options. */
export const optionsOf = (
  catalogue: ReadonlyArray<InstanceType.InstanceType>,
  subset: ReadonlyArray<InstanceType.InstanceType> = catalogue
): Options => {
  const indexed = catalogueOf(catalogue)
  if (subset === catalogue) return indexed.all
  return new Options(
    indexed,
    Int32Array.from(subset, (instanceType) => indexed.position.get(instanceType)!),
    subset
  )
}

/** The options that passed, or why none did. */
export type Filtered =
  | { readonly ok: true; readonly options: Options }
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

/** The types of a catalogue compatible with some requirements and launchable (1 by position), with counts. */
interface Compatible {
  readonly launchable: Uint8Array
  readonly launchableCount: number
  readonly compatible: number
}

// Requirement maps are immutable, so their signature and the types they admit can be cached per catalogue: simulated
// NodeClaims of one template mostly share requirements (they differ in their hostname, which no instance type defines).
const signatures = new WeakMap<Requirements.Requirements, string>()
const compatibleByCatalogue = new WeakMap<Catalogue, Map<string, Compatible>>()

const requirementSignature = (key: string, req: Requirement.Requirement): string =>
  `${key}|${req.complement ? "!" : ""}${[...req.values].sort().join(",")}|${req.greaterThan ?? ""}|${req.lessThan ?? ""}`

const signatureOf = (requirements: Requirements.Requirements): string => {
  let signature = signatures.get(requirements)
  if (signature === undefined) {
    const parts: Array<string> = []
    for (const [key, req] of requirements) {
      if (key !== Labels.Hostname) parts.push(requirementSignature(key, req))
    }
    signature = parts.sort().join(";")
    signatures.set(requirements, signature)
  }
  return signature
}

const compatibleTypes = (
  catalogue: Catalogue,
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
    const launchable = new Uint8Array(catalogue.types.length)
    let launchableCount = 0
    let compatible = 0
    catalogue.types.forEach((instanceType, position) => {
      // Upstream uses Intersects here, not Compatible: the node may carry keys an instance type does not define
      // (its simulated hostname, custom template labels).
      if (!Requirements.hasIntersection(instanceType.requirements, requirements)) return
      compatible++
      if (!hasLaunchableOffering(instanceType, requirements, wellKnown)) return
      launchable[position] = 1
      launchableCount++
    })
    result = { launchable, launchableCount, compatible }
    cache.set(signature, result)
  }
  return result
}

/** Whether the requests name only cpu, memory and pods (what {@link Catalogue} keeps flat). */
const onlyCpuMemoryPods = (requests: Resources.Resources): boolean => {
  for (const name in requests) if (name !== "cpu" && name !== "memory" && name !== Resources.Pods) return false
  return true
}

/**
 * Keeps the `options` that are compatible with `requirements`, fit `totalRequests` in their allocatable, and have a
 * launchable offering. `checkRequirements: false` skips the requirement checks when the caller knows they still hold
 * (the requirements did not change since the options were last filtered). The same options object when all passed.
 */
export const filter = (
  options: Options,
  requirements: Requirements.Requirements,
  totalRequests: Resources.Resources,
  wellKnown: ReadonlySet<string>,
  checkRequirements = true
): Filtered => {
  const catalogue = options.catalogue
  const candidates = checkRequirements ? compatibleTypes(catalogue, requirements, wellKnown) : undefined
  const launchable = candidates?.launchable
  const { cpu, memory, pods, nonNegative, scratch, types } = catalogue
  const flat = onlyCpuMemoryPods(totalRequests)
  const needCpu = totalRequests.cpu ?? 0
  const needMemory = totalRequests.memory ?? 0
  const needPods = totalRequests[Resources.Pods] ?? 0
  const positions = options.positions
  let kept = 0
  for (let index = 0; index < positions.length; index++) {
    const position = positions[index]!
    if (launchable !== undefined && launchable[position] === 0) continue
    const fits = flat
      ? nonNegative[position] === 1 &&
        needCpu <= cpu[position]! &&
        needMemory <= memory[position]! &&
        needPods <= pods[position]!
      : Resources.fits(totalRequests, types[position]!.allocatable)
    if (fits) scratch[kept++] = position
  }
  if (kept === positions.length) return { ok: true, options }
  if (kept > 0) return { ok: true, options: new Options(catalogue, scratch.slice(0, kept)) }
  const compatible = candidates?.compatible ?? positions.length
  const launchableCount = candidates?.launchableCount ?? positions.length
  const anyFits = types.some((instanceType) => Resources.fits(totalRequests, instanceType.allocatable))
  return {
    ok: false,
    reason: explain(types.length, compatible, anyFits, launchableCount, requirements, totalRequests)
  }
}

/** Each type's launch price ({@link InstanceType.launchPrices}) by catalogue position. */
const pricesOf = (
  catalogue: Catalogue,
  requirements: Requirements.Requirements,
  wellKnown: ReadonlySet<string>
): Float64Array => {
  let byRequirements = catalogue.prices.get(wellKnown)
  if (byRequirements === undefined) {
    byRequirements = new Map()
    catalogue.prices.set(wellKnown, byRequirements)
  }
  const signature = catalogue.offeringKeys
    .flatMap((key) => {
      const req = requirements.get(key)
      return req === undefined ? [] : [requirementSignature(key, req)]
    })
    .join(";")
  let prices = byRequirements.get(signature)
  if (prices === undefined) {
    prices = Float64Array.from(catalogue.types, InstanceType.launchPrices(requirements, wellKnown))
    byRequirements.set(signature, prices)
  }
  return prices
}

/**
 * The `count` cheapest options in {@link InstanceType.orderByPrice}'s order (price, then name) — the same answer as
 * ordering them all and keeping the first `count`, from prices computed once per catalogue and offering requirements.
 */
export const cheapest = (
  options: Options,
  requirements: Requirements.Requirements,
  wellKnown: ReadonlySet<string>,
  count: number
): Array<InstanceType.InstanceType> => {
  if (count <= 0) return []
  const catalogue = options.catalogue
  const prices = pricesOf(catalogue, requirements, wellKnown)
  const { nameRank } = catalogue
  const before = (a: number, b: number): boolean =>
    prices[a]! < prices[b]! || (prices[a] === prices[b] && nameRank[a]! < nameRank[b]!)
  // The best positions so far, in order; a type enters only when it beats the last, which few of a catalogue do.
  const best: Array<number> = []
  for (const position of options.positions) {
    if (best.length === count && !before(position, best[count - 1]!)) continue
    let low = 0
    let high = best.length
    while (low < high) {
      const middle = (low + high) >> 1
      if (before(best[middle]!, position)) low = middle + 1
      else high = middle
    }
    best.splice(low, 0, position)
    if (best.length > count) best.pop()
  }
  return best.map((position) => catalogue.types[position]!)
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
