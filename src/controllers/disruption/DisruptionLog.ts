/**
 * A record of every disruption decision (which nodes went, why, and what replaced them), for the simulate driver and
 * reports. Controllers that disrupt (the disruption controller, expiration, node repair) record into it; the default records
 * nothing.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"

/** Why nodes were disrupted: a disruption method's reason, or expiration or repair (which no budget limits). */
export type Reason = "Empty" | "Underutilized" | "Drifted" | "Expired" | "Unhealthy"

/** One disruption decision. */
export interface Entry {
  /** Epoch millis (from the Clock). */
  readonly time: number
  readonly reason: Reason
  /** The disrupted nodes' names (the NodeClaim's name when it has no Node). */
  readonly candidates: ReadonlyArray<string>
  /** The replacements' instance types; empty when nothing replaces the candidates. */
  readonly replacements: ReadonlyArray<string>
}

/** What records disruption decisions. */
export interface Service {
  record(entry: Entry): Effect.Effect<void>
}

/** Records nothing. */
export const noop: Service = { record: () => Effect.void }

/** The disruption log in use; provide another value to capture the decisions. */
export const DisruptionLog = Context.Reference<Service>("karpenter-effect/controllers/disruption/DisruptionLog", {
  defaultValue: () => noop
})

/** A log kept in memory: provide `service` as the {@link DisruptionLog}, read what it recorded with `entries`. */
export const inMemory = (): { readonly service: Service; readonly entries: () => ReadonlyArray<Entry> } => {
  const entries: Array<Entry> = []
  return {
    service: { record: (entry) => Effect.sync(() => void entries.push(entry)) },
    entries: () => [...entries]
  }
}
