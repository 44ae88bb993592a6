import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect, Layer } from "effect"
import * as Interruption from "../../../../../layers/cloudprovider/aws/controllers/Interruption.ts"
import * as FakeAws from "../../../../../layers/cloudprovider/aws/fake/FakeAws.ts"
import * as UnavailableOfferings from "../../../../../layers/cloudprovider/aws/UnavailableOfferings.ts"
import * as Fake from "../../../../../layers/cloudprovider/fake/FakeCloudProvider.ts"
import * as MemoryKube from "../../../../../layers/kube/memory/MemoryKubeClient.ts"
import * as Labels from "../../../../../src/api/Labels.ts"
import type { NodeClaim } from "../../../../../src/api/NodeClaim.ts"
import * as Taints from "../../../../../src/api/Taints.ts"
import * as CloudProvider from "../../../../../src/cloudprovider/CloudProvider.ts"
import { KubeClient } from "../../../../../src/kube/KubeClient.ts"
import * as Resources from "../../../../../src/kube/Resources.ts"
import { deployment, podSpec } from "../../../../cluster/support.ts"
import * as S from "../../../../controllers/support.ts"
import * as Messages from "./InterruptionMessages.ts"

const withProviderID = (claim: NodeClaim, providerID: string): NodeClaim => ({
  ...claim,
  status: { ...claim.status, providerID }
})

/**
 * The fake provider seen as EC2: its instances get `aws:///<zone>/<instance-id>` providerIDs, and each launch's Node
 * joins the cluster at once (the instance's kubelet registering; the control plane's kubelet makes it Ready).
 */
const ec2LikeProvider: Layer.Layer<CloudProvider.CloudProvider, never, KubeClient> = Layer.effect(
  CloudProvider.CloudProvider,
  Effect.gen(function* () {
    const inner = yield* CloudProvider.CloudProvider
    const kube = yield* KubeClient
    const fakeIDs = new Map<string, string>()
    const ec2IDs = new Map<string, string>()
    let launches = 0
    const toFake = (providerID: string) => fakeIDs.get(providerID) ?? providerID
    const toEc2 = (claim: NodeClaim) => {
      const fakeID = claim.status?.providerID ?? ""
      return withProviderID(claim, ec2IDs.get(fakeID) ?? fakeID)
    }
    return CloudProvider.CloudProvider.of({
      ...inner,
      create: (nodeClaim) =>
        Effect.gen(function* () {
          const launched = yield* inner.create(nodeClaim)
          launches += 1
          const labels = launched.metadata.labels ?? {}
          const providerID = `aws:///${labels[Labels.Zone]}/i-${launches.toString(16).padStart(17, "0")}`
          fakeIDs.set(providerID, launched.status?.providerID ?? "")
          ec2IDs.set(launched.status?.providerID ?? "", providerID)
          const nodeName = `ip-10-0-0-${launches}`
          yield* kube
            .create(Resources.Nodes, {
              ...S.node(nodeName, { providerID, labels, capacity: { ...launched.status?.allocatable } }),
              // Registering Nodes carry the taint Karpenter removes once it has synced them.
              spec: { providerID, taints: [Taints.UnregisteredNoExecute] }
            } as never)
            .pipe(Effect.orDie)
          return withProviderID(launched, providerID)
        }),
      delete: (nodeClaim) => inner.delete(withProviderID(nodeClaim, toFake(nodeClaim.status?.providerID ?? ""))),
      get: (providerID) => Effect.map(inner.get(toFake(providerID)), toEc2),
      list: () => Effect.map(inner.list(), (claims) => claims.map(toEc2))
    })
  })
).pipe(Layer.provide(Fake.layer))

const base = Layer.mergeAll(ec2LikeProvider, FakeAws.layer({ instanceTypes: [] }), UnavailableOfferings.layer).pipe(
  Layer.provideMerge(MemoryKube.layer())
)

/** Karpenter with the interruption controller, and the embedded control plane. */
const cluster = Layer.mergeAll(
  Layer.effectDiscard(Interruption.make({ queueName: "karpenter-interruption" })).pipe(
    Layer.provideMerge(S.karpenter())
  ),
  S.controlPlane
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
      yield* S.createNodePool(
        S.nodePool("default", {
          requirements: [{ key: Labels.CapacityType, operator: "In", values: [Labels.CapacityTypeSpot] }]
        })
      )
      yield* Layer.build(cluster)
      yield* S.settle
      yield* kube.create(Resources.Deployments, deployment("web", 1, podSpec("1")) as never, { namespace: "default" })
      yield* S.advance(10_000, 250)

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
    }).pipe(Effect.provide(base))
  )
})
