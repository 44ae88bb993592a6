import { readdirSync, readFileSync, statSync } from "node:fs"
import { dirname, join, relative, resolve } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { version } from "../src/operator/Version.ts"
import { root } from "./fixtures.ts"

const sourceFiles = (directory: string): Array<string> =>
  readdirSync(directory).flatMap((entry) => {
    const path = join(directory, entry)
    return statSync(path).isDirectory() ? sourceFiles(path) : path.endsWith(".ts") ? [path] : []
  })

// Code without its whole-line comments (a comment may cite a document beside the checkout; code must not read one).
const code = (file: string): string =>
  readFileSync(file, "utf8")
    .split("\n")
    .filter((line) => !/^\s*(\/\/|\/\*|\*)/.test(line))
    .join("\n")

const bases: Record<string, (file: string) => string> = {
  root: () => root,
  "process.cwd()": () => root,
  "import.meta.dirname": (file) => dirname(file)
}

// Every path the code builds from literals — relative string literals (imports included), and `join`/`resolve` of the
// repository root, the working directory or the module's folder with literal segments — that lands outside the repo.
const pathsOutsideRepository = (file: string): Array<string> => {
  const text = code(file)
  const built = [
    ...Array.from(text.matchAll(/(["'`])(\.\.\/[^"'`]*)\1/g), (match) => resolve(dirname(file), match[2]!)),
    ...Array.from(
      text.matchAll(/\b(?:join|resolve)\(\s*(root|process\.cwd\(\)|import\.meta\.dirname)((?:\s*,\s*"[^"]*")*)/g),
      (match) =>
        resolve(bases[match[1]!]!(file), ...Array.from(match[2]!.matchAll(/"([^"]*)"/g), (segment) => segment[1]!))
    )
  ]
  return built.filter((path) => relative(root, path).startsWith("..")).map((path) => `${relative(root, file)}: ${path}`)
}

describe("architecture", () => {
  it("nothing reads a path outside the repository (a user's clone has nothing beside it)", () => {
    const files = [
      ...["src", "layers", "bench", "test", "examples"].flatMap((folder) => sourceFiles(join(root, folder))),
      join(root, "bin.ts")
    ]
    assert.isAbove(files.length, 100)
    assert.deepStrictEqual(files.flatMap(pathsOutsideRepository), [])
  })

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
