/**
 * The Launch step on its own (upstream `lifecycle/launch.go`): the launch cache at its exact expiry, the Launched
 * condition of a failed launch, and what each outcome of `CloudProvider.create` does to the NodeClaim.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as TestClock from "effect/testing/TestClock"
import * as Fake from "../../../../layers/cloudprovider/fake/FakeCloudProvider.ts"
import * as ConditionTypes from "../../../../src/api/Conditions.ts"
import type { NodeClaim } from "../../../../src/api/NodeClaim.ts"
import * as CloudProvider from "../../../../src/cloudprovider/CloudProvider.ts"
import * as Launch from "../../../../src/controllers/nodeclaim/lifecycle/Launch.ts"
import * as Conditions from "../../../../src/controllers/StatusConditions.ts"
import * as Result from "../../../../src/runtime/Result.ts"
import * as S from "../../support.ts"
import * as L from "./support.ts"

const created = { metadata: { name: "claim", uid: "uid-1" }, spec: { requirements: [] } } as unknown as NodeClaim
const ttl = Duration.toMillis(Launch.cacheTTL)

describe("Launch.makeCache", () => {
  it("keeps what create returned until exactly a minute after it was remembered", () => {
    const cache = Launch.makeCache()
    cache.set("uid-1", created, 1_000)
    assert.strictEqual(cache.get("uid-1", 1_000 + ttl - 1), created)
    assert.isUndefined(cache.get("uid-1", 1_000 + ttl))
    assert.isUndefined(cache.get("uid-2", 1_000))
  })

  it("remembering again restarts the minute", () => {
    const cache = Launch.makeCache()
    cache.set("uid-1", created, 0)
    cache.set("uid-1", created, 30_000)
    assert.strictEqual(cache.get("uid-1", 30_000 + ttl - 1), created)
    assert.isUndefined(cache.get("uid-1", 30_000 + ttl))
  })

  it("a NodeClaim without a UID is never cached", () => {
    const cache = Launch.makeCache()
    cache.set(undefined, created, 0)
    assert.isUndefined(cache.get(undefined, 0))
  })
})

describe("Launch.failedCondition", () => {
  it("a CreateError gives its condition reason and message", () => {
    const condition = Launch.failedCondition(
      new CloudProvider.CreateError({ conditionReason: "QuotaExceeded", conditionMessage: "no quota left" })
    )
    assert.deepStrictEqual(condition, {
      type: ConditionTypes.Launched,
      status: "Unknown",
      reason: "QuotaExceeded",
      message: "no quota left"
    })
  })

  it("any other error is LaunchFailed with its message cut to 300 characters", () => {
    const failure = (length: number) =>
      Launch.failedCondition(new CloudProvider.CloudProviderError({ method: "create", message: "x".repeat(length) }))
    assert.strictEqual(failure(299).reason, ConditionTypes.LaunchFailed)
    assert.strictEqual(failure(299).message, "x".repeat(299))
    assert.strictEqual(failure(300).message, `${"x".repeat(300)}...`)
  })
})

describe("Launch step", () => {
  it.effect("one instance per NodeClaim: a stale read reuses the cached launch until a minute after its last use", () =>
    L.run(
      Effect.gen(function* () {
        const fake = yield* Fake.FakeCloudProvider
        const launch = Launch.make(yield* L.deps)
        // What the informer shows until the Launched=True status arrives.
        const stale = yield* S.createNodeClaim(S.nodeClaim("claim"))

        const first = L.expectTag(yield* launch(stale), "Stop")
        assert.deepStrictEqual(first.result, Result.requeue)
        assert.isTrue(Conditions.isTrue(first.claim.status?.conditions, ConditionTypes.Launched))
        const providerID = first.claim.status?.providerID
        assert.isDefined(providerID)

        yield* TestClock.adjust(ttl - 1)
        const again = L.expectTag(yield* launch(stale), "Stop")
        assert.strictEqual(again.claim.status?.providerID, providerID)
        assert.strictEqual((yield* fake.createCalls).length, 1)

        // A minute after that reuse, the cache has forgotten it: the provider is asked again.
        yield* TestClock.adjust(ttl)
        yield* launch(stale)
        assert.strictEqual((yield* fake.createCalls).length, 2)
      })
    )
  )

  it.effect("a launched NodeClaim continues without asking the provider", () =>
    L.run(
      Effect.gen(function* () {
        const fake = yield* Fake.FakeCloudProvider
        const claim = yield* L.launchedClaim(S.nodeClaim("claim"))
        const result = yield* Launch.make(yield* L.deps)(claim)
        assert.deepStrictEqual(result, { _tag: "Continue", claim })
        assert.strictEqual((yield* fake.createCalls).length, 1)
      })
    )
  )

  it.effect("no capacity deletes the NodeClaim, with a warning event", () =>
    L.run(
      Effect.gen(function* () {
        const fake = yield* Fake.FakeCloudProvider
        yield* fake.failNextCreate(new CloudProvider.InsufficientCapacity({ message: "no capacity in any zone" }))
        const claim = yield* S.createNodeClaim(S.nodeClaim("claim"))
        assert.deepStrictEqual(yield* Launch.make(yield* L.deps)(claim), { _tag: "Deleted" })
        assert.isUndefined(yield* S.findNodeClaim("claim"))
        const events = yield* S.listEvents
        assert.deepStrictEqual(
          events.map((event) => [event.reason, event.message]),
          [["InsufficientCapacityError", "NodeClaim claim event: Failed to launch node, no capacity in any zone"]]
        )
      })
    )
  )

  it.effect("a CreateError leaves the NodeClaim Launched=Unknown with its reason, and the step failed with it", () =>
    L.run(
      Effect.gen(function* () {
        const fake = yield* Fake.FakeCloudProvider
        const error = new CloudProvider.CreateError({ conditionReason: "QuotaExceeded", conditionMessage: "no quota" })
        yield* fake.failNextCreate(error)
        const claim = yield* S.createNodeClaim(S.nodeClaim("claim"))
        const failed = L.expectTag(yield* Launch.make(yield* L.deps)(claim), "Failed")
        assert.strictEqual(failed.error, error)
        const launched = Conditions.get(failed.claim.status?.conditions, ConditionTypes.Launched)
        assert.deepStrictEqual([launched?.status, launched?.reason], ["Unknown", "QuotaExceeded"])
        assert.deepStrictEqual(
          (yield* S.findNodeClaim("claim"))?.status?.conditions,
          failed.claim.status?.conditions,
          "written"
        )
        assert.strictEqual((yield* fake.instances).size, 0)
      })
    )
  )
})
