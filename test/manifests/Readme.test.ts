/**
 * The README's install documentation stays true: the Options table is the option table of src/operator/Options.ts
 * (flag, variable, default, in order), the Deployment only sets variables that are options, every metric and Event
 * reason it lists is one the code emits, and the image tag it builds is this release's. The EKS install names the
 * overlay's command and files, every setting of settings.env and the policy's variables, the EventBridge events the
 * interruption controller parses, and the hash versions the code uses. The table of upstream features by release
 * says what the code has: the gates, flags, metrics, keys, kinds and schema fields a done row names exist, those a
 * not-yet row names do not.
 */
import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import * as Result from "effect/Result"
import * as AwsCloudProvider from "../../layers/cloudprovider/aws/AwsCloudProvider.ts"
import * as Conditions from "../../src/api/Conditions.ts"
import * as Crd from "../../src/api/Crd.ts"
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

/** A row of the upstream features table: its release, what its gate / API cell names, and its state here. */
interface FeatureRow {
  readonly release: string
  readonly gates: ReadonlyArray<string>
  readonly kinds: ReadonlyArray<string>
  readonly references: ReadonlyArray<string>
  readonly state: string
}

/** The gate / API cell: a comma-separated list of "gate `Name`", "kind `Kind`" and `reference`, or "—". */
const featureRow = ([release = "", , names = "", state = ""]: Array<string>): FeatureRow => {
  const items = names === "—" ? [] : names.split(", ")
  const named = (prefix: string) =>
    items.flatMap((item) => (item.startsWith(`${prefix} \``) ? [unquote(item.slice(prefix.length + 1))] : []))
  const references = items.filter((item) => !/^(gate|kind) `/.test(item)).map(unquote)
  for (const item of items) assert.match(item, /^((gate|kind) )?`[^`]+`$/, `${release}: "${item}"`)
  return { release, gates: named("gate"), kinds: named("kind"), references, state }
}

const minorOf = (release: string): number => Number(release.split(".")[1])

const isGate = (name: string): boolean =>
  Result.isSuccess(Options.parseFeatureGates(`${name}=true`, Options.defaults.featureGates))

/** Follows `spec.a.b` through a CRD's openAPI schema (arrays by their items); undefined when a step is missing. */
const schemaAt = (kind: string, path: ReadonlyArray<string>): Crd.JsonSchemaNode | undefined => {
  const definition = Crd.definitions.find((candidate) => candidate.kind === kind)
  let node: Crd.JsonSchemaNode | undefined = definition && Crd.openApiSchema(definition)
  for (const step of path) {
    if (node?.type === "array") node = node.items as Crd.JsonSchemaNode
    node = (node?.properties as Record<string, Crd.JsonSchemaNode> | undefined)?.[step]
  }
  return node
}

const conditionTypes: ReadonlySet<unknown> = new Set(Object.values(Conditions))

const hasKind = (kind: string): boolean => Crd.definitions.some((definition) => definition.kind === kind)

/**
 * Whether the code has what a reference names: a flag (`--name`), a metric (`karpenter_...`) or a label / annotation
 * key (`domain/name`) the code spells out, a condition type (`Kind.status.conditions[Type]`), a schema field
 * (`Kind.spec.field`) or an enum value of one (`Kind.spec.field=Value`).
 */
const exists = (reference: string, code: string): boolean => {
  if (reference.startsWith("--")) return Options.definitions.some((definition) => `--${definition.flag}` === reference)
  if (/^karpenter_[a-z_]+$/.test(reference) || /^[a-z0-9.-]+\/[a-z0-9.-]+$/.test(reference))
    return code.includes(`"${reference}"`)
  const condition = /^[A-Z]\w+\.status\.conditions\[(\w+)\]$/.exec(reference)
  if (condition) return conditionTypes.has(condition[1]!)
  const field = /^([A-Z]\w+)((?:\.\w+)+)(?:=(\w+))?$/.exec(reference)
  assert.isNotNull(field, `"${reference}" is not a flag, metric, key, condition or field`)
  const [, kind = "", path = "", value] = field!
  const node = schemaAt(kind, path.slice(1).split("."))
  return value === undefined ? node !== undefined : ((node?.enum as Array<unknown> | undefined) ?? []).includes(value)
}

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

  it("the table of upstream features by release says what the code has", () => {
    const features = rows(section("Upstream features by release"), /^v\d+\.\d+\.\d+$/).map(featureRow)
    const minors = features.map((feature) => minorOf(feature.release))
    assert.deepStrictEqual(
      [...new Set(minors)],
      Array.from({ length: 11 }, (_, index) => index + 4),
      "v1.4 … v1.14"
    )
    const code = [...sourceFiles("src"), ...sourceFiles("layers")].join("\n")
    for (const { release, gates, kinds, references, state } of features) {
      const where = `${release} ${[...gates, ...kinds, ...references].join(", ")}`
      assert.include(["done", "gated", "not yet"], state, where)
      if (state === "not yet") {
        for (const kind of kinds) assert.isFalse(hasKind(kind), `${where}: has ${kind}`)
        for (const reference of references) assert.isFalse(exists(reference, code), `${where}: has ${reference}`)
        continue
      }
      if (state === "gated") assert.isNotEmpty(gates, `${where}: gated by what`)
      for (const gate of gates) {
        assert.isTrue(isGate(gate), `${where}: --feature-gates does not accept ${gate}`)
        if (state === "gated") assert.isFalse(Options.defaults.featureGates[gate as keyof Options.FeatureGates], gate)
      }
      for (const kind of kinds) assert.isTrue(hasKind(kind), `${where}: no ${kind}`)
      for (const reference of references) assert.isTrue(exists(reference, code), `${where}: no ${reference}`)
    }
    const listed = new Set(features.flatMap((feature) => feature.gates))
    for (const gate of Object.keys(Options.defaults.featureGates)) assert.isTrue(listed.has(gate), `no row for ${gate}`)
  })
})
