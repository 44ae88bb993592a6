/**
 * The Liveness step on its own (upstream `lifecycle/liveness.go`): the registration TTL at its exact virtual
 * millisecond, and what hitting it does — the NodePool marked, an event, the NodeClaim deleted.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as TestClock from "effect/testing/TestClock"
import * as Fake from "../../../../layers/cloudprovider/fake/FakeCloudProvider.ts"
import * as ConditionTypes from "../../../../src/api/Conditions.ts"
import type { NodeClaim } from "../../../../src/api/NodeClaim.ts"
import * as Launch from "../../../../src/controllers/nodeclaim/lifecycle/Launch.ts"
import * as Liveness from "../../../../src/controllers/nodeclaim/lifecycle/Liveness.ts"
import * as Result from "../../../../src/runtime/Result.ts"
import * as S from "../../support.ts"
import * as L from "./support.ts"

const ttl = Duration.toMillis(Liveness.registrationTTL)

const claimWith = (conditions: ReadonlyArray<{ type: string; status: string; reason?: string; message?: string }>) =>
  ({
    metadata: { name: "claim", creationTimestamp: "1970-01-01T00:00:10Z" },
    spec: { requirements: [] },
    status: { conditions }
  }) as unknown as NodeClaim

describe("Liveness.remainingMillis", () => {
  it("counts the 15 minutes from the NodeClaim's creation, for an unregistered NodeClaim only", () => {
    const unregistered = claimWith([{ type: ConditionTypes.Registered, status: "Unknown" }])
    assert.strictEqual(Liveness.remainingMillis(unregistered, 10_000), ttl)
    assert.strictEqual(Liveness.remainingMillis(unregistered, 10_000 + ttl - 1), 1)
    assert.strictEqual(Liveness.remainingMillis(unregistered, 10_000 + ttl), 0)
    const registered = claimWith([{ type: ConditionTypes.Registered, status: "True" }])
    assert.isUndefined(Liveness.remainingMillis(registered, 10_000 + ttl))
  })
})

describe("Liveness.failure", () => {
  it("RegistrationFailed if the NodeClaim launched, else the reason and message of its Launched condition", () => {
    assert.deepStrictEqual(Liveness.failure(claimWith([{ type: ConditionTypes.Launched, status: "True" }])), {
      reason: ConditionTypes.RegistrationFailed,
      message: "Failed to register node"
    })
    const failedLaunch = claimWith([
      { type: ConditionTypes.Launched, status: "Unknown", reason: "QuotaExceeded", message: "no quota" }
    ])
    assert.deepStrictEqual(Liveness.failure(failedLaunch), { reason: "QuotaExceeded", message: "no quota" })
  })
})

describe("Liveness step", () => {
  it.effect("requeues at the TTL, and at exactly 15 minutes deletes the NodeClaim whose Node never came", () =>
    L.run(
      Effect.gen(function* () {
        const fake = yield* Fake.FakeCloudProvider
        yield* S.createNodePool(S.nodePool("default"))
        // A launch that keeps failing: the NodePool is marked with its reason.
        yield* fake.setAllowedCreateCalls(0)
        const deps = yield* L.deps
        const claim = yield* S.createNodeClaim(S.nodeClaim("claim"))
        assert.strictEqual(claim.metadata.creationTimestamp, "1970-01-01T00:00:00Z")
        const liveness = Liveness.make(deps)

        assert.deepStrictEqual(yield* liveness(claim), { _tag: "Stop", claim, result: Result.requeueAfter(ttl) })
        yield* TestClock.adjust(ttl - 1)
        const failed = L.expectTag(yield* Launch.make(deps)(claim), "Failed").claim
        assert.deepStrictEqual(yield* liveness(failed), {
          _tag: "Stop",
          claim: failed,
          result: Result.requeueAfter(1)
        })
        assert.isDefined(yield* S.findNodeClaim("claim"))

        yield* TestClock.adjust(1)
        assert.deepStrictEqual(yield* liveness(failed), { _tag: "Deleted" })
        assert.isUndefined(yield* S.findNodeClaim("claim"))
        const health = S.conditionOf(
          (yield* S.getNodePool("default")).status?.conditions,
          ConditionTypes.NodeRegistrationHealthy
        )
        assert.deepStrictEqual(
          [health?.status, health?.reason, health?.message],
          ["False", ConditionTypes.LaunchFailed, "erroring as number of AllowedCreateCalls has been exceeded"]
        )
        const events = yield* S.listEvents
        assert.deepStrictEqual(
          events.map((event) => [event.reason, event.message]),
          [["Disrupted", "Disrupting NodeClaim: Liveness - node did not register within 15m"]]
        )
      })
    )
  )

  it.effect("a registered NodeClaim continues, however old", () =>
    L.run(
      Effect.gen(function* () {
        const registered = yield* L.registeredClaim(S.nodeClaim("claim"), "node")
        yield* TestClock.adjust(ttl * 2)
        assert.deepStrictEqual(yield* Liveness.make(yield* L.deps)(registered), { _tag: "Continue", claim: registered })
      })
    )
  )
})
