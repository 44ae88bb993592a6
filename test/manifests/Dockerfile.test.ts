/**
 * The Dockerfile (no docker on the test machine, so it is read, not built): a build stage that compiles with every
 * dependency, a Node 22 runtime stage with production dependencies only, running `dist/bin.js controller` as the
 * non-root user the Deployment expects; everything it copies is in the build context.
 */
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import * as ControllerApp from "../../layers/app/ControllerApp.ts"
import { readYamlDocuments, root } from "../fixtures.ts"

interface Instruction {
  readonly keyword: string
  readonly args: string
}

interface Stage {
  readonly from: string
  readonly name: string | undefined
  readonly instructions: ReadonlyArray<Instruction>
}

/** Splits a Dockerfile into stages of instructions (comments dropped, `\` continuations joined). */
const parse = (text: string): ReadonlyArray<Stage> => {
  const lines = text
    .replace(/\\\n/g, " ")
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"))
  const stages: Array<{ from: string; name: string | undefined; instructions: Array<Instruction> }> = []
  for (const line of lines) {
    const [keyword = "", ...rest] = line.split(/\s+/)
    const args = rest.join(" ")
    if (keyword.toUpperCase() === "FROM") {
      const [from = "", as, name] = rest
      stages.push({ from, name: as?.toUpperCase() === "AS" ? name : undefined, instructions: [] })
    } else {
      assert.isAbove(stages.length, 0, `${line} before FROM`)
      stages[stages.length - 1]!.instructions.push({ keyword: keyword.toUpperCase(), args })
    }
  }
  return stages
}

const stages = parse(readFileSync(join(root, "Dockerfile"), "utf8"))
const [build, runtime] = stages
const args = (stage: Stage | undefined, keyword: string) =>
  (stage?.instructions ?? []).filter((instruction) => instruction.keyword === keyword).map(({ args }) => args)

const ignored = readFileSync(join(root, ".dockerignore"), "utf8")
  .split("\n")
  .map((line) => line.trim())
  .filter((line) => line !== "" && !line.startsWith("#"))

describe("Dockerfile", () => {
  it("has a build stage and a runtime stage, both Node 22", () => {
    assert.lengthOf(stages, 2)
    assert.strictEqual(build?.name, "build")
    for (const stage of stages) assert.match(stage.from, /^node:22(-|$)/)
  })

  it("builds with every dependency and ships production dependencies only", () => {
    assert.isTrue(
      args(build, "RUN").some((command) => command.startsWith("npm ci")),
      "npm ci in the build stage"
    )
    assert.include(args(build, "RUN"), "npm run build")
    assert.isTrue(args(runtime, "RUN").some((command) => /^npm ci --omit=dev\b/.test(command)))
    assert.include(args(runtime, "COPY"), "--from=build /src/dist ./dist")
    assert.include(args(runtime, "COPY"), "manifests ./manifests")
  })

  it("copies what `npm run build` compiles for bin.js, all of it in the build context", () => {
    const copied = args(build, "COPY").flatMap((copy) => copy.split(/\s+/).slice(0, -1))
    for (const needed of [
      "package.json",
      "package-lock.json",
      "tsconfig.json",
      "tsconfig.build.json",
      "bin.ts",
      "src",
      "layers"
    ]) {
      assert.include(copied, needed)
    }
    // Copies from the build context (not from another stage), in either stage.
    const sources = [...args(build, "COPY"), ...args(runtime, "COPY")]
      .filter((copy) => !copy.startsWith("--from="))
      .flatMap((copy) => copy.split(/\s+/).slice(0, -1))
    for (const source of sources) {
      assert.isTrue(existsSync(join(root, source)), `${source} exists`)
      assert.notInclude(ignored, source, `${source} is not in .dockerignore`)
    }
  })

  it("runs dist/bin.js controller as the non-root user of the Deployment's securityContext", () => {
    assert.deepStrictEqual(args(runtime, "USER"), ["65532:65532"])
    const [deployment] = readYamlDocuments("manifests/base/deployment.yaml") as Array<{
      spec: {
        template: { spec: { containers: Array<{ securityContext: { runAsUser: number; runAsGroup: number } }> } }
      }
    }>
    const security = deployment!.spec.template.spec.containers[0]!.securityContext
    assert.strictEqual(`${security.runAsUser}:${security.runAsGroup}`, "65532:65532")
    assert.deepStrictEqual(JSON.parse(args(runtime, "ENTRYPOINT")[0] ?? "null"), ["node", "/app/dist/bin.js"])
    assert.deepStrictEqual(JSON.parse(args(runtime, "CMD")[0] ?? "null"), ["controller"])
    assert.deepStrictEqual(args(runtime, "WORKDIR"), ["/app"])
  })

  it("gives the controller the process environment it cannot set for itself (ControllerApp.processEnvironment)", () => {
    const environment = Object.fromEntries(
      args(runtime, "ENV")
        .flatMap((line) => line.split(/\s+/))
        .map((pair) => [pair.slice(0, pair.indexOf("=")), pair.slice(pair.indexOf("=") + 1)])
    )
    for (const [name, value] of Object.entries(ControllerApp.processEnvironment)) {
      assert.strictEqual(environment[name], value, name)
    }
  })

  it("keeps node_modules, dist and .git out of the build context", () => {
    for (const entry of ["node_modules", "dist", ".git"]) assert.include(ignored, entry)
  })
})
