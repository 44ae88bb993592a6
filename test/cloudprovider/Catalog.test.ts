import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as KWOKNodeClass from "../../src/api/KWOKNodeClass.ts"
import * as Labels from "../../src/api/Labels.ts"
import * as Catalog from "../../src/cloudprovider/Catalog.ts"
import * as InstanceType from "../../src/cloudprovider/InstanceType.ts"
import * as Requirement from "../../src/scheduling/Requirement.ts"
import * as Requirements from "../../src/scheduling/Requirements.ts"
import { readDataJson } from "../fixtures.ts"

const gi = 1024 ** 3 * 1000
const mi = 1024 ** 2 * 1000

describe("Catalog", () => {
  it("the built-in KWOK catalogue is upstream's, identical to data/kwok-instance-types.json", () => {
    const fromFile = Schema.decodeUnknownSync(Catalog.Catalog)(readDataJson("kwok-instance-types.json"))
    assert.deepStrictEqual(Catalog.kwokEntries(), fromFile)
  })

  it.effect("loads the KWOK file of data/ into the same instance types as the built-in one", () =>
    Effect.gen(function* () {
      const loaded = yield* Catalog.fromJson(readDataJson("kwok-instance-types.json"))
      assert.strictEqual(loaded.length, 144)
      assert.deepStrictEqual(
        loaded.map((it) => [it.name, it.allocatable]),
        Catalog.kwok().map((it) => [it.name, it.allocatable])
      )
    })
  )

  it("builds KWOK instance types as upstream's loader: labels, capacity, overhead, offerings", () => {
    const it2 = Catalog.kwok().find((it) => it.name === "c-2x-amd64-linux")!
    assert.deepStrictEqual(it2.capacity, { cpu: 2000, memory: 4 * gi, pods: 32_000, "ephemeral-storage": 20 * gi })
    assert.deepStrictEqual(it2.allocatable, {
      cpu: 1900,
      memory: 4 * gi - 10 * mi,
      pods: 32_000,
      "ephemeral-storage": 20 * gi
    })
    const single = (key: string) => Requirement.values(Requirements.get(it2.requirements, key))
    assert.deepStrictEqual(single(Labels.InstanceType), ["c-2x-amd64-linux"])
    assert.deepStrictEqual(single(Labels.Arch), ["amd64"])
    assert.deepStrictEqual(single(Labels.OS), ["linux"])
    assert.deepStrictEqual(single(Labels.Zone), ["test-zone-a", "test-zone-b", "test-zone-c", "test-zone-d"])
    assert.deepStrictEqual(single(Labels.CapacityType), ["on-demand", "spot"])
    assert.deepStrictEqual(single("karpenter.kwok.sh/instance-family"), ["c"])
    assert.deepStrictEqual(single("karpenter.kwok.sh/instance-size"), ["2"])
    assert.deepStrictEqual(single("karpenter.kwok.sh/instance-cpu"), ["2"])
    assert.deepStrictEqual(single("karpenter.kwok.sh/instance-memory"), ["4Gi"])
    assert.strictEqual(it2.offerings.length, 8)
  })

  it.effect("applies a catalogue entry's extras: overhead, labels, extended resources, default pods", () =>
    Effect.gen(function* () {
      const [gpu] = yield* Catalog.fromJson([
        {
          name: "gpu.xlarge",
          architecture: "amd64",
          operatingSystems: ["linux"],
          cpu: 4,
          memory: "16Gi",
          labels: { "example.com/accelerator": "a10" },
          resources: { "nvidia.com/gpu": "1" },
          overhead: { cpu: "200m", memory: "1Gi" },
          offerings: [{ zone: "z1", capacityType: "on-demand", price: 1.2, available: true }]
        }
      ])
      assert.deepStrictEqual(gpu!.allocatable, { cpu: 3800, memory: 15 * gi, pods: 110_000, "nvidia.com/gpu": 1000 })
      assert.deepStrictEqual(Requirement.values(Requirements.get(gpu!.requirements, "example.com/accelerator")), [
        "a10"
      ])
      assert.deepStrictEqual(
        Requirement.values(Requirements.get(gpu!.requirements, "karpenter.kwok.sh/instance-size")),
        ["xlarge"]
      )
      assert.deepStrictEqual(
        Requirement.values(Requirements.get(gpu!.requirements, "karpenter.kwok.sh/instance-family")),
        ["gpu"]
      )
    })
  )

  it.effect("rejects a malformed catalogue with one line naming the entry and field", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        Catalog.fromJson([
          { name: "x", architecture: "amd64", operatingSystems: [], cpu: "lots", memory: "1Gi", offerings: [] }
        ])
      )
      assert.strictEqual(
        error.message,
        "invalid instance-type catalogue: [0].cpu: must be a Kubernetes quantity such as 100m, 2, 1.5Gi"
      )
    })
  )

  it.effect("a reserved offering names its reservation and capacity; others may not", () =>
    Effect.gen(function* () {
      const entry = (offering: Record<string, unknown>) => ({
        name: "x",
        architecture: "amd64",
        operatingSystems: ["linux"],
        cpu: "4",
        memory: "8Gi",
        offerings: [{ zone: "a", price: 0.1, available: true, ...offering }]
      })
      const message =
        "a reserved offering needs reservationID and reservationCapacity, and only a reserved offering has them"
      for (const offering of [
        { capacityType: "reserved" },
        { capacityType: "reserved", reservationID: "r-1" },
        { capacityType: "on-demand", reservationID: "r-1", reservationCapacity: 1 }
      ]) {
        const error = yield* Effect.flip(Catalog.fromJson([entry(offering)]))
        assert.include(error.message, message)
      }
      const [used, open] = yield* Catalog.fromJson([
        entry({ capacityType: "reserved", reservationID: "r-0", reservationCapacity: 0 }),
        entry({ capacityType: "reserved", reservationID: "r-1", reservationCapacity: 2 })
      ])
      // A used-up reservation cannot be launched into; an open one carries its id as a requirement.
      assert.isFalse(used!.offerings[0]!.available)
      assert.strictEqual(open!.offerings[0]!.reservationCapacity, 2)
      assert.strictEqual(InstanceType.reservationIDOf(open!.offerings[0]!, KWOKNodeClass.ReservationIDLabel), "r-1")
    })
  )

  it.effect("loads the AWS dataset with its allocatable figures", () =>
    Effect.gen(function* () {
      const types = yield* Catalog.fromAwsJson(readDataJson("aws-instance-types.json"))
      assert.strictEqual(types.length, 1363)
      const c6i = types.find((it) => it.name === "c6i.8xlarge")!
      assert.strictEqual(c6i.allocatable.cpu, 31_850)
      assert.strictEqual(c6i.allocatable.memory, 57_691 * mi)
      assert.strictEqual(c6i.allocatable.pods, 234_000)
      assert.strictEqual(c6i.capacity.cpu, 32_000)
      assert.strictEqual(c6i.offerings.length, 6)
      const unpriced = types.filter((it) => it.offerings.length === 0)
      assert.strictEqual(unpriced.length, 18)
    })
  )
})

describe("InstanceType", () => {
  const types = Catalog.kwok()
  const linuxAmd = Requirements.make(
    Requirement.make(Labels.OS, "In", ["linux"]),
    Requirement.make(Labels.Arch, "In", ["amd64"])
  )

  it("orders by cheapest compatible offering, ties by name", () => {
    const ordered = InstanceType.orderByPrice(types, linuxAmd)
      .slice(0, 3)
      .map((it) => it.name)
    assert.deepStrictEqual(ordered, ["c-1x-amd64-linux", "c-1x-amd64-windows", "c-1x-arm64-linux"])
  })

  it("picks the cheapest offering: spot before on-demand, then zone", () => {
    const it1 = types.find((it) => it.name === "c-1x-amd64-linux")!
    const cheapest = InstanceType.cheapestOffering(it1, Requirements.empty)!
    assert.strictEqual(cheapest.capacityType, "spot")
    assert.strictEqual(cheapest.zone, "test-zone-a")
    const onDemandInC = InstanceType.cheapestOffering(
      it1,
      Requirements.make(
        Requirement.make(Labels.CapacityType, "In", ["on-demand"]),
        Requirement.make(Labels.Zone, "In", ["test-zone-c", "test-zone-d"])
      )
    )!
    assert.strictEqual(onDemandInC.capacityType, "on-demand")
    assert.strictEqual(onDemandInC.zone, "test-zone-c")
    assert.isUndefined(
      InstanceType.cheapestOffering(it1, Requirements.make(Requirement.make(Labels.Zone, "In", ["elsewhere"])))
    )
  })

  it("prices the worst launch as upstream: the dearest offering of the first capacity type present", () => {
    const it1 = types.find((it) => it.name === "c-1x-amd64-linux")!
    const spot = InstanceType.worstLaunchPrice(it1.offerings, Requirements.empty)
    const onDemand = InstanceType.worstLaunchPrice(
      it1.offerings,
      Requirements.make(Requirement.make(Labels.CapacityType, "In", ["on-demand"]))
    )
    assert.strictEqual(spot, 0.0190032386)
    assert.strictEqual(onDemand, 0.0271474836)
    assert.strictEqual(
      InstanceType.worstLaunchPrice(it1.offerings, Requirements.make(Requirement.make(Labels.Zone, "In", ["x"]))),
      Number.POSITIVE_INFINITY
    )
  })

  it("prices a running node at its own offering, available or not (upstream getCandidatePrices)", () => {
    const reservation = "example.com/reservation-id"
    const dual = InstanceType.make({
      name: "dual",
      requirements: Requirements.empty,
      capacity: {},
      offerings: [
        InstanceType.offering({ zone: "a", capacityType: Labels.CapacityTypeSpot, price: 0.12 }),
        InstanceType.offering({ zone: "a", capacityType: Labels.CapacityTypeOnDemand, price: 0.3, available: false }),
        ...[
          ["r-dear", 0.05],
          ["r-cheap", 0.01]
        ].map(([id, price]) =>
          InstanceType.offering({
            zone: "a",
            capacityType: Labels.CapacityTypeReserved,
            price: price as number,
            extra: [Requirement.make(reservation, "In", [id as string])]
          })
        )
      ]
    })
    const node = (capacityType: string, extra: Record<string, string> = {}) => ({
      [Labels.Hostname]: "n1",
      [Labels.Zone]: "a",
      [Labels.CapacityType]: capacityType,
      ...extra
    })
    // An on-demand node costs the on-demand price though the type sells cheaper as spot, and though that offering is
    // no longer available.
    assert.strictEqual(InstanceType.nodePrice(dual, node(Labels.CapacityTypeOnDemand)), 0.3)
    assert.strictEqual(InstanceType.nodePrice(dual, node(Labels.CapacityTypeSpot)), 0.12)
    // A reserved node costs its own reservation's price.
    const wellKnown = new Set([...Labels.WellKnownLabels, reservation])
    assert.strictEqual(
      InstanceType.nodePrice(dual, node(Labels.CapacityTypeReserved, { [reservation]: "r-dear" }), wellKnown),
      0.05
    )
    // Gone from the catalogue: no price.
    assert.isUndefined(InstanceType.nodePrice(dual, { ...node(Labels.CapacityTypeSpot), [Labels.Zone]: "b" }))
    // The same node labels priced against another type: that type's price, not the one kept for the first.
    const labels = node(Labels.CapacityTypeOnDemand)
    assert.strictEqual(InstanceType.nodePrice(dual, labels), 0.3)
    const dearer = {
      ...dual,
      offerings: dual.offerings.map((offering) => ({ ...offering, price: offering.price * 2 }))
    }
    assert.strictEqual(InstanceType.nodePrice(dearer, labels), 0.6)
    assert.strictEqual(InstanceType.nodePrice(dual, labels), 0.3)
  })
})
