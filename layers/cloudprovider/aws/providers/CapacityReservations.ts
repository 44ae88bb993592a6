/**
 * The capacity reservations an EC2NodeClass selects and how many instances each has left (aws/karpenter-provider-aws
 * v1.4.0, `pkg/providers/capacityreservation/provider.go` and `types.go`): one DescribeCapacityReservations query per
 * id term and per tag term (active reservations only), their union without expired ones; the counts EC2 answered,
 * counted down by our launches and up by our terminations until EC2 answers again, shared by the node class status
 * controller (which describes) and the cloud provider (which launches).
 */
import type * as Ec2Sdk from "@aws-sdk/client-ec2"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as EC2NodeClass from "../../../../src/api/EC2NodeClass.ts"
import { Ec2 } from "../sdk/Ec2.ts"
import * as Selectors from "./Selectors.ts"

/**
 * The DescribeCapacityReservations requests of the terms (upstream `QueriesFromSelectorTerms` and
 * `DescribeCapacityReservationsInput`): an id term asks for that id, a tag term for its tags (and owner); each active.
 */
export const queries = (
  terms: ReadonlyArray<EC2NodeClass.CapacityReservationSelectorTerm>
): Array<Ec2Sdk.DescribeCapacityReservationsCommandInput> => {
  const active: Ec2Sdk.Filter = { Name: "state", Values: ["active"] }
  return terms.flatMap((term) => [
    ...(term.id !== undefined && term.id !== "" ? [{ Filters: [active], CapacityReservationIds: [term.id] }] : []),
    ...(term.tags !== undefined && Object.keys(term.tags).length > 0
      ? [
          {
            Filters: [
              active,
              ...(term.ownerID === undefined || term.ownerID === ""
                ? []
                : [{ Name: "owner-id", Values: [term.ownerID] }]),
              ...Selectors.tagFilters(term.tags)
            ]
          }
        ]
      : [])
  ])
}

/** The availability cache's operations. */
export interface Service {
  /** Instances left in each reservation, as EC2 answered them now. */
  sync(available: ReadonlyMap<string, number>): Effect.Effect<void>
  /** One of our launches took an instance of the reservation. */
  markLaunched(id: string): Effect.Effect<void>
  /** One of our instances in the reservation is gone. */
  markTerminated(id: string): Effect.Effect<void>
  /** A launch into the reservation found it full (InsufficientInstanceCapacity). */
  markUnavailable(ids: ReadonlyArray<string>): Effect.Effect<void>
  /** The instances left per reservation id at this instant; 0 for one never described. */
  readonly snapshot: Effect.Effect<(id: string) => number>
  /** Bumped by every change, so offerings built before it know they are stale. */
  readonly seqNum: Effect.Effect<number>
}

/** The availability cache of one controller process. */
export class CapacityReservations extends Context.Service<CapacityReservations, Service>()(
  "karpenter-effect/layers/cloudprovider/aws/providers/CapacityReservations"
) {}

/** An empty availability cache. */
export const make: Effect.Effect<Service> = Effect.sync(() => {
  // Id → instances left; only reservations EC2 described are counted.
  const counts = new Map<string, number>()
  let seqNum = 0
  const update = (id: string, change: (count: number) => number) =>
    Effect.sync(() => {
      const count = counts.get(id)
      if (count === undefined) return
      counts.set(id, change(count))
      seqNum++
    })
  return {
    sync: (available) =>
      Effect.sync(() => {
        for (const [id, count] of available) counts.set(id, count)
        seqNum++
      }),
    // Upstream counts a launch only when it is not older than the last sync, which already saw it; a launch is never
    // older than now, so it always counts.
    markLaunched: (id) => update(id, (count) => Math.max(count - 1, 0)),
    markTerminated: (id) => update(id, (count) => count + 1),
    markUnavailable: (ids) => Effect.forEach(ids, (id) => update(id, () => 0), { discard: true }),
    snapshot: Effect.sync(() => {
      const now = new Map(counts)
      return (id: string) => now.get(id) ?? 0
    }),
    seqNum: Effect.sync(() => seqNum)
  }
})

/** A fresh availability cache. */
export const layer: Layer.Layer<CapacityReservations> = Layer.effect(CapacityReservations, make)

/**
 * The reservations the node class selects (upstream `DefaultProvider.List`): every query's answer (a missing id is no
 * answer), each reservation once, without those whose end date has passed; the availability cache learns the counts.
 */
export const list = Effect.fn("CapacityReservations.list")(function* (nodeClass: EC2NodeClass.EC2NodeClass) {
  const ec2 = yield* Ec2
  const cache = yield* CapacityReservations
  const results = yield* Effect.forEach(queries(nodeClass.spec.capacityReservationSelectorTerms ?? []), (input) =>
    ec2.describeCapacityReservations(input).pipe(Effect.catchTag("AwsNotFound", () => Effect.succeed([])))
  )
  yield* cache.sync(
    new Map(
      results
        .flat()
        .map((reservation) => [reservation.CapacityReservationId ?? "", reservation.AvailableInstanceCount ?? 0])
    )
  )
  const now = yield* Clock.currentTimeMillis
  return Selectors.unionById(results, (reservation) => reservation.CapacityReservationId).filter(
    (reservation) => reservation.EndDate === undefined || reservation.EndDate.getTime() > now
  )
})
