/**
 * The offerings EC2 recently could not fill (aws/karpenter-provider-aws v1.4.0, `pkg/cache/unavailableofferings.go`):
 * a capacity type × instance type × zone marked after an insufficient-capacity answer stays unavailable for three
 * minutes, on Effect's Clock. Marking again restarts the three minutes; every mark bumps {@link Service.seqNum} so
 * caches of offerings built before it know they are stale.
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { IsUnavailable } from "../../../src/cloudprovider/aws/Ec2InstanceTypes.ts"

/** How long a marked offering stays unavailable (upstream `UnavailableOfferingsTTL`). */
export const ttl = Duration.minutes(3)
const ttlMillis = Duration.toMillis(ttl)

/** Upstream's cache key: `<capacityType>:<instanceType>:<zone>`. */
export const key = (capacityType: string, instanceType: string, zone: string): string =>
  `${capacityType}:${instanceType}:${zone}`

/** The cache's operations. */
export interface Service {
  /** Marks the offering unavailable for {@link ttl} from now. */
  markUnavailable(capacityType: string, instanceType: string, zone: string): Effect.Effect<void>
  /** Whether the offering is unavailable now. */
  isUnavailable(capacityType: string, instanceType: string, zone: string): Effect.Effect<boolean>
  /** The unavailability at this instant, as the synchronous predicate instance types are built with. */
  readonly snapshot: Effect.Effect<IsUnavailable>
  /** Bumped by every mark. */
  readonly seqNum: Effect.Effect<number>
  /** The keys ({@link key}) of the offerings unavailable now, sorted: changes when one is marked or expires. */
  readonly active: Effect.Effect<ReadonlyArray<string>>
}

/** The unavailable-offerings cache of one controller process. */
export class UnavailableOfferings extends Context.Service<UnavailableOfferings, Service>()(
  "karpenter-effect/layers/cloudprovider/aws/UnavailableOfferings"
) {}

/** An empty cache. */
export const make: Effect.Effect<Service> = Effect.sync(() => {
  // Key → the instant it becomes available again. Expired entries are dropped when read, so no cleanup loop runs.
  const expiries = new Map<string, number>()
  let seqNum = 0
  const unavailableAt = (now: number) => (cacheKey: string) => {
    const expiry = expiries.get(cacheKey)
    if (expiry === undefined) return false
    if (now < expiry) return true
    expiries.delete(cacheKey)
    return false
  }
  return {
    markUnavailable: (capacityType, instanceType, zone) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        expiries.set(key(capacityType, instanceType, zone), now + ttlMillis)
        seqNum++
      }),
    isUnavailable: (capacityType, instanceType, zone) =>
      Effect.map(Clock.currentTimeMillis, (now) => unavailableAt(now)(key(capacityType, instanceType, zone))),
    snapshot: Effect.map(Clock.currentTimeMillis, (now) => {
      const at = unavailableAt(now)
      return (instanceType: string, zone: string, capacityType: string) => at(key(capacityType, instanceType, zone))
    }),
    seqNum: Effect.sync(() => seqNum),
    active: Effect.map(Clock.currentTimeMillis, (now) => [...expiries.keys()].filter(unavailableAt(now)).sort())
  }
})

/** A fresh cache. */
export const layer: Layer.Layer<UnavailableOfferings> = Layer.effect(UnavailableOfferings, make)
