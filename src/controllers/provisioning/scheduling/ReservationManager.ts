/**
 * The reservations of one scheduling pass (upstream `ReservationManager`, v1.4.0): how many instances each capacity
 * reservation has left, counted down as the pass's simulated NodeClaims reserve them, so a pass never plans more
 * reserved launches than a reservation holds. Plain data: it runs in the scheduler's inner loop.
 */
import * as InstanceType from "../../../cloudprovider/InstanceType.ts"

/** Reservation counts for one pass, and which simulated NodeClaim (by hostname) holds which reservation. */
export class ReservationManager {
  private readonly capacity = new Map<string, number>()
  private readonly held = new Map<string, Set<string>>()

  /** `label` is the provider's reservation-id label; `offerings` are the pass's reserved offerings. */
  constructor(
    offerings: Iterable<InstanceType.Offering>,
    readonly label: string | undefined
  ) {
    for (const offering of offerings) {
      const id = InstanceType.reservationIDOf(offering, label)
      const left = offering.reservationCapacity ?? 0
      // NodePools sharing a reservation may have read it at different times: trust the smallest count.
      const known = this.capacity.get(id)
      if (known === undefined || left < known) this.capacity.set(id, left)
    }
  }

  /** Reserves one instance of the offering's reservation for `hostname`; idempotent; false when none is left. */
  reserve(hostname: string, offering: InstanceType.Offering): boolean {
    const id = InstanceType.reservationIDOf(offering, this.label)
    let held = this.held.get(hostname)
    if (held?.has(id) === true) return true
    const left = this.capacity.get(id) ?? 0
    if (left <= 0) return false
    if (held === undefined) {
      held = new Set()
      this.held.set(hostname, held)
    }
    this.capacity.set(id, left - 1)
    held.add(id)
    return true
  }

  /** Gives back the reservations `hostname` holds among `ids` (all of them when omitted). */
  release(hostname: string, ids?: Iterable<string>): void {
    const held = this.held.get(hostname)
    if (held === undefined) return
    for (const id of ids === undefined ? [...held] : ids) {
      if (!held.delete(id)) continue
      this.capacity.set(id, (this.capacity.get(id) ?? 0) + 1)
    }
  }

  /** Whether the pass knows any reservation (a pass without them skips the bookkeeping). */
  get hasReservations(): boolean {
    return this.capacity.size > 0
  }
}
