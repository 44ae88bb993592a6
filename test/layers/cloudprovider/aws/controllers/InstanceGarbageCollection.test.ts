import type * as Ec2Sdk from "@aws-sdk/client-ec2"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as AwsCloudProvider from "../../../../../layers/cloudprovider/aws/AwsCloudProvider.ts"
import * as InstanceGarbageCollection from "../../../../../layers/cloudprovider/aws/controllers/InstanceGarbageCollection.ts"
import { CloudProvider } from "../../../../../src/cloudprovider/CloudProvider.ts"
import * as GarbageCollection from "../../../../../src/controllers/nodeclaim/garbagecollection/GarbageCollection.ts"
import { KubeClient } from "../../../../../src/kube/KubeClient.ts"
import * as Resources from "../../../../../src/kube/Resources.ts"
import * as S from "../../../../controllers/support.ts"
import { m5Large, nodeClassRef, operations, setUp, TestLayer } from "../support.ts"

/** The instance ids TerminateInstances was asked for so far. */
const terminated = Effect.map(operations("TerminateInstances"), (calls) =>
  calls.flatMap((call) => (call.input as Ec2Sdk.TerminateInstancesCommandInput).InstanceIds ?? [])
)

const nodeNames = Effect.map(S.listNodes, (nodes) => nodes.map((node) => node.metadata.name))

describe("instance.garbagecollection (AWS)", S.controllerSuite, () => {
  it.effect("untracked instances are garbage-collected after 30 s, their Node with them; tracked ones stay", () =>
    Effect.gen(function* () {
      yield* setUp()
      const kube = yield* KubeClient
      const cloud = yield* CloudProvider
      // Launched, but the NodeClaim was never written: the instance leaked. Its kubelet registered a Node.
      const leaked = (yield* cloud.create(m5Large)).status?.providerID ?? ""
      yield* S.createNode(S.node("leaked", { providerID: leaked }))
      // Launched and written.
      const tracked = (yield* cloud.create(m5Large)).status?.providerID ?? ""
      yield* S.createNodeClaim(S.nodeClaim("tracked", { nodeClassRef }))
      yield* kube.patch(
        Resources.NodeClaims,
        "tracked",
        { type: "merge", patch: { status: { providerID: tracked } } },
        { subresource: "status" }
      )
      yield* S.createNode(S.node("tracked", { providerID: tracked }))

      // The controller (re)starts 15 s after the leak. The core's collection runs too, as in the operator: its first
      // pass, now, would take the instance at its own 10 s grace; it leaves AWS instances to the provider's controller.
      yield* S.advance(15_000, 1_000)
      yield* GarbageCollection.make
      yield* InstanceGarbageCollection.make()
      yield* S.advance(14_000, 1_000)
      assert.deepStrictEqual(yield* terminated, [], "at 29 s the untracked instance is still there")
      assert.deepStrictEqual(yield* nodeNames, ["leaked", "tracked"])

      // The next pass past 30 s (every 10 s at first) terminates it and deletes its Node.
      yield* S.advance(12_000, 1_000)
      assert.deepStrictEqual(yield* terminated, [AwsCloudProvider.instanceIdOf(leaked)])
      assert.deepStrictEqual(yield* nodeNames, ["tracked"])

      // Once it shuts down, later passes leave it be: terminated once.
      yield* S.advance(120_000, 10_000)
      assert.deepStrictEqual(yield* terminated, [AwsCloudProvider.instanceIdOf(leaked)])
    }).pipe(Effect.provide(TestLayer))
  )
})
