import { assert, describe, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Interruption from "../../../../../layers/cloudprovider/aws/controllers/Interruption.ts"
import * as FakeAws from "../../../../../layers/cloudprovider/aws/fake/FakeAws.ts"
import * as FakeKubelet from "../../../../../layers/cloudprovider/aws/fake/FakeKubelet.ts"
import * as UnavailableOfferings from "../../../../../layers/cloudprovider/aws/UnavailableOfferings.ts"
import * as Labels from "../../../../../src/api/Labels.ts"
import { KubeClient } from "../../../../../src/kube/KubeClient.ts"
import * as Resources from "../../../../../src/kube/Resources.ts"
import { deployment, podSpec } from "../../../../cluster/support.ts"
import * as S from "../../../../controllers/support.ts"
import { nodeClassRef, setUp, TestLayer } from "../support.ts"
import * as Messages from "./InterruptionMessages.ts"

/** Karpenter with the interruption controller, and the embedded control plane. */
const cluster = Layer.mergeAll(
  Layer.effectDiscard(Interruption.make({ queueName: "karpenter-interruption" })).pipe(
    Layer.provideMerge(S.karpenter())
  ),
  S.controlPlane,
  FakeKubelet.layer()
)

const readyNodes = Effect.map(S.listNodes, (nodes) =>
  nodes.filter(
    (node) =>
      node.metadata.deletionTimestamp === undefined &&
      (node.status?.conditions ?? []).some((condition) => condition.type === "Ready" && condition.status === "True")
  )
)

describe("interruption on the embedded cluster", S.controllerSuite, () => {
  it.effect("a spot interruption warning drains and replaces the node within its two minutes", () =>
    Effect.gen(function* () {
      const kube = yield* KubeClient
      yield* setUp(
        undefined,
        S.nodePool("default", {
          nodeClassRef,
          requirements: [{ key: Labels.CapacityType, operator: "In", values: [Labels.CapacityTypeSpot] }]
        })
      )
      yield* Layer.build(cluster)
      yield* S.settle
      yield* kube.create(Resources.Deployments, deployment("web", 1, podSpec("1")) as never, { namespace: "default" })
      // The instance boots and its kubelet registers the Node.
      yield* S.advance(Duration.toMillis(FakeKubelet.defaultBootTime) + 10_000, 250)

      const [interrupted] = yield* S.listNodeClaims
      const instanceId = interrupted?.status?.providerID?.split("/").at(-1) ?? ""
      assert.match(instanceId, /^i-/)
      const [oldNode] = yield* readyNodes
      assert.strictEqual(oldNode?.spec.providerID, interrupted?.status?.providerID)
      const [running] = yield* S.listPods
      assert.strictEqual(running?.spec.nodeName, oldNode?.metadata.name)
      assert.strictEqual(running?.status?.phase, "Running")

      // The two-minute warning arrives now.
      const warnedAt = yield* Clock.currentTimeMillis
      yield* (yield* FakeAws.FakeAws).sendMessage(Messages.spotInterruption(instanceId, warnedAt))
      yield* S.advance(120_000, 1_000)

      const claims = yield* S.listNodeClaims
      assert.notInclude(
        claims.map((claim) => claim.metadata.name),
        interrupted?.metadata.name,
        "the interrupted NodeClaim is gone"
      )
      assert.lengthOf(claims, 1, "one replacement")
      const [replacement] = yield* readyNodes
      assert.isDefined(replacement, "the replacement Node is Ready")
      assert.notStrictEqual(replacement?.metadata.name, oldNode?.metadata.name)
      assert.strictEqual(replacement?.spec.providerID, claims[0]?.status?.providerID)
      const pods = yield* S.listPods
      assert.deepStrictEqual(
        pods.map((pod) => [pod.spec.nodeName, pod.status?.phase]),
        [[replacement?.metadata.name, "Running"]],
        "the workload runs on the replacement"
      )
      const offerings = yield* UnavailableOfferings.UnavailableOfferings
      assert.isTrue(
        yield* offerings.isUnavailable(
          Labels.CapacityTypeSpot,
          interrupted?.metadata.labels?.[Labels.InstanceType] ?? "",
          interrupted?.metadata.labels?.[Labels.Zone] ?? ""
        ),
        "the interrupted spot offering is marked unavailable"
      )
    }).pipe(Effect.provide(TestLayer))
  )
})
