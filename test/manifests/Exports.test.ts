/**
 * package.json `exports`, the library's public modules: every entry points at the JavaScript and declarations the
 * build emits (`tsconfig.build.json` mirrors the source tree into dist/ and emits `.d.ts`) for a source module that
 * exists and loads.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { pathToFileURL } from "node:url"
import { assert, describe, it } from "@effect/vitest"
import { root } from "../fixtures.ts"

const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
  exports: Record<string, string | { types: string; default: string }>
  files: ReadonlyArray<string>
}
const build = JSON.parse(readFileSync(join(root, "tsconfig.build.json"), "utf8")) as {
  compilerOptions: { outDir: string; rootDir: string; declaration?: boolean }
}

/** The module entries (everything but `./package.json`), with the source each compiles from. */
const modules = Object.entries(pkg.exports)
  .filter(([subpath]) => subpath !== "./package.json")
  .map(([subpath, target]) => {
    assert.isObject(target, subpath)
    const { types, default: code } = target as { types: string; default: string }
    const match = /^\.\/dist\/(.+)\.js$/.exec(code)
    assert.isNotNull(match, `${subpath}: ${code} is a .js file under dist/`)
    const stem = match![1]!
    return { subpath, types, code, source: `${stem}.ts` }
  })

/** The source files a wildcard entry exposes. */
const expand = (source: string): ReadonlyArray<string> => {
  if (!source.includes("*")) return [source]
  const directory = source.slice(0, source.indexOf("*"))
  const files = (readdirSync(join(root, directory), { recursive: true }) as Array<string>)
    .filter((file) => file.endsWith(".ts"))
    .map((file) => join(directory, file))
  assert.isAbove(files.length, 0, `${source} matches source files`)
  return files
}

describe("package.json exports", () => {
  it("the build emits declarations beside the JavaScript, mirroring the source tree in dist/", () => {
    assert.strictEqual(build.compilerOptions.declaration, true)
    assert.strictEqual(build.compilerOptions.rootDir, ".")
    assert.strictEqual(build.compilerOptions.outDir, "dist")
    assert.include(pkg.files, "dist")
  })

  it("every entry has its declarations next to its JavaScript", () => {
    for (const { subpath, types, code } of modules) {
      assert.strictEqual(types, code.replace(/\.js$/, ".d.ts"), subpath)
    }
  })

  it("exposes the service contracts, their layers, the controllers, the scheduler, the runtime and the API types", () => {
    const sources = new Set(modules.flatMap(({ source }) => expand(source)))
    for (const source of [
      "src/kube/KubeClient.ts",
      "src/cloudprovider/CloudProvider.ts",
      "src/state/ClusterState.ts",
      "src/state/Cluster.ts",
      "layers/kube/memory/MemoryKubeClient.ts",
      "layers/kube/live/LiveKubeClient.ts",
      "layers/cloudprovider/kwok/KwokCloudProvider.ts",
      "layers/cloudprovider/fake/FakeCloudProvider.ts",
      "src/operator/Controllers.ts",
      "src/controllers/provisioning/Provisioner.ts",
      "src/controllers/disruption/Disruption.ts",
      "src/controllers/provisioning/scheduling/Scheduler.ts",
      "src/runtime/Manager.ts",
      "src/runtime/Controller.ts",
      "src/api/NodePool.ts",
      "src/api/NodeClaim.ts"
    ]) {
      assert.isTrue(sources.has(source), source)
    }
  })

  it("every exported module's source exists and loads", { timeout: 60_000 }, async () => {
    for (const { subpath, source } of modules) {
      for (const file of expand(source)) {
        assert.isTrue(existsSync(join(root, file)), `${subpath}: ${file} exists`)
        if (source.includes("*")) continue
        const loaded = (await import(pathToFileURL(join(root, file)).href)) as Record<string, unknown>
        assert.isAbove(Object.keys(loaded).length, 0, `${file} exports something`)
      }
      assert.isTrue(existsSync(join(root, dirname(source.replace("*", "x")))), subpath)
    }
  })
})
