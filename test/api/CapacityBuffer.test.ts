import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as CapacityBuffer from "../../src/api/CapacityBuffer.ts"
import * as Decode from "../../src/api/Decode.ts"

const decode = Decode.decoder("CapacityBuffer", CapacityBuffer.CapacityBuffer)

const buffer = (spec: Record<string, unknown>) => ({
  apiVersion: "autoscaling.x-k8s.io/v1beta1",
  kind: "CapacityBuffer",
  metadata: { name: "headroom", namespace: "default" },
  spec
})

const rejection = (spec: Record<string, unknown>) =>
  decode(buffer(spec)).pipe(
    Effect.flip,
    Effect.map((error) => String(error.message))
  )

describe("CapacityBuffer decoding (upstream v1.14.0's CRD validation)", () => {
  it.effect("defaults the provisioning strategy to active capacity", () =>
    Effect.gen(function* () {
      const decoded = yield* decode(buffer({ podTemplateRef: { name: "web" }, replicas: 2 }))
      assert.strictEqual(decoded.spec.provisioningStrategy, "buffer.x-k8s.io/active-capacity")
      assert.strictEqual(decoded.spec.replicas, 2)
    })
  )

  it.effect("accepts a scalableRef with a percentage and limits", () =>
    Effect.gen(function* () {
      const decoded = yield* decode(
        buffer({ scalableRef: { kind: "Deployment", name: "web" }, percentage: 20, limits: { cpu: "4" } })
      )
      assert.deepStrictEqual(decoded.spec.limits, { cpu: "4" })
    })
  )

  it.effect("rejects a podTemplateRef without replicas or limits", () =>
    Effect.gen(function* () {
      assert.include(
        yield* rejection({ podTemplateRef: { name: "web" } }),
        "If podTemplateRef is set, replicas or limits must also be set"
      )
    })
  )

  it.effect("rejects both references", () =>
    Effect.gen(function* () {
      assert.include(
        yield* rejection({
          podTemplateRef: { name: "web" },
          scalableRef: { kind: "Deployment", name: "web" },
          replicas: 1
        }),
        "You must define either PodTemplateRef or ScalableRef, but not both"
      )
    })
  )

  it.effect("rejects negative replicas and percentage, empty names and malformed limits", () =>
    Effect.gen(function* () {
      for (const spec of [
        { scalableRef: { kind: "Deployment", name: "web" }, replicas: -1 },
        { scalableRef: { kind: "Deployment", name: "web" }, percentage: -5 },
        { scalableRef: { kind: "", name: "web" } },
        { podTemplateRef: { name: "" }, replicas: 1 },
        { podTemplateRef: { name: "web" }, limits: { cpu: "lots" } }
      ]) {
        const error = yield* decode(buffer(spec)).pipe(Effect.flip, Effect.option)
        assert.isTrue(error._tag === "Some", JSON.stringify(spec))
      }
    })
  )
})
