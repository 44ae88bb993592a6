import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Labels from "../../../../src/api/Labels.ts"
import * as Catalog from "../../../../src/cloudprovider/Catalog.ts"
import * as InstanceType from "../../../../src/cloudprovider/InstanceType.ts"
import * as InstanceTypeFilter from "../../../../src/controllers/provisioning/scheduling/InstanceTypeFilter.ts"
import * as Requirement from "../../../../src/scheduling/Requirement.ts"
import * as Requirements from "../../../../src/scheduling/Requirements.ts"
import { readDataJson } from "../../../fixtures.ts"

const names = (instanceTypes: ReadonlyArray<InstanceType.InstanceType>) => instanceTypes.map((it) => it.name)

describe("InstanceTypeFilter", () => {
  it.effect("keeps a NodeClaim's cheapest options exactly as orderByPrice orders them", () =>
    Effect.gen(function* () {
      const aws = yield* Catalog.fromAwsJson(readDataJson("aws-instance-types.json"))
      const wellKnown = Catalog.awsWellKnownLabels
      const zone = Requirement.values(Requirements.get(aws[0]!.offerings[0]!.requirements, Labels.Zone))[0]!
      // Every other type, so options are a proper subset of the catalogue.
      const subset = aws.filter((_, index) => index % 2 === 0)
      for (const requirements of [
        Requirements.empty,
        Requirements.make(Requirement.make(Labels.Zone, "In", [zone])),
        Requirements.make(Requirement.make(Labels.CapacityType, "In", [Labels.CapacityTypeOnDemand])),
        // No offering anywhere: every price is +∞ and names decide.
        Requirements.make(Requirement.make(Labels.Zone, "In", ["nowhere"]))
      ]) {
        for (const options of [aws, subset]) {
          const ordered = names(InstanceType.orderByPrice(options, requirements, wellKnown))
          for (const count of [0, 1, 60, aws.length + 1]) {
            assert.deepStrictEqual(
              names(
                InstanceTypeFilter.cheapest(InstanceTypeFilter.optionsOf(aws, options), requirements, wellKnown, count)
              ),
              ordered.slice(0, count)
            )
          }
        }
      }
    })
  )
})
