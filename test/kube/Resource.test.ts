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

describe("Resource.decodeStoredUnsafe", () => {
  it("a validated object is not decoded again: validation's value is the one handed out", () => {
    const { count, resource } = counting()
    const stored = widget("3")
    assert.deepStrictEqual(resource.validate(stored), [])
    assert.strictEqual(count.decodes, 1)
    const first = resource.decodeStoredUnsafe(stored)
    assert.strictEqual(first.spec.size, 3)
    assert.strictEqual(resource.decodeStoredUnsafe(stored), first)
    assert.strictEqual(count.decodes, 1)
  })

  it.effect("an object never validated is decoded once; `decode` always decodes", () =>
    Effect.gen(function* () {
      const { count, resource } = counting()
      const stored = widget("4")
      const first = resource.decodeStoredUnsafe(stored)
      assert.strictEqual(resource.decodeStoredUnsafe(stored), first)
      assert.strictEqual(count.decodes, 1)
      const fresh = yield* resource.decode(stored)
      assert.notStrictEqual(fresh, first)
      assert.deepStrictEqual(fresh, first)
      assert.strictEqual(count.decodes, 2)
    })
  )

  it("an invalid object keeps failing, with its problems", () => {
    const { resource } = counting()
    const stored = widget(5)
    assert.deepStrictEqual(
      resource.validate(stored).map((problem) => problem.field),
      ["spec.size"]
    )
    assert.throws(() => resource.decodeStoredUnsafe(stored), /invalid Widget "w": .*spec\.size/)
    assert.throws(() => resource.decodeStoredUnsafe(stored), /spec\.size/)
  })
})
