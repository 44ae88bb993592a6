/**
 * Karpenter's duration strings: Go-style "30s", "1h30m", and `Never` for NillableDuration fields.
 */
import * as Cel from "./Cel.ts"

/** `expireAfter` / `consolidateAfter`: one or more `<int><s|m|h>` groups, or `Never`. */
export const NillablePattern = /^(([0-9]+(s|m|h))+|Never)$/
/** `terminationGracePeriod`: one or more `<int><s|m|h>` groups. */
export const DurationPattern = /^([0-9]+(s|m|h))+$/
/** Budget `duration`: minutes and hours only (cron has no seconds), with the optional "0s" Go appends. */
export const BudgetDurationPattern = /^((([0-9]+(h|m))|([0-9]+h[0-9]+m))(0s)?)$/

/** The check for a NillableDuration field. */
export const nillable = Cel.pattern(NillablePattern, "must be a duration such as 30s, 10m, 720h, or Never")
/** The check for a plain duration field. */
export const duration = Cel.pattern(DurationPattern, "must be a duration such as 30s, 10m, 720h")
/** The check for a budget duration. */
export const budgetDuration = Cel.pattern(
  BudgetDurationPattern,
  "must be a duration in hours and minutes such as 1h30m"
)

const unitMillis: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000
}

/**
 * Milliseconds of a duration string ("1h30m" → 5400000); `undefined` for `Never`; `null` when malformed.
 * Accepts the unsigned groups Go's `time.ParseDuration` accepts ("1.5h", ".5m", "300ms", "10us").
 */
export const toMillis = (text: string): number | undefined | null => {
  if (text === "Never") return undefined
  const group = /([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h)/gy
  let total = 0
  let consumed = 0
  for (let match = group.exec(text); match !== null; match = group.exec(text)) {
    total += Number(match[1]) * (unitMillis[match[2] ?? ""] ?? Number.NaN)
    consumed = group.lastIndex
  }
  return consumed === text.length && consumed > 0 && Number.isFinite(total) ? total : null
}

/** Renders milliseconds the way Go's `time.Duration.String` does for whole seconds ("1h30m0s", "0s"). */
export const format = (millis: number): string => {
  if (millis === 0) return "0s"
  const totalSeconds = Math.floor(millis / 1000)
  const hours = Math.floor(totalSeconds / 3600)
  const minutes = Math.floor((totalSeconds % 3600) / 60)
  const seconds = totalSeconds % 60
  return `${hours > 0 ? `${hours}h` : ""}${hours > 0 || minutes > 0 ? `${minutes}m` : ""}${seconds}s`
}
