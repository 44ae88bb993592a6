/**
 * Leader election on a `coordination.k8s.io/v1` Lease: a port of client-go's `leaderelection` with a LeaseLock, as
 * controller-runtime runs it for Karpenter. Every `retryPeriod` a replica reads the Lease and takes it when it is free
 * or when its record has not changed for `leaseDuration` (measured on this replica's clock from when it last saw the
 * record change, never from the holder's `renewTime`, so clock skew between replicas does not matter). The leader
 * renews every `retryPeriod`; when no renewal succeeded within `renewDeadline` it stops leading at once. Writes carry
 * the resourceVersion they read, so of two replicas racing for the Lease one gets a Conflict and stays a follower.
 */
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import * as Result from "effect/Result"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import type * as LeaseApi from "../api/Lease.ts"
import { KubeClient } from "../kube/KubeClient.ts"
import * as Resources from "../kube/Resources.ts"
import * as Manager from "./Manager.ts"

/** What to elect on and how fast. The defaults are controller-runtime's (Karpenter keeps them). */
export interface Options {
  /** The Lease's name; Karpenter's is `karpenter-leader-election`. */
  readonly name: string
  readonly namespace: string
  /** This replica, unique among the candidates (client-go uses `hostname_uuid`). */
  readonly identity: string
  /** How long a record that stopped changing keeps others away; default 15 s. */
  readonly leaseDuration?: Duration.Input
  /** The leader gives up when no renewal succeeded for this long; default 10 s. */
  readonly renewDeadline?: Duration.Input
  /** The wait between attempts to acquire or renew; default 2 s. */
  readonly retryPeriod?: Duration.Input
  /** Acquire attempts wait `retryPeriod × (1 + random × jitter)`; default 1.2, as client-go. */
  readonly jitter?: number
  /** Hand the Lease back (empty holder, 1 s duration) when the Scope closes while leading; default true. */
  readonly releaseOnCancel?: boolean
}

/** The Lease record: what replicas compare to notice a live leader. */
type Record = NonNullable<LeaseApi.Lease["spec"]>

/** A MicroTime: RFC 3339 with exactly six fractional digits, as the API server requires for Lease times. */
export const microTime = (millis: number): string => {
  const iso = new Date(millis).toISOString()
  return `${iso.slice(0, 23)}000Z`
}

const sameRecord = (a: Record | undefined, b: Record | undefined): boolean =>
  a !== undefined &&
  b !== undefined &&
  a.holderIdentity === b.holderIdentity &&
  a.leaseDurationSeconds === b.leaseDurationSeconds &&
  a.acquireTime === b.acquireTime &&
  a.renewTime === b.renewTime &&
  a.leaseTransitions === b.leaseTransitions

/**
 * Starts electing in a fiber of the current Scope and returns the gate the Manager obeys: `elected` completes when
 * this replica acquires the Lease, `lost` when it fails to renew it in time (it then goes back to acquiring).
 */
export const make = Effect.fn("LeaderElection.make")(function* (
  options: Options
): Effect.fn.Return<Manager.LeaderGate, never, KubeClient | Scope.Scope> {
  const kube = yield* KubeClient
  const leaseMillis = Duration.toMillis(Duration.fromInputUnsafe(options.leaseDuration ?? "15 seconds"))
  const renewDeadline = Duration.fromInputUnsafe(options.renewDeadline ?? "10 seconds")
  const retryMillis = Duration.toMillis(Duration.fromInputUnsafe(options.retryPeriod ?? "2 seconds"))
  const jitter = options.jitter ?? 1.2
  const leaseSeconds = Math.round(leaseMillis / 1000)
  const where = { namespace: options.namespace }

  // What this replica last saw of the Lease, and when (on its own clock).
  let observed: Record | undefined
  let observedAt = 0
  let resourceVersion: string | undefined
  let leading = false
  // One pair per term: `lost` of a term is created before its `elected` completes, and the next `elected` before
  // `lost` completes, so the Manager always awaits the current term's promise.
  let elected = yield* Deferred.make<void>()
  let lost = yield* Deferred.make<void>()

  const observe = (lease: LeaseApi.Lease, now: number) => {
    resourceVersion = lease.metadata.resourceVersion
    if (!sameRecord(observed, lease.spec)) {
      observed = lease.spec
      observedAt = now
    }
  }

  /** One attempt (client-go `tryAcquireOrRenew`): true when this replica holds the Lease afterwards. */
  const tryAcquireOrRenew: Effect.Effect<boolean> = Effect.gen(function* () {
    const now = yield* Clock.currentTimeMillis
    const stamp = microTime(now)
    const current = yield* Effect.result(kube.get(Resources.Leases, options.name, where))
    if (Result.isFailure(current)) {
      if (current.failure._tag !== "NotFound") return false
      const record: Record = {
        holderIdentity: options.identity,
        leaseDurationSeconds: leaseSeconds,
        acquireTime: stamp,
        renewTime: stamp,
        leaseTransitions: 0
      }
      const created = yield* kube
        .create(
          Resources.Leases,
          { apiVersion: "coordination.k8s.io/v1", kind: "Lease", metadata: { name: options.name }, spec: record },
          where
        )
        .pipe(Effect.option)
      if (Option.isNone(created)) return false
      observed = undefined
      observe(created.value, now)
      return true
    }
    observe(current.success, now)
    const record = current.success.spec
    const holder = record.holderIdentity ?? ""
    const mine = holder === options.identity
    if (holder !== "" && !mine && observedAt + (record.leaseDurationSeconds ?? leaseSeconds) * 1000 > now) return false
    const next: Record = {
      holderIdentity: options.identity,
      leaseDurationSeconds: leaseSeconds,
      acquireTime: mine && record.acquireTime !== undefined ? record.acquireTime : stamp,
      renewTime: stamp,
      leaseTransitions: mine ? (record.leaseTransitions ?? 0) : (record.leaseTransitions ?? 0) + 1
    }
    // The resourceVersion in a merge patch is a precondition: a replica that raced us gets a Conflict.
    const updated = yield* kube
      .patch(
        Resources.Leases,
        options.name,
        { type: "merge", patch: { metadata: { resourceVersion }, spec: next } },
        where
      )
      .pipe(Effect.option)
    if (Option.isNone(updated)) return false
    observe(updated.value, now)
    return true
  })

  const acquire = Effect.gen(function* () {
    while (!(yield* tryAcquireOrRenew)) {
      const extra = jitter > 0 ? (yield* Random.next) * jitter * retryMillis : 0
      yield* Effect.sleep(Duration.millis(retryMillis + extra))
    }
  })

  /** Renews until a round of attempts, one per `retryPeriod`, finds no success within `renewDeadline`. */
  const renew = Effect.gen(function* () {
    while (true) {
      yield* Effect.sleep(Duration.millis(retryMillis))
      const renewed = yield* tryAcquireOrRenew.pipe(
        Effect.repeat({ schedule: Schedule.spaced(Duration.millis(retryMillis)), until: (held) => held }),
        Effect.timeoutOption(renewDeadline)
      )
      if (Option.isNone(renewed)) return
    }
  })

  const loop = Effect.gen(function* () {
    while (true) {
      yield* acquire
      const term = yield* Deferred.make<void>()
      lost = term
      leading = true
      yield* Effect.logInfo(`successfully acquired lease ${options.namespace}/${options.name}`)
      yield* Deferred.succeed(elected, undefined)
      yield* renew
      leading = false
      elected = yield* Deferred.make<void>()
      yield* Effect.logError(`leader election lost: lease ${options.namespace}/${options.name} not renewed in time`)
      yield* Deferred.succeed(term, undefined)
    }
  }).pipe(Effect.annotateLogs({ logger: "leader-election" }))

  /** client-go ReleaseOnCancel: an empty holder with a 1 s duration lets the next replica in at its next attempt. */
  const release = Effect.gen(function* () {
    if (!leading || observed === undefined) return
    const stamp = microTime(yield* Clock.currentTimeMillis)
    yield* kube
      .patch(
        Resources.Leases,
        options.name,
        {
          type: "merge",
          patch: {
            metadata: { resourceVersion },
            spec: {
              holderIdentity: "",
              leaseDurationSeconds: 1,
              acquireTime: stamp,
              renewTime: stamp,
              leaseTransitions: observed.leaseTransitions ?? 0
            }
          }
        },
        where
      )
      .pipe(
        Effect.tap(() => Effect.logInfo(`released lease ${options.namespace}/${options.name}`)),
        Effect.catch((error) => Effect.logWarning("failed to release the lease", error))
      )
  }).pipe(Effect.annotateLogs({ logger: "leader-election" }))

  if (options.releaseOnCancel ?? true) yield* Effect.addFinalizer(() => release)
  yield* Effect.forkScoped(loop)

  return {
    elected: Effect.suspend(() => Deferred.await(elected)),
    lost: Effect.suspend(() => Deferred.await(lost))
  }
})

/** The Manager's {@link Manager.LeaderGate} from an election on the Lease, for as long as the Layer's scope is open. */
export const layer = (options: Options) => Layer.effect(Manager.LeaderGate, make(options))
