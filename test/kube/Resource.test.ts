import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as SchemaGetter from "effect/SchemaGetter"
import { ObjectMeta } from "../../src/api/Meta.ts"
import * as Resource from "../../src/kube/Resource.ts"

// A kind whose decoding counts itself: `spec.size` decodes from its wire string to a number. Its status is optional.
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
      }),
      status: Schema.optionalKey(Schema.Struct({ phase: Schema.Literals(["Pending", "Running"]) }))
    })
  })
  return { count, resource }
}

// A kind whose metadata decoding counts itself (through its name).
const countingMetadata = () => {
  const count = { decodes: 0 }
  const name = Schema.String.pipe(
    Schema.decodeTo(Schema.String, {
      decode: SchemaGetter.transform((value: string) => {
        count.decodes++
        return value
      }),
      encode: SchemaGetter.transform((value: string) => value)
    })
  )
  const resource = Resource.make({
    group: "example.dev",
    version: "v1",
    kind: "Gadget",
    plural: "gadgets",
    namespaced: false,
    schema: Schema.Struct({
      metadata: Schema.Struct({ ...ObjectMeta.fields, name: Schema.optionalKey(name) }),
      status: Schema.optionalKey(Schema.Struct({ phase: Schema.String }))
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

describe("Resource.validateChange", () => {
  const stored = { metadata: { name: "w", resourceVersion: "1" }, spec: { size: "3" } }

  it("checks the fields that changed alone, and decodes to what checking everything gives", () => {
    const { count, resource } = counting()
    assert.deepStrictEqual(resource.validate(stored), [])
    const update = { ...stored, metadata: { name: "w", resourceVersion: "2" }, status: { phase: "Running" } }
    assert.deepStrictEqual(resource.validateChange(stored, update), [])
    // The spec is the same object: not decoded again, and its decoded value is shared.
    assert.strictEqual(count.decodes, 1)
    const value = resource.decodeStoredUnsafe(update)
    assert.strictEqual(value.spec, resource.decodeStoredUnsafe(stored).spec)
    const full = counting().resource
    assert.deepStrictEqual(full.validate(update), [])
    // Same fields, same order.
    assert.strictEqual(JSON.stringify(value), JSON.stringify(full.decodeStoredUnsafe(update)))
  })

  it("an equal copy of a field is not checked again either; a field that goes away is gone", () => {
    const { count, resource } = counting()
    const running = { ...stored, status: { phase: "Running" } }
    assert.deepStrictEqual(resource.validate(running), [])
    const copy = { metadata: { name: "w", resourceVersion: "2" }, spec: { size: "3" } }
    assert.deepStrictEqual(resource.validateChange(running, copy), [])
    assert.strictEqual(count.decodes, 1)
    assert.isFalse("status" in resource.decodeStoredUnsafe(copy))
  })

  it("reports a changed field's problems with their full path", () => {
    const { resource } = counting()
    assert.deepStrictEqual(resource.validate(stored), [])
    const update = { ...stored, status: { phase: "Lost" } }
    assert.deepStrictEqual(
      resource.validateChange(stored, update).map((problem) => problem.field),
      ["status.phase"]
    )
    const grown = { ...stored, spec: { size: 4 } }
    assert.deepStrictEqual(
      resource.validateChange(stored, grown).map((problem) => problem.field),
      ["spec.size"]
    )
  })

  it("metadata that differs in its resourceVersion alone is not checked again, and decodes as checking it would", () => {
    const { count, resource } = countingMetadata()
    const labelled = { metadata: { name: "w", labels: { app: "web" }, resourceVersion: "1" } }
    assert.deepStrictEqual(resource.validate(labelled), [])
    const update = {
      ...labelled,
      metadata: { ...labelled.metadata, resourceVersion: "2" },
      status: { phase: "Running" }
    }
    assert.deepStrictEqual(resource.validateChange(labelled, update), [])
    assert.strictEqual(count.decodes, 1)
    const value = resource.decodeStoredUnsafe(update)
    // Taken from the previous decoded value, not decoded anew.
    assert.strictEqual(value.metadata.labels, resource.decodeStoredUnsafe(labelled).metadata.labels)
    assert.strictEqual(value.metadata.resourceVersion, "2")
    const full = countingMetadata().resource
    assert.deepStrictEqual(full.validate(update), [])
    assert.strictEqual(JSON.stringify(value), JSON.stringify(full.decodeStoredUnsafe(update)))
    // Anything else in metadata is checked.
    const relabelled = { ...update, metadata: { ...update.metadata, labels: { app: 5 }, resourceVersion: "3" } }
    assert.deepStrictEqual(
      resource.validateChange(update, relabelled).map((problem) => problem.field),
      ["metadata.labels.app"]
    )
  })

  it("checks everything when the previous version was never decoded", () => {
    const { count, resource } = counting()
    const update = { ...stored, status: { phase: "Running" } }
    assert.deepStrictEqual(resource.validateChange(stored, update), [])
    assert.strictEqual(count.decodes, 1)
    assert.strictEqual(resource.decodeStoredUnsafe(update).spec.size, 3)
  })
})
