import { assert, describe, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/testing/TestClock"
import * as MemoryKube from "../../layers/kube/memory/MemoryKubeClient.ts"
import { KubeClient } from "../../src/kube/KubeClient.ts"
import * as KubeError from "../../src/kube/KubeError.ts"
import * as Resources from "../../src/kube/Resources.ts"
import * as LeaderElection from "../../src/runtime/LeaderElection.ts"
import * as Manager from "../../src/runtime/Manager.ts"
import * as Result from "../../src/runtime/Result.ts"
import * as Singleton from "../../src/runtime/Singleton.ts"
import { settle } from "./support.ts"

const lease = { name: "karpenter-leader-election", namespace: "kube-system" }

/** A KubeClient of one replica: its API calls fail while `network.down` (a partitioned or hung replica). */
const partitionable = (base: KubeClient["Service"], network: { down: boolean }): KubeClient["Service"] => {
  const unavailable = new KubeError.KubeUnavailable({ resource: "leases", name: lease.name, message: "unreachable" })
  const guard = <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, E | KubeError.KubeUnavailable> =>
    Effect.suspend(
      (): Effect.Effect<A, E | KubeError.KubeUnavailable> => (network.down ? Effect.fail(unavailable) : effect)
    )
  return {
    ...base,
    get: (resource, name, options) => guard(base.get(resource, name, options)),
    create: (resource, object, options) => guard(base.create(resource, object, options)),
    patch: (resource, name, patch, options) => guard(base.patch(resource, name, patch, options))
  }
}

/** One replica: its elector in its own Scope, and the times (in seconds) it started and stopped leading. */
const replica = (identity: string, options?: Partial<LeaderElection.Options>) =>
  Effect.gen(function* () {
    const kube = yield* KubeClient
    const network = { down: false }
    const scope = yield* Scope.make()
    const history = { elected: [] as Array<number>, lost: [] as Array<number>, leading: false }
    const seconds = Effect.map(Clock.currentTimeMillis, (now) => now / 1000)
    const gate = yield* LeaderElection.make({ ...lease, identity, jitter: 0, ...options }).pipe(
      Effect.provideService(KubeClient, partitionable(kube, network)),
      Scope.provide(scope)
    )
    yield* Effect.gen(function* () {
      while (true) {
        yield* gate.elected
        history.elected.push(yield* seconds)
        history.leading = true
        yield* gate.lost
        history.lost.push(yield* seconds)
        history.leading = false
      }
    }).pipe(Effect.forkIn(scope))
    yield* settle
    return { identity, network, scope, history, gate }
  })

/** Advances the clock one second at a time, so every retry on the way runs at its due time. */
const advance = (seconds: number) =>
  Effect.gen(function* () {
    for (let i = 0; i < seconds; i++) {
      yield* TestClock.adjust("1 second")
      yield* settle
    }
  })

const leaseSpec = Effect.gen(function* () {
  const kube = yield* KubeClient
  return (yield* kube.get(Resources.Leases, lease.name, { namespace: lease.namespace })).spec
})

describe("LeaderElection", () => {
  it.effect("of two replicas exactly one leads, and it keeps renewing the Lease", () =>
    Effect.gen(function* () {
      const a = yield* replica("a")
      const b = yield* replica("b")
      yield* advance(60)
      assert.deepStrictEqual(a.history.elected, [0])
      assert.deepStrictEqual(b.history.elected, [])
      const spec = yield* leaseSpec
      assert.strictEqual(spec.holderIdentity, "a")
      assert.strictEqual(spec.leaseDurationSeconds, 15)
      assert.strictEqual(spec.leaseTransitions, 0)
      assert.strictEqual(spec.acquireTime, "1970-01-01T00:00:00.000000Z")
      // Renewed every 2 s: the newest renewal is at most one retry period old.
      assert.isAtLeast(Date.parse(spec.renewTime ?? "") / 1000, 58)
    }).pipe(Effect.provide(MemoryKube.layer()))
  )

  it.effect(
    "a replica that cannot renew stops leading after the renew deadline; the other takes over only after the lease duration",
    () =>
      Effect.gen(function* () {
        const a = yield* replica("a")
        const b = yield* replica("b")
        yield* advance(20)
        a.network.down = true
        const lastRenewal = Date.parse((yield* leaseSpec).renewTime ?? "") / 1000
        yield* advance(14)
        // a has not renewed for more than 10 s: it has given up; b still respects the lease.
        assert.isFalse(a.history.leading)
        assert.strictEqual(a.history.lost.length, 1)
        assert.isAtLeast(a.history.lost[0]! - lastRenewal, 10)
        assert.isFalse(b.history.leading)
        yield* advance(10)
        assert.isTrue(b.history.leading)
        const takeover = b.history.elected[0]!
        assert.isAtLeast(takeover - lastRenewal, 15)
        assert.isAtMost(takeover - lastRenewal, 15 + 2 + 2)
        // Never two leaders: a stopped before b started.
        assert.isBelow(a.history.lost[0]!, takeover)
        const spec = yield* leaseSpec
        assert.strictEqual(spec.holderIdentity, "b")
        assert.strictEqual(spec.leaseTransitions, 1)
        assert.strictEqual(Date.parse(spec.acquireTime ?? "") / 1000, takeover)

        // a comes back: it stays a follower while b renews.
        a.network.down = false
        yield* advance(60)
        assert.isFalse(a.history.leading)
        assert.isTrue(b.history.leading)
      }).pipe(Effect.provide(MemoryKube.layer()))
  )

  it.effect("a leader shutting down releases the Lease and the other replica takes over at its next attempt", () =>
    Effect.gen(function* () {
      const a = yield* replica("a")
      const b = yield* replica("b")
      yield* advance(10)
      yield* Scope.close(a.scope, Exit.void)
      yield* settle
      const released = yield* leaseSpec
      assert.strictEqual(released.holderIdentity, "")
      assert.strictEqual(released.leaseDurationSeconds, 1)
      yield* advance(2)
      assert.deepStrictEqual(b.history.elected, [12])
      assert.strictEqual((yield* leaseSpec).leaseTransitions, 1)
    }).pipe(Effect.provide(MemoryKube.layer()))
  )

  it.effect("a leader that vanishes without releasing is replaced after the lease duration", () =>
    Effect.gen(function* () {
      const a = yield* replica("a", { releaseOnCancel: false })
      const b = yield* replica("b")
      yield* advance(10)
      const lastRenewal = Date.parse((yield* leaseSpec).renewTime ?? "") / 1000
      yield* Scope.close(a.scope, Exit.void)
      yield* advance(14)
      assert.deepStrictEqual(b.history.elected, [])
      yield* advance(6)
      assert.strictEqual(b.history.elected.length, 1)
      assert.isAtLeast(b.history.elected[0]! - lastRenewal, 15)
    }).pipe(Effect.provide(MemoryKube.layer()))
  )

  it.effect("of two replicas racing for a missing Lease, the create conflict leaves one leader", () =>
    Effect.gen(function* () {
      const kube = yield* KubeClient
      const gates = yield* Effect.all(
        ["a", "b", "c"].map((identity) => LeaderElection.make({ ...lease, identity, jitter: 0 })),
        { concurrency: "unbounded" }
      )
      const leaders: Array<number> = []
      yield* Effect.forEach(gates, (gate, index) =>
        Effect.forkScoped(
          Effect.andThen(
            gate.elected,
            Effect.sync(() => leaders.push(index))
          )
        )
      )
      yield* advance(30)
      assert.strictEqual(leaders.length, 1)
      const holder = (yield* kube.get(Resources.Leases, lease.name, { namespace: lease.namespace })).spec.holderIdentity
      assert.strictEqual(holder, ["a", "b", "c"][leaders[0]!])
    }).pipe(Effect.provide(MemoryKube.layer()))
  )

  it.effect(
    "the Manager runs its leader-only work while the replica holds the Lease and stops it when it loses it",
    () =>
      Effect.gen(function* () {
        const kube = yield* KubeClient
        const network = { down: false }
        const passes: Array<number> = []
        const election = yield* Layer.build(LeaderElection.layer({ ...lease, identity: "a", jitter: 0 })).pipe(
          Effect.provideService(KubeClient, partitionable(kube, network))
        )
        const manager = yield* Manager.make({
          runnables: [
            Singleton.make({
              name: "loop",
              interval: "5 seconds",
              run: Effect.map(Clock.currentTimeMillis, (now) => {
                passes.push(now / 1000)
                return Result.done
              })
            })
          ]
        }).pipe(Effect.provide(election))
        yield* advance(11)
        assert.isTrue(yield* manager.isLeader)
        assert.deepStrictEqual(passes, [0, 5, 10])
        network.down = true
        yield* advance(20)
        assert.isFalse(yield* manager.isLeader)
        const stoppedAt = passes.length
        assert.isAtMost(passes.at(-1)!, 25)
        yield* advance(10)
        assert.strictEqual(passes.length, stoppedAt)
        // Back on the network it takes the Lease, still recorded as its own, at its next attempt.
        network.down = false
        yield* advance(3)
        assert.isTrue(yield* manager.isLeader)
        assert.isAbove(passes.length, stoppedAt)
      }).pipe(Effect.provide(MemoryKube.layer()))
  )

  it("writes MicroTime with exactly six fractional digits", () => {
    assert.strictEqual(LeaderElection.microTime(Date.UTC(2026, 0, 2, 3, 4, 5, 123)), "2026-01-02T03:04:05.123000Z")
  })
})
