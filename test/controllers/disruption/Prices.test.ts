import { assert, describe, it } from "@effect/vitest"
import * as Labels from "../../../src/api/Labels.ts"
import type * as Candidates from "../../../src/controllers/disruption/Candidates.ts"
import * as Planner from "../../../src/controllers/disruption/Planner.ts"
import * as D from "./support.ts"

// large: $0.30 on-demand, $0.12 spot; medium: $0.20 on-demand only.
const large = D.instanceType("large", 8, 0.3, { spotPrice: 0.12 })
const medium = D.instanceType("medium", 4, 0.2)

/** A candidate as the price rules see it: its instance type and its Node's labels. */
const candidate = (name: string, type: typeof large, capacityType: string, zone = D.Zone): Candidates.Candidate =>
  ({
    name,
    instanceType: type,
    zone,
    capacityType,
    stateNode: {
      node: {
        metadata: {
          name,
          labels: {
            [Labels.Hostname]: name,
            [Labels.InstanceType]: type.name,
            [Labels.Zone]: zone,
            [Labels.CapacityType]: capacityType
          }
        }
      }
    }
  }) as never

describe("disruption: what candidates cost", () => {
  it("each candidate at its own offering: on-demand nodes at the on-demand price, though the type sells as spot", () => {
    const candidates = [
      candidate("a", large, Labels.CapacityTypeOnDemand),
      candidate("b", large, Labels.CapacityTypeSpot),
      candidate("c", medium, Labels.CapacityTypeOnDemand)
    ]
    assert.strictEqual(Planner.priceOf(candidates[0]!), 0.3)
    assert.strictEqual(Planner.candidatesPrice(candidates), 0.3 + 0.12 + 0.2)
  })

  it("a candidate whose offering is gone makes the set free: nothing replaces it cheaper", () => {
    const gone = candidate("gone", large, Labels.CapacityTypeOnDemand, "elsewhere")
    assert.isUndefined(Planner.priceOf(gone))
    assert.strictEqual(Planner.candidatesPrice([candidate("a", large, Labels.CapacityTypeOnDemand), gone]), 0)
  })

  it("multi-node same-type ceiling: the cheapest own price among candidates whose type is an option", () => {
    const onDemandLarge = [
      candidate("a", large, Labels.CapacityTypeOnDemand),
      candidate("b", large, Labels.CapacityTypeOnDemand),
      candidate("c", medium, Labels.CapacityTypeOnDemand)
    ]
    // Three on-demand large nodes' ceiling is the on-demand price: a spot large ($0.12) stays an option.
    assert.strictEqual(Planner.sameTypeCeiling(onDemandLarge, [large]), 0.3)
    assert.strictEqual(Planner.sameTypeCeiling(onDemandLarge, [large, medium]), 0.2)
    // A spot large candidate lowers it to what that node costs.
    assert.strictEqual(
      Planner.sameTypeCeiling([...onDemandLarge, candidate("d", large, Labels.CapacityTypeSpot)], [large]),
      0.12
    )
    // No option is a candidate's type, or the candidate's offering is gone: no ceiling.
    assert.strictEqual(Planner.sameTypeCeiling(onDemandLarge.slice(0, 2), [medium]), Number.POSITIVE_INFINITY)
    assert.strictEqual(
      Planner.sameTypeCeiling([candidate("gone", large, Labels.CapacityTypeOnDemand, "elsewhere")], [large]),
      Number.POSITIVE_INFINITY
    )
  })
})
