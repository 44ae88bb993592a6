/**
 * Regressions of the NodeClaim lifecycle's Launch and Liveness (upstream `lifecycle/launch.go`, `liveness.go`):
 * - one CloudProvider.create per NodeClaim: a reconcile that reads the NodeClaim from the informer before its
 *   Launched=True status arrives reuses the created NodeClaim from the 1-minute launch cache (by UID) instead of
 *   launching (and leaking) another instance;
 * - a generic create error leaves the NodeClaim with Launched=Unknown, reason LaunchFailed and the error as message,
 *   and is retried with backoff;
 * - Liveness runs whatever Launch did: a NodeClaim still unregistered 15 minutes after its creation, even one that
 *   never launched, is deleted and its NodePool's NodeRegistrationHealthy goes False with the Launched reason.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Fake from "../../../../layers/cloudprovider/fake/FakeCloudProvider.ts"
import * as ConditionTypes from "../../../../src/api/Conditions.ts"
import * as Liveness from "../../../../src/controllers/nodeclaim/lifecycle/Liveness.ts"
import * as S from "../../support.ts"

const allowedCreateCallsExceeded = "erroring as number of AllowedCreateCalls has been exceeded"

const health = Effect.map(S.getNodePool("default"), (nodePool) =>
  S.conditionOf(nodePool.status?.conditions, ConditionTypes.NodeRegistrationHealthy)
)

const launchedOf = (name: string) =>
  Effect.map(S.findNodeClaim(name), (claim) => S.conditionOf(claim?.status?.conditions, ConditionTypes.Launched))

/** The fake provider, a NodePool "default" and one Karpenter process running. */
const fakeCluster = Effect.gen(function* () {
  const fake = yield* Fake.FakeCloudProvider
  yield* S.createNodePool(S.nodePool("default"))
  yield* Layer.build(S.karpenter())
  yield* S.settle
  return fake
})

describe("NodeClaim lifecycle: launch", S.controllerSuite, () => {
  it.effect("launches a NodeClaim exactly once: one create call, one instance, reused from the launch cache", () =>
    Effect.gen(function* () {
      const fake = yield* fakeCluster
      yield* S.createNodeClaim(S.nodeClaim("claim"))
      yield* S.advance(1_000, 250)
      const claim = yield* S.findNodeClaim("claim")
      assert.strictEqual((yield* launchedOf("claim"))?.status, "True")
      assert.strictEqual((yield* fake.createCalls).length, 1)
      assert.deepStrictEqual([...(yield* fake.instances).keys()], [claim?.status?.providerID])

      // Past the launch cache's expiry (1 minute): Launched=True is in the informer by then, nothing launches again.
      yield* S.advance(65_000)
      assert.strictEqual((yield* fake.createCalls).length, 1)
      assert.strictEqual((yield* fake.instances).size, 1)
      assert.strictEqual((yield* S.findNodeClaim("claim"))?.status?.providerID, claim?.status?.providerID)
    }).pipe(Effect.provide(S.fakeBase))
  )

  it.effect("a failed launch sets Launched=Unknown (LaunchFailed, the error) and is retried until it succeeds", () =>
    Effect.gen(function* () {
      const fake = yield* fakeCluster
      yield* fake.setAllowedCreateCalls(0)
      yield* S.createNodeClaim(S.nodeClaim("claim"))
      yield* S.advance(1_000, 250)
      const failed = yield* launchedOf("claim")
      assert.deepStrictEqual(
        [failed?.status, failed?.reason, failed?.message],
        ["Unknown", ConditionTypes.LaunchFailed, allowedCreateCallsExceeded]
      )
      assert.strictEqual((yield* fake.instances).size, 0)

      // The provider recovers: the next retry (backoff at most a minute) launches one instance.
      yield* fake.setAllowedCreateCalls(Number.MAX_SAFE_INTEGER)
      yield* S.advance(60_000)
      const launched = yield* launchedOf("claim")
      assert.deepStrictEqual([launched?.status, launched?.reason], ["True", ConditionTypes.Launched])
      const claim = yield* S.findNodeClaim("claim")
      assert.deepStrictEqual([...(yield* fake.instances).keys()], [claim?.status?.providerID])
    }).pipe(Effect.provide(S.fakeBase))
  )
})

describe("NodeClaim lifecycle: liveness of a NodeClaim that never launches", S.controllerSuite, () => {
  it.effect("is deleted at the registration TTL, and its NodePool's NodeRegistrationHealthy goes False", () =>
    Effect.gen(function* () {
      const fake = yield* fakeCluster
      yield* fake.setAllowedCreateCalls(0)
      assert.strictEqual((yield* health)?.status, "Unknown")
      yield* S.createNodeClaim(S.nodeClaim("claim"))

      // 14m59s after its creation: still there, still failing to launch, the NodePool still Unknown.
      yield* S.advance(Duration.toMillis(Liveness.registrationTTL) - 1_000)
      assert.isDefined(yield* S.findNodeClaim("claim"))
      assert.strictEqual((yield* launchedOf("claim"))?.reason, ConditionTypes.LaunchFailed)
      assert.strictEqual((yield* health)?.status, "Unknown")
      const attempts = (yield* fake.createCalls).length
      assert.isAbove(attempts, 1, "retried with backoff")

      // By 16m (the launch retries back off to at most a minute, each running Liveness): deleted and finalized,
      // no instance, the NodePool marked with the launch failure.
      yield* S.advance(61_000)
      assert.isUndefined(yield* S.findNodeClaim("claim"))
      assert.strictEqual((yield* fake.instances).size, 0)
      const after = yield* health
      assert.deepStrictEqual(
        [after?.status, after?.reason, after?.message],
        ["False", ConditionTypes.LaunchFailed, allowedCreateCallsExceeded]
      )
      // Not part of Ready: the NodePool still provisions.
      const nodePool = yield* S.getNodePool("default")
      assert.strictEqual(S.conditionOf(nodePool.status?.conditions, ConditionTypes.Ready)?.status, "True")
    }).pipe(Effect.provide(S.fakeBase))
  )
})
