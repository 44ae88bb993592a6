/**
 * The README's install documentation stays true: the Options table is the option table of src/operator/Options.ts
 * (flag, variable, default, in order), the Deployment only sets variables that are options, every metric and Event
 * reason it lists is one the code emits, and the image tag it builds is this release's. The EKS install names the
 * overlay's command and files, every setting of settings.env and the policy's variables, the EventBridge events the
 * interruption controller parses, and the hash versions the code uses.
 */
import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import * as AwsCloudProvider from "../../layers/cloudprovider/aws/AwsCloudProvider.ts"
import * as Labels from "../../src/api/Labels.ts"
import * as Options from "../../src/operator/Options.ts"
import { readYamlDocuments, root } from "../fixtures.ts"

const readme = readFileSync(join(root, "README.md"), "utf8")

/** The text of a `## ` section, up to the next one. */
const section = (title: string): string => {
  const start = readme.indexOf(`\n## ${title}\n`)
  assert.isAtLeast(start, 0, `README has a "${title}" section`)
  const end = readme.indexOf("\n## ", start + 1)
  return readme.slice(start, end < 0 ? undefined : end)
}

/** The cells of a Markdown table's body rows whose first cell matches `first`. */
const rows = (text: string, first: RegExp): Array<Array<string>> =>
  text
    .split("\n")
    .filter((line) => line.startsWith("|"))
    .map((line) =>
      line
        .slice(1, -1)
        .split("|")
        .map((cell) => cell.trim())
    )
    .filter((cells) => first.test(cells[0] ?? ""))

const unquote = (cell: string) => cell.replace(/^`(.*)`$/, "$1").replace(/^""$/, "")

const sourceFiles = (directory: string): Array<string> =>
  (readdirSync(join(root, directory), { recursive: true }) as Array<string>)
    .filter((file) => file.endsWith(".ts"))
    .map((file) => readFileSync(join(root, directory, file), "utf8"))

describe("README.md", () => {
  it("documents every option with its flag, variable and default, in the order of Options.definitions", () => {
    const documented = rows(section("Options"), /^`--/).map(([flag = "", env = "", defaultText = ""]) => [
      unquote(flag),
      unquote(env),
      unquote(defaultText)
    ])
    assert.deepStrictEqual(
      documented,
      Options.definitions.map((definition) => [`--${definition.flag}`, definition.env, definition.defaultText])
    )
  })

  it("the Deployment sets only variables that are options", () => {
    const [deployment] = readYamlDocuments("manifests/base/deployment.yaml") as Array<{
      spec: { template: { spec: { containers: Array<{ env: Array<{ name: string }> }> } } }
    }>
    const known = new Set(Options.definitions.map((definition) => definition.env))
    for (const { name } of deployment!.spec.template.spec.containers[0]!.env) assert.isTrue(known.has(name), name)
  })

  it("lists only metrics the code registers", () => {
    const code = sourceFiles("src").join("\n")
    const listed = [...new Set(section("Metrics and Events").match(/\bkarpenter_[a-z_]+[a-z]/g) ?? [])]
    assert.isAbove(listed.length, 10)
    for (const name of listed) assert.include(code, `"${name}"`, name)
  })

  it("lists only Event reasons the controllers emit", () => {
    const code = sourceFiles("src/controllers").join("\n")
    const reasons = rows(section("Metrics and Events"), /^`[A-Z]/).map(([reason = ""]) => unquote(reason))
    assert.isAbove(reasons.length, 5)
    for (const reason of reasons) assert.include(code, `"${reason}"`, reason)
  })

  it("installs with kubectl apply -k and builds this release's image tag", () => {
    const install = section("Install into a cluster")
    assert.include(install, "kubectl apply -k manifests/")
    const { version } = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string }
    const tags = [...install.matchAll(/karpenter-effect:([\w.-]+)/g)].map((match) => match[1])
    assert.isAbove(tags.length, 0)
    for (const tag of tags) assert.strictEqual(tag, version)
  })

  it("installs on EKS with kubectl apply -k manifests/aws and the overlay's settings, policy, queue and hash facts", () => {
    const eks = section("Installing on EKS")
    for (const text of [
      "kubectl apply -k manifests/aws",
      "manifests/aws/settings.env",
      "manifests/aws/iam-policy.json",
      "eks.amazonaws.com/role-arn",
      "karpenter.sh/discovery"
    ]) {
      assert.include(eks, text)
    }
    const settings = readFileSync(join(root, "manifests/aws/settings.env"), "utf8")
      .split("\n")
      .filter((line) => line.includes("="))
      .map((line) => line.slice(0, line.indexOf("=")))
    assert.isAbove(settings.length, 3)
    for (const variable of settings) assert.include(eks, `\`${variable}\``, variable)
    // envsubst fills every variable of the policy from the ones the section exports.
    const policy = readFileSync(join(root, "manifests/aws/iam-policy.json"), "utf8")
    for (const [, variable = ""] of new Set(policy.matchAll(/\$\{(\w+)\}/g))) assert.include(eks, variable, variable)
    // The four kinds of event the interruption controller parses (source, detail-type), one rule each.
    const parsed = readFileSync(join(root, "layers/cloudprovider/aws/controllers/InterruptionMessage.ts"), "utf8")
    const kinds = [...parsed.matchAll(/"0\/(aws\.\w+)\/([^"]+)":/g)].map(([, source = "", detail = ""]) => [
      source,
      detail
    ])
    assert.lengthOf(kinds, 4)
    for (const [source = "", detail = ""] of kinds) assert.include(eks, `${source} "${detail}"`)
    assert.include(eks, `\`${AwsCloudProvider.HashVersion}\``)
    assert.include(eks, `version \`${Labels.NodePoolHashVersion}\``)
  })
})
