/**
 * Regression: the fake provider's `create` checks instance types the way upstream's does,
 * `reqs.Compatible(it.Requirements, AllowUndefinedWellKnownLabels)`: the NodeClaim's requirements are the receiver,
 * so keys only the NodeClaim constrains (its NodeClass label, template labels) need not be defined by the type, while
 * a custom key the type constrains must be defined (compatibly) by the NodeClaim. It used to check the other way
 * round, so every provisioned NodeClaim (which carries the NodeClass label requirement) got InsufficientCapacity.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fake from "../../../../layers/cloudprovider/fake/FakeCloudProvider.ts"
import * as FakeInstanceTypes from "../../../../layers/cloudprovider/fake/InstanceTypes.ts"
import * as Labels from "../../../../src/api/Labels.ts"
import type { NodeClaim } from "../../../../src/api/NodeClaim.ts"
import * as CloudProvider from "../../../../src/cloudprovider/CloudProvider.ts"
import * as InstanceType from "../../../../src/cloudprovider/InstanceType.ts"
import * as Requirement from "../../../../src/scheduling/Requirement.ts"
import * as Requirements from "../../../../src/scheduling/Requirements.ts"

const nodeClassLabel = `${FakeInstanceTypes.NodeClassGroup}/${FakeInstanceTypes.NodeClassKind.toLowerCase()}`

const nodeClaim = (
  name: string,
  requirements: ReadonlyArray<{ key: string; operator: string; values?: ReadonlyArray<string> }>
): NodeClaim =>
  ({
    apiVersion: "karpenter.sh/v1",
    kind: "NodeClaim",
    metadata: { name, labels: { [Labels.NodePool]: "default" } },
    spec: {
      requirements: requirements as NodeClaim["spec"]["requirements"],
      nodeClassRef: { group: FakeInstanceTypes.NodeClassGroup, kind: FakeInstanceTypes.NodeClassKind, name: "default" },
      expireAfter: "720h"
    }
  }) as NodeClaim

const run = <A, E>(effect: Effect.Effect<A, E, CloudProvider.CloudProvider | Fake.FakeCloudProvider>) =>
  effect.pipe(Effect.provide(Fake.layer))

describe("FakeCloudProvider compatibility (upstream reqs.Compatible(it.Requirements, AllowUndefinedWellKnownLabels))", () => {
  it.effect("launches a provisioned NodeClaim: NodePool, NodeClass and template-label requirements", () =>
    run(
      Effect.gen(function* () {
        const cloud = yield* CloudProvider.CloudProvider
        const created = yield* cloud.create(
          nodeClaim("provisioned", [
            { key: Labels.NodePool, operator: "In", values: ["default"] },
            { key: nodeClassLabel, operator: "In", values: ["default"] },
            { key: "team", operator: "In", values: ["blue"] },
            { key: Labels.InstanceType, operator: "In", values: ["default-instance-type", "small-instance-type"] },
            // Well-known, and defined by no fake type: may be undefined on the instance type.
            { key: Labels.Region, operator: "In", values: ["test-region"] }
          ])
        )
        // The default catalogue defines neither the NodeClass label nor `team`: keys only the NodeClaim constrains.
        assert.strictEqual(created.metadata.labels?.[Labels.InstanceType], "small-instance-type")
        assert.match(created.status?.providerID ?? "", /^fake:\/\//)
        // A key both sides define must still intersect.
        const error = yield* Effect.flip(
          cloud.create(
            nodeClaim("arch", [
              { key: nodeClassLabel, operator: "In", values: ["default"] },
              { key: Labels.Arch, operator: "In", values: ["s390x"] }
            ])
          )
        )
        assert.strictEqual(error._tag, "InsufficientCapacity")
      })
    )
  )

  it.effect("a custom key the instance type constrains must be defined compatibly by the NodeClaim", () =>
    run(
      Effect.gen(function* () {
        const cloud = yield* CloudProvider.CloudProvider
        const fake = yield* Fake.FakeCloudProvider
        const base = FakeInstanceTypes.make({ name: "team-a-type" })
        yield* fake.setInstanceTypes([
          InstanceType.make({
            ...base,
            requirements: Requirements.make(...base.requirements.values(), Requirement.make("team", "In", ["a"]))
          })
        ])
        // Undefined on the NodeClaim and not well-known: "label team does not have known values".
        const undefinedKey = yield* Effect.flip(cloud.create(nodeClaim("none", [])))
        assert.strictEqual(undefinedKey._tag, "InsufficientCapacity")
        // Defined, but no common value.
        const conflicting = yield* Effect.flip(
          cloud.create(nodeClaim("b", [{ key: "team", operator: "In", values: ["b"] }]))
        )
        assert.strictEqual(conflicting._tag, "InsufficientCapacity")
        // Defined compatibly.
        const matching = yield* cloud.create(nodeClaim("a", [{ key: "team", operator: "In", values: ["a", "b"] }]))
        assert.strictEqual(matching.metadata.labels?.[Labels.InstanceType], "team-a-type")
        assert.strictEqual((yield* fake.instances).size, 1)
      })
    )
  )
})
