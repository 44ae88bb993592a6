/**
 * The Finalization step on its own (upstream `lifecycle/controller.go` `finalize`): the termination-time annotation,
 * the instance deleted until the provider reports it gone, the Nodes of a registered NodeClaim deleted first, and the
 * finalizer released last.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fake from "../../../../layers/cloudprovider/fake/FakeCloudProvider.ts"
import * as ConditionTypes from "../../../../src/api/Conditions.ts"
import * as Labels from "../../../../src/api/Labels.ts"
import type { NodeClaim } from "../../../../src/api/NodeClaim.ts"
import * as Finalization from "../../../../src/controllers/nodeclaim/lifecycle/Finalization.ts"
import * as Conditions from "../../../../src/controllers/StatusConditions.ts"
import { KubeClient } from "../../../../src/kube/KubeClient.ts"
import * as Resources from "../../../../src/kube/Resources.ts"
import * as Result from "../../../../src/runtime/Result.ts"
import * as S from "../../support.ts"
import * as L from "./support.ts"

const withFinalizer = { finalizers: [Labels.TerminationFinalizer] }

const deleting = (options: { readonly terminationGracePeriod?: string; readonly annotation?: string }) =>
  ({
    metadata: {
      name: "claim",
      deletionTimestamp: "1970-01-01T00:00:10Z",
      ...(options.annotation === undefined
        ? {}
        : { annotations: { [Labels.NodeClaimTerminationTimestampAnnotation]: options.annotation } })
    },
    spec: {
      requirements: [],
      ...(options.terminationGracePeriod === undefined
        ? {}
        : { terminationGracePeriod: options.terminationGracePeriod })
    }
  }) as unknown as NodeClaim

/** Deletes the NodeClaim (its finalizer holds it) and returns it as the informer then shows it. */
const deleteClaim = (name: string) =>
  Effect.gen(function* () {
    const kube = yield* KubeClient
    yield* kube.delete(Resources.NodeClaims, name)
    return yield* kube.get(Resources.NodeClaims, name)
  })

describe("Finalization.terminationTime", () => {
  it("is the deletion time plus the termination grace period, once", () => {
    assert.strictEqual(Finalization.terminationTime(deleting({ terminationGracePeriod: "1h" })), "1970-01-01T01:00:10Z")
    assert.isUndefined(Finalization.terminationTime(deleting({})))
    assert.isUndefined(
      Finalization.terminationTime(deleting({ terminationGracePeriod: "1h", annotation: "1970-01-01T00:00:30Z" })),
      "node repair's annotation stays"
    )
  })
})

describe("Finalization step", () => {
  it.effect("terminates the instance, polling every 5 s until it is gone, then releases the finalizer", () =>
    L.run(
      Effect.gen(function* () {
        const fake = yield* Fake.FakeCloudProvider
        const manifest = S.nodeClaim("claim", withFinalizer)
        const launched = yield* L.launchedClaim({
          ...manifest,
          spec: { ...manifest.spec, terminationGracePeriod: "1h" }
        })
        const providerID = launched.status?.providerID ?? ""
        const finalization = Finalization.make(yield* L.deps)

        const terminating = L.expectTag(yield* finalization(yield* deleteClaim("claim")), "Stop")
        assert.deepStrictEqual(terminating.result, Result.requeueAfter(Duration.seconds(5)))
        assert.deepStrictEqual(
          (yield* fake.deleteCalls).map((claim) => claim.status?.providerID),
          [providerID]
        )
        assert.isFalse((yield* fake.instances).has(providerID))
        assert.isTrue(Conditions.isTrue(terminating.claim.status?.conditions, ConditionTypes.InstanceTerminating))
        const stored = yield* S.findNodeClaim("claim")
        assert.include(
          stored?.metadata.finalizers ?? [],
          Labels.TerminationFinalizer,
          "held until the instance is gone"
        )
        assert.strictEqual(
          stored?.metadata.annotations?.[Labels.NodeClaimTerminationTimestampAnnotation],
          "1970-01-01T01:00:00Z"
        )

        // The provider reports the instance gone: the finalizer goes, and the NodeClaim with it.
        assert.deepStrictEqual(yield* finalization(terminating.claim), { _tag: "Deleted" })
        assert.strictEqual((yield* fake.deleteCalls).length, 2)
        assert.isUndefined(yield* S.findNodeClaim("claim"))
      })
    )
  )

  it.effect("a registered NodeClaim deletes its Node first, and its instance waits for the Node to be gone", () =>
    L.run(
      Effect.gen(function* () {
        const fake = yield* Fake.FakeCloudProvider
        yield* L.registeredClaim(S.nodeClaim("claim", withFinalizer), "node")
        const stopped = L.expectTag(yield* Finalization.make(yield* L.deps)(yield* deleteClaim("claim")), "Stop")
        assert.deepStrictEqual(stopped.result, Result.done, "the Node's removal, a watched change, brings it back")
        const [node] = yield* S.listNodes
        assert.isDefined(node?.metadata.deletionTimestamp, "node termination drains it")
        assert.strictEqual((yield* fake.deleteCalls).length, 0)
        assert.isDefined(yield* S.findNodeClaim("claim"))
      })
    )
  )

  it.effect("a NodeClaim without the finalizer has nothing to finalize", () =>
    L.run(
      Effect.gen(function* () {
        const fake = yield* Fake.FakeCloudProvider
        assert.deepStrictEqual(yield* Finalization.make(yield* L.deps)(deleting({})), { _tag: "Deleted" })
        assert.strictEqual((yield* fake.deleteCalls).length, 0)
      })
    )
  )
})
