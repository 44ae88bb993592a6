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

// Folder → the folders its modules import (relative imports only; a folder is a module's own directory).
const folderImports = (folders: ReadonlyArray<string>): Map<string, Set<string>> => {
  const graph = new Map<string, Set<string>>()
  for (const file of folders.flatMap((folder) => sourceFiles(join(root, folder)))) {
    const from = relative(root, dirname(file))
    const targets = graph.get(from) ?? new Set<string>()
    graph.set(from, targets)
    for (const match of readFileSync(file, "utf8").matchAll(/\bfrom\s+["'](\.{1,2}\/[^"']+)["']/g)) {
      const to = relative(root, dirname(resolve(dirname(file), match[1]!)))
      if (to !== from) targets.add(to)
    }
  }
  return graph
}

// The folders that import themselves through others: each cycle once, as the path that closes it.
const folderCycles = (graph: Map<string, Set<string>>): Array<string> => {
  const cycles = new Set<string>()
  const visit = (folder: string, path: ReadonlyArray<string>) => {
    for (const next of graph.get(folder) ?? []) {
      const at = path.indexOf(next)
      if (at >= 0) {
        const cycle = path.slice(at)
        const start = cycle.indexOf([...cycle].sort()[0]!)
        cycles.add([...cycle.slice(start), ...cycle.slice(0, start), cycle[start]].join(" → "))
      } else visit(next, [...path, next])
    }
  }
  for (const folder of [...graph.keys()].sort()) visit(folder, [folder])
  return [...cycles].sort()
}

describe("architecture", () => {
  it("no two source files share a name (a module is found by its name alone)", () => {
    const byName = new Map<string, Array<string>>()
    for (const file of [...sourceFiles(join(root, "src")), ...sourceFiles(join(root, "layers"))]) {
      const name = file.slice(file.lastIndexOf("/") + 1)
      byName.set(name, [...(byName.get(name) ?? []), relative(root, file)])
    }
    assert.deepStrictEqual(
      [...byName.values()].filter((files) => files.length > 1),
      []
    )
  })

  it("no folder imports itself through others (the scheduling algebra sits below cloudprovider, the solver above)", () => {
    const graph = folderImports(["src", "layers"])
    assert.isTrue(graph.get("src/cloudprovider")?.has("src/scheduling"))
    assert.deepStrictEqual(folderCycles(graph), [])
  })

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

  it("@kubernetes/client-node is only ever imported lazily (its KubeConfig loads the whole generated API: ~33 MB)", () => {
    const files = [...sourceFiles(join(root, "src")), ...sourceFiles(join(root, "layers")), join(root, "bin.ts")]
    // A static import other than `import type`; the clause cannot cross a quote, so it is one import statement.
    const offenders = files.filter((file) =>
      /\bimport\s+(?!type\b)[^"']*\bfrom\s+["']@kubernetes\/client-node["']/.test(readFileSync(file, "utf8"))
    )
    assert.deepStrictEqual(
      offenders.map((file) => relative(root, file)),
      []
    )
  })

  it("@effect/platform-node is imported by module, never through its index (which loads them all: ~8 MB)", () => {
    const files = [...sourceFiles(join(root, "src")), ...sourceFiles(join(root, "layers")), join(root, "bin.ts")]
    const offenders = files.filter((file) => /\bfrom\s+["']@effect\/platform-node["']/.test(readFileSync(file, "utf8")))
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
