import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fake from "../../../../layers/cloudprovider/fake/FakeCloudProvider.ts"
import * as FakeInstanceTypes from "../../../../layers/cloudprovider/fake/InstanceTypes.ts"
import * as Labels from "../../../../src/api/Labels.ts"
import type { NodeClaim } from "../../../../src/api/NodeClaim.ts"
import type { NodePool } from "../../../../src/api/NodePool.ts"
import * as CloudProvider from "../../../../src/cloudprovider/CloudProvider.ts"
import * as InstanceType from "../../../../src/cloudprovider/InstanceType.ts"
import * as Requirement from "../../../../src/scheduling/Requirement.ts"

const nodeClaim = (options: {
  readonly name?: string
  readonly nodePool?: string
  readonly requirements?: ReadonlyArray<{ key: string; operator: string; values?: ReadonlyArray<string> }>
  readonly requests?: Readonly<Record<string, string>>
}): NodeClaim =>
  ({
    apiVersion: "karpenter.sh/v1",
    kind: "NodeClaim",
    metadata: { name: options.name ?? "nc", labels: { [Labels.NodePool]: options.nodePool ?? "default" } },
    spec: {
      requirements: (options.requirements ?? []) as NodeClaim["spec"]["requirements"],
      nodeClassRef: { group: "karpenter.test.sh", kind: "TestNodeClass", name: "default" },
      expireAfter: "720h",
      ...(options.requests === undefined ? {} : { resources: { requests: options.requests } })
    }
  }) as NodeClaim

const nodePool = (name: string): NodePool => ({ metadata: { name } }) as NodePool

const run = <A, E>(effect: Effect.Effect<A, E, CloudProvider.CloudProvider | Fake.FakeCloudProvider>) =>
  effect.pipe(Effect.provide(Fake.layer))

describe("FakeCloudProvider", () => {
  it.effect("launches the cheapest compatible type that fits, labelled with its offering", () =>
    run(
      Effect.gen(function* () {
        const cloud = yield* CloudProvider.CloudProvider
        const small = yield* cloud.create(
          nodeClaim({
            requirements: [
              { key: Labels.InstanceType, operator: "In", values: ["default-instance-type", "small-instance-type"] }
            ]
          })
        )
        assert.strictEqual(small.metadata.labels?.[Labels.InstanceType], "small-instance-type")
        // Spot and on-demand cost the same in the fake catalogue: spot wins the tie, then the first zone.
        assert.strictEqual(small.metadata.labels?.[Labels.CapacityType], "spot")
        assert.strictEqual(small.metadata.labels?.[Labels.Zone], "test-zone-1")
        assert.strictEqual(small.metadata.labels?.[Labels.NodePool], "default")
        assert.strictEqual(small.metadata.labels?.[FakeInstanceTypes.SizeLabel], "small")
        assert.strictEqual(small.status?.allocatable?.cpu, "1900m")
        assert.match(small.status?.providerID ?? "", /^fake:\/\//)

        const fitting = yield* cloud.create(nodeClaim({ requests: { cpu: "3", memory: "1Gi" } }))
        assert.strictEqual(fitting.metadata.labels?.[Labels.InstanceType], "default-instance-type")
      })
    )
  )

  it.effect("honours capacity-type and zone requirements, and reports insufficient capacity", () =>
    run(
      Effect.gen(function* () {
        const cloud = yield* CloudProvider.CloudProvider
        const onDemand = yield* cloud.create(
          nodeClaim({
            requirements: [
              { key: Labels.CapacityType, operator: "In", values: ["on-demand"] },
              { key: Labels.Zone, operator: "In", values: ["test-zone-3"] }
            ]
          })
        )
        assert.strictEqual(onDemand.metadata.labels?.[Labels.CapacityType], "on-demand")
        assert.strictEqual(onDemand.metadata.labels?.[Labels.Zone], "test-zone-3")
        const error = yield* Effect.flip(
          cloud.create(
            nodeClaim({
              requirements: [
                { key: Labels.CapacityType, operator: "In", values: ["spot"] },
                { key: Labels.Zone, operator: "In", values: ["test-zone-3"] }
              ]
            })
          )
        )
        assert.strictEqual(error._tag, "InsufficientCapacity")
      })
    )
  )

  it.effect("fails the next create once, and stops after the allowed number of creates", () =>
    run(
      Effect.gen(function* () {
        const cloud = yield* CloudProvider.CloudProvider
        const fake = yield* Fake.FakeCloudProvider
        yield* fake.failNextCreate(
          new CloudProvider.CreateError({ conditionReason: "Quota", conditionMessage: "no quota" })
        )
        const first = yield* Effect.flip(cloud.create(nodeClaim({})))
        assert.strictEqual(first._tag, "CreateError")
        assert.strictEqual(first.message, "creating nodeclaim, no quota")
        yield* cloud.create(nodeClaim({}))
        yield* fake.setAllowedCreateCalls(2)
        const third = yield* Effect.flip(cloud.create(nodeClaim({})))
        assert.strictEqual(third._tag, "CloudProviderError")
        assert.strictEqual((yield* fake.createCalls).length, 3)
      })
    )
  )

  it.effect("gets, lists and deletes instances; delete reports NotFound once gone", () =>
    run(
      Effect.gen(function* () {
        const cloud = yield* CloudProvider.CloudProvider
        const fake = yield* Fake.FakeCloudProvider
        const a = yield* cloud.create(nodeClaim({ name: "a" }))
        const b = yield* cloud.create(nodeClaim({ name: "b" }))
        assert.notStrictEqual(a.status?.providerID, b.status?.providerID)
        assert.strictEqual((yield* cloud.get(a.status!.providerID!)).metadata.name, "a")
        assert.strictEqual((yield* cloud.list()).length, 2)
        yield* cloud.delete(a)
        assert.strictEqual((yield* Effect.flip(cloud.delete(a)))._tag, "NodeClaimNotFound")
        assert.strictEqual((yield* Effect.flip(cloud.get(a.status!.providerID!)))._tag, "NodeClaimNotFound")
        assert.deepStrictEqual([...(yield* fake.instances).keys()], [b.status!.providerID!])
        yield* fake.failNextGet(new CloudProvider.CloudProviderError({ method: "get", message: "throttled" }))
        assert.strictEqual((yield* Effect.flip(cloud.get(b.status!.providerID!)))._tag, "CloudProviderError")
        assert.strictEqual((yield* cloud.get(b.status!.providerID!)).metadata.name, "b")
      })
    )
  )

  it.effect("serves instance types and errors per NodePool", () =>
    run(
      Effect.gen(function* () {
        const cloud = yield* CloudProvider.CloudProvider
        const fake = yield* Fake.FakeCloudProvider
        assert.strictEqual((yield* cloud.getInstanceTypes(nodePool("any"))).length, 6)
        yield* fake.setInstanceTypesForNodePool("gpu", [FakeInstanceTypes.defaults()[2]!])
        assert.deepStrictEqual(
          (yield* cloud.getInstanceTypes(nodePool("gpu"))).map((it) => it.name),
          ["gpu-vendor-instance-type"]
        )
        const gpu = yield* cloud.create(nodeClaim({ nodePool: "gpu" }))
        assert.strictEqual(gpu.metadata.labels?.[Labels.InstanceType], "gpu-vendor-instance-type")
        yield* fake.setErrorForNodePool("gpu", new CloudProvider.CloudProviderError({ method: "x", message: "down" }))
        assert.strictEqual((yield* Effect.flip(cloud.getInstanceTypes(nodePool("gpu"))))._tag, "CloudProviderError")
        yield* fake.setErrorForNodePool("gpu", undefined)
        yield* cloud.getInstanceTypes(nodePool("gpu"))
      })
    )
  )

  it.effect("answers drift as scripted and resets to the initial state", () =>
    run(
      Effect.gen(function* () {
        const cloud = yield* CloudProvider.CloudProvider
        const fake = yield* Fake.FakeCloudProvider
        assert.isUndefined(yield* cloud.isDrifted(nodeClaim({})))
        yield* fake.setDrifted("CloudProviderDrifted")
        assert.strictEqual(yield* cloud.isDrifted(nodeClaim({})), "CloudProviderDrifted")
        yield* cloud.create(nodeClaim({}))
        yield* fake.reset
        assert.isUndefined(yield* cloud.isDrifted(nodeClaim({})))
        assert.strictEqual((yield* cloud.list()).length, 0)
        assert.strictEqual((yield* fake.createCalls).length, 0)
      })
    )
  )

  it.effect("prefers a reserved offering while its reservation has capacity", () =>
    run(
      Effect.gen(function* () {
        const cloud = yield* CloudProvider.CloudProvider
        const fake = yield* Fake.FakeCloudProvider
        const reservedType = FakeInstanceTypes.make({
          name: "reserved-type",
          offerings: [
            InstanceType.offering({ zone: "test-zone-1", capacityType: "on-demand", price: 0.5 }),
            InstanceType.offering({
              zone: "test-zone-2",
              capacityType: "reserved",
              price: 0.9,
              reservationCapacity: 1,
              extra: [Requirement.make(FakeInstanceTypes.ReservationIDLabel, "In", ["r-1"])]
            })
          ]
        })
        yield* fake.setInstanceTypes([reservedType])
        const first = yield* cloud.create(nodeClaim({ name: "first" }))
        assert.strictEqual(first.metadata.labels?.[Labels.CapacityType], "reserved")
        const second = yield* cloud.create(nodeClaim({ name: "second" }))
        assert.strictEqual(second.metadata.labels?.[Labels.CapacityType], "on-demand")
      })
    )
  )

  it("builds upstream's fake instance types", () => {
    const [defaultType, small, gpuA, , arm, singlePod] = FakeInstanceTypes.defaults()
    assert.strictEqual(defaultType!.offerings.length, 5)
    assert.closeTo(defaultType!.offerings[0]!.price, 0.4 + (0.1 * 4 * 1024 ** 3) / 1e9, 1e-12)
    assert.closeTo(gpuA!.offerings[0]!.price, 0.4 + (0.1 * 4 * 1024 ** 3) / 1e9 + 2, 1e-12)
    assert.strictEqual(small!.capacity.cpu, 2000)
    assert.deepStrictEqual(Requirement.values(arm!.requirements.get(FakeInstanceTypes.SizeLabel)!), ["large"])
    assert.deepStrictEqual(Requirement.values(arm!.requirements.get(FakeInstanceTypes.ExoticLabel)!), ["optional"])
    assert.strictEqual(Requirement.operator(small!.requirements.get(FakeInstanceTypes.ExoticLabel)!), "DoesNotExist")
    assert.strictEqual(singlePod!.allocatable.pods, 1000)
    const sized = FakeInstanceTypes.sized(3)
    assert.deepStrictEqual(
      sized.map((it) => [it.name, it.capacity.cpu, it.capacity.pods]),
      [
        ["fake-it-0", 1000, 10_000],
        ["fake-it-1", 2000, 20_000],
        ["fake-it-2", 3000, 30_000]
      ]
    )
  })
})
