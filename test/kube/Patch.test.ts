import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import type { JsonPatchOperation } from "../../src/kube/KubeClient.ts"
import * as Patch from "../../src/kube/Patch.ts"
import * as Property from "../support/Property.ts"

const keyPool = ["a", "b", "c", "d", "e", "f", "metadata", "spec", "~", "a/b", "__proto__"]

type JsonObject = Record<string, unknown>

/** An object of the entries, each an own property (`__proto__` too; a repeated key keeps its last value). */
const objectOf = (entries: ReadonlyArray<readonly [string, unknown]>): JsonObject => {
  const result: JsonObject = {}
  for (const [key, value] of entries) {
    Object.defineProperty(result, key, { value, enumerable: true, writable: true, configurable: true })
  }
  return result
}

/** An arbitrary per depth, each built once: the edits below ask for the same ones over and over. */
const byDepth = <A>(make: (depth: number) => fc.Arbitrary<A>): ((depth: number) => fc.Arbitrary<A>) => {
  const made = new Map<number, fc.Arbitrary<A>>()
  return (depth) => {
    if (!made.has(depth)) made.set(depth, make(depth))
    return made.get(depth)!
  }
}

// JSON values nested at most `depth` objects deep; nulls only inside arrays, since merge patch reads a null member as
// "delete".
const leaf = (inArray: boolean) => fc.constantFrom(0, 1, -2.5, "", "x", "y", true, false, ...(inArray ? [null] : []))

const valuesOf = (inArray: boolean) =>
  byDepth(
    (depth): fc.Arbitrary<unknown> =>
      depth <= 0
        ? leaf(inArray)
        : Property.weighted<unknown>(
            [45, leaf(inArray)],
            [20, fc.array(arrayItems(depth - 1), { maxLength: 3 })],
            [35, objects(depth - 1)]
          )
  )
const members = valuesOf(false)
const arrayItems = valuesOf(true)

/** Objects of up to four members. */
const objects = byDepth(
  (depth): fc.Arbitrary<JsonObject> =>
    fc
      .uniqueArray(fc.tuple(fc.constantFrom(...keyPool), members(depth)), { selector: ([key]) => key, maxLength: 4 })
      .map(objectOf)
)

const Absent = Symbol("absent")

/** A member of `a` and what becomes of it in `b`: kept, dropped, replaced, or (an object) edited in turn. */
const memberEdits = byDepth(
  (depth): fc.Arbitrary<readonly [unknown, unknown]> =>
    Property.weighted<readonly [unknown, unknown]>(
      [60, members(depth).map((value) => [value, value] as const)],
      [15, members(depth).map((value) => [value, Absent] as const)],
      [15, fc.tuple(members(depth), members(depth))],
      [10, depth <= 0 ? members(depth).map((value) => [value, value] as const) : edits(depth - 1)]
    )
)

/** An object and an edit of it, so that the two share most keys and nested objects; `b` may gain a member. */
const edits = byDepth(
  (depth): fc.Arbitrary<readonly [JsonObject, JsonObject]> =>
    fc
      .tuple(
        fc.uniqueArray(fc.tuple(fc.constantFrom(...keyPool), memberEdits(depth)), {
          selector: ([key]) => key,
          maxLength: 4
        }),
        Property.sometimes(0.4, fc.tuple(fc.constantFrom(...keyPool), members(depth)))
      )
      .map(([entries, added]) => [
        objectOf(entries.map(([key, [before]]) => [key, before] as const)),
        objectOf([
          ...entries.flatMap(([key, [, after]]) => (after === Absent ? [] : [[key, after] as const])),
          ...(added === undefined ? [] : [added])
        ])
      ])
)

/** Two objects: mostly the second an edit of the first, otherwise unrelated. */
const objectPairs = Property.weighted<readonly [JsonObject, JsonObject]>(
  [70, edits(4)],
  [30, fc.tuple(objects(4), objects(4))]
)

const patched = (target: unknown, operations: ReadonlyArray<JsonPatchOperation>): unknown => {
  const result = Patch.jsonPatch(target, operations)
  if (!result.ok) throw new Error(result.message)
  return result.value
}

const fails = (target: unknown, operations: ReadonlyArray<JsonPatchOperation>): string => {
  const snapshot = JSON.stringify(target)
  const result = Patch.jsonPatch(target, operations)
  assert.strictEqual(JSON.stringify(target), snapshot, "the input is untouched")
  if (result.ok) throw new Error(`patch applied: ${JSON.stringify(result.value)}`)
  return result.message
}

describe("Patch", () => {
  describe("deepEqual", () => {
    it("compares JSON values structurally, ignoring key order but not array order", () => {
      assert.isTrue(Patch.deepEqual({ a: 1, b: [1, { c: "x" }] }, { b: [1, { c: "x" }], a: 1 }))
      assert.isFalse(Patch.deepEqual([1, 2], [2, 1]))
      assert.isFalse(Patch.deepEqual({ a: 1 }, { a: 1, b: 2 }))
      assert.isFalse(Patch.deepEqual({ a: 1, b: 2 }, { a: 1, c: 2 }))
      assert.isFalse(Patch.deepEqual(10, "10"))
      assert.isFalse(Patch.deepEqual(null, {}))
      assert.isFalse(Patch.deepEqual([], {}))
      assert.isTrue(Patch.deepEqual(null, null))
      assert.isTrue(Patch.deepEqual({ a: undefined }, {}))
    })
  })

  describe("mergePatch (RFC 7386)", () => {
    it("passes the appendix A test cases", () => {
      const cases: ReadonlyArray<readonly [unknown, unknown, unknown]> = [
        [{ a: "b" }, { a: "c" }, { a: "c" }],
        [{ a: "b" }, { b: "c" }, { a: "b", b: "c" }],
        [{ a: "b" }, { a: null }, {}],
        [{ a: "b", b: "c" }, { a: null }, { b: "c" }],
        [{ a: ["b"] }, { a: "c" }, { a: "c" }],
        [{ a: "c" }, { a: ["b"] }, { a: ["b"] }],
        [{ a: { b: "c" } }, { a: { b: "d", c: null } }, { a: { b: "d" } }],
        [{ a: [{ b: "c" }] }, { a: [1] }, { a: [1] }],
        [
          ["a", "b"],
          ["c", "d"],
          ["c", "d"]
        ],
        [{ a: "b" }, ["c"], ["c"]],
        [{ a: "foo" }, null, null],
        [{ a: "foo" }, "bar", "bar"],
        [{ e: null }, { a: 1 }, { e: null, a: 1 }],
        [[1, 2], { a: "b", c: null }, { a: "b" }],
        [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }]
      ]
      for (const [target, patch, expected] of cases) {
        const snapshot = JSON.stringify([target, patch])
        assert.deepStrictEqual(Patch.mergePatch(target, patch), expected, JSON.stringify([target, patch]))
        assert.strictEqual(JSON.stringify([target, patch]), snapshot, "inputs are untouched")
      }
    })

    it("passes the section 3 example", () => {
      const target = {
        title: "Goodbye!",
        author: { givenName: "John", familyName: "Doe" },
        tags: ["example", "sample"],
        content: "This will be unchanged"
      }
      const patch = {
        title: "Hello!",
        phoneNumber: "+01-555-555-5555",
        author: { familyName: null },
        tags: ["example"]
      }
      assert.deepStrictEqual(Patch.mergePatch(target, patch), {
        title: "Hello!",
        author: { givenName: "John" },
        tags: ["example"],
        content: "This will be unchanged",
        phoneNumber: "+01-555-555-5555"
      })
    })

    it("removes all finalizers with null and replaces lists whole", () => {
      const node = { metadata: { name: "n", finalizers: ["a", "b"] }, spec: { taints: [{ key: "x" }] } }
      assert.deepStrictEqual(Patch.mergePatch(node, { metadata: { finalizers: null } }), {
        metadata: { name: "n" },
        spec: { taints: [{ key: "x" }] }
      })
      assert.deepStrictEqual(Patch.mergePatch(node, { spec: { taints: [] } }), {
        metadata: { name: "n", finalizers: ["a", "b"] },
        spec: { taints: [] }
      })
    })

    it("keeps a __proto__ key an ordinary member", () => {
      const result = Patch.mergePatch({}, JSON.parse('{"__proto__":{"polluted":true}}')) as Record<string, unknown>
      assert.isTrue(Object.hasOwn(result, "__proto__"))
      assert.strictEqual(Object.getPrototypeOf(result), Object.prototype)
      assert.isUndefined((result as { polluted?: unknown }).polluted)
    })
  })

  describe("jsonPatch (RFC 6902)", () => {
    it("A.1 adds an object member", () => {
      assert.deepStrictEqual(patched({ foo: "bar" }, [{ op: "add", path: "/baz", value: "qux" }]), {
        baz: "qux",
        foo: "bar"
      })
    })

    it("A.2 adds an array element", () => {
      assert.deepStrictEqual(patched({ foo: ["bar", "baz"] }, [{ op: "add", path: "/foo/1", value: "qux" }]), {
        foo: ["bar", "qux", "baz"]
      })
    })

    it("A.3 removes an object member", () => {
      assert.deepStrictEqual(patched({ baz: "qux", foo: "bar" }, [{ op: "remove", path: "/baz" }]), { foo: "bar" })
    })

    it("A.4 removes an array element", () => {
      assert.deepStrictEqual(patched({ foo: ["bar", "qux", "baz"] }, [{ op: "remove", path: "/foo/1" }]), {
        foo: ["bar", "baz"]
      })
    })

    it("A.5 replaces a value", () => {
      assert.deepStrictEqual(patched({ baz: "qux", foo: "bar" }, [{ op: "replace", path: "/baz", value: "boo" }]), {
        baz: "boo",
        foo: "bar"
      })
    })

    it("A.6 moves a value", () => {
      const target = { foo: { bar: "baz", waldo: "fred" }, qux: { corge: "grault" } }
      assert.deepStrictEqual(patched(target, [{ op: "move", from: "/foo/waldo", path: "/qux/thud" }]), {
        foo: { bar: "baz" },
        qux: { corge: "grault", thud: "fred" }
      })
    })

    it("A.7 moves an array element", () => {
      const target = { foo: ["all", "grass", "cows", "eat"] }
      assert.deepStrictEqual(patched(target, [{ op: "move", from: "/foo/1", path: "/foo/3" }]), {
        foo: ["all", "cows", "eat", "grass"]
      })
    })

    it("A.8 tests a value successfully", () => {
      const target = { baz: "qux", foo: ["a", 2, "c"] }
      const result = patched(target, [
        { op: "test", path: "/baz", value: "qux" },
        { op: "test", path: "/foo/1", value: 2 }
      ])
      assert.deepStrictEqual(result, target)
    })

    it("A.9 fails a test", () => {
      assert.include(fails({ baz: "qux" }, [{ op: "test", path: "/baz", value: "bar" }]), "test failed")
    })

    it("A.10 adds a nested member object", () => {
      assert.deepStrictEqual(patched({ foo: "bar" }, [{ op: "add", path: "/child", value: { grandchild: {} } }]), {
        foo: "bar",
        child: { grandchild: {} }
      })
    })

    it("A.11 ignores unrecognized elements", () => {
      const operation = { op: "add", path: "/baz", value: "qux", xyz: 123 } as JsonPatchOperation
      assert.deepStrictEqual(patched({ foo: "bar" }, [operation]), { foo: "bar", baz: "qux" })
    })

    it("A.12 fails to add to a nonexistent target", () => {
      assert.include(fails({ foo: "bar" }, [{ op: "add", path: "/baz/bat", value: "qux" }]), "does not exist")
    })

    it("A.14 unescapes ~01 as ~1, not /", () => {
      assert.deepStrictEqual(patched({ "/": 9, "~1": 10 }, [{ op: "test", path: "/~01", value: 10 }]), {
        "/": 9,
        "~1": 10
      })
      assert.deepStrictEqual(patched({ "/": 9 }, [{ op: "replace", path: "/~1", value: 1 }]), { "/": 1 })
    })

    it("A.15 compares strings and numbers as different", () => {
      assert.include(fails({ "/": 9, "~1": 10 }, [{ op: "test", path: "/~01", value: "10" }]), "test failed")
    })

    it("A.16 appends an array value with -", () => {
      assert.deepStrictEqual(patched({ foo: ["bar"] }, [{ op: "add", path: "/foo/-", value: ["abc", "def"] }]), {
        foo: ["bar", ["abc", "def"]]
      })
    })

    it("copies values, deep-tests objects, and works at the root", () => {
      const target = { a: { b: [1, 2] }, c: 1 }
      assert.deepStrictEqual(patched(target, [{ op: "copy", from: "/a/b", path: "/d" }]), {
        a: { b: [1, 2] },
        c: 1,
        d: [1, 2]
      })
      assert.deepStrictEqual(patched(target, [{ op: "copy", from: "/a/b/0", path: "/a/b/-" }]), {
        a: { b: [1, 2, 1] },
        c: 1
      })
      assert.deepStrictEqual(patched(target, [{ op: "test", path: "/a", value: { b: [1, 2] } }]), target)
      assert.deepStrictEqual(patched(target, [{ op: "test", path: "", value: { c: 1, a: { b: [1, 2] } } }]), target)
      assert.deepStrictEqual(patched(target, [{ op: "replace", path: "", value: [1] }]), [1])
      assert.deepStrictEqual(patched(target, [{ op: "add", path: "", value: "x" }]), "x")
      assert.deepStrictEqual(patched(target, [{ op: "add", path: "/c", value: 2 }]), { a: { b: [1, 2] }, c: 2 })
      assert.deepStrictEqual(patched(target, [{ op: "add", path: "/a/b/2", value: 3 }]), { a: { b: [1, 2, 3] }, c: 1 })
      assert.deepStrictEqual(patched(target, [{ op: "move", from: "/c", path: "/c" }]), target)
      assert.deepStrictEqual(patched(target, []), target)
    })

    it("applies operations in order", () => {
      const target = { metadata: { resourceVersion: "5", finalizers: ["a", "b"] } }
      const result = patched(target, [
        { op: "test", path: "/metadata/resourceVersion", value: "5" },
        { op: "remove", path: "/metadata/finalizers/0" },
        { op: "add", path: "/metadata/labels", value: {} },
        { op: "add", path: "/metadata/labels/karpenter.sh~1nodepool", value: "default" }
      ])
      assert.deepStrictEqual(result, {
        metadata: { resourceVersion: "5", finalizers: ["b"], labels: { "karpenter.sh/nodepool": "default" } }
      })
      assert.deepStrictEqual(target, { metadata: { resourceVersion: "5", finalizers: ["a", "b"] } })
    })

    it("is atomic: a later failure discards earlier operations and leaves the input untouched", () => {
      const target = { metadata: { resourceVersion: "5", finalizers: ["a"] } }
      const message = fails(target, [
        { op: "remove", path: "/metadata/finalizers/0" },
        { op: "test", path: "/metadata/resourceVersion", value: "4" }
      ])
      assert.include(message, "operation 1")
      assert.deepStrictEqual(target, { metadata: { resourceVersion: "5", finalizers: ["a"] } })
    })

    it("rejects out-of-range and malformed indexes", () => {
      const target = { foo: ["a", "b"] }
      assert.include(fails(target, [{ op: "add", path: "/foo/3", value: "x" }]), "out of range")
      assert.include(fails(target, [{ op: "remove", path: "/foo/2" }]), "out of range")
      assert.include(fails(target, [{ op: "replace", path: "/foo/2", value: "x" }]), "out of range")
      assert.include(fails(target, [{ op: "test", path: "/foo/5", value: "x" }]), "out of range")
      assert.include(fails(target, [{ op: "remove", path: "/foo/-" }]), "invalid array index")
      assert.include(fails(target, [{ op: "add", path: "/foo/01", value: "x" }]), "invalid array index")
      assert.include(fails(target, [{ op: "add", path: "/foo/-1", value: "x" }]), "invalid array index")
      assert.deepStrictEqual(patched(target, [{ op: "add", path: "/foo/2", value: "c" }]), { foo: ["a", "b", "c"] })
    })

    it("rejects missing targets, bad pointers, and malformed operations", () => {
      const target = { a: 1, b: { c: 2 } }
      assert.include(fails(target, [{ op: "remove", path: "/x" }]), "does not exist")
      assert.include(fails(target, [{ op: "replace", path: "/x", value: 1 }]), "does not exist")
      assert.include(fails(target, [{ op: "test", path: "/x", value: 1 }]), "does not exist")
      assert.include(fails(target, [{ op: "move", from: "/x", path: "/y" }]), "does not exist")
      assert.include(fails(target, [{ op: "copy", from: "/x", path: "/y" }]), "does not exist")
      assert.include(fails(target, [{ op: "add", path: "/a/b", value: 1 }]), "does not exist")
      assert.include(fails(target, [{ op: "move", from: "/b", path: "/b/c/d" }]), "into its child")
      assert.include(fails(target, [{ op: "remove", path: "" }]), "whole document")
      assert.include(fails(target, [{ op: "add", path: "a", value: 1 }]), "invalid JSON pointer")
      assert.include(fails(target, [{ op: "add", path: "/~2", value: 1 }]), "invalid JSON pointer")
      assert.include(fails(target, [{ op: "add", path: "/a~", value: 1 }]), "invalid JSON pointer")
      assert.include(fails(target, [{ op: "add", path: "/y" } as JsonPatchOperation]), 'no "value"')
      assert.include(fails(target, [{ op: "move", path: "/y" } as JsonPatchOperation]), 'no "from"')
      assert.include(fails(target, [{ op: "bogus", path: "/a" } as unknown as JsonPatchOperation]), "unknown operation")
      assert.deepStrictEqual(patched(target, [{ op: "add", path: "/y", value: null }]), { a: 1, b: { c: 2 }, y: null })
    })

    it("parses and formats JSON pointers", () => {
      assert.deepStrictEqual(Patch.parsePointer(""), [])
      assert.deepStrictEqual(Patch.parsePointer("/"), [""])
      assert.deepStrictEqual(Patch.parsePointer("/a~1b/~0c/~01"), ["a/b", "~c", "~1"])
      assert.isUndefined(Patch.parsePointer("a"))
      assert.strictEqual(Patch.formatPointer(["a/b", "~c", "~1"]), "/a~1b/~0c/~01")
    })
  })

  describe("diffMerge", () => {
    it("keeps only what changed", () => {
      const before = {
        metadata: { name: "n", labels: { a: "1", b: "2" }, finalizers: ["x"] },
        spec: { taints: [{ key: "t" }] },
        status: { phase: "Running" }
      }
      const after = {
        metadata: { name: "n", labels: { a: "1", c: "3" }, finalizers: ["x", "y"] },
        spec: { taints: [{ key: "t" }] },
        status: { phase: "Running" }
      }
      assert.deepStrictEqual(Patch.diffMerge(before, after), {
        metadata: { labels: { b: null, c: "3" }, finalizers: ["x", "y"] }
      })
      assert.deepStrictEqual(Patch.diffMerge(before, structuredClone(before)), {})
      assert.deepStrictEqual(Patch.diffMerge({ a: 1 }, {}), { a: null })
      assert.deepStrictEqual(Patch.diffMerge({ a: { b: 1 } }, { a: [1] }), { a: [1] })
      assert.deepStrictEqual(Patch.diffMerge(5, 5), 5)
      assert.deepStrictEqual(Patch.diffMerge({ a: 1 }, "x"), "x")
    })

    it("round-trips random objects: mergePatch(a, diffMerge(a, b)) equals b", () => {
      fc.assert(
        fc.property(objectPairs, ([a, b]) => {
          const snapshot = JSON.stringify([a, b])
          const patch = Patch.diffMerge(a, b)
          const result = Patch.mergePatch(a, patch)
          assert.isTrue(Patch.deepEqual(result, b), `${snapshot} via ${JSON.stringify(patch)}`)
          assert.deepStrictEqual(result, b)
          assert.strictEqual(JSON.stringify([a, b]), snapshot, "inputs are untouched")
          assert.deepStrictEqual(Patch.diffMerge(a, a), {})
        }),
        { seed: 20240917, numRuns: 2000 }
      )
    })
  })
})
