import { assert, describe, it } from "@effect/vitest"
import * as Labels from "../../../src/api/Labels.ts"
import * as Catalog from "../../../src/cloudprovider/Catalog.ts"
import type * as InstanceType from "../../../src/cloudprovider/InstanceType.ts"
import * as Planner from "../../../src/controllers/disruption/Planner.ts"
import * as Requirement from "../../../src/scheduling/Requirement.ts"
import * as Requirements from "../../../src/scheduling/Requirements.ts"

/** A 4-cpu type sold as spot at `price` (and on-demand at twice that). */
const spotType = (name: string, price: number): InstanceType.InstanceType =>
  Catalog.toInstanceType({
    name,
    architecture: "amd64",
    operatingSystems: ["linux"],
    cpu: "4",
    memory: "16Gi",
    pods: 110,
    overhead: { cpu: "0", memory: "0" },
    offerings: [
      { zone: "test-zone-a", capacityType: Labels.CapacityTypeSpot, price, available: true },
      { zone: "test-zone-a", capacityType: Labels.CapacityTypeOnDemand, price: price * 2, available: true }
    ]
  })

const spot = Requirements.make(Requirement.make(Labels.CapacityType, "In", [Labels.CapacityTypeSpot]))

/** `count` spot types priced 0.01, 0.02, … (named so that name order is not price order). */
const catalogue = (count: number) =>
  Array.from({ length: count }, (_, i) => spotType(`type-${String(count - i).padStart(2, "0")}`, (i + 1) / 100))

describe("disruption: spot-to-spot option rule", () => {
  it("single node: at least 15 strictly cheaper spot types, and only the 15 cheapest are kept", () => {
    const twenty = catalogue(20)
    // The candidate costs $0.175: 17 types are cheaper.
    const chosen = Planner.spotToSpotOptions(twenty, spot, 0.175, "single")
    assert.isTrue("options" in chosen)
    if ("options" in chosen) {
      assert.strictEqual(chosen.options.length, Planner.minSpotToSpotOptions)
      assert.deepStrictEqual(
        chosen.options.map((it) => it.offerings.find((o) => o.capacityType === Labels.CapacityTypeSpot)?.price),
        Array.from({ length: 15 }, (_, i) => (i + 1) / 100)
      )
    }
  })

  it("single node: fewer than 15 cheaper spot types is not enough", () => {
    const chosen = Planner.spotToSpotOptions(catalogue(20), spot, 0.145, "single")
    assert.deepStrictEqual(chosen, {
      why: "spot-to-spot consolidation needs at least 15 cheaper instance types, found 14"
    })
  })

  it("multi node: every strictly cheaper spot type, however few", () => {
    const chosen = Planner.spotToSpotOptions(catalogue(20), spot, 0.035, "multi")
    assert.isTrue("options" in chosen)
    if ("options" in chosen) assert.strictEqual(chosen.options.length, 3)
  })

  it("an equal price is not cheaper", () => {
    assert.deepStrictEqual(Planner.spotToSpotOptions(catalogue(3), spot, 0.01, "multi"), {
      why: "can't replace with a cheaper node"
    })
  })
})
