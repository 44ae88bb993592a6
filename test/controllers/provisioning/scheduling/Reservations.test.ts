import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as KWOKNodeClass from "../../../../src/api/KWOKNodeClass.ts"
import * as Labels from "../../../../src/api/Labels.ts"
import * as Catalog from "../../../../src/cloudprovider/Catalog.ts"
import * as Scheduler from "../../../../src/controllers/provisioning/scheduling/Scheduler.ts"
import * as Requirement from "../../../../src/scheduling/Requirement.ts"
import * as Requirements from "../../../../src/scheduling/Requirements.ts"
import { input, nodePool, pod } from "./fixtures.ts"

/** One 4-cpu type sold as spot and on-demand in zone a, with a reservation of `capacity` instances there. */
const reservedCatalogue = (capacity: number) => [
  Catalog.toInstanceType({
    name: "m-4x-amd64-linux",
    architecture: "amd64",
    operatingSystems: ["linux"],
    cpu: "4",
    memory: "16Gi",
    offerings: [
      { zone: "test-zone-a", capacityType: Labels.CapacityTypeSpot, price: 0.1, available: true },
      { zone: "test-zone-a", capacityType: Labels.CapacityTypeOnDemand, price: 0.2, available: true },
      {
        zone: "test-zone-a",
        capacityType: Labels.CapacityTypeReserved,
        price: 0.15,
        available: true,
        reservationID: "r-1",
        reservationCapacity: capacity
      }
    ]
  })
]

const valuesOf = (claim: Scheduler.NewNodeClaim, key: string) =>
  Requirement.values(Requirements.get(claim.requirements, key))

// Each pod takes a whole 4-cpu node.
const bigPods = (count: number) => Array.from({ length: count }, (_, i) => pod(`p${i}`, { cpu: "3" }))

describe("Scheduler with reserved capacity", () => {
  it.effect("launches into a reservation before cheaper spot, pinned to the reserved capacity type and its id", () =>
    Effect.gen(function* () {
      const results = yield* Scheduler.solve(
        input({ nodePools: [nodePool("default")], pods: bigPods(1), instanceTypes: reservedCatalogue(2) })
      )
      assert.strictEqual(results.newNodeClaims.length, 1)
      const [claim] = results.newNodeClaims
      assert.deepStrictEqual(valuesOf(claim!, Labels.CapacityType), [Labels.CapacityTypeReserved])
      assert.deepStrictEqual(valuesOf(claim!, KWOKNodeClass.ReservationIDLabel), ["r-1"])
    })
  )

  it.effect("counts a reservation down within a pass: provisioning defers the pods it cannot hold", () =>
    Effect.gen(function* () {
      const results = yield* Scheduler.solve({
        ...input({ nodePools: [nodePool("default")], pods: bigPods(3), instanceTypes: reservedCatalogue(2) }),
        reservedOfferingMode: "Strict"
      })
      assert.deepStrictEqual(
        results.newNodeClaims.map((claim) => valuesOf(claim, Labels.CapacityType)),
        [[Labels.CapacityTypeReserved], [Labels.CapacityTypeReserved]]
      )
      assert.deepStrictEqual([...results.deferred], ["default/p2"])
      assert.match(
        results.errors.get("default/p2") ?? "",
        /compatible with nodepool "default" but failed to add pod while adhering to reservation fallback policy, one or more instance types with compatible reserved offerings are available, but could not be reserved/
      )
    })
  )

  it.effect("falls back to on-demand and spot once the reservation is used up when not strict (disruption)", () =>
    Effect.gen(function* () {
      const results = yield* Scheduler.solve(
        input({ nodePools: [nodePool("default")], pods: bigPods(3), instanceTypes: reservedCatalogue(2) })
      )
      assert.deepStrictEqual(
        results.newNodeClaims.map((claim) => valuesOf(claim, Labels.CapacityType)),
        [[Labels.CapacityTypeReserved], [Labels.CapacityTypeReserved], []]
      )
      assert.strictEqual(results.deferred.size, 0)
      assert.strictEqual(results.errors.size, 0)
    })
  )

  it.effect("does not fall back to a lighter NodePool while the heavier one has reservations the pod could use", () =>
    Effect.gen(function* () {
      const results = yield* Scheduler.solve({
        ...input({
          nodePools: [nodePool("reserved", { weight: 10 }), nodePool("fallback")],
          pods: bigPods(2),
          instanceTypes: reservedCatalogue(1)
        }),
        reservedOfferingMode: "Strict"
      })
      assert.deepStrictEqual(
        results.newNodeClaims.map((claim) => claim.nodePool.metadata.name),
        ["reserved"]
      )
      assert.deepStrictEqual([...results.deferred], ["default/p1"])
    })
  )

  it.effect("a pod whose requirements rule the reservation out narrows a NodeClaim off it only when not strict", () =>
    Effect.gen(function* () {
      const spotOnly = pod("spot", {
        cpu: "100m",
        spec: { nodeSelector: { [Labels.CapacityType]: Labels.CapacityTypeSpot } }
      })
      const pods = [pod("first", { cpu: "1" }), spotOnly]
      const base = input({ nodePools: [nodePool("default")], pods, instanceTypes: reservedCatalogue(5) })
      const strict = yield* Scheduler.solve({ ...base, reservedOfferingMode: "Strict" })
      // Strict: the spot pod does not join the reserved NodeClaim; it gets its own spot one.
      assert.deepStrictEqual(
        strict.newNodeClaims.map((claim) => [
          claim.pods.map((p) => p.metadata.name),
          valuesOf(claim, Labels.CapacityType)
        ]),
        [
          [["first"], [Labels.CapacityTypeReserved]],
          [["spot"], [Labels.CapacityTypeSpot]]
        ]
      )
      const fallback = yield* Scheduler.solve(base)
      assert.deepStrictEqual(
        fallback.newNodeClaims.map((claim) => [
          claim.pods.map((p) => p.metadata.name),
          valuesOf(claim, Labels.CapacityType)
        ]),
        [[["first", "spot"], [Labels.CapacityTypeSpot]]]
      )
    })
  )
})
