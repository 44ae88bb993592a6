/**
 * A set of requirements keyed by label key, as Karpenter's `pkg/scheduling/requirements.go` (v1.4.0): what a pod,
 * a NodePool, a NodeClaim or an instance type demands of node labels, and whether two such sets can agree.
 *
 * `Requirements` is an immutable `ReadonlyMap`: {@link add} returns a new map and never changes its argument (upstream
 * mutates in place; copying a map of a dozen keys is cheap and lets simulated NodeClaims share requirements safely).
 */
import * as Labels from "../api/Labels.ts"
import * as Requirement from "./Requirement.ts"

/** Requirements keyed by (normalized) label key; at most one requirement per key. */
export type Requirements = ReadonlyMap<string, Requirement.Requirement>

/** A node selector requirement as it arrives on the wire (`corev1` or Karpenter's, with `minValues`). */
export interface NodeSelectorRequirementInput {
  readonly key: string
  readonly operator: string
  readonly values?: ReadonlyArray<string> | undefined
  readonly minValues?: number | undefined
}

/** Options of {@link compatible}: keys the receiver may leave undefined however the incoming side constrains them. */
export interface CompatibilityOptions {
  readonly allowUndefined?: ReadonlySet<string> | undefined
}

/** Upstream's `AllowUndefinedWellKnownLabels`: well-known labels may be undefined. */
export const AllowUndefinedWellKnownLabels: CompatibilityOptions = { allowUndefined: Labels.WellKnownLabels }

/** No requirements: every key is unconstrained. */
export const empty: Requirements = new Map()

// Intersects into a map this module owns; the only mutation in the module, always on a fresh copy.
const addInto = (target: Map<string, Requirement.Requirement>, req: Requirement.Requirement): void => {
  const existing = target.get(req.key)
  target.set(req.key, existing === undefined ? req : Requirement.intersection(req, existing))
}

/** Requirements from single requirements; requirements on the same key intersect. */
export const make = (...reqs: ReadonlyArray<Requirement.Requirement>): Requirements => {
  const result = new Map<string, Requirement.Requirement>()
  for (const req of reqs) addInto(result, req)
  return result
}

/** Requirements from node selector requirements (upstream `NewNodeSelectorRequirementsWithMinValues`). */
export const fromNodeSelectorRequirements = (list: ReadonlyArray<NodeSelectorRequirementInput>): Requirements => {
  const result = new Map<string, Requirement.Requirement>()
  for (const item of list) addInto(result, Requirement.make(item.key, item.operator, item.values ?? [], item.minValues))
  return result
}

/** Requirements from labels, each label as `In [value]` (upstream `NewLabelRequirements`). */
export const fromLabels = (labels: Readonly<Record<string, string>> | undefined): Requirements => {
  // Most pods have no node selector: every scheduling pass asks for theirs, twice per pod.
  if (labels === undefined) return empty
  const result = new Map<string, Requirement.Requirement>()
  for (const key of Object.keys(labels)) addInto(result, Requirement.make(key, "In", [labels[key]!]))
  return result
}

/** New requirements: `reqs` with each incoming requirement intersected into its key. `reqs` is not changed. */
export const add = (reqs: Requirements, ...incoming: ReadonlyArray<Requirement.Requirement>): Requirements => {
  const result = new Map(reqs)
  for (const req of incoming) addInto(result, req)
  return result
}

/** New requirements: `reqs` with every requirement of `other` intersected in (upstream `r.Add(other.Values()...)`). */
export const addAll = (reqs: Requirements, other: Requirements): Requirements => {
  if (other.size === 0) return reqs
  if (reqs.size === 0) return other
  const result = new Map(reqs)
  for (const req of other.values()) addInto(result, req)
  return result
}

// Requirements are immutable, so one Exists per key serves every lookup of an absent key.
const existsByKey = new Map<string, Requirement.Requirement>()

/** The requirement on `key`; an absent key allows anything (`Exists`). */
export const get = (reqs: Requirements, key: string): Requirement.Requirement => {
  const found = reqs.get(key)
  if (found !== undefined) return found
  let exists = existsByKey.get(key)
  if (exists === undefined) {
    exists = Requirement.exists(key)
    existsByKey.set(key, exists)
  }
  return exists
}

/** Whether `key` is constrained. */
export const has = (reqs: Requirements, key: string): boolean => reqs.has(key)

/** The constrained keys. */
export const keys = (reqs: Requirements): ReadonlySet<string> => new Set(reqs.keys())

/** The requirements, in insertion order. */
export const values = (reqs: Requirements): Array<Requirement.Requirement> => Array.from(reqs.values())

/** Whether any requirement carries `minValues`. */
export const hasMinValues = (reqs: Requirements): boolean => {
  for (const req of reqs.values()) if (req.minValues !== undefined) return true
  return false
}

const isNegative = (req: Requirement.Requirement): boolean => {
  const op = Requirement.operator(req)
  return op === "NotIn" || op === "DoesNotExist"
}

// Upstream's key suffix for typo hints: the part after "/", or the whole key.
const suffixOf = (key: string): string => {
  const slash = key.indexOf("/")
  return slash < 0 ? key : key.slice(slash + 1)
}

const hintFrom = (candidates: Iterable<string>, key: string): string | undefined => {
  const suffix = suffixOf(key)
  // Upstream walks Go maps (random order); walking sorted keys gives the same answers reproducibly.
  for (const candidate of Array.from(candidates).sort()) {
    if (candidate.includes(key) || candidate.endsWith(suffix)) return ` (typo of ${JSON.stringify(candidate)}?)`
  }
  return undefined
}

const labelHint = (reqs: Requirements, key: string, allowUndefined: ReadonlySet<string> | undefined): string =>
  (allowUndefined === undefined ? undefined : hintFrom(allowUndefined, key)) ?? hintFrom(reqs.keys(), key) ?? ""

// The smallest incoming key that `reqs` leaves undefined although the incoming side needs a value for it.
const firstUndefinedKey = (
  reqs: Requirements,
  incoming: Requirements,
  allowUndefined: ReadonlySet<string> | undefined,
  stopAtFirst: boolean
): string | undefined => {
  let found: string | undefined
  for (const [key, req] of incoming) {
    if (allowUndefined?.has(key) === true || reqs.has(key) || isNegative(req)) continue
    if (stopAtFirst) return key
    if (found === undefined || key < found) found = key
  }
  return found
}

// Keys on both sides whose requirements cannot agree; both sides NotIn/DoesNotExist agree by absence.
const conflicts = (existing: Requirements, incoming: Requirements, stopAtFirst: boolean): Array<string> => {
  const [small, large] = existing.size <= incoming.size ? [existing, incoming] : [incoming, existing]
  const found: Array<string> = []
  for (const key of small.keys()) {
    if (!large.has(key)) continue
    const a = existing.get(key)!
    const b = incoming.get(key)!
    if (Requirement.hasIntersection(a, b) || (isNegative(b) && isNegative(a))) continue
    found.push(key)
    if (stopAtFirst) return found
  }
  return found
}

/**
 * Upstream `Intersects`: undefined when every key constrained on both sides can agree, else a message naming each
 * conflicting key (sorted, joined by "; " as multierr joins), e.g. `key zone, zone In [b] not in zone In [a]`.
 * Keys constrained on one side only are fine.
 */
export const intersects = (existing: Requirements, incoming: Requirements): string | undefined => {
  const found = conflicts(existing, incoming, false)
  if (found.length === 0) return undefined
  return found
    .sort()
    .map(
      (key) => `key ${key}, ${Requirement.format(incoming.get(key)!)} not in ${Requirement.format(existing.get(key)!)}`
    )
    .join("; ")
}

/** Whether {@link intersects} succeeds, without building messages. */
export const hasIntersection = (existing: Requirements, incoming: Requirements): boolean =>
  conflicts(existing, incoming, true).length === 0

/**
 * Upstream `Compatible`: every incoming key must be defined by `reqs` unless the incoming requirement is
 * NotIn/DoesNotExist or the key is in `allowUndefined` (message `label "k" does not have known values`, with a typo
 * hint); then {@link intersects}. Undefined when compatible. Of several undefined keys the smallest is reported.
 */
export const compatible = (
  reqs: Requirements,
  incoming: Requirements,
  options?: CompatibilityOptions
): string | undefined => {
  const allowUndefined = options?.allowUndefined
  const undefinedKey = firstUndefinedKey(reqs, incoming, allowUndefined, false)
  if (undefinedKey !== undefined) {
    return `label ${JSON.stringify(undefinedKey)} does not have known values${labelHint(reqs, undefinedKey, allowUndefined)}`
  }
  return intersects(reqs, incoming)
}

/** Whether {@link compatible} succeeds, without building messages. */
export const isCompatible = (reqs: Requirements, incoming: Requirements, options?: CompatibilityOptions): boolean =>
  firstUndefinedKey(reqs, incoming, options?.allowUndefined, true) === undefined && hasIntersection(reqs, incoming)

/**
 * Upstream `Labels()`: a label for every key that is neither well-known nor restricted, valued by
 * {@link Requirement.any} (keys with no allowed value are skipped). `random` returns [0, 1) and only picks values
 * for NotIn/Exists keys; the default picks the lowest allowed integer.
 */
export const labels = (
  reqs: Requirements,
  wellKnown: ReadonlySet<string> = Labels.WellKnownLabels,
  random: () => number = () => 0
): Record<string, string> => {
  const result: Record<string, string> = {}
  for (const [key, req] of reqs) {
    if (wellKnown.has(key) || Labels.isRestricted(key, wellKnown)) continue
    const value = Requirement.any(req, random)
    if (value !== "") result[key] = value
  }
  return result
}

/** The requirements as node selector requirements sorted by key (see {@link Requirement.toNodeSelectorRequirements}). */
export const toNodeSelectorRequirements = (reqs: Requirements): Array<Requirement.NodeSelectorRequirement> =>
  Array.from(reqs.keys())
    .sort()
    .flatMap((key) => Requirement.toNodeSelectorRequirements(reqs.get(key)!))

/** Upstream `String()`: each requirement formatted, sorted, comma-joined; the hostname requirement is left out. */
export const format = (reqs: Requirements): string =>
  Array.from(reqs.values())
    .filter((req) => !Labels.RestrictedLabels.has(req.key))
    .map(Requirement.format)
    .sort()
    .join(", ")

/**
 * `reqs` with `incoming` intersected in, and whether that changed anything: the scheduler skips re-filtering
 * instance types by requirements when a pod adds nothing new.
 */
export const narrow = (
  reqs: Requirements,
  incoming: Requirements
): { readonly requirements: Requirements; readonly changed: boolean } => {
  let result: Map<string, Requirement.Requirement> | undefined
  for (const [key, req] of incoming) {
    const existing = (result ?? reqs).get(key)
    const next = existing === undefined ? req : Requirement.intersection(existing, req)
    if (existing !== undefined && Requirement.equals(existing, next)) continue
    result ??= new Map(reqs)
    result.set(key, next)
  }
  return result === undefined ? { requirements: reqs, changed: false } : { requirements: result, changed: true }
}
