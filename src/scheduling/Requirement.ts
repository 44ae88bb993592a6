/**
 * One scheduling requirement on one label key: the set of values a label may take, as Karpenter's
 * `pkg/scheduling/requirement.go` (v1.4.0) represents it.
 *
 * A requirement is a value set that is either concrete (`In`, `DoesNotExist`) or a complement (`NotIn`, `Exists`),
 * optionally narrowed by exclusive integer bounds (`Gt`, `Lt`). Everything here is plain data and plain functions:
 * the scheduler calls them in its innermost loop.
 */
import * as Labels from "../api/Labels.ts"

/** The operators {@link make} accepts; `Gte` / `Lte` arrived upstream after v1.4.0 and map onto `Gt` / `Lt`. */
export type Operator = "In" | "NotIn" | "Exists" | "DoesNotExist" | "Gt" | "Lt" | "Gte" | "Lte"

/** The operators a requirement renders back to (`corev1.NodeSelectorOperator`). */
export type NodeSelectorOperator = "In" | "NotIn" | "Exists" | "DoesNotExist" | "Gt" | "Lt"

/**
 * A requirement. `values` is the allowed set when `complement` is false and the excluded set when it is true;
 * `greaterThan` / `lessThan` are exclusive integer bounds that only complement requirements keep.
 */
export interface Requirement {
  readonly key: string
  readonly complement: boolean
  readonly values: ReadonlySet<string>
  readonly greaterThan?: number | undefined
  readonly lessThan?: number | undefined
  readonly minValues?: number | undefined
}

/** A requirement rendered as a node selector requirement (with Karpenter's `minValues` when set). */
export interface NodeSelectorRequirement {
  readonly key: string
  readonly operator: NodeSelectorOperator
  readonly values: ReadonlyArray<string>
  readonly minValues?: number
}

/** The size of a complement requirement with nothing excluded (upstream uses MaxInt64). */
export const Unbounded = Number.MAX_SAFE_INTEGER

// Shared by every requirement without values; typed read-only, so sharing it is safe.
const emptyValues: ReadonlySet<string> = new Set()

// Every requirement is built here so all of them share one object shape (monomorphic property access in V8).
const build = (
  key: string,
  complement: boolean,
  values: ReadonlySet<string>,
  greaterThan: number | undefined,
  lessThan: number | undefined,
  minValues: number | undefined
): Requirement => ({ key, complement, values, greaterThan, lessThan, minValues })

const integerPattern = /^[+-]?[0-9]+$/

/** `strconv.Atoi`: the integer a label value spells, or undefined when it is not an integer. */
export const parseInteger = (value: string): number | undefined => {
  if (!integerPattern.test(value)) return undefined
  const parsed = Number(value)
  return Number.isFinite(parsed) ? parsed : undefined
}

// Upstream reads Gt/Lt operands with errors ignored ("prevalidated"), so a malformed operand counts as 0.
const operand = (values: ReadonlyArray<string>): number => parseInteger(values[0] ?? "") ?? 0

/**
 * A requirement from a node selector operator. The key is normalized (`beta.kubernetes.io/arch` → `kubernetes.io/arch`);
 * `Gte n` / `Lte n` become `Gt n-1` / `Lt n+1`. An unknown operator yields `Exists`, as upstream's constructor falls
 * through to an unconstrained complement.
 */
export const make = (
  key: string,
  operator: Operator | (string & {}),
  values: ReadonlyArray<string> = [],
  minValues?: number
): Requirement => {
  const normalized = Labels.normalize(key)
  switch (operator) {
    case "In":
      return build(normalized, false, new Set(values), undefined, undefined, minValues)
    case "NotIn":
      return build(normalized, true, new Set(values), undefined, undefined, minValues)
    case "DoesNotExist":
      return build(normalized, false, emptyValues, undefined, undefined, minValues)
    case "Gt":
      return build(normalized, true, emptyValues, operand(values), undefined, minValues)
    case "Gte":
      return build(normalized, true, emptyValues, operand(values) - 1, undefined, minValues)
    case "Lt":
      return build(normalized, true, emptyValues, undefined, operand(values), minValues)
    case "Lte":
      return build(normalized, true, emptyValues, undefined, operand(values) + 1, minValues)
    default:
      return build(normalized, true, emptyValues, undefined, undefined, minValues)
  }
}

/** `key Exists`: any value, including none at all when the caller allows undefined keys. */
export const exists = (key: string): Requirement => build(key, true, emptyValues, undefined, undefined, undefined)

/** Whether `value` lies strictly between the bounds; with a bound set, only integers can. */
export const withinBounds = (value: string, greaterThan: number | undefined, lessThan: number | undefined): boolean => {
  if (greaterThan === undefined && lessThan === undefined) return true
  const parsed = parseInteger(value)
  if (parsed === undefined) return false
  if (greaterThan !== undefined && greaterThan >= parsed) return false
  if (lessThan !== undefined && lessThan <= parsed) return false
  return true
}

/** Whether the requirement allows `value`. */
export const has = (req: Requirement, value: string): boolean =>
  (req.complement ? !req.values.has(value) : req.values.has(value)) &&
  withinBounds(value, req.greaterThan, req.lessThan)

/** How many values the requirement allows; a complement counts as {@link Unbounded} minus its exclusions. */
export const len = (req: Requirement): number => (req.complement ? Unbounded - req.values.size : req.values.size)

/** The upstream operator of the requirement; bounded complements report `Exists` (or `NotIn`) as upstream does. */
export const operator = (req: Requirement): "In" | "NotIn" | "Exists" | "DoesNotExist" => {
  if (req.complement) return req.values.size > 0 ? "NotIn" : "Exists"
  return req.values.size > 0 ? "In" : "DoesNotExist"
}

/** The requirement's values (allowed or excluded, per `complement`), sorted. */
export const values = (req: Requirement): Array<string> => Array.from(req.values).sort()

/** Whether the requirement is a plain `Exists`: a complement that excludes nothing and has no bounds. */
export const isUnconstrained = (req: Requirement): boolean =>
  req.complement && req.values.size === 0 && req.greaterThan === undefined && req.lessThan === undefined

const maxOf = (a: number | undefined, b: number | undefined): number | undefined =>
  a === undefined ? b : b === undefined ? a : Math.max(a, b)
const minOf = (a: number | undefined, b: number | undefined): number | undefined =>
  a === undefined ? b : b === undefined ? a : Math.min(a, b)

/**
 * The values both requirements allow, keyed by `a.key`. `minValues` takes the larger; crossing bounds give
 * `DoesNotExist`; values outside the combined bounds are dropped, and a concrete result drops the bounds.
 */
export const intersection = (a: Requirement, b: Requirement): Requirement => {
  const minValues = maxOf(a.minValues, b.minValues)
  // Intersecting with a plain Exists is the scheduler's commonest case; every requirement keeps its values within
  // its own bounds, so the other side is already the answer.
  if (isUnconstrained(b) && a.minValues === minValues) return a
  if (isUnconstrained(a) && b.minValues === minValues && a.key === b.key) return b
  const complement = a.complement && b.complement
  const greaterThan = maxOf(a.greaterThan, b.greaterThan)
  const lessThan = minOf(a.lessThan, b.lessThan)
  if (greaterThan !== undefined && lessThan !== undefined && greaterThan >= lessThan) {
    return build(a.key, false, emptyValues, undefined, undefined, minValues)
  }
  const result = new Set<string>()
  if (a.complement && b.complement) {
    for (const value of a.values) if (withinBounds(value, greaterThan, lessThan)) result.add(value)
    for (const value of b.values) if (withinBounds(value, greaterThan, lessThan)) result.add(value)
  } else if (a.complement) {
    for (const value of b.values) {
      if (!a.values.has(value) && withinBounds(value, greaterThan, lessThan)) result.add(value)
    }
  } else if (b.complement) {
    for (const value of a.values) {
      if (!b.values.has(value) && withinBounds(value, greaterThan, lessThan)) result.add(value)
    }
  } else {
    const [small, large] = a.values.size <= b.values.size ? [a.values, b.values] : [b.values, a.values]
    for (const value of small) {
      if (large.has(value) && withinBounds(value, greaterThan, lessThan)) result.add(value)
    }
  }
  return complement
    ? build(a.key, true, result, greaterThan, lessThan, minValues)
    : build(a.key, false, result, undefined, undefined, minValues)
}

/** Whether {@link intersection} would allow any value, without building it. */
export const hasIntersection = (a: Requirement, b: Requirement): boolean => {
  const greaterThan = maxOf(a.greaterThan, b.greaterThan)
  const lessThan = minOf(a.lessThan, b.lessThan)
  if (greaterThan !== undefined && lessThan !== undefined && greaterThan >= lessThan) return false
  if (a.complement && b.complement) return true
  if (a.complement) {
    for (const value of b.values) if (!a.values.has(value) && withinBounds(value, greaterThan, lessThan)) return true
    return false
  }
  if (b.complement) {
    for (const value of a.values) if (!b.values.has(value) && withinBounds(value, greaterThan, lessThan)) return true
    return false
  }
  const [small, large] = a.values.size <= b.values.size ? [a.values, b.values] : [b.values, a.values]
  for (const value of small) if (large.has(value) && withinBounds(value, greaterThan, lessThan)) return true
  return false
}

/**
 * One value the requirement allows, or "" when there is none. `In` gives its smallest value (upstream: an arbitrary
 * one), so labels are reproducible; `NotIn` / `Exists` give an integer within the bounds drawn with `random`
 * (returning [0, 1)) and stepped past excluded values (upstream may return an excluded value).
 */
export const any = (req: Requirement, random: () => number): string => {
  switch (operator(req)) {
    case "In": {
      let smallest: string | undefined
      for (const value of req.values) if (smallest === undefined || value < smallest) smallest = value
      return smallest ?? ""
    }
    case "DoesNotExist":
      return ""
    default: {
      const high = req.lessThan ?? Unbounded
      // Upstream starts at 0 without a lower bound; start lower only when an upper bound leaves no room above 0.
      const low = req.greaterThan !== undefined ? req.greaterThan + 1 : Math.min(0, high - req.values.size - 1)
      const size = high - low
      if (size <= 0) return ""
      let candidate = low + Math.min(size - 1, Math.max(0, Math.floor(random() * size)))
      // At most |values| integers are excluded, so |values| + 1 distinct candidates always include a free one.
      const attempts = Math.min(size, req.values.size + 1)
      for (let attempt = 0; attempt < attempts; attempt++) {
        const text = String(candidate)
        if (!req.values.has(text)) return text
        candidate = candidate + 1 >= high ? low : candidate + 1
      }
      return ""
    }
  }
}

/**
 * The requirement as one node selector requirement: `Gt` / `Lt` with their bound when the requirement has exactly one
 * bound and no values, otherwise its {@link operator} with its sorted values. Lossy for a requirement with both bounds
 * or with values and a bound; {@link toNodeSelectorRequirements} is not.
 */
export const toNodeSelectorRequirement = (req: Requirement): NodeSelectorRequirement => {
  const minValues = req.minValues === undefined ? {} : { minValues: req.minValues }
  if (req.values.size === 0) {
    if (req.greaterThan !== undefined && req.lessThan === undefined) {
      return { key: req.key, operator: "Gt", values: [String(req.greaterThan)], ...minValues }
    }
    if (req.lessThan !== undefined && req.greaterThan === undefined) {
      return { key: req.key, operator: "Lt", values: [String(req.lessThan)], ...minValues }
    }
  }
  return { key: req.key, operator: operator(req), values: values(req), ...minValues }
}

/**
 * The requirement as node selector requirements that intersect back to it: one entry, or for a bounded requirement
 * its `NotIn` values (if any), its `Gt` and its `Lt` as separate entries (upstream v1.14 splits both bounds likewise).
 */
export const toNodeSelectorRequirements = (req: Requirement): Array<NodeSelectorRequirement> => {
  const bounds = (req.greaterThan === undefined ? 0 : 1) + (req.lessThan === undefined ? 0 : 1)
  if (bounds === 0 || (bounds === 1 && req.values.size === 0)) return [toNodeSelectorRequirement(req)]
  const minValues = req.minValues === undefined ? {} : { minValues: req.minValues }
  const result: Array<NodeSelectorRequirement> = []
  if (req.values.size > 0) result.push({ key: req.key, operator: "NotIn", values: values(req), ...minValues })
  if (req.greaterThan !== undefined) {
    result.push({ key: req.key, operator: "Gt", values: [String(req.greaterThan)], ...minValues })
  }
  if (req.lessThan !== undefined) {
    result.push({ key: req.key, operator: "Lt", values: [String(req.lessThan)], ...minValues })
  }
  return result
}

/** Upstream's `String()`: `key In [a b]`, `key Exists >1 <9`, at most five values then `and N others`. */
export const format = (req: Requirement): string => {
  const op = operator(req)
  let text: string
  if (op === "Exists" || op === "DoesNotExist") {
    text = `${req.key} ${op}`
  } else {
    const shown = values(req)
    if (shown.length > 5) shown.splice(5, shown.length - 5, `and ${shown.length - 5} others`)
    text = `${req.key} ${op} [${shown.join(" ")}]`
  }
  if (req.greaterThan !== undefined) text += ` >${req.greaterThan}`
  if (req.lessThan !== undefined) text += ` <${req.lessThan}`
  if (req.minValues !== undefined) text += ` minValues ${req.minValues}`
  return text
}

/** Whether two requirements allow exactly the same values (same key, set, bounds and minValues). */
export const equals = (a: Requirement, b: Requirement): boolean => {
  if (a === b) return true
  if (
    a.key !== b.key ||
    a.complement !== b.complement ||
    a.greaterThan !== b.greaterThan ||
    a.lessThan !== b.lessThan ||
    a.minValues !== b.minValues ||
    a.values.size !== b.values.size
  ) {
    return false
  }
  for (const value of a.values) if (!b.values.has(value)) return false
  return true
}
