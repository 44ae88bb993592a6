import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as SchemaGetter from "effect/SchemaGetter"
import { ObjectMeta } from "../../src/api/Meta.ts"
import * as Resource from "../../src/kube/Resource.ts"

// A kind whose decoding counts itself: `spec.size` decodes from its wire string to a number.
const counting = () => {
  const count = { decodes: 0 }
  const resource = Resource.make({
    group: "example.dev",
    version: "v1",
    kind: "Widget",
    plural: "widgets",
    namespaced: false,
    schema: Schema.Struct({
      metadata: ObjectMeta,
      spec: Schema.Struct({
        size: Schema.String.pipe(
          Schema.decodeTo(Schema.Finite, {
            decode: SchemaGetter.transform((value: string) => {
              count.decodes++
              return Number(value)
            }),
            encode: SchemaGetter.transform((value: number) => String(value))
          })
        )
      })
    })
  })
  return { count, resource }
}

const widget = (size: unknown) => ({ metadata: { name: "w" }, spec: { size } })

describe("Resource.decodeStored", () => {
  it.effect("a validated object is not decoded again: validation's value is the one handed out", () =>
    Effect.gen(function* () {
      const { count, resource } = counting()
      const stored = widget("3")
      assert.deepStrictEqual(resource.validate(stored), [])
      assert.strictEqual(count.decodes, 1)
      const first = yield* resource.decodeStored(stored)
      assert.strictEqual(first.spec.size, 3)
      assert.strictEqual(yield* resource.decodeStored(stored), first)
      assert.strictEqual(count.decodes, 1)
    })
  )

  it.effect("an object never validated is decoded once; `decode` always decodes", () =>
    Effect.gen(function* () {
      const { count, resource } = counting()
      const stored = widget("4")
      const first = yield* resource.decodeStored(stored)
      assert.strictEqual(yield* resource.decodeStored(stored), first)
      assert.strictEqual(count.decodes, 1)
      const fresh = yield* resource.decode(stored)
      assert.notStrictEqual(fresh, first)
      assert.deepStrictEqual(fresh, first)
      assert.strictEqual(count.decodes, 2)
    })
  )

  it.effect("an invalid object keeps failing, with its problems", () =>
    Effect.gen(function* () {
      const { resource } = counting()
      const stored = widget(5)
      assert.deepStrictEqual(
        resource.validate(stored).map((problem) => problem.field),
        ["spec.size"]
      )
      const error = yield* Effect.flip(resource.decodeStored(stored))
      assert.include(error.message, "spec.size")
      assert.include((yield* Effect.flip(resource.decodeStored(stored))).message, "spec.size")
    })
  )
})
