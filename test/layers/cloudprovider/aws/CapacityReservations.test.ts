/**
 * EC2 capacity reservations under the ReservedCapacity gate, on FakeAws through the provisioner: a NodeClass selecting
 * a reservation launches pending pods into it (reserved NodeClaims, a CreateFleet whose launch template targets it)
 * until it is used up, then on demand; without the gate the reservation is never offered.
 */
import type * as Ec2Sdk from "@aws-sdk/client-ec2"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as FakeAws from "../../../../layers/cloudprovider/aws/fake/FakeAws.ts"
import * as Labels from "../../../../src/api/Labels.ts"
import { AwsLabels } from "../../../../src/cloudprovider/aws/Ec2InstanceTypes.ts"
import * as S from "../../../controllers/support.ts"
import { layerWith, nodeClassRef, operations, settings, setUp } from "./support.ts"

/** A NodePool that may use reserved capacity, on m5.large only, so that the reservation is its cheapest choice. */
const pool = S.nodePool("default", {
  nodeClassRef,
  requirements: [
    { key: Labels.CapacityType, operator: "In", values: ["reserved", "on-demand"] },
    { key: Labels.InstanceType, operator: "In", values: ["m5.large"] }
  ]
})

const withReservation = (gate: boolean) =>
  Effect.gen(function* () {
    const fake = yield* FakeAws.FakeAws
    const id = yield* fake.createCapacityReservation({
      instanceType: "m5.large",
      availabilityZone: "us-west-2b",
      count: 1
    })
    yield* setUp({ capacityReservationSelectorTerms: [{ id }] }, pool, { ...settings, reservedCapacity: gate })
    yield* Layer.build(Layer.mergeAll(S.karpenter({ reservedCapacity: gate }), S.controlPlane))
    return id
  })

const launchTemplateTargets = Effect.gen(function* () {
  const created = yield* operations("CreateLaunchTemplate")
  return created.map(
    (call) =>
      (call.input as Ec2Sdk.CreateLaunchTemplateCommandInput).LaunchTemplateData?.CapacityReservationSpecification
  )
})

const reservationLeft = (id: string) =>
  Effect.flatMap(FakeAws.FakeAws, (fake) =>
    Effect.map(
      Effect.orDie(fake.ec2.describeCapacityReservations({ CapacityReservationIds: [id] })),
      ([reservation]) => reservation?.AvailableInstanceCount
    )
  )

describe("capacity reservations (ReservedCapacity gate)", () => {
  it.effect("a pending pod launches into the reservation; once it is used up the next launches on demand", () =>
    Effect.gen(function* () {
      const id = yield* withReservation(true)
      yield* S.createPendingPod(S.pod("a", { cpu: "1" }))
      yield* S.advance(2_000, 250)
      const [reserved] = yield* S.listNodeClaims
      assert.deepInclude(reserved?.metadata.labels ?? {}, {
        [Labels.CapacityType]: "reserved",
        [AwsLabels.capacityReservationId]: id,
        [Labels.Zone]: "us-west-2b"
      })
      assert.deepStrictEqual(yield* launchTemplateTargets, [
        {
          CapacityReservationPreference: "capacity-reservations-only",
          CapacityReservationTarget: { CapacityReservationId: id }
        }
      ])
      const [fleet] = yield* operations("CreateFleet")
      const fleetInput = fleet?.input as Ec2Sdk.CreateFleetCommandInput
      assert.strictEqual(fleetInput.TargetCapacitySpecification?.DefaultTargetCapacityType, "on-demand")
      assert.deepStrictEqual(
        fleetInput.LaunchTemplateConfigs?.flatMap((config) =>
          (config.Overrides ?? []).map((override) => `${override.InstanceType}/${override.AvailabilityZone}`)
        ),
        ["m5.large/us-west-2b"]
      )
      assert.strictEqual(yield* reservationLeft(id), 0)

      // The reservation is full: a pod that does not fit the first node goes on demand.
      yield* S.createPendingPod(S.pod("b", { cpu: "1500m" }))
      yield* S.advance(2_000, 250)
      const claims = yield* S.listNodeClaims
      assert.lengthOf(claims, 2)
      const onDemand = claims.find((claim) => claim.metadata.name !== reserved?.metadata.name)
      assert.strictEqual(onDemand?.metadata.labels?.[Labels.CapacityType], "on-demand")
      assert.isUndefined(onDemand?.metadata.labels?.[AwsLabels.capacityReservationId])
      const [, second] = yield* operations("CreateFleet")
      const secondInput = second?.input as Ec2Sdk.CreateFleetCommandInput | undefined
      assert.strictEqual(secondInput?.LaunchTemplateConfigs?.length, 1, "one on-demand template")
    }).pipe(Effect.provide(layerWith({ reservedCapacity: true })))
  )

  it.effect("without the gate the reservation is not offered: the pod launches on demand", () =>
    Effect.gen(function* () {
      const id = yield* withReservation(false)
      yield* S.createPendingPod(S.pod("a", { cpu: "1" }))
      yield* S.advance(2_000, 250)
      const [claim] = yield* S.listNodeClaims
      assert.strictEqual(claim?.metadata.labels?.[Labels.CapacityType], "on-demand")
      assert.isUndefined(claim?.metadata.labels?.[AwsLabels.capacityReservationId])
      assert.deepStrictEqual(yield* launchTemplateTargets, [undefined])
      assert.strictEqual(yield* reservationLeft(id), 1)
    }).pipe(Effect.provide(layerWith()))
  )
})
