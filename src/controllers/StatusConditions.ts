/**
 * Status-condition helpers with operatorpkg's semantics (`github.com/awslabs/operatorpkg/status`, the version Karpenter
 * v1.4.0 pins): pure functions from a condition list to a new one, shared by every controller that writes conditions
 * (NodePool validation, readiness and registration health, the NodeClaim lifecycle, disruption).
 *
 * A function returns the very array it was given when nothing changed, so a controller can tell whether to patch with
 * `next !== conditions`.
 */
import type * as ConditionTypes from "../api/Conditions.ts"
import type { Condition } from "../api/Meta.ts"

/** The root condition of every Karpenter object. */
export const Ready = "Ready"

/** operatorpkg's reason for a condition nobody has evaluated yet. */
export const AwaitingReconciliation = "AwaitingReconciliation"
/** operatorpkg's message for a condition nobody has evaluated yet. */
export const AwaitingReconciliationMessage = "object is awaiting reconciliation"

/** The root's reason while a dependent is Unknown (or True or False at an older generation). */
export const ReconcilingDependents = "ReconcilingDependents"
/** The root's reason once a dependent is False at the current generation. */
export const UnhealthyDependents = "UnhealthyDependents"

/** A condition to set: the reason defaults to the type for True (operatorpkg `SetTrue`), and to operatorpkg's for Unknown. */
export interface Input {
  readonly type: string
  readonly status: ConditionTypes.Status
  readonly reason?: string
  readonly message?: string
}

/** The object a condition list belongs to, and the time of the change. */
export interface Options {
  /** `metadata.generation`: becomes the condition's `observedGeneration`. */
  readonly generation?: number | undefined
  /** Epoch millis (from the Clock): the `lastTransitionTime` of a status change. */
  readonly now: number
  /**
   * `metadata.creationTimestamp`: the `lastTransitionTime` of a root or dependent condition set for the first time
   * (its "transition" was the object's creation); `now` when absent.
   */
  readonly createdAt?: string | undefined
  /** The object is being deleted: every other condition's observedGeneration is bumped too (operatorpkg). */
  readonly deleting?: boolean | undefined
  /** The root condition type, sorted last; default {@link Ready}. */
  readonly root?: string | undefined
  /** The dependents of the root (a first-time dependent gets `createdAt`); default none. */
  readonly dependents?: ReadonlyArray<string> | undefined
}

/** RFC 3339 with second precision, as `metav1.Time` serialises. */
export const timestamp = (millis: number): string => `${new Date(millis).toISOString().slice(0, 19)}Z`

// Go's int64 zero is omitted from the wire (`omitempty`): an absent observedGeneration is 0.
const generationOf = (value: number | undefined): number => value ?? 0

const timeOf = (condition: Condition): number => {
  const parsed = Date.parse(condition.lastTransitionTime)
  return Number.isNaN(parsed) ? 0 : parsed
}

/** The condition of `type`, if present. */
export const get = (conditions: ReadonlyArray<Condition> | undefined, type: string): Condition | undefined => {
  // A loop, not `find`: asked of every NodeClaim in every disruption pass, its closure was 1% of a simulated day's
  // allocation.
  if (conditions === undefined) return undefined
  for (const condition of conditions) if (condition.type === type) return condition
  return undefined
}

/** Whether the condition of `type` is True. */
export const isTrue = (conditions: ReadonlyArray<Condition> | undefined, type: string): boolean =>
  get(conditions, type)?.status === "True"

/** Whether the condition of `type` is False. */
export const isFalse = (conditions: ReadonlyArray<Condition> | undefined, type: string): boolean =>
  get(conditions, type)?.status === "False"

/** Whether the condition of `type` is Unknown or absent (operatorpkg: a missing condition is Unknown). */
export const isUnknown = (conditions: ReadonlyArray<Condition> | undefined, type: string): boolean => {
  const condition = get(conditions, type)
  return condition === undefined || condition.status === "Unknown"
}

const sameCondition = (a: Condition, b: Condition): boolean =>
  a.type === b.type &&
  a.status === b.status &&
  generationOf(a.observedGeneration) === generationOf(b.observedGeneration) &&
  a.lastTransitionTime === b.lastTransitionTime &&
  (a.reason ?? "") === (b.reason ?? "") &&
  (a.message ?? "") === (b.message ?? "")

/** Whether two condition lists are the same, in the same order. */
export const equals = (a: ReadonlyArray<Condition> | undefined, b: ReadonlyArray<Condition> | undefined): boolean => {
  const left = a ?? []
  const right = b ?? []
  return left.length === right.length && left.every((condition, i) => sameCondition(condition, right[i]!))
}

const defaultReason = (input: Input): string =>
  input.reason !== undefined && input.reason !== ""
    ? input.reason
    : input.status === "Unknown"
      ? AwaitingReconciliation
      : input.type

const defaultMessage = (input: Input): string =>
  input.message ?? (input.status === "Unknown" && input.reason === undefined ? AwaitingReconciliationMessage : "")

const withGeneration = (condition: Condition, generation: number | undefined): Condition => {
  const { observedGeneration: _, ...rest } = condition
  return generationOf(generation) === 0 ? rest : { ...rest, observedGeneration: generation! }
}

/**
 * Sets one condition (operatorpkg `ConditionSet.Set`): `observedGeneration` := generation; `lastTransitionTime` kept
 * while the status stays, `now` when it changes (`createdAt` for a root or dependent set for the first time); the
 * list is then sorted by lastTransitionTime with the root last. Does not recompute the root: see {@link setWithRoot}.
 */
export const set = (
  conditions: ReadonlyArray<Condition> | undefined,
  input: Input,
  options: Options
): ReadonlyArray<Condition> => {
  const current = conditions ?? []
  const root = options.root ?? Ready
  const existing = get(current, input.type)
  const base: Condition = {
    type: input.type,
    status: input.status,
    lastTransitionTime: "",
    reason: defaultReason(input),
    message: defaultMessage(input)
  }
  let lastTransitionTime: string
  if (existing !== undefined) {
    lastTransitionTime = existing.status === input.status ? existing.lastTransitionTime : timestamp(options.now)
  } else {
    const dependent = input.type === root || (options.dependents ?? []).includes(input.type)
    lastTransitionTime = dependent && options.createdAt !== undefined ? options.createdAt : timestamp(options.now)
  }
  const next = withGeneration({ ...base, lastTransitionTime }, options.generation)
  if (existing !== undefined && sameCondition(existing, next)) return current
  const others = current
    .filter((condition) => condition.type !== input.type)
    .map((condition) => (options.deleting === true ? withGeneration(condition, options.generation) : condition))
  const merged = [...others, next]
  // Array.prototype.sort is stable, as Go's sort.SliceStable.
  return merged.sort((a, b) => {
    if (a.type === root || b.type === root) return a.type === root ? (b.type === root ? 0 : 1) : -1
    return timeOf(a) - timeOf(b)
  })
}

/** Removes the condition of `type` (operatorpkg `Clear`; the rest sorted by type). Use it for non-dependents only. */
export const clear = (conditions: ReadonlyArray<Condition> | undefined, type: string): ReadonlyArray<Condition> => {
  const current = conditions ?? []
  if (get(current, type) === undefined) return conditions ?? current
  return current
    .filter((condition) => condition.type !== type)
    .sort((a, b) => (a.type < b.type ? -1 : a.type > b.type ? 1 : 0))
}

/**
 * The root condition the dependents imply (operatorpkg `recomputeRootCondition`): True when every dependent present
 * is True at the current generation; otherwise False if some dependent is False at the current generation, else
 * Unknown, with reason `UnhealthyDependents` / `ReconcilingDependents` and the unhealthy dependents, newest transition
 * first, as the message (`NodeClassReady=False, ValidationSucceeded=Unknown`).
 */
export const rootReady = (
  conditions: ReadonlyArray<Condition> | undefined,
  dependents: ReadonlyArray<string>,
  generation?: number,
  root: string = Ready
): Input => {
  const current = generationOf(generation)
  const unhealthy = (conditions ?? [])
    .filter((condition) => dependents.includes(condition.type) && condition.type !== root)
    .filter((condition) => condition.status !== "True" || generationOf(condition.observedGeneration) !== current)
    .sort((a, b) => timeOf(b) - timeOf(a))
  if (unhealthy.length === 0) return { type: root, status: "True" }
  const failed = unhealthy.some(
    (condition) => condition.status === "False" && generationOf(condition.observedGeneration) === current
  )
  return {
    type: root,
    status: failed ? "False" : "Unknown",
    reason: failed ? UnhealthyDependents : ReconcilingDependents,
    message: unhealthy.map((condition) => `${condition.type}=${condition.status}`).join(", ")
  }
}

// The root after a change of `type` (operatorpkg recomputes it after setting anything but the root).
const recompute = (
  conditions: ReadonlyArray<Condition>,
  type: string,
  dependents: ReadonlyArray<string>,
  options: Options
): ReadonlyArray<Condition> => {
  const root = options.root ?? Ready
  if (type === root) return conditions
  return set(conditions, rootReady(conditions, dependents, options.generation, root), { ...options, dependents })
}

/**
 * Adds the root and every missing dependent as Unknown (`AwaitingReconciliation`), root first, recomputing the root
 * after each: what operatorpkg's `StatusConditions()` does before any read or write of an object's conditions.
 */
export const initialize = (
  conditions: ReadonlyArray<Condition> | undefined,
  dependents: ReadonlyArray<string>,
  options: Options
): ReadonlyArray<Condition> => {
  const root = options.root ?? Ready
  const withDependents: Options = { ...options, dependents }
  let current: ReadonlyArray<Condition> = conditions ?? []
  for (const type of [root, ...dependents.filter((dependent) => dependent !== root)]) {
    if (get(current, type) !== undefined) continue
    current = set(current, { type, status: "Unknown" }, withDependents)
    current = recompute(current, type, dependents, withDependents)
  }
  return current
}

/**
 * operatorpkg's `obj.StatusConditions().Set…(input)`: {@link initialize}s the set, sets one condition and, if it
 * changed, recomputes the root. The root-independent conditions (e.g. NodeRegistrationHealthy) go through it too.
 */
export const setWithRoot = (
  conditions: ReadonlyArray<Condition> | undefined,
  input: Input,
  dependents: ReadonlyArray<string>,
  options: Options
): ReadonlyArray<Condition> => {
  const withDependents: Options = { ...options, dependents }
  const initialized = initialize(conditions, dependents, withDependents)
  const next = set(initialized, input, withDependents)
  if (next === initialized) return initialized
  return recompute(next, input.type, dependents, withDependents)
}
