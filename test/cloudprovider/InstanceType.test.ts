import { assert, describe, it } from "@effect/vitest"
import * as Labels from "../../src/api/Labels.ts"
import * as InstanceType from "../../src/cloudprovider/InstanceType.ts"
import * as Requirements from "../../src/scheduling/Requirements.ts"

const instanceType = (name: string, capacityTypes: ReadonlyArray<string>, cpu = 2000) =>
  InstanceType.make({
    name,
    requirements: Requirements.fromLabels({ [Labels.InstanceType]: name }),
    offerings: capacityTypes.map((capacityType) =>
      InstanceType.offering({ zone: "zone-a", capacityType, price: 1, reservationCapacity: 1 })
    ),
    capacity: { cpu, memory: 4 * 1024 ** 3 * 1000, pods: 110_000 }
  })

describe("InstanceType.named", () => {
  it("finds a type by name, the first of two that share it, and nothing for an unknown or missing name", () => {
    const first = instanceType("m.large", ["on-demand"])
    const catalogue = [instanceType("c.large", ["spot"]), first, instanceType("m.large", ["spot"], 4000)]
    assert.strictEqual(InstanceType.named(catalogue, "m.large"), first)
    assert.strictEqual(InstanceType.named(catalogue, "c.large"), catalogue[0])
    assert.isUndefined(InstanceType.named(catalogue, "x.large"))
    assert.isUndefined(InstanceType.named(catalogue, undefined))
  })
})

describe("InstanceType.withoutReservedOfferings", () => {
  it("drops reserved offerings, keeps types without any, and gives one result per catalogue array", () => {
    const plain = instanceType("c.large", ["spot", "on-demand"])
    const catalogue = [plain, instanceType("m.large", ["reserved", "on-demand"])]
    const offered = InstanceType.withoutReservedOfferings(catalogue)
    assert.strictEqual(offered[0], plain)
    assert.deepStrictEqual(
      offered[1]!.offerings.map((offering) => offering.capacityType),
      ["on-demand"]
    )
    // The same array every pass, so what later steps cache per array or per type stays valid.
    assert.strictEqual(InstanceType.withoutReservedOfferings(catalogue), offered)
    assert.notStrictEqual(InstanceType.withoutReservedOfferings([...catalogue]), offered)
  })
})
