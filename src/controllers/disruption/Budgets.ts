/**
 * NodePool disruption budgets (upstream `Budget.IsActive`, `Budget.GetAllowedDisruptions`,
 * `NodePool.MustGetAllowedDisruptions` in `pkg/apis/v1/nodepool.go`): how many of a NodePool's nodes a disruption
 * method may take at once, now.
 *
 * A budget with a `schedule` is active for `duration` after each firing of its cron schedule, read in UTC; outside
 * those windows it does not limit anything. An active budget allows `nodes`: a count, or a percentage of the
 * NodePool's nodes rounded up. A NodePool allows, per reason, the minimum over its budgets that name the reason (or no
 * reason at all). A budget that cannot be read blocks every disruption of the NodePool (upstream fails closed).
 */
import * as Cron from "effect/Cron"
import * as Result from "effect/Result"
import type { DisruptionReason } from "../../api/Conditions.ts"
import * as ApiDuration from "../../api/Duration.ts"
import type { Budget, NodePool } from "../../api/NodePool.ts"

/** A budget reason: what a disruption method asks a budget for. */
export type Reason = DisruptionReason

/** What an inactive budget allows (upstream `math.MaxInt32`): no limit. */
export const Unlimited = 2_147_483_647

/** The budget a NodePool without budgets gets (the CRD default). */
export const defaultBudget: Budget = { nodes: "10%" }

// robfig/cron's descriptors, as `ParseStandard` accepts them (`@every` is rejected by the CRD pattern).
const macros: Readonly<Record<string, string>> = {
  "@yearly": "0 0 1 1 *",
  "@annually": "0 0 1 1 *",
  "@monthly": "0 0 1 * *",
  "@weekly": "0 0 * * 0",
  "@daily": "0 0 * * *",
  "@midnight": "0 0 * * *",
  "@hourly": "0 * * * *"
}

/**
 * Parses a budget schedule as upstream's `cron.ParseStandard("TZ=UTC " + schedule)`: a macro, or exactly five fields
 * (minute hour day-of-month month day-of-week, no seconds), read in UTC. The failure is a message.
 */
export const parseSchedule = (schedule: string): Result.Result<Cron.Cron, string> => {
  const text = schedule.trim()
  if (text.startsWith("@")) {
    const expanded = macros[text]
    return expanded === undefined
      ? Result.fail(`unrecognized descriptor: ${text}`)
      : Result.mapError(Cron.parse(expanded, "UTC"), (error) => error.message)
  }
  const fields = text.split(/\s+/).filter((field) => field !== "")
  if (fields.length !== 5) return Result.fail(`expected exactly 5 fields, found ${fields.length}: ${text}`)
  // robfig reads a bare "?" as "*".
  const normalized = fields.map((field) => (field === "?" ? "*" : field)).join(" ")
  return Result.mapError(Cron.parse(normalized, "UTC"), (error) => `${error.message}: ${text}`)
}

type Window =
  | { readonly _tag: "Always" }
  | { readonly _tag: "Scheduled"; readonly cron: Cron.Cron; readonly durationMillis: number }
  | { readonly _tag: "Invalid"; readonly message: string }

const windowOf = (budget: Budget): Window => {
  if (budget.schedule === undefined && budget.duration === undefined) return { _tag: "Always" }
  if (budget.schedule === undefined) return { _tag: "Invalid", message: "duration without schedule" }
  const cron = parseSchedule(budget.schedule)
  if (Result.isFailure(cron)) return { _tag: "Invalid", message: cron.failure }
  // Upstream dereferences a missing duration as 0 (a window that is never open).
  const durationMillis = budget.duration === undefined ? 0 : ApiDuration.toMillis(budget.duration)
  if (durationMillis === null || durationMillis === undefined) {
    return { _tag: "Invalid", message: `invalid duration ${budget.duration}` }
  }
  return { _tag: "Scheduled", cron: cron.success, durationMillis }
}

const firstStartAfter = (cron: Cron.Cron, millis: number): number => Cron.next(cron, new Date(millis)).getTime()

/**
 * Whether a budget applies at `now` (epoch millis): always without a schedule; else iff the first firing of the
 * schedule after `now − duration` is not after `now` (a window `[firing, firing + duration)`). `"invalid"` when the
 * schedule (or duration) cannot be read.
 */
export const isActive = (budget: Budget, now: number): boolean | "invalid" => {
  const window = windowOf(budget)
  switch (window._tag) {
    case "Always":
      return true
    case "Invalid":
      return "invalid"
    case "Scheduled":
      return firstStartAfter(window.cron, now - window.durationMillis) <= now
  }
}

type Nodes =
  | { readonly _tag: "Count"; readonly count: number }
  | { readonly _tag: "Percent"; readonly percent: number }
  | { readonly _tag: "Invalid" }

const nodesOf = (nodes: string): Nodes => {
  if (/^[0-9]+$/.test(nodes)) return { _tag: "Count", count: Number(nodes) }
  if (/^[0-9]+%$/.test(nodes)) return { _tag: "Percent", percent: Number(nodes.slice(0, -1)) }
  return { _tag: "Invalid" }
}

// What one budget allows now; undefined when it cannot be read.
const allowedBy = (budget: Budget, numNodes: number, now: number): number | undefined => {
  const active = isActive(budget, now)
  if (active === "invalid") return undefined
  if (!active) return Unlimited
  const nodes = nodesOf(budget.nodes)
  switch (nodes._tag) {
    case "Count":
      return nodes.count
    case "Percent":
      // intstr.GetScaledValueFromIntOrPercent(…, roundUp=true): 10% of 3 nodes is 1.
      return Math.ceil((nodes.percent * numNodes) / 100)
    case "Invalid":
      return undefined
  }
}

const budgetsOf = (nodePool: NodePool): ReadonlyArray<Budget> => {
  const budgets = nodePool.spec.disruption.budgets
  return budgets.length === 0 ? [defaultBudget] : budgets
}

const applies = (budget: Budget, reason: Reason): boolean =>
  budget.reasons === undefined || budget.reasons.includes(reason)

/**
 * How many of the NodePool's `numNodes` nodes may be disrupted for `reason` at `now` (epoch millis): the minimum
 * over the budgets that apply to the reason, {@link Unlimited} when none is active. Fails closed: if any budget of
 * the NodePool cannot be read, 0 (as upstream's `MustGetAllowedDisruptions`, whatever the budget's reasons).
 */
export const allowedDisruptions = (nodePool: NodePool, numNodes: number, reason: Reason, now: number): number => {
  let allowed = Unlimited
  for (const budget of budgetsOf(nodePool)) {
    const value = allowedBy(budget, numNodes, now)
    if (value === undefined) return 0
    if (applies(budget, reason)) allowed = Math.min(allowed, value)
  }
  return allowed
}

/** Disruptions each NodePool allows now, by NodePool name (upstream's disruption budget mapping). */
export type Mapping = ReadonlyMap<string, number>

/** Whether the mapping leaves the candidate's NodePool a disruption (a NodePool it does not name has none). */
export const allows = (budgets: Mapping, candidate: { readonly nodePool: NodePool }): boolean =>
  (budgets.get(candidate.nodePool.metadata.name ?? "") ?? 0) > 0

/** What {@link take} took, in order, and whether a budget turned a candidate away. */
export interface Taken<A> {
  readonly taken: ReadonlyArray<A>
  readonly constrained: boolean
}

/**
 * Takes candidates in order while their NodePool has a disruption left, each using one of its NodePool's (upstream's
 * decrement of the budget mapping, which every method does), until `limit` are taken. The mapping is left as it was.
 */
export const take = <A extends { readonly nodePool: NodePool }>(
  candidates: Iterable<A>,
  budgets: Mapping,
  limit = Number.POSITIVE_INFINITY
): Taken<A> => {
  const left = new Map(budgets)
  const taken: Array<A> = []
  let constrained = false
  for (const candidate of candidates) {
    if (taken.length >= limit) break
    if (!allows(left, candidate)) {
      constrained = true
      continue
    }
    const name = candidate.nodePool.metadata.name ?? ""
    left.set(name, (left.get(name) ?? 0) - 1)
    taken.push(candidate)
  }
  return { taken, constrained }
}

const pad = (value: number): string => String(value).padStart(2, "0")

// "09:00 UTC" on the day of `now`, "2024-01-08 09:00 UTC" on another day.
const formatTime = (millis: number, now: number): string => {
  const at = new Date(millis)
  const time = `${pad(at.getUTCHours())}:${pad(at.getUTCMinutes())} UTC`
  return new Date(now).toISOString().slice(0, 10) === at.toISOString().slice(0, 10)
    ? time
    : `${at.toISOString().slice(0, 10)} ${time}`
}

// When the active window containing `now` closes, following windows that open before it closes; undefined if the
// windows never stop overlapping (a budget that is always active).
const windowEnd = (cron: Cron.Cron, durationMillis: number, now: number): number | undefined => {
  let end = firstStartAfter(cron, now - durationMillis) + durationMillis
  for (let i = 0; i < 100; i++) {
    // The last firing before the end opens the window that closes last.
    const extended = Cron.prev(cron, new Date(end)).getTime() + durationMillis
    if (extended <= end) return end
    end = extended
  }
  return undefined
}

/**
 * One line on why the NodePool allows what it allows for `reason` at `now`: the budget that decides it, e.g.
 * `budget "10%" of 3 nodes allows 1`, `budget "0" for Drifted allows 0 until 17:00 UTC`,
 * `budget schedule "…" is invalid (…): disruptions blocked`, or `no active budget limits Drifted`.
 */
export const describe = (nodePool: NodePool, numNodes: number, reason: Reason, now: number): string => {
  let decisive: { readonly budget: Budget; readonly allowed: number } | undefined
  for (const budget of budgetsOf(nodePool)) {
    const window = windowOf(budget)
    if (window._tag === "Invalid") {
      return `budget schedule ${JSON.stringify(budget.schedule ?? "")} is invalid (${window.message}): disruptions blocked`
    }
    const allowed = allowedBy(budget, numNodes, now)
    if (allowed === undefined) return `budget nodes ${JSON.stringify(budget.nodes)} is invalid: disruptions blocked`
    if (applies(budget, reason) && allowed < Unlimited && (decisive === undefined || allowed < decisive.allowed)) {
      decisive = { budget, allowed }
    }
  }
  if (decisive === undefined) return `no active budget limits ${reason}`
  const { budget, allowed } = decisive
  const percent = budget.nodes.endsWith("%") ? ` of ${numNodes} nodes` : ""
  const forReason = budget.reasons === undefined ? "" : ` for ${reason}`
  const window = windowOf(budget)
  let until = ""
  if (window._tag === "Scheduled") {
    const end = windowEnd(window.cron, window.durationMillis, now)
    until = end === undefined ? " (always active)" : ` until ${formatTime(end, now)}`
  }
  return `budget ${JSON.stringify(budget.nodes)}${percent}${forReason} allows ${allowed}${until}`
}
