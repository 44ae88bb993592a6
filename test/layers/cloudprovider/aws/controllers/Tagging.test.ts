import type * as Ec2Sdk from "@aws-sdk/client-ec2"
import { assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as AwsCloudProvider from "../../../../../layers/cloudprovider/aws/AwsCloudProvider.ts"
import * as Tagging from "../../../../../layers/cloudprovider/aws/controllers/Tagging.ts"
import * as FakeAws from "../../../../../layers/cloudprovider/aws/fake/FakeAws.ts"
import * as FakeKubelet from "../../../../../layers/cloudprovider/aws/fake/FakeKubelet.ts"
import * as S from "../../../../controllers/support.ts"
import { operations, setUp, TestLayer } from "../support.ts"

/** The tags of the instance behind `providerID`. */
const tagsOf = (providerID: string) =>
  Effect.gen(function* () {
    const fake = yield* FakeAws.FakeAws
    const reservations = yield* fake.ec2.describeInstances({
      InstanceIds: [AwsCloudProvider.instanceIdOf(providerID) ?? ""]
    })
    const tags = reservations.flatMap((reservation) => reservation.Instances ?? []).flatMap((i) => i.Tags ?? [])
    return Object.fromEntries(tags.map((tag: Ec2Sdk.Tag) => [tag.Key ?? "", tag.Value ?? ""]))
  })

/** A pending pod provisioned on the AWS provider: the NodeClaim launched, its instance still booting (not a Node). */
const launched = Effect.gen(function* () {
  yield* setUp()
  yield* S.createPendingPod(S.pod("a", { cpu: "1", memory: "2Gi" }))
  yield* Layer.build(Layer.mergeAll(S.karpenter(), S.controlPlane, FakeKubelet.layer()))
  yield* Tagging.make({ clusterName: "test-cluster" })
  yield* S.advance(2_000, 250)
  const [claim] = yield* S.listNodeClaims
  return { name: claim?.metadata.name ?? "", providerID: claim?.status?.providerID ?? "" }
})

const annotationsOf = (name: string) =>
  Effect.map(S.findNodeClaim(name), (claim) => ({
    tagged: claim?.metadata.annotations?.[Tagging.TaggedAnnotation],
    clusterNameTagged: claim?.metadata.annotations?.[Tagging.ClusterNameTaggedAnnotation]
  }))

describe("nodeclaim.tagging (AWS)", S.controllerSuite, () => {
  it.effect(
    "once its Node registers, the instance is tagged with Name, its NodeClaim and cluster, then annotated",
    () =>
      Effect.gen(function* () {
        const { name, providerID } = yield* launched
        // Before registration the node name is unknown: nothing is tagged.
        assert.notProperty(yield* tagsOf(providerID), Tagging.NameTag)
        assert.notProperty(yield* tagsOf(providerID), Tagging.NodeClaimTag)
        assert.deepStrictEqual(yield* annotationsOf(name), { tagged: undefined, clusterNameTagged: undefined })

        yield* S.advance(Duration.toMillis(FakeKubelet.defaultBootTime), 1_000)
        const [node] = yield* S.listNodes
        assert.deepInclude(yield* tagsOf(providerID), {
          [Tagging.NameTag]: node?.metadata.name ?? "",
          [Tagging.NodeClaimTag]: name,
          "eks:eks-cluster-name": "test-cluster"
        })
        assert.deepStrictEqual(yield* annotationsOf(name), { tagged: "true", clusterNameTagged: "true" })
        // The launch already tagged the cluster name: only the missing keys were sent, once.
        const calls = yield* operations("CreateTags")
        assert.deepStrictEqual(
          calls.map((call) => (call.input as Ec2Sdk.CreateTagsCommandInput).Tags?.map((tag) => tag.Key)),
          [[Tagging.NameTag, Tagging.NodeClaimTag]]
        )
        yield* S.advance(60_000, 10_000)
        assert.strictEqual((yield* operations("CreateTags")).length, 1, "an annotated NodeClaim is not tagged again")
      }).pipe(Effect.provide(TestLayer))
  )

  it.effect("a Name the instance already has is kept", () =>
    Effect.gen(function* () {
      const { name, providerID } = yield* launched
      const fake = yield* FakeAws.FakeAws
      yield* fake.ec2.createTags({
        Resources: [AwsCloudProvider.instanceIdOf(providerID) ?? ""],
        Tags: [{ Key: Tagging.NameTag, Value: "my-own-name" }]
      })
      yield* S.advance(Duration.toMillis(FakeKubelet.defaultBootTime), 1_000)
      assert.deepInclude(yield* tagsOf(providerID), { [Tagging.NameTag]: "my-own-name", [Tagging.NodeClaimTag]: name })
      assert.deepStrictEqual(yield* annotationsOf(name), { tagged: "true", clusterNameTagged: "true" })
    }).pipe(Effect.provide(TestLayer))
  )
})
