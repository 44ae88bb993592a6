import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Fake from "../../../layers/cloudprovider/fake/FakeCloudProvider.ts"
import * as Labels from "../../../src/api/Labels.ts"
import type { NodeClaim } from "../../../src/api/NodeClaim.ts"
import type * as Scheduler from "../../../src/controllers/provisioning/scheduling/Scheduler.ts"
import * as S from "../support.ts"

/** A NodePool asking for more instance types than the fake catalogue has (it has six). */
const tooFlexible = S.nodePool("default", {
  requirements: [{ key: Labels.InstanceType, operator: "Exists", minValues: 10 }]
})

/** The fake provider with `nodePool` and the provisioner under `policy` (none: the default). */
const cluster = (nodePool: ReturnType<typeof S.nodePool>, policy?: Scheduler.MinValuesPolicy) =>
  Effect.gen(function* () {
    const fake = yield* Fake.FakeCloudProvider
    yield* fake.setInstanceTypes(S.fakeCatalogue())
    yield* S.createNodePool(nodePool)
    yield* Layer.build(S.karpenter(policy === undefined ? undefined : { minValuesPolicy: policy }))
    yield* S.settle
    yield* S.createPendingPod(S.pod("a", { cpu: "1", memory: "1Gi" }))
    yield* S.settle
    yield* S.advance(1_000, 250)
    return yield* S.listNodeClaims
  })

const instanceTypeRequirement = (claim: NodeClaim) =>
  claim.spec.requirements.find((requirement) => requirement.key === Labels.InstanceType)

describe("MinValuesPolicy (MIN_VALUES_POLICY)", S.controllerSuite, () => {
  for (const policy of [undefined, "Strict"] as const) {
    it.effect(`${policy ?? "no policy (Strict)"}: a NodePool whose minValues cannot be met launches nothing`, () =>
      Effect.gen(function* () {
        assert.deepStrictEqual(yield* cluster(tooFlexible, policy), [])
      }).pipe(Effect.provide(S.fakeBase))
    )
  }

  it.effect("Strict: a NodeClaim whose minValues are met records that nothing was relaxed", () =>
    Effect.gen(function* () {
      const met = S.nodePool("default", {
        requirements: [{ key: Labels.InstanceType, operator: "Exists", minValues: 2 }]
      })
      const [claim, ...others] = yield* cluster(met)
      assert.strictEqual(others.length, 0)
      assert.strictEqual(claim?.metadata.annotations?.[Labels.NodeClaimMinValuesRelaxedAnnotation], "false")
      assert.strictEqual(instanceTypeRequirement(claim!)?.minValues, 2)
    }).pipe(Effect.provide(S.fakeBase))
  )

  it.effect("BestEffort: the NodeClaim launches with minValues lowered to the instance types it got", () =>
    Effect.gen(function* () {
      const [claim, ...others] = yield* cluster(tooFlexible, "BestEffort")
      assert.strictEqual(others.length, 0)
      assert.isDefined(claim)
      const requirement = instanceTypeRequirement(claim!)
      const offered = requirement?.values?.length ?? 0
      assert.isAbove(offered, 1)
      assert.isBelow(offered, 10)
      // What it got: as many instance types as the pod fits on, recorded as the requirement's minValues.
      assert.strictEqual(requirement?.minValues, offered)
      assert.strictEqual(claim?.metadata.annotations?.[Labels.NodeClaimMinValuesRelaxedAnnotation], "true")
      assert.isTrue(
        claim?.status?.conditions?.some((condition) => condition.type === "Launched" && condition.status === "True")
      )
    }).pipe(Effect.provide(S.fakeBase))
  )
})
