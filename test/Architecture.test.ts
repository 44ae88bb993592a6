import { readdirSync, readFileSync, statSync } from "node:fs"
import { join, relative } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { version } from "../src/operator/Version.ts"
import { root } from "./fixtures.ts"

const sourceFiles = (directory: string): Array<string> =>
  readdirSync(directory).flatMap((entry) => {
    const path = join(directory, entry)
    return statSync(path).isDirectory() ? sourceFiles(path) : path.endsWith(".ts") ? [path] : []
  })

describe("architecture", () => {
  it("src/ never imports layers/ (the composition root picks implementations)", () => {
    const offenders = sourceFiles(join(root, "src")).filter((file) =>
      /from\s+["'](\.\.\/)+layers\//.test(readFileSync(file, "utf8"))
    )
    assert.deepStrictEqual(
      offenders.map((file) => relative(root, file)),
      []
    )
  })

  it("src/ and layers/ never read the wall clock or Math.random", () => {
    const offenders = [...sourceFiles(join(root, "src")), ...sourceFiles(join(root, "layers"))]
      .filter((file) => !relative(root, file).startsWith("layers/kube/live"))
      .filter((file) =>
        /Date\.now\(|Math\.random\(|\bsetTimeout\(|\bsetInterval\(|new Date\(\)/.test(readFileSync(file, "utf8"))
      )
    assert.deepStrictEqual(
      offenders.map((file) => relative(root, file)),
      []
    )
  })

  it("the CLI reports package.json's version", () => {
    const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string }
    assert.strictEqual(version, pkg.version)
  })
})
