import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Scenario from "../../src/cluster/Scenario.ts"

const scenario = (spec: Record<string, unknown>) => ({
  apiVersion: "karpenter-effect.dev/v1alpha1",
  kind: "Scenario",
  metadata: { name: "s" },
  spec
})

describe("Scenario", () => {
  it.effect("decodes steps of each kind", () =>
    Effect.gen(function* () {
      const decoded = yield* Scenario.decode(
        scenario({
          duration: "2h",
          start: "2026-03-01T00:00:00Z",
          steps: [
            { at: "10m", scale: { kind: "Deployment", namespace: "default", name: "web", replicas: 2 } },
            { at: "1h30m", delete: [{ kind: "Deployment", name: "web" }] },
            { at: "20m", apply: [{ apiVersion: "v1", kind: "Namespace", metadata: { name: "x" } }] },
            { at: "50m", patch: { kind: "NodePool", name: "default", merge: { spec: { weight: 2 } } } }
          ]
        })
      )
      assert.strictEqual(Scenario.millis(decoded.spec.duration), 7_200_000)
      assert.strictEqual(Scenario.millis(decoded.spec.steps![1]!.at), 5_400_000)
    })
  )

  it.effect("decodes feature gates and status patches (a step making a Node unhealthy)", () =>
    Effect.gen(function* () {
      const decoded = yield* Scenario.decode(
        scenario({
          duration: "1h",
          featureGates: { NodeRepair: true },
          steps: [
            {
              at: "10m",
              patch: {
                kind: "Node",
                name: "n",
                subresource: "status",
                merge: { status: { conditions: [{ type: "Ready", status: "False" }] } }
              }
            }
          ]
        })
      )
      assert.deepStrictEqual(decoded.spec.featureGates, { NodeRepair: true })
      assert.strictEqual(decoded.spec.steps?.[0]?.patch?.subresource, "status")
    })
  )

  const invalid: ReadonlyArray<readonly [string, Record<string, unknown>, string]> = [
    [
      "a step with two actions",
      { duration: "1h", steps: [{ at: "1m", delete: [], scale: { kind: "Deployment", name: "w", replicas: 1 } }] },
      "exactly one of apply, delete, scale, patch (found delete, scale)"
    ],
    [
      "a step without an action",
      { duration: "1h", steps: [{ at: "1m" }] },
      "exactly one of apply, delete, scale, patch (found none)"
    ],
    ["a bad duration", { duration: "two hours" }, "spec.duration: must be a duration"],
    [
      "a bad step time",
      { duration: "1h", steps: [{ at: "soon", delete: [] }] },
      "spec.steps[0].at: must be a duration"
    ],
    ["a bad start", { duration: "1h", start: "yesterday" }, "spec.start: must be an RFC 3339 time"],
    // Unknown gates are refused by `simulate` as the flag's are (test/operator/Cli.test.ts), not by the decoder.
    ["a feature gate that is not a bool", { duration: "1h", featureGates: { NodeRepair: "yes" } }, "spec.featureGates"],
    [
      "a patch of another subresource",
      {
        duration: "1h",
        steps: [{ at: "1m", patch: { kind: "Node", name: "n", subresource: "scale", merge: {} } }]
      },
      "spec.steps[0].patch.subresource"
    ],
    [
      "negative replicas",
      { duration: "1h", steps: [{ at: "1m", scale: { kind: "Deployment", name: "w", replicas: -1 } }] },
      "spec.steps[0].scale.replicas"
    ]
  ]
  for (const [what, spec, message] of invalid) {
    it.effect(`rejects ${what} in one line`, () =>
      Effect.gen(function* () {
        const error = yield* Effect.flip(Scenario.decode(scenario(spec)))
        assert.include(error.message, message)
        assert.notInclude(error.message, "\n")
      })
    )
  }
})
