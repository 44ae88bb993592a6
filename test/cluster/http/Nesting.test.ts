/**
 * The nesting measures that guard the parsers: exact for JSON, an upper bound for YAML that real manifests stay far
 * below.
 */
import { readdirSync, readFileSync, statSync } from "node:fs"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { parse } from "yaml"
import * as Nesting from "../../../src/cluster/http/Nesting.ts"
import { root } from "../../fixtures.ts"

/** The depth of a parsed value: how many arrays and objects are open at once at most. */
const depthOf = (value: unknown): number =>
  typeof value === "object" && value !== null ? 1 + Math.max(0, ...Object.values(value).map(depthOf)) : 0

const yamlFiles = (directory: string): ReadonlyArray<string> =>
  readdirSync(directory).flatMap((entry) => {
    const path = join(directory, entry)
    if (statSync(path).isDirectory()) return yamlFiles(path)
    return /\.ya?ml$/.test(entry) ? [path] : []
  })

describe("Nesting", () => {
  it("JSON: the exact depth, brackets inside strings and escaped quotes aside", () => {
    const samples = [
      "1",
      "[]",
      '{"a":[{"b":"]]]"},[[]]]}',
      '{"a":"\\"[[[","b":{"c":"\\\\"},"d":[]}',
      JSON.stringify({ metadata: { name: "x", labels: { "a[": "{" } }, spec: { containers: [{ ports: [{}] }] } })
    ]
    for (const text of samples) assert.strictEqual(Nesting.json(text), depthOf(JSON.parse(text)), text)
    assert.isAbove(Nesting.json("[".repeat(1_000_000)), Nesting.maxDepth)
  })

  it("YAML: a bound at least the depth, which the repository's manifests stay far below", () => {
    const files = [...yamlFiles(join(root, "manifests")), ...yamlFiles(join(root, "examples"))]
    assert.isNotEmpty(files)
    let highest = 0
    for (const file of files) {
      // A request body is one document.
      for (const document of readFileSync(file, "utf8").split(/^---$/m)) {
        const bound = Nesting.yaml(document)
        assert.isAtLeast(bound, depthOf(parse(document)), file)
        highest = Math.max(highest, bound)
      }
    }
    assert.isBelow(highest, Nesting.maxDepth / 2)
    const samples = ["a:\n- b:\n  - c:\n    - [d, {e: [f]}]\n", "- - - - x\n", "a: [x: [y: z]]\n", "s: |\n  [[[[\n"]
    for (const text of samples) assert.isAtLeast(Nesting.yaml(text), depthOf(parse(text)), text)
    assert.isAbove(Nesting.yaml(`a:\n  b: ${"[".repeat(1_000_000)}`), Nesting.maxDepth)
    assert.isAbove(Nesting.yaml(`${"- ".repeat(1_000_000)}x`), Nesting.maxDepth)
  })

  it("a parsed value: shared parts measured once, a circle infinitely deep", () => {
    assert.strictEqual(Nesting.value(parse("a: &x [[1]]\nb: [*x, [*x]]\n")), 5)
    assert.strictEqual(Nesting.value("text"), 0)
    // Each level shares the one below twice: 2^40 paths, 40 values.
    let chain = "l0: &l0 [1]\n"
    for (let level = 1; level <= 40; level++) chain += `l${level}: &l${level} [*l${level - 1}, *l${level - 1}]\n`
    assert.strictEqual(Nesting.value(parse(chain, { maxAliasCount: -1 })), 42)
    assert.strictEqual(Nesting.value(parse("a: &x [1, {b: *x}]\n")), Number.POSITIVE_INFINITY)
    let deep = "l0: &l0 [1]\n"
    for (let level = 1; level <= 300; level++) deep += `l${level}: &l${level} [*l${level - 1}]\n`
    assert.isAbove(Nesting.value(parse(deep, { maxAliasCount: -1 })), Nesting.maxDepth)
  })
})
